"""The Bybit adapter against a fake Bybit v5 on 127.0.0.1, through the real ccxt client.

Nothing here mocks ccxt or aiohttp: Bybit's envelopes, signatures and error codes go over a
socket, so ccxt's own request building, signing and exception mapping are part of the test.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from position_sync.app.errors import LoginRequired, ReadError, ReadErrorKind
from position_sync.brokers import ccxt_session
from position_sync.brokers.bybit import create
from position_sync.brokers.ccxt_adapter import CcxtAdapter
from tests.exchange_helpers import exchange_account, exchange_context, quick_reads
from tests.fakes.bybit_rows import (
    closed_pnl_row,
    flat_row,
    linear_instruments,
    position_row,
    wallet_coin,
)
from tests.fakes.bybit_server import (
    CLOSED_PNL,
    COIN_INFO,
    INSTRUMENTS,
    KEY_INFO,
    POSITIONS,
    FakeBybitServer,
    bybit_error,
    dropped,
    html_page,
    invalid_key,
    server_busy,
    timestamp_error,
    too_many_visits,
)

__all__ = ["quick_reads"]

D = Decimal


@pytest.fixture
def bybit() -> Iterator[FakeBybitServer]:
    with FakeBybitServer() as server:
        yield server


@pytest.fixture
async def adapter(bybit: FakeBybitServer, tmp_path: Path, quick_reads: None) -> AsyncIterator[CcxtAdapter]:
    made = create(
        exchange_account("bybit", bybit.url, bybit.api_key), exchange_context(tmp_path, bybit.api_secret)
    )
    yield made
    await made.close()


def by_leg(snapshot_positions: tuple) -> dict[tuple[str, str | None], Decimal]:
    return {(p.instrument, p.label): p.quantity for p in snapshot_positions}


async def test_one_way_positions_are_read_from_bybits_strings(
    bybit: FakeBybitServer, adapter: CcxtAdapter
) -> None:
    bybit.set_positions(
        [
            position_row("HIGHUSDT", "1234.5", "Buy", "0.8123", "0.8200", cum_realised="12.5"),
            position_row("BTCPERP", "0.003", "Sell", "65000", "64000"),  # USDC-settled
            flat_row("ETHUSDT", "3000"),
        ]
    )
    snapshot = await adapter.fetch()
    positions = {p.instrument: p for p in snapshot.positions}
    assert set(positions) == {"HIGH/USDT:USDT"}, (
        "USDC contracts are another settle coin's account; flat is closed"
    )
    high = positions["HIGH/USDT:USDT"]
    assert high.quantity == D("1234.5") and high.average_price == D("0.8123")
    assert high.last_price == D("0.8200") and high.currency == "USDT" and high.symbol == "HIGHUSDT"
    assert high.label == "cumulative realised 12.5"
    assert snapshot.spellings["HIGHUSDT"] == "HIGH/USDT:USDT"
    assert snapshot.spellings["HIGH-USDT"] == "HIGH/USDT:USDT"
    assert snapshot.spellings["HIGHUSDT.P"] == "HIGH/USDT:USDT"
    assert "BTC/USDT" not in snapshot.spellings.values(), "spot is never indexed for a contracts account"


async def test_usdc_settled_account_reads_its_own_contracts(
    bybit: FakeBybitServer, tmp_path: Path, quick_reads: None
) -> None:
    bybit.set_positions([position_row("BTCPERP", "0.003", "Sell", "65000", "64000")])
    account = exchange_account("bybit", bybit.url, bybit.api_key, settle_coin="USDC")
    made = create(account, exchange_context(tmp_path, bybit.api_secret))
    try:
        snapshot = await made.fetch()
    finally:
        await made.close()
    assert [(p.instrument, p.quantity) for p in snapshot.positions] == [("BTC/USDC:USDC", D("-0.003"))]
    assert {r.param("settleCoin") for r in bybit.requests if r.path == POSITIONS} == {"USDC"}


async def test_hedge_mode_keeps_both_legs(bybit: FakeBybitServer, adapter: CcxtAdapter) -> None:
    bybit.set_positions(
        [
            position_row("BTCUSDT", "0.5", "Buy", "60000", "61000", position_idx=1, cum_realised="0"),
            position_row("BTCUSDT", "0.2", "Sell", "62000", "61000", position_idx=2, cum_realised="-3"),
        ]
    )
    snapshot = await adapter.fetch()
    assert by_leg(snapshot.positions) == {
        ("BTC/USDT:USDT", "long leg · cumulative realised 0"): D("0.5"),
        ("BTC/USDT:USDT", "short leg · cumulative realised -3"): D("-0.2"),
    }


async def test_a_close_carries_bybits_closed_pnl(bybit: FakeBybitServer, adapter: CcxtAdapter) -> None:
    bybit.set_positions([position_row("HIGHUSDT", "100", "Buy", "1.0", "1.2")])
    await adapter.fetch()
    bybit.set_positions([flat_row("HIGHUSDT", "1.25")])
    bybit.set_closed_pnl([closed_pnl_row("HIGHUSDT", "Sell", "100", "1.0", "1.25", "24.9")])
    snapshot = await adapter.fetch()
    [closed] = snapshot.positions
    assert closed.instrument == "HIGH/USDT:USDT" and closed.quantity == 0
    assert closed.realised_pnl == D("24.9")
    assert bybit.count(CLOSED_PNL) == 1, "one page: shorter than the page size, no second request"
    again = await adapter.fetch()  # kept for the day, the history not asked again
    assert [p.realised_pnl for p in again.positions] == [D("24.9")]
    assert bybit.count(CLOSED_PNL) == 1


async def test_only_read_endpoints_are_requested(
    bybit: FakeBybitServer, adapter: CcxtAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    bybit.set_positions([position_row("HIGHUSDT", "100", "Buy", "1.0", "1.2")])
    await adapter.fetch()
    await adapter.fetch()
    assert bybit.writes() == []
    paths = {r.path for r in bybit.requests}
    assert paths <= {INSTRUMENTS, POSITIONS, KEY_INFO, CLOSED_PNL}
    assert bybit.count(COIN_INFO) == 0, "the signed coin list is not loaded for a position reader"
    assert bybit.count(KEY_INFO) == 1, "the key is looked at once"
    assert not [r for r in caplog.records if "can trade" in r.getMessage()], "a read-only key gets no warning"


async def test_a_key_that_can_trade_is_warned_about_once(
    tmp_path: Path, quick_reads: None, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeBybitServer(read_only=False) as bybit:
        made = create(
            exchange_account("bybit", bybit.url, bybit.api_key), exchange_context(tmp_path, bybit.api_secret)
        )
        try:
            with caplog.at_level(logging.WARNING):
                await made.fetch()
                await made.fetch()
        finally:
            await made.close()
    warnings = [r.getMessage() for r in caplog.records if "can trade" in r.getMessage()]
    assert len(warnings) == 1 and "read-only key is enough" in warnings[0]


async def test_the_market_list_is_kept_for_the_next_process(
    bybit: FakeBybitServer, tmp_path: Path, quick_reads: None
) -> None:
    for _ in range(2):  # two adapters with separate runtimes, one data directory: two processes
        made = create(
            exchange_account("bybit", bybit.url, bybit.api_key), exchange_context(tmp_path, bybit.api_secret)
        )
        try:
            await made.fetch()
        finally:
            await made.close()
    assert bybit.count(INSTRUMENTS) == 2, "linear and its PreLaunch list, loaded once"
    assert list((tmp_path / "markets").glob("bybit-linear-*.json"))


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (invalid_key(), ReadErrorKind.LOGIN_EXPIRED, "the API key was refused"),
        (timestamp_error(), ReadErrorKind.HTTP, "clock is off"),
        (too_many_visits(50), ReadErrorKind.RATE_LIMITED, "rate limited"),
        (server_busy(), ReadErrorKind.HTTP, "10016"),
        (html_page(502), ReadErrorKind.HTTP, "unavailable"),
        (dropped(), ReadErrorKind.HTTP, "unavailable"),
        (bybit_error(10001, "params error: unknown"), ReadErrorKind.HTTP, "10001"),
    ],
)
async def test_every_failure_is_a_failed_read(
    bybit: FakeBybitServer, adapter: CcxtAdapter, reply: object, kind: ReadErrorKind, words: str
) -> None:
    bybit.set_positions([position_row("HIGHUSDT", "100", "Buy", "1.0", "1.2")])
    await adapter.fetch()
    bybit.script(POSITIONS, reply)  # type: ignore[arg-type]
    with pytest.raises(ReadError) as failed:
        await adapter.fetch()
    assert failed.value.kind is kind
    assert words in str(failed.value) and "Bybit" in str(failed.value)
    if kind is ReadErrorKind.LOGIN_EXPIRED:
        assert isinstance(failed.value, LoginRequired)


async def test_an_envelope_without_a_list_is_malformed(bybit: FakeBybitServer, adapter: CcxtAdapter) -> None:
    from tests.fakes.bybit_server import ok

    bybit.script(POSITIONS, ok({"category": "linear", "nextPageCursor": ""}))
    with pytest.raises(ReadError) as failed:
        await adapter.fetch()
    assert failed.value.kind is ReadErrorKind.MALFORMED and "'list'" in str(failed.value)


async def test_a_rate_limit_holds_every_request_back_until_bybit_said(
    bybit: FakeBybitServer, adapter: CcxtAdapter
) -> None:
    bybit.set_positions([position_row("HIGHUSDT", "100", "Buy", "1.0", "1.2")])
    await adapter.fetch()
    reset_ms = int((time.time() + 30) * 1000)
    bybit.script(POSITIONS, too_many_visits(50, reset_ms))
    with pytest.raises(ReadError):
        await adapter.fetch()
    sent = len(bybit.requests)
    with pytest.raises(ReadError) as held:
        await adapter.fetch()
    assert held.value.kind is ReadErrorKind.RATE_LIMITED and "nothing was sent" in str(held.value)
    assert len(bybit.requests) == sent


async def test_resync_pressed_fast_reads_at_most_once_a_second(
    bybit: FakeBybitServer, tmp_path: Path
) -> None:
    assert ccxt_session.MIN_SECONDS_BETWEEN_READS == 1.0
    made = create(
        exchange_account("bybit", bybit.url, bybit.api_key), exchange_context(tmp_path, bybit.api_secret)
    )
    try:
        for _ in range(4):
            await made.fetch()
    finally:
        await made.close()
    starts = [r.at for r in bybit.requests if r.path == POSITIONS][1:]  # after the market list's load
    assert len(starts) == 3
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.95


async def test_spot_balances_are_positions_without_an_average(tmp_path: Path, quick_reads: None) -> None:
    with FakeBybitServer() as bybit:
        bybit.set_wallet(
            [
                wallet_coin("USDT", "1000", "1000.2"),
                wallet_coin("BTC", "0.5", "30000"),
                wallet_coin("DOGE", "3", "0.4"),  # dust
            ]
        )
        account = exchange_account("bybit", bybit.url, bybit.api_key, market="spot")
        made = create(account, exchange_context(tmp_path, bybit.api_secret))
        try:
            snapshot = await made.fetch()
        finally:
            await made.close()
    [btc] = snapshot.positions
    assert btc.instrument == "BTC/USDT" and btc.quantity == D("0.5") and btc.average_price is None
    assert btc.last_price == D("60000")
    assert snapshot.spellings["BTCUSDT"] == "BTC/USDT", "a spot account indexes spot markets only"


async def test_an_order_never_leaves_even_if_code_asked_ccxt_for_one(
    bybit: FakeBybitServer, adapter: CcxtAdapter
) -> None:
    """The guard sits on ccxt's own ``fetch``: any path not read-only is refused before sending."""
    await adapter.fetch()
    session = adapter.session
    assert session is not None
    with pytest.raises(ReadError) as refused:
        await session.call(
            "privatePostV5OrderCreate", {"category": "linear", "symbol": "BTCUSDT"}, "an order"
        )
    assert "read-only towards Bybit" in str(refused.value) and "nothing was sent" in str(refused.value)
    with pytest.raises(PermissionError):
        await session.exchange.create_order("BTC/USDT:USDT", "market", "buy", 0.001)
    assert bybit.writes() == []


