"""Fault matrix, Binance and Bybit: every way an exchange read can fail is a stale account.

The real ccxt client talks to the fake exchanges on 127.0.0.1; a good sync stores the positions,
then the positions endpoint is made to fail and ``sync --once`` must hold the picture (see
``tests/faults/harness.py``). A refused key is ``login_required`` rather than stale, with the
same guarantees.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import toml_table, write_book
from tests.exchange_helpers import SECRET_VARIABLE
from tests.fakes import binance_replies as bn
from tests.fakes import bybit_replies as bb
from tests.fakes.binance_rows import position_row as binance_row
from tests.fakes.binance_server import POSITION_RISK, FakeBinanceServer
from tests.fakes.bybit_rows import position_row as bybit_row
from tests.fakes.bybit_server import POSITIONS, FakeBybitServer
from tests.faults.harness import SETTING_IDS, account_settings, assert_fault_held, assert_good, sync_once

TIMEOUT = 3.0
SECRET = "fault-secret"
Fake = FakeBinanceServer | FakeBybitServer

BINANCE_ROWS = [
    binance_row("HIGHUSDT", "100", "1.0", "1.2", quantity_decimals=0),
    binance_row("BTCUSDT", "-0.010", "67000", "67500"),
]
BYBIT_ROWS = [
    bybit_row("HIGHUSDT", "100", "Buy", "1.0", "1.2"),
    bybit_row("BTCUSDT", "0.01", "Sell", "67000", "67500"),
]
INSTRUMENTS = {"HIGH/USDT:USDT", "BTC/USDT:USDT"}

# Each fault: the reply (None: the server is stopped) and a fragment of the stale sentence.
BINANCE_FAULTS: dict[str, tuple[Callable[[], object] | None, str]] = {
    "connection refused": (None, "unavailable"),
    "hang past the timeout": (lambda: bn.delayed(bn.ok([]), 10), "within"),
    "dropped socket": (bn.dropped, "unavailable"),
    "429 with Retry-After": (lambda: bn.rate_limited(30), "rate limited"),
    "418 IP ban": (lambda: bn.ip_banned(120), "rate limited"),
    "503 -1001": (bn.internal_error, "-1001"),
    "502 HTML page": (lambda: bn.html_page(502), "unavailable"),
    "-1021 clock": (bn.timestamp_outside_window, "clock"),
    "200 not JSON": (
        lambda: bn.Reply(200, body=b"<html>maintenance</html>", content_type="text/html"),
        "Binance",
    ),
    "200 an object, not rows": (lambda: bn.ok({"code": 0, "msg": "ok"}), "list of rows"),
    "200 a row without positionAmt": (
        lambda: bn.ok([{"symbol": "HIGHUSDT", "positionSide": "BOTH"}]),
        "positionAmt",
    ),
    "200 a row twice": (lambda: bn.ok([BINANCE_ROWS[0], BINANCE_ROWS[0]]), "twice"),
    "200 a market it never listed": (
        lambda: bn.ok([binance_row("NOPEUSDT", "1", "1", "1", quantity_decimals=0)]),
        "market list",
    ),
}
BYBIT_FAULTS: dict[str, tuple[Callable[[], object] | None, str]] = {
    "connection refused": (None, "unavailable"),
    "hang past the timeout": (lambda: bb.delayed(bb.ok({"list": []}), 10), "within"),
    "dropped socket": (bb.dropped, "unavailable"),
    "10006 rate limit": (lambda: bb.too_many_visits(50), "rate limited"),
    "403 IP limit": (bb.ip_banned, "rate limited"),
    "10016 server error": (bb.server_busy, "10016"),
    "502 HTML page": (lambda: bb.html_page(502), "unavailable"),
    "10002 clock": (bb.timestamp_error, "clock"),
    "another retCode": (lambda: bb.bybit_error(10001, "params error"), "10001"),
    "200 not JSON": (
        lambda: bb.Reply(200, body=b"<html>maintenance</html>", content_type="text/html"),
        "Bybit",
    ),
    "a result without a list": (lambda: bb.ok({"category": "linear", "nextPageCursor": ""}), "'list'"),
    "a size without a side": (
        lambda: bb.ok({"category": "linear", "nextPageCursor": "", "list": [{**BYBIT_ROWS[0], "side": ""}]}),
        "side",
    ),
}

CASES = [
    pytest.param(exchange, fault, setting, id=f"{exchange}-{fault}-{setting}")
    for exchange, faults in (("binance", BINANCE_FAULTS), ("bybit", BYBIT_FAULTS))
    for fault in faults
    for setting in SETTING_IDS
]


def _fake(exchange: str) -> Fake:
    fake: Fake = (
        FakeBinanceServer(api_secret=SECRET) if exchange == "binance" else FakeBybitServer(api_secret=SECRET)
    )
    fake.start()
    if isinstance(fake, FakeBinanceServer):
        fake.set_positions(BINANCE_ROWS)
    else:
        fake.set_positions(BYBIT_ROWS)
    return fake


def _config(exchange: str, fake: Fake, root: Path, setting: str) -> Path:
    write_book(
        root / "book.json",
        [
            {"symbol": "HIGHUSDT", "quantity": 100, "average_price": 1.0},
            {"symbol": "BTC-USDT", "quantity": -0.01, "average_price": 67000},
        ],
    )
    account = {
        "id": "ex",
        "broker": exchange,
        "book": "bot",
        "timeout": TIMEOUT,
        "api_key": fake.api_key,
        "api_secret_env": SECRET_VARIABLE,
        "api_root": fake.url,
        **account_settings(setting),
    }
    config = root / "config.toml"
    text = toml_table("[[books]]", {"id": "bot", "kind": "file", "path": "book.json"})
    config.write_text(text + "\n" + toml_table("[[accounts]]", account), encoding="utf-8")
    return config


@pytest.mark.parametrize(("exchange", "fault", "setting"), CASES)
def test_a_failed_exchange_read_holds_the_picture(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    exchange: str,
    fault: str,
    setting: str,
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    fake = _fake(exchange)
    try:
        config, data_dir = _config(exchange, fake, tmp_path, setting), tmp_path / "data"
        good = sync_once(config, data_dir, capsys)
        assert_good(good, "ex", INSTRUMENTS)
        reply, words = (BINANCE_FAULTS if exchange == "binance" else BYBIT_FAULTS)[fault]
        if reply is None:
            fake.stop()
        else:
            fake.script(POSITION_RISK if exchange == "binance" else POSITIONS, reply())  # type: ignore[arg-type]
        faulted = sync_once(config, data_dir, capsys)
        assert_fault_held(good, faulted, "ex", config=config, data_dir=data_dir, capsys=capsys, words=words)
    finally:
        fake.stop()


@pytest.mark.parametrize("exchange", ["binance", "bybit"])
def test_a_refused_key_is_login_required_and_keeps_the_picture(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, exchange: str
) -> None:
    monkeypatch.setenv(SECRET_VARIABLE, SECRET)
    fake = _fake(exchange)
    try:
        config, data_dir = _config(exchange, fake, tmp_path, "eager"), tmp_path / "data"
        good = sync_once(config, data_dir, capsys)
        assert_good(good, "ex", INSTRUMENTS)
        refused = bn.invalid_api_key() if exchange == "binance" else bb.invalid_key()
        fake.script(POSITION_RISK if exchange == "binance" else POSITIONS, refused)  # type: ignore[arg-type]
        faulted = sync_once(config, data_dir, capsys)
    finally:
        fake.stop()
    state = faulted.account("ex")
    assert faulted.code == 2 and state["state"] == "login_required"
    assert "the API key was refused" in state["error"]
    assert set(faulted.rows("ex")) == set(good.rows("ex"))
    assert not faulted.event_kinds() & {"phantom_detected", "untracked_detected", "closed"}


def test_a_missing_secret_is_named_without_a_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    fake = _fake("bybit")
    try:
        config, data_dir = _config("bybit", fake, tmp_path, "eager"), tmp_path / "data"
        run = sync_once(config, data_dir, capsys)
        assert fake.requests == []
    finally:
        fake.stop()
    state = run.account("ex")
    assert run.code == 2 and state["state"] == "login_required"
    assert f"environment variable {SECRET_VARIABLE}" in state["error"]
