"""The Binance adapter against a fake Binance (USD-M futures and spot) through the real ccxt client.

The fake checks keys, timestamps and HMAC signatures as Binance does and counts request weight
per calendar minute, so ccxt's own signing and error mapping, and our pacing, are all exercised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from position_sync.app.errors import LoginRequired, ReadError, ReadErrorKind
from position_sync.brokers.binance import create
from position_sync.brokers.ccxt_adapter import CcxtAdapter
from tests.exchange_helpers import exchange_account, exchange_context, quick_reads
from tests.fakes import binance_replies as replies
from tests.fakes.binance_rows import (
    STANDARD_CONTRACTS,
    Contract,
    fixture,
    futures_market,
    hedge_rows,
    income_row,
    position_row,
)
from tests.fakes.binance_server import (
    API_RESTRICTIONS,
    CAPITAL_CONFIG,
    FAPI_EXCHANGE_INFO,
    INCOME,
    POSITION_RISK,
    SPOT_ACCOUNT,
    SPOT_EXCHANGE_INFO,
    TICKER_PRICE,
    FakeBinanceServer,
)

__all__ = ["quick_reads"]

D = Decimal


@pytest.fixture
def binance() -> Iterator[FakeBinanceServer]:
    with FakeBinanceServer() as server:
        yield server


@pytest.fixture
async def adapter(
    binance: FakeBinanceServer, tmp_path: Path, quick_reads: None
) -> AsyncIterator[CcxtAdapter]:
    made = create(
        exchange_account("binance", binance.url, binance.api_key),
        exchange_context(tmp_path, binance.api_secret),
    )
    yield made
    await made.close()


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_positions_come_from_binances_own_strings(
    binance: FakeBinanceServer, adapter: CcxtAdapter
) -> None:
    binance.set_positions(
        [
            position_row("HIGHUSDT", "-12.3", "1.2345", "1.3", quantity_decimals=1),
            position_row("ETHUSDT", "0.000", "0.0", "3000"),  # flat with open orders: closed
        ]
    )
    snapshot = await adapter.fetch()
    [high] = snapshot.positions
    assert high.instrument == "HIGH/USDT:USDT" and high.quantity == D("-12.3")
    assert high.average_price == D("1.2345") and high.last_price == D("1.3") and high.currency == "USDT"
    assert high.label is None, "one-way mode is one line"
    assert snapshot.spellings["HIGHUSDT"] == "HIGH/USDT:USDT"
    assert snapshot.spellings["HIGH_USDT"] == "HIGH/USDT:USDT"
    assert snapshot.spellings["BTCUSDC"] == "BTC/USDC:USDC", "USDC-margined contracts stay their own"
    assert snapshot.spellings["BTCUSDT"] == "BTC/USDT:USDT"


async def test_ccxts_own_recorded_rows_are_read(binance: FakeBinanceServer, adapter: CcxtAdapter) -> None:
    """ccxt's recorded positionRisk v3 answer (tests/fixtures/binance), served unchanged."""
    recorded = fixture("position_risk_v3.json")
    rows = recorded["response"] if isinstance(recorded, dict) and "response" in recorded else recorded
    binance.set_positions(rows)
    snapshot = await adapter.fetch()
    expected = {r["symbol"]: D(r["positionAmt"]) for r in rows if D(r["positionAmt"]) != 0}
    assert {p.symbol: p.quantity for p in snapshot.positions} == expected


async def test_hedge_mode_keeps_its_two_legs(binance: FakeBinanceServer, adapter: CcxtAdapter) -> None:
    binance.set_positions(hedge_rows("BTCUSDT", "0.010", "-0.004", "67000", "67500"))
    snapshot = await adapter.fetch()
    assert {(p.instrument, p.label): p.quantity for p in snapshot.positions} == {
        ("BTC/USDT:USDT", "long leg"): D("0.010"),
        ("BTC/USDT:USDT", "short leg"): D("-0.004"),
    }


async def test_a_flat_hedge_leg_is_closed_and_the_other_stays(
    binance: FakeBinanceServer, adapter: CcxtAdapter
) -> None:
    binance.set_positions(hedge_rows("BTCUSDT", "0.010", "0.000", "67000", "67500"))
    snapshot = await adapter.fetch()
    assert [(p.label, p.quantity) for p in snapshot.positions] == [("long leg", D("0.010"))]