# --- an unchanged answer is not rebuilt (issue 19) ------------------------------------------------


def _three_pages(bybit: FakeBybitServer) -> list[dict[str, object]]:
    """450 positions, Bybit's three pages of 200, on as many listed perpetuals."""
    listed = linear_instruments(470)
    bybit.set_instruments("linear", listed)
    natives = [str(r["symbol"]) for r in listed if str(r["symbol"]).startswith("Q")][:450]
    rows = [position_row(native, "3", "Buy", "1.5", "1.6", updated_ms=1) for native in natives]
    bybit.set_positions(rows)
    return rows


async def test_an_unchanged_answer_of_three_pages_hands_back_the_very_same_positions(
    bybit: FakeBybitServer, adapter: CcxtAdapter
) -> None:
    rows = _three_pages(bybit)
    first = await adapter.fetch()
    asked = bybit.count(POSITIONS)
    second = await adapter.fetch()
    assert bybit.count(POSITIONS) == 2 * asked >= 6  # every page read again, nothing built again
    assert second.positions is first.positions and len(second.positions) == 450

    # One price on the last page moves: built anew, with the new price.
    rows[-1] = position_row(str(rows[-1]["symbol"]), "3", "Buy", "1.5", "1.7", updated_ms=1)
    bybit.set_positions(rows)
    moved = await adapter.fetch()
    assert moved.positions is not first.positions
    assert moved.positions[-1].last_price == D("1.7") and moved.positions[0] is not first.positions[0]


