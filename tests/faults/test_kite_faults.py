"""Fault matrix, Kite: every way a Kite read can fail is a stale account, never an empty one.

The real ``kiteconnect`` client talks to the fake Kite server on 127.0.0.1; a good sync stores
a position, a holding and a working order, then one endpoint is made to fail and ``sync --once``
must hold the picture (see ``tests/faults/harness.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import MemoryKeyring, toml_table, write_book
from tests.fakes.kite_server import (
    HOLDINGS,
    ORDERS,
    POSITIONS,
    FakeKiteServer,
    Reply,
    delayed,
    dropped,
    holding_row,
    html_page,
    order_row,
    position_row,
    positions_payload,
    rate_limited,
    server_error,
    success,
    token_error,
)
from tests.faults.harness import SETTING_IDS, account_settings, assert_fault_held, assert_good, sync_once

ACCOUNT = "AB1234"
FUT = "BANKNIFTY25NOVFUT"
STOCK = "INFY"
TIMEOUT = 3.0

POSITION = position_row(FUT, quantity=35, average_price=51000, last_price=51100)
HOLDING = holding_row(STOCK, quantity=10, average_price=1500, last_price=1510)


def _success_shaped(status: int, data: object) -> Reply:
    """A proxy or maintenance page that copies Kite's envelope: success-shaped, yet not a 2xx."""
    return Reply(status, {"status": "success", "data": data})


def _truncated(path: str) -> Reply:
    body = b'{"status": "success", "data": {"net": [{"tradingsymbol": "BANK'
    if path == HOLDINGS:
        body = b'{"status": "success", "data": [{"tradingsymbol": "IN'
    return Reply(200, body=body)


def _duplicate(path: str) -> Reply:
    """The same exchange, symbol and product twice: Kite never sends it, so it is not a sum."""
    if path == HOLDINGS:
        return success([HOLDING, HOLDING])
    return positions_payload([POSITION, POSITION])


# Each fault: (paths it is injected on, the reply for a path, a fragment of the stale sentence).
FAULTS: dict[str, tuple[tuple[str, ...], object, str]] = {
    "connection refused": ((POSITIONS,), "stop", "GET"),
    "hang past the timeout": ((POSITIONS, HOLDINGS), lambda p: delayed(success([]), 10), "within"),
    "dropped socket": ((POSITIONS, HOLDINGS, ORDERS), lambda p: dropped(), "GET"),
    "truncated body": ((POSITIONS, HOLDINGS), _truncated, "GET"),
    "429": ((POSITIONS, HOLDINGS), lambda p: rate_limited(), "429"),
    "500 Kite error": ((POSITIONS, HOLDINGS, ORDERS), lambda p: server_error(500), "500"),
    "502 HTML page": ((POSITIONS, HOLDINGS, ORDERS), lambda p: html_page(502), "502"),
    "503 success-shaped empty": (
        (POSITIONS, HOLDINGS, ORDERS),
        lambda p: _success_shaped(503, {"net": [], "day": []} if p == POSITIONS else []),
        "503",
    ),
    "302 success-shaped empty": ((HOLDINGS,), lambda p: _success_shaped(302, []), "302"),
    "200 wrong shape": (
        (POSITIONS, HOLDINGS, ORDERS),
        lambda p: success({"net": "oops"} if p == POSITIONS else {"rows": []}),
        "shape",
    ),
    "200 data null": ((POSITIONS, HOLDINGS), lambda p: success(None), "GET"),
    "200 not JSON": ((POSITIONS,), lambda p: Reply(200, body=b"<html>maintenance</html>"), "GET"),
    "exact duplicate rows": ((POSITIONS, HOLDINGS), _duplicate, "twice"),
}

CASES = [
    pytest.param(fault, path, setting, id=f"{fault}-{path.strip('/').replace('/', '.')}-{setting}")
    for fault, (paths, _, _) in FAULTS.items()
    for path in paths
    for setting in SETTING_IDS
]