async def test_a_close_reads_its_realised_pnl_from_the_income_history(
    binance: FakeBinanceServer, adapter: CcxtAdapter
) -> None:
    binance.set_positions([position_row("HIGHUSDT", "100", "1.0", "1.2", quantity_decimals=0)])
    await adapter.fetch()
    binance.set_positions([])
    binance.set_income(
        [
            income_row("HIGHUSDT", "19.5", time_ms=now_ms()),
            income_row("HIGHUSDT", "-0.4", income_type="COMMISSION", time_ms=now_ms()),
            income_row("HIGHUSDT", "5", time_ms=now_ms() - 86_400_000),  # before it opened
        ]
    )
    snapshot = await adapter.fetch()
    [closed] = snapshot.positions
    assert closed.instrument == "HIGH/USDT:USDT" and closed.quantity == 0
    assert closed.realised_pnl == D("19.5")
    [asked] = [r for r in binance.requests if r.path == INCOME]
    assert asked.query["incomeType"] == ["REALIZED_PNL"]


async def test_a_close_the_history_does_not_show_is_left_to_the_core(
    binance: FakeBinanceServer, adapter: CcxtAdapter
) -> None:
    binance.set_positions([position_row("HIGHUSDT", "100", "1.0", "1.2", quantity_decimals=0)])
    await adapter.fetch()
    binance.set_positions([])
    binance.script(INCOME, replies.internal_error())
    snapshot = await adapter.fetch()  # the positions read is good: the close stands
    [closed] = snapshot.positions
    assert closed.quantity == 0 and closed.realised_pnl is None


async def test_only_read_endpoints_are_requested(binance: FakeBinanceServer, adapter: CcxtAdapter) -> None:
    binance.set_positions([position_row("HIGHUSDT", "100", "1.0", "1.2", quantity_decimals=0)])
    for _ in range(3):
        await adapter.fetch()
    assert binance.writes() == []
    assert {r.path for r in binance.requests} <= {FAPI_EXCHANGE_INFO, POSITION_RISK, API_RESTRICTIONS, INCOME}
    assert binance.count(CAPITAL_CONFIG) == 0, "no signed currency list at start"
    assert binance.count(FAPI_EXCHANGE_INFO) == 1
    assert binance.count(API_RESTRICTIONS) == 1