@pytest.mark.parametrize("change", ["quantity", "side", "new position", "closed"])
async def test_a_changed_answer_is_built_anew(
    bybit: FakeBybitServer, adapter: CcxtAdapter, change: str
) -> None:
    high = position_row("HIGHUSDT", "1234.5", "Buy", "0.8123", "0.8200", updated_ms=1)
    bybit.set_positions([high])
    first = await adapter.fetch()
    rows = {
        "quantity": [position_row("HIGHUSDT", "1000", "Buy", "0.8123", "0.8200", updated_ms=1)],
        "side": [position_row("HIGHUSDT", "1234.5", "Sell", "0.8123", "0.8200", updated_ms=1)],
        "new position": [high, position_row("ETHUSDT", "2", "Buy", "3000", "3010", updated_ms=1)],
        "closed": [flat_row("HIGHUSDT", "0.8200")],
    }[change]
    bybit.set_positions(rows)
    second = await adapter.fetch()
    assert second.positions is not first.positions
    held = {p.instrument: p.quantity for p in second.positions}
    expected = {
        "quantity": {"HIGH/USDT:USDT": D(1000)},
        "side": {"HIGH/USDT:USDT": D("-1234.5")},
        "new position": {"HIGH/USDT:USDT": D("1234.5"), "ETH/USDT:USDT": D(2)},
        "closed": {"HIGH/USDT:USDT": D(0)},
    }[change]
    assert held == expected
    assert (await adapter.fetch()).positions is second.positions  # and at rest again


