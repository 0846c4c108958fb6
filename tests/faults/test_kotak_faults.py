"""Fault matrix, Kotak Neo: every way a Kotak read can fail is a stale account, never an empty one.

The adapter talks to the fake Kotak on 127.0.0.1; a good sync stores a carried future and a
holding, then one endpoint is made to fail and ``sync --once`` must hold the picture (see
``tests/faults/harness.py``). An expired session is ``login_required`` and sends nothing more.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import MemoryKeyring, toml_table, write_book
from tests.fakes.kotak_server import (
    HOLDINGS,
    POSITIONS,
    FakeKotakServer,
    Reply,
    delayed,
    dropped,
    holding_row,
    holdings_reply,
    html_page,
    invalid_session,
    not_ok,
    ok,
    position_row,
    rate_limited,
    server_error,
)
from tests.faults.harness import SETTING_IDS, account_settings, assert_fault_held, assert_good, sync_once

ACCOUNT = "KT1"
FUT = "NIFTY26NOVFUT"
TIMEOUT = 3.0

POSITION = position_row(FUT, fl_buy=75, buy_price=24550, ltp=24600, lot=75)
HOLDING = holding_row("IFBIND", quantity=10, average_price=1210, closing_price=1250)


def _truncated(path: str) -> Reply:
    return Reply(200, body=b'{"stat": "ok", "stCode": 200, "data": [{"exSeg": "nse_fo", "trdSy')


def _duplicate(path: str) -> Reply:
    return holdings_reply([HOLDING, HOLDING]) if path == HOLDINGS else ok([POSITION, POSITION])


def _bad_row(path: str) -> Reply:
    if path == HOLDINGS:
        return holdings_reply([dict(HOLDING, quantity="ten")])
    return ok([{k: v for k, v in POSITION.items() if k != "cfSellQty"}])


# Each fault: (paths it is injected on, the reply for a path, a fragment of the stale sentence).
FAULTS: dict[str, tuple[tuple[str, ...], Callable[[str], Reply] | str, str]] = {
    "connection refused": ((POSITIONS,), "stop", "refused the connection"),
    "hang past the timeout": ((POSITIONS, HOLDINGS), lambda p: delayed(ok([]), 10), "within"),
    "dropped socket": ((POSITIONS, HOLDINGS), lambda p: dropped(), "closed the connection"),
    "truncated body": ((POSITIONS,), _truncated, "not JSON"),
    "429": ((POSITIONS, HOLDINGS), lambda p: rate_limited(), "429"),
    "500": ((POSITIONS, HOLDINGS), lambda p: server_error(500), "HTTP 500"),
    "502 OMS": ((POSITIONS, HOLDINGS), lambda p: server_error(502), "Not able to communicate with OMS"),
    "503": ((POSITIONS, HOLDINGS), lambda p: server_error(503), "HTTP 503"),
    "504": ((POSITIONS, HOLDINGS), lambda p: server_error(504), "HTTP 504"),
    "502 HTML page": ((POSITIONS, HOLDINGS), lambda p: html_page(502), "text/html"),
    "503 empty success-shaped": (
        (POSITIONS, HOLDINGS),
        lambda p: Reply(503, {"stat": "ok", "data": []}),
        "503",
    ),
    "Not_Ok envelope": ((POSITIONS, HOLDINGS), lambda p: not_ok("Something went wrong", 5100), "Not_Ok"),
    "5203 that is not No Data": ((POSITIONS,), lambda p: not_ok("Session expired", 5203), "Not_Ok"),
    "200 not JSON": (
        (POSITIONS, HOLDINGS),
        lambda p: Reply(200, body=b"<html>maintenance</html>"),
        "not JSON",
    ),
    "200 data null": ((POSITIONS, HOLDINGS), lambda p: Reply(200, {"stat": "ok", "data": None}), "shape"),
    "200 no envelope": ((POSITIONS, HOLDINGS), lambda p: Reply(200, [POSITION]), "shape"),
    "malformed row": ((POSITIONS, HOLDINGS), _bad_row, "documented shape"),
    "duplicate rows": ((POSITIONS, HOLDINGS), _duplicate, "listed twice"),
}

CASES = [
    pytest.param(fault, path, setting, id=f"{fault}-{path.strip('/').replace('/', '.')}-{setting}")
    for fault, (paths, _, _) in FAULTS.items()
    for path in paths
    for setting in SETTING_IDS
]


@pytest.fixture
def kotak() -> Iterator[FakeKotakServer]:
    with FakeKotakServer(consumer_key=f"ck-{uuid.uuid4().hex[:12]}") as server:
        yield server


def _config(kotak: FakeKotakServer, root: Path, setting: str) -> Path:
    write_book(
        root / "book.json",
        [
            {"symbol": f"NFO:{FUT}", "quantity": 75, "average_price": 24550},
            {"symbol": "IFBIND-EQ", "quantity": 10, "average_price": 1210},
        ],
    )
    account = {
        "id": ACCOUNT,
        "broker": "kotak",
        "book": "bot",
        "exchange": "NSE",
        "timeout": TIMEOUT,
        "consumer_key": kotak.consumer_key,
        "api_root": kotak.url,
        **account_settings(setting),
    }
    config = root / "config.toml"
    text = toml_table("[[books]]", {"id": "bot", "kind": "file", "path": "book.json"})
    config.write_text(text + "\n" + toml_table("[[accounts]]", account), encoding="utf-8")
    return config


@pytest.mark.parametrize(("fault", "path", "setting"), CASES)
def test_a_failed_kotak_read_holds_the_picture(
    kotak: FakeKotakServer,
    memory_keyring: MemoryKeyring,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    path: str,
    setting: str,
) -> None:
    memory_keyring.set_password("position-sync", f"{ACCOUNT}:session", kotak.issue_session())
    kotak.set_positions([POSITION])
    kotak.set_holdings([HOLDING])
    config, data_dir = _config(kotak, tmp_path, setting), tmp_path / "data"
    good = sync_once(config, data_dir, capsys)
    assert_good(good, ACCOUNT, {f"NFO:{FUT}", "NSE:IFBIND"})
    assert {r["status"] for r in good.rows(ACCOUNT).values()} == {"match"}

    _, reply, words = FAULTS[fault]
    if reply == "stop":
        kotak.stop()
    else:
        assert callable(reply)
        kotak.script(path, reply(path))
    faulted = sync_once(config, data_dir, capsys)
    assert_fault_held(good, faulted, ACCOUNT, config=config, data_dir=data_dir, capsys=capsys, words=words)


@pytest.mark.parametrize("setting", SETTING_IDS)
def test_an_expired_session_asks_for_a_login_and_keeps_the_picture(
    kotak: FakeKotakServer,
    memory_keyring: MemoryKeyring,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setting: str,
) -> None:
    """HTTP 403 "Invalid session" is ``login_required``: exit 2, no event, nothing sent again."""
    memory_keyring.set_password("position-sync", f"{ACCOUNT}:session", kotak.issue_session())
    kotak.set_positions([POSITION])
    kotak.set_holdings([HOLDING])
    config, data_dir = _config(kotak, tmp_path, setting), tmp_path / "data"
    good = sync_once(config, data_dir, capsys)
    assert_good(good, ACCOUNT)
    kotak.script(POSITIONS, invalid_session())
    faulted = sync_once(config, data_dir, capsys)
    assert faulted.code == 2
    state = faulted.account(ACCOUNT)
    assert state["state"] == "login_required"
    assert "Invalid session, please re-login to continue" in state["error"]
    assert set(faulted.rows(ACCOUNT)) == set(good.rows(ACCOUNT))
    assert not faulted.event_kinds() & {"phantom_detected", "untracked_detected", "closed"}

    # The next run, a new process with the same session, sends nothing and says so at once.
    kotak.clear_requests()
    again = sync_once(config, data_dir, capsys)
    assert kotak.count() == 0
    assert again.code == 2
    assert again.account(ACCOUNT)["state"] == "login_required"

    # A new session stored (a login) is tried, and the account reads again.
    kotak.set_positions([POSITION])
    memory_keyring.set_password("position-sync", f"{ACCOUNT}:session", kotak.issue_session())
    recovered = sync_once(config, data_dir, capsys)
    assert recovered.account(ACCOUNT)["state"] == "ok"
    assert kotak.count() > 0