async def test_a_key_that_can_trade_is_warned_about_once(
    binance: FakeBinanceServer, adapter: CcxtAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    binance.set_api_restrictions(futures=True)
    with caplog.at_level(logging.WARNING):
        await adapter.fetch()
        await adapter.fetch()
    warnings = [r.getMessage() for r in caplog.records if "can trade" in r.getMessage()]
    assert len(warnings) == 1 and "read-only key is enough and safer" in warnings[0]


async def test_a_read_only_key_gets_no_warning(
    binance: FakeBinanceServer, adapter: CcxtAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    binance.set_api_restrictions(spot_trading=False, futures=False, withdrawals=False)
    with caplog.at_level(logging.WARNING):
        await adapter.fetch()
    assert not [r for r in caplog.records if "can trade" in r.getMessage()]


@pytest.mark.parametrize(
    ("reply", "kind", "words"),
    [
        (replies.invalid_api_key(), ReadErrorKind.LOGIN_EXPIRED, "the API key was refused"),
        (replies.bad_signature(), ReadErrorKind.LOGIN_EXPIRED, "the API key was refused"),
        (replies.timestamp_outside_window(), ReadErrorKind.HTTP, "clock is off"),
        (replies.rate_limited(30), ReadErrorKind.RATE_LIMITED, "rate limited"),
        (replies.ip_banned(120), ReadErrorKind.RATE_LIMITED, "rate limited"),
        (replies.internal_error(), ReadErrorKind.HTTP, "-1001"),
        (replies.html_page(502), ReadErrorKind.HTTP, "unavailable"),
        (replies.dropped(), ReadErrorKind.HTTP, "unavailable"),
        (replies.ok({"code": 0, "msg": "not a list"}), ReadErrorKind.MALFORMED, "list of rows"),
        (
            replies.ok([{"symbol": "HIGHUSDT", "positionSide": "BOTH"}]),
            ReadErrorKind.MALFORMED,
            "positionAmt",
        ),
    ],
)
async def test_every_failure_is_a_failed_read(
    binance: FakeBinanceServer, adapter: CcxtAdapter, reply: object, kind: ReadErrorKind, words: str
) -> None:
    binance.set_positions([position_row("HIGHUSDT", "100", "1.0", "1.2", quantity_decimals=0)])
    await adapter.fetch()
    binance.script(POSITION_RISK, reply)  # type: ignore[arg-type]
    with pytest.raises(ReadError) as failed:
        await adapter.fetch()
    assert failed.value.kind is kind
    assert words in str(failed.value) and "Binance" in str(failed.value)
    if kind is ReadErrorKind.LOGIN_EXPIRED:
        assert isinstance(failed.value, LoginRequired)


async def test_retry_after_holds_every_request_back(binance: FakeBinanceServer, adapter: CcxtAdapter) -> None:
    binance.set_positions([position_row("HIGHUSDT", "100", "1.0", "1.2", quantity_decimals=0)])
    await adapter.fetch()
    binance.script(POSITION_RISK, replies.rate_limited(30))
    with pytest.raises(ReadError):
        await adapter.fetch()
    sent = len(binance.requests)
    for _ in range(3):  # resync pressed: nothing goes out until Binance's Retry-After is over
        with pytest.raises(ReadError) as held:
            await adapter.fetch()
        assert held.value.kind is ReadErrorKind.RATE_LIMITED and "nothing was sent" in str(held.value)
    assert len(binance.requests) == sent


async def test_spot_balances_are_positions_valued_in_the_quote_asset(
    tmp_path: Path, quick_reads: None
) -> None:
    with FakeBinanceServer() as binance:
        binance.set_spot_balances({"USDT": ("500", "0"), "BTC": ("0.25", "0.05"), "BNB": ("0.001", "0")})
        binance.set_spot_prices({"BTCUSDT": "60000", "BNBUSDT": "600"})
        account = exchange_account("binance", binance.url, binance.api_key, market="spot")
        made = create(account, exchange_context(tmp_path, binance.api_secret))
        try:
            snapshot = await made.fetch()
        finally:
            await made.close()
        assert {r.path for r in binance.requests} <= {
            SPOT_EXCHANGE_INFO,
            SPOT_ACCOUNT,
            TICKER_PRICE,
            API_RESTRICTIONS,
        }
        assert binance.writes() == []
    [btc] = snapshot.positions  # USDT is the quote, BNB worth 0.60 is dust
    assert btc.instrument == "BTC/USDT" and btc.quantity == D("0.30") and btc.average_price is None
    assert btc.last_price == D("60000")
    assert snapshot.spellings["BTCUSDT"] == "BTC/USDT", "spot and the perpetual never collapse"


# --- an unchanged answer is not rebuilt (issue 19) ------------------------------------------------


def _high(amount: str = "100", mark: str = "1.2") -> list[dict[str, object]]:
    return [position_row("HIGHUSDT", amount, "1.0", mark, quantity_decimals=0)]


async def test_an_unchanged_answer_hands_back_the_very_same_positions(
    binance: FakeBinanceServer, adapter: CcxtAdapter
) -> None:
    binance.set_positions(_high() + hedge_rows("BTCUSDT", "0.010", "-0.004", "67000", "67500"))
    first = await adapter.fetch()
    second = await adapter.fetch()
    assert binance.count(POSITION_RISK) == 2  # read both times, built once
    assert second.positions is first.positions and second.spellings is first.spellings
    assert len(first.positions) == 3


@pytest.mark.parametrize("change", ["mark price", "quantity", "new position", "hedge leg"])
async def test_a_changed_answer_is_built_anew(
    binance: FakeBinanceServer, adapter: CcxtAdapter, change: str
) -> None:
    binance.set_positions(_high() + hedge_rows("BTCUSDT", "0.010", "-0.004", "67000", "67500"))
    first = await adapter.fetch()
    rows = {
        "mark price": _high(mark="1.25") + hedge_rows("BTCUSDT", "0.010", "-0.004", "67000", "67500"),
        "quantity": _high("90") + hedge_rows("BTCUSDT", "0.010", "-0.004", "67000", "67500"),
        "new position": _high()
        + hedge_rows("BTCUSDT", "0.010", "-0.004", "67000", "67500")
        + [position_row("ETHUSDT", "2", "3000", "3010")],
        "hedge leg": _high() + hedge_rows("BTCUSDT", "0.010", "-0.006", "67000", "67500"),
    }[change]
    binance.set_positions(rows)
    second = await adapter.fetch()
    assert second.positions is not first.positions
    lines = {(p.instrument, p.label): p for p in second.positions}
    high = lines[("HIGH/USDT:USDT", None)]
    if change == "mark price":
        assert high.last_price == D("1.25")
    elif change == "quantity":
        assert high.quantity == D(90)
    elif change == "new position":
        assert lines[("ETH/USDT:USDT", None)].quantity == D(2)
    else:
        assert lines[("BTC/USDT:USDT", "short leg")].quantity == D("-0.006")


async def test_a_changed_market_list_builds_the_same_answer_anew(
    binance: FakeBinanceServer, adapter: CcxtAdapter
) -> None:
    """The market list names the instruments: the same rows under a renamed market are rebuilt."""
    binance.set_positions(_high())
    first = await adapter.fetch()
    [high] = first.positions
    assert high.instrument == "HIGH/USDT:USDT"
    renamed = Contract("HIGHUSDT", "HIGHER", "USDT", "USDT", quantity_decimals=0)
    binance.set_markets(
        [futures_market(c) for c in STANDARD_CONTRACTS if c.symbol != "HIGHUSDT"] + [futures_market(renamed)]
    )
    session = adapter.session
    assert session is not None and await session.refresh_markets(min_age=0)
    second = await adapter.fetch()
    assert second.positions is not first.positions
    # Keyed anew: the old key's leg is gone (a zero row) and the new one holds the 100.
    assert [(p.instrument, p.quantity) for p in second.positions] == [
        ("HIGHER/USDT:USDT", D(100)),
        ("HIGH/USDT:USDT", D(0)),
    ]
    assert (await adapter.fetch()).positions is second.positions  # and at rest again


async def test_a_close_is_a_new_tuple_and_then_rests(
    binance: FakeBinanceServer, adapter: CcxtAdapter
) -> None:
    binance.set_positions([*_high(), position_row("ETHUSDT", "2", "3000", "3010")])
    first = await adapter.fetch()
    binance.set_positions([position_row("ETHUSDT", "2", "3000", "3010")])
    binance.set_income([income_row("HIGHUSDT", "19.5", time_ms=now_ms())])
    closed = await adapter.fetch()
    assert closed.positions is not first.positions
    assert {(p.instrument, p.quantity, p.realised_pnl) for p in closed.positions} == {
        ("ETH/USDT:USDT", D(2), first.positions[1].realised_pnl),
        ("HIGH/USDT:USDT", D(0), D("19.5")),
    }
    assert (await adapter.fetch()).positions is closed.positions


async def test_a_failed_read_between_two_equal_answers_is_a_read_error_never_the_memo(
    binance: FakeBinanceServer, adapter: CcxtAdapter
) -> None:
    binance.set_positions(_high())
    first = await adapter.fetch()
    for reply in (replies.internal_error(), replies.ok([{"symbol": "HIGHUSDT", "positionSide": "BOTH"}])):
        binance.script(POSITION_RISK, reply)
        with pytest.raises(ReadError):
            await adapter.fetch()
    binance.unscript(POSITION_RISK)
    again = await adapter.fetch()
    assert again.positions is first.positions and again.positions[0].quantity == D(100)
    binance.set_positions(_high(mark="1.1"))
    assert (await adapter.fetch()).positions[0].last_price == D("1.1")


async def test_spot_balances_at_rest_are_the_very_same_and_a_new_price_is_not(
    tmp_path: Path, quick_reads: None
) -> None:
    with FakeBinanceServer() as binance:
        binance.set_spot_balances({"USDT": ("500", "0"), "BTC": ("0.25", "0.05")})
        binance.set_spot_prices({"BTCUSDT": "60000"})
        account = exchange_account("binance", binance.url, binance.api_key, market="spot")
        made = create(account, exchange_context(tmp_path, binance.api_secret))
        try:
            first = await made.fetch()
            assert (await made.fetch()).positions is first.positions
            binance.set_spot_prices({"BTCUSDT": "61000"})
            moved = await made.fetch()
        finally:
            await made.close()
    assert moved.positions is not first.positions and moved.positions[0].last_price == D(61000)