async def test_a_failed_read_between_two_equal_answers_is_a_read_error_never_the_memo(
    bybit: FakeBybitServer, adapter: CcxtAdapter
) -> None:
    bybit.set_positions([position_row("HIGHUSDT", "1234.5", "Buy", "0.8123", "0.8200", updated_ms=1)])
    first = await adapter.fetch()
    for reply in (server_busy(), bybit_error(10016, "Internal error", status=200)):
        bybit.script(POSITIONS, reply)
        with pytest.raises(ReadError):
            await adapter.fetch()
    bybit.clear_scripts(POSITIONS)
    again = await adapter.fetch()
    assert again.positions is first.positions and again.positions[0].quantity == D("1234.5")


async def test_spot_balances_at_rest_are_the_very_same_and_a_new_value_is_not(
    tmp_path: Path, quick_reads: None
) -> None:
    with FakeBybitServer() as bybit:
        bybit.set_wallet([wallet_coin("USDT", "1000", "1000.2"), wallet_coin("BTC", "0.5", "30000")])
        account = exchange_account("bybit", bybit.url, bybit.api_key, market="spot")
        made = create(account, exchange_context(tmp_path, bybit.api_secret))
        try:
            first = await made.fetch()
            assert (await made.fetch()).positions is first.positions
            bybit.set_wallet([wallet_coin("USDT", "1000", "1000.2"), wallet_coin("BTC", "0.5", "31000")])
            moved = await made.fetch()
        finally:
            await made.close()
    assert moved.positions is not first.positions and moved.positions[0].last_price == D(62000)
