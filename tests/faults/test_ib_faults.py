"""Fault matrix, Interactive Brokers: a connection or download that cannot be trusted is stale.

The real ``ib_async`` client connects to the fake TWS (its own event loop on a thread, so the
command under test runs its loop as a user's does). A good sync stores three positions; then TWS
is scripted to fail at its next connection, and ``sync --once`` must hold the picture (see
``tests/faults/harness.py``).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.conftest import toml_table, write_book
from tests.fakes.tws_server import FakeContract, FakeTws
from tests.faults.harness import (
    SETTING_IDS,
    account_settings,
    assert_fault_held,
    assert_good,
    sync_once,
)

T = TypeVar("T")
ACCOUNT = "ib1"
U1 = "U1111111"
AAPL = FakeContract("STK", "AAPL", 265598, "AAPL", exchange="NASDAQ", primary_exchange="NASDAQ")
MSFT = FakeContract("STK", "MSFT", 272093, "MSFT", exchange="NASDAQ", primary_exchange="NASDAQ")
ES = FakeContract(
    "FUT", "ES", 495512563, "ESZ5", "20251219", multiplier="50", exchange="CME", trading_class="ES"
)
KEYS = {"STK:AAPL:USD", "STK:MSFT:USD", "FUT:ESZ5"}
UNSET = "1.7976931348623157E308"


class TwsThread:
    """The fake TWS on a loop of its own, scripted from the test's thread between runs."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fake-tws", daemon=True)
        self.thread.start()
        self.tws: FakeTws = self.call(self._make())

    @staticmethod
    async def _make() -> FakeTws:
        tws = FakeTws(accounts=[U1])
        tws.set_position(U1, AAPL, "100", "150.25", market_price="190.5")
        tws.set_position(U1, MSFT, "-30", "410.1", market_price="400", unrealized_pnl="303")
        tws.set_position(U1, ES, "2", "250012.5", market_price="5010", unrealized_pnl="-25")
        await tws.start()
        return tws

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(15)

    def close(self) -> None:
        self.call(self.tws.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def tws() -> Iterator[TwsThread]:
    running = TwsThread()
    yield running
    running.close()


def _config(tws: TwsThread, root: Path, setting: str) -> Path:
    write_book(
        root / "book.json",
        [
            {"symbol": "AAPL", "quantity": 100, "average_price": "150.25"},
            {"symbol": "MSFT", "quantity": -30, "average_price": "410.1"},
            {"symbol": "ESZ5", "quantity": 2, "average_price": "5000.25"},
        ],
    )
    account = {
        "id": ACCOUNT,
        "broker": "ibkr",
        "book": "bot",
        "port": tws.tws.port,
        "client_id": 31,
        "ib_account": U1,
        "timeout": 2,
        **account_settings(setting),
    }
    config = root / "config.toml"
    text = toml_table("[[books]]", {"id": "bot", "kind": "file", "path": "book.json"})
    config.write_text(text + "\n" + toml_table("[[accounts]]", account), encoding="utf-8")
    return config


def _bad_quantity(text: str) -> Callable[[FakeTws], None]:
    def fault(tws: FakeTws) -> None:
        tws.set_position(U1, MSFT, text, "410.1")

    return fault


def _notices(*codes: int) -> Callable[[FakeTws], None]:
    def fault(tws: FakeTws) -> None:
        tws.handshake_notices = list(codes)

    return fault


def _set(name: str, value: object) -> Callable[[FakeTws], None]:
    def fault(tws: FakeTws) -> None:
        setattr(tws, name, value)

    return fault


def _client_id_in_use(tws: FakeTws) -> None:
    tws.client_ids_in_use.add(31)


# Each fault, applied to the fake between the two runs, and a fragment of the stale sentence.
FAULTS: dict[str, tuple[Callable[[FakeTws], None], str]] = {
    "1100 in the handshake": (_notices(1100), "error 1100"),
    "2110 in the handshake": (_notices(2110), "error 2110"),
    "1100 then a farm OK in the handshake": (_notices(1100, 2104), "error 1100"),
    "1101 after 1100 in the handshake, before a fresh download": (_notices(1100, 1101), "1101"),
    "326 client id in use": (_client_id_in_use, "client_id 31"),
    "no positionEnd": (_set("hold_position_end", True), "position download"),
    "socket dropped mid-download": (_set("drop_after_positions", 1), "TWS"),
    "quantity abc": (_bad_quantity("abc"), "'abc' as the quantity of STK MSFT"),
    "quantity empty": (_bad_quantity(""), "an empty field as the quantity of STK MSFT"),
    "quantity nan": (_bad_quantity("nan"), "quantity of STK MSFT"),
    "quantity inf": (_bad_quantity("inf"), "quantity of STK MSFT"),
    "quantity 1e999": (_bad_quantity("1e999"), "quantity of STK MSFT"),
    "quantity beyond range": (_bad_quantity("1e20"), "quantity of STK MSFT"),
    "quantity unset": (_bad_quantity(UNSET), "quantity of STK MSFT"),
}


def _stop_listening(tws: TwsThread) -> None:
    tws.call(tws.tws.stop_listening())


@pytest.mark.parametrize("setting", SETTING_IDS)
@pytest.mark.parametrize("fault", [*FAULTS, "connection refused"])
def test_a_connection_or_download_that_cannot_be_trusted_holds_the_picture(
    tws: TwsThread, tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str, setting: str
) -> None:
    config, data_dir = _config(tws, tmp_path, setting), tmp_path / "data"
    good = sync_once(config, data_dir, capsys)
    assert_good(good, ACCOUNT, KEYS)
    if fault == "connection refused":
        _stop_listening(tws)
        words = "TWS"
    else:
        script, words = FAULTS[fault]
        script(tws.tws)
    faulted = sync_once(config, data_dir, capsys)
    assert_fault_held(good, faulted, ACCOUNT, config=config, data_dir=data_dir, capsys=capsys, words=words)


@pytest.mark.parametrize("setting", SETTING_IDS)
@pytest.mark.parametrize("text", ["abc", "", "nan", "inf", "1e999", UNSET])
def test_an_average_cost_that_cannot_be_read_is_unknown_never_zero(
    tws: TwsThread, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, setting: str
) -> None:
    """The position is there; only its average is unknown, so it is neither stale nor closed."""
    config, data_dir = _config(tws, tmp_path, setting), tmp_path / "data"
    good = sync_once(config, data_dir, capsys)
    assert_good(good, ACCOUNT, KEYS)
    tws.tws.set_position(U1, MSFT, "-30", text, market_price="400", unrealized_pnl="303")
    after = sync_once(config, data_dir, capsys)
    assert after.account(ACCOUNT)["state"] == "ok", after.account(ACCOUNT)
    rows = after.rows(ACCOUNT)
    assert set(rows) == KEYS
    msft = rows["STK:MSFT:USD"]
    assert msft["broker_qty"] == "-30" and msft["broker_avg"] is None, msft
    assert msft["status"] != "price_mismatch", "an unknown average is never compared"
    assert not after.event_kinds() & {"phantom_detected", "untracked_detected", "closed"}


def test_library_chatter_stays_out_of_the_default_output(
    tws: TwsThread, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """ib_async's "API connection failed" lines belong in the debug log, not on stderr."""
    config, data_dir = _config(tws, tmp_path, "defaults"), tmp_path / "data"
    _stop_listening(tws)
    from tests.test_cli import cli

    run = cli("--config", config, "--data-dir", data_dir, "sync", "--once")
    assert run.code == 2
    assert "API connection failed" not in run.stderr and "Make sure API port" not in run.stderr, run.stderr
    verbose = cli("--config", config, "--data-dir", data_dir, "-vv", "sync", "--once")
    assert "API connection failed" in verbose.stderr