@pytest.fixture
def kite() -> Iterator[FakeKiteServer]:
    # A fresh API key per test: the rate limiter is shared per key for the whole process.
    with FakeKiteServer(api_key=f"key{uuid.uuid4().hex[:12]}", access_token="token-day-1") as server:
        yield server


def _config(kite: FakeKiteServer, root: Path, setting: str) -> Path:
    write_book(
        root / "book.json",
        [
            {"symbol": FUT, "quantity": 35, "average_price": 51000},
            {"symbol": f"NSE:{STOCK}", "quantity": 10, "average_price": 1500},
        ],
    )
    account = {
        "id": ACCOUNT,
        "broker": "kite",
        "book": "bot",
        "exchange": "NFO",
        "timeout": TIMEOUT,
        "api_key": kite.api_key,
        "api_root": kite.url,
        **account_settings(setting),
    }
    config = root / "config.toml"
    text = toml_table("[[books]]", {"id": "bot", "kind": "file", "path": "book.json"})
    config.write_text(text + "\n" + toml_table("[[accounts]]", account), encoding="utf-8")
    return config


@pytest.mark.parametrize(("fault", "path", "setting"), CASES)
def test_a_failed_kite_read_holds_the_picture(
    kite: FakeKiteServer,
    memory_keyring: MemoryKeyring,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    path: str,
    setting: str,
) -> None:
    memory_keyring.set_password("position-sync", f"{ACCOUNT}:access_token", kite.access_token)
    kite.set_positions([POSITION])
    kite.set_holdings([HOLDING])
    kite.set_orders([order_row(FUT, transaction_type="SELL", quantity=35, status="OPEN")])
    config, data_dir = _config(kite, tmp_path, setting), tmp_path / "data"
    good = sync_once(config, data_dir, capsys)
    assert_good(good, ACCOUNT, {f"NFO:{FUT}", f"NSE:{STOCK}"})

    _, reply, words = FAULTS[fault]
    if reply == "stop":
        kite.stop()
    else:
        assert callable(reply)
        kite.script(path, reply(path))
    faulted = sync_once(config, data_dir, capsys)
    assert_fault_held(good, faulted, ACCOUNT, config=config, data_dir=data_dir, capsys=capsys, words=words)


@pytest.mark.parametrize("setting", SETTING_IDS)
def test_a_refused_token_asks_for_a_login_and_keeps_the_picture(
    kite: FakeKiteServer,
    memory_keyring: MemoryKeyring,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setting: str,
) -> None:
    """A 403 TokenException is not stale but ``login_required``: still exit 2, still no event."""
    memory_keyring.set_password("position-sync", f"{ACCOUNT}:access_token", kite.access_token)
    kite.set_positions([POSITION])
    kite.set_holdings([HOLDING])
    config, data_dir = _config(kite, tmp_path, setting), tmp_path / "data"
    good = sync_once(config, data_dir, capsys)
    assert_good(good, ACCOUNT)
    kite.script(POSITIONS, token_error())
    faulted = sync_once(config, data_dir, capsys)
    assert faulted.code == 2
    assert faulted.account(ACCOUNT)["state"] == "login_required"
    assert set(faulted.rows(ACCOUNT)) == set(good.rows(ACCOUNT))
    assert not faulted.event_kinds() & {"phantom_detected", "untracked_detected", "closed"}

    # The next run, a new process with the same token, sends nothing and says so at once.
    kite.clear_requests()
    again = sync_once(config, data_dir, capsys)
    assert kite.count() == 0
    assert again.code == 2
    assert again.account(ACCOUNT)["state"] == "login_required"
    assert set(again.rows(ACCOUNT)) == set(good.rows(ACCOUNT))

    # A different token stored (a login) is tried, and the account reads again.
    kite.script(POSITIONS, positions_payload([POSITION]))
    kite.accept_token("token-day-2")
    memory_keyring.set_password("position-sync", f"{ACCOUNT}:access_token", "token-day-2")
    recovered = sync_once(config, data_dir, capsys)
    assert recovered.account(ACCOUNT)["state"] == "ok"
    assert kite.count() > 0
