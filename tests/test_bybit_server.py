"""The real ``ccxt.async_support.bybit`` against the fake Bybit on 127.0.0.1.

These tests pin down what the adapter will meet: which requests ccxt makes at ``load_markets``
and per read (and which options cut them to what a linear-positions reader needs), how Bybit's
rows come back through ccxt (flat rows as ``contracts 0``, hedge legs, strings in ``info``), and
which ccxt exception each failure becomes. Nothing mocks ccxt or aiohttp: bytes cross a socket.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from position_sync.brokers.ccxt_urls import point_at
from tests.fakes.bybit_rows import (
    closed_pnl_row,
    fixture_document,
    fixture_rows,
    flat_row,
    linear_instrument,
    linear_instruments,
    position_row,
    wallet_coin,
)
from tests.fakes.bybit_server import (
    CLOSED_PNL,
    COIN_INFO,
    INSTRUMENTS,
    POSITIONS,
    FakeBybitServer,
    Reply,
    delayed,
    dropped,
    fixture_reply,
    html_page,
    http_error,
    ip_banned,
    ok,
    permission_denied,
    request_timeout,
    server_busy,
    too_many_visits,
)

# What a reader of linear positions needs from load_markets: the linear list only, no currencies.
READER_CONFIG: dict[str, Any] = {
    "has": {"fetchCurrencies": False},
    "options": {"fetchMarkets": {"types": ["linear"]}},
}

DEFAULT_LOAD = [
    "/v5/asset/coin/query-info",
    "/v5/market/instruments-info?category=spot",
    "/v5/market/instruments-info?category=option&baseCoin=BTC",
    "/v5/market/instruments-info?category=option&baseCoin=ETH",
    "/v5/market/instruments-info?category=option&baseCoin=SOL",
    "/v5/market/instruments-info?category=option&baseCoin=XRP",
    "/v5/market/instruments-info?category=option&baseCoin=MNT",
    "/v5/market/instruments-info?category=option&baseCoin=DOGE",
    "/v5/market/instruments-info?category=linear&limit=1000",
    "/v5/market/instruments-info?category=linear&limit=1000&status=PreLaunch",
    "/v5/market/instruments-info?category=inverse&limit=1000",
    "/v5/market/instruments-info?category=inverse&limit=1000&status=PreLaunch",
]


@pytest.fixture
def fake() -> Iterator[FakeBybitServer]:
    with FakeBybitServer() as server:
        yield server


def _exchange(fake: FakeBybitServer, *, secret: str | None = None, **config: Any) -> Any:
    exchange = ccxt.bybit({"apiKey": fake.api_key, "secret": secret or fake.api_secret, **config})
    point_at(exchange, fake.url)
    return exchange


@pytest.fixture
async def bybit(fake: FakeBybitServer) -> AsyncIterator[Any]:
    exchange = _exchange(fake, enableRateLimit=False)
    try:
        yield exchange
    finally:
        await exchange.close()


@pytest.fixture
async def reader(fake: FakeBybitServer) -> AsyncIterator[Any]:
    exchange = _exchange(fake, enableRateLimit=False, **READER_CONFIG)
    try:
        yield exchange
    finally:
        await exchange.close()


def _asked(fake: FakeBybitServer) -> list[str]:
    """Path and query of every GET, in the order ccxt sent them (parallel ones sorted stably)."""
    return [line.removeprefix("GET ") for line in fake.summary()]


# --- load_markets -------------------------------------------------------------------------------


async def test_load_markets_defaults(fake: FakeBybitServer, bybit: Any) -> None:
    fake.set_instruments("linear", linear_instruments(1200))
    markets = await bybit.load_markets()
    asked = _asked(fake)
    first_pages = [line for line in asked if "cursor=" not in line]
    assert sorted(first_pages) == sorted(DEFAULT_LOAD)
    follow_ups = [line for line in asked if "cursor=" in line]
    assert follow_ups == [
        "/v5/market/instruments-info?category=linear&limit=1000&cursor=first%3DBTCUSDT%26last%3DQCMDUSDT"
    ]
    assert asked[0] == "/v5/asset/coin/query-info"  # currencies before markets
    linear = [m for m in markets.values() if m["linear"]]
    assert len(linear) == 1200
    assert markets["HIGH/USDT:USDT"]["id"] == "HIGHUSDT"
    assert markets["1000PEPE/USDT:USDT"]["id"] == "1000PEPEUSDT"
    assert markets["BTC/USDC:USDC"]["id"] == "BTCPERP"
    assert markets["BTC/USDT:USDT-260327"]["id"] == "BTCUSDT-27MAR26"
    assert markets["BTC/USDC:USDC-260327"]["id"] == "BTC-27MAR26"
    assert markets["BTC/USDT"]["spot"] and markets["BTC/USDT:USDT"]["swap"]
    assert "USDT" in bybit.currencies


async def test_reader_options_cut_load_markets_to_the_linear_list(fake: FakeBybitServer, reader: Any) -> None:
    markets = await reader.load_markets()
    assert sorted(_asked(fake)) == [
        "/v5/market/instruments-info?category=linear&limit=1000",
        "/v5/market/instruments-info?category=linear&limit=1000&status=PreLaunch",
    ]
    assert fake.count(COIN_INFO) == 0
    assert "HIGH/USDT:USDT" in markets and "BTC/USDT" not in markets


async def test_prelaunch_markets_come_from_their_own_request(fake: FakeBybitServer, reader: Any) -> None:
    fake.set_instruments(
        "linear",
        [*linear_instruments(3), linear_instrument("BIOUSDT", "BIO", status="PreLaunch")],
    )
    markets = await reader.load_markets()
    assert markets["BIO/USDT:USDT"]["active"] is False
    assert markets["HIGH/USDT:USDT"]["active"] is True


async def test_docs_instrument_examples_are_served_and_parsed(fake: FakeBybitServer, reader: Any) -> None:
    fake.script(INSTRUMENTS, fixture_reply("docs_instruments_linear.json"), when={"category": "linear"})
    fake.script(
        INSTRUMENTS,
        fixture_reply("docs_instruments_linear_prelaunch.json"),
        when={"category": "linear", "status": "PreLaunch"},
    )
    markets = await reader.load_markets()
    assert set(markets) == {"BTC/USDT:USDT", "BIO/USDT:USDT"}
    assert markets["BTC/USDT:USDT"]["info"] == fixture_rows("docs_instruments_linear.json")[0]


# --- positions ----------------------------------------------------------------------------------


async def test_fetch_positions_sends_one_request_and_keeps_flat_rows_and_hedge_legs(
    fake: FakeBybitServer, reader: Any
) -> None:
    fake.set_positions(
        [
            position_row(
                "BTCUSDT", "0.01", "Buy", "60000", "61000", cur_realised="-0.33", cum_realised="12.5"
            ),
            flat_row("ETHUSDT", "3000"),
            position_row("HIGHUSDT", "10", "Buy", "1.0", "1.1", position_idx=1),
            position_row("HIGHUSDT", "5", "Sell", "1.2", "1.1", position_idx=2),
            position_row("BTCPERP", "0.5", "Sell", "60000", "61000"),  # USDC-settled: not in a USDT query
        ]
    )
    await reader.load_markets()
    fake.clear_requests()
    positions = await reader.fetch_positions()
    assert _asked(fake) == ["/v5/position/list?settleCoin=USDT&limit=200&category=linear"]
    by_key = {(p["symbol"], p["info"]["positionIdx"]): p for p in positions}
    assert set(by_key) == {
        ("BTC/USDT:USDT", 0),
        ("ETH/USDT:USDT", 0),
        ("HIGH/USDT:USDT", 1),
        ("HIGH/USDT:USDT", 2),
    }
    flat = by_key[("ETH/USDT:USDT", 0)]
    assert flat["contracts"] == 0 and flat["side"] is None and flat["info"]["size"] == "0"
    long_leg, short_leg = by_key[("HIGH/USDT:USDT", 1)], by_key[("HIGH/USDT:USDT", 2)]
    assert (long_leg["side"], short_leg["side"], long_leg["hedged"]) == ("long", "short", True)
    btc = by_key[("BTC/USDT:USDT", 0)]
    assert isinstance(btc["contracts"], float)  # ccxt's unified numbers are floats
    assert btc["info"]["size"] == "0.01" and btc["info"]["curRealisedPnl"] == "-0.33"
    assert Decimal(btc["info"]["unrealisedPnl"]) == Decimal("10")


async def test_raw_position_list_pages_by_cursor(fake: FakeBybitServer, reader: Any) -> None:
    rows = [position_row(f"Q{i:03d}USDT", "1", "Buy", "1", "1") for i in range(450)]
    fake.set_positions(rows)
    seen: list[dict[str, Any]] = []
    cursor = ""
    pages = 0
    while True:
        params = {
            "category": "linear",
            "settleCoin": "USDT",
            "limit": 200,
            **({"cursor": cursor} if cursor else {}),
        }
        response = await reader.privateGetV5PositionList(params)
        pages += 1
        page = response["result"]["list"]
        seen.extend(page)
        cursor = response["result"]["nextPageCursor"]
        if not page:
            break
    assert [r["symbol"] for r in seen] == [r["symbol"] for r in rows]
    assert pages == 4  # 200 + 200 + 50, then the empty page Bybit's trailing cursor leads to
    assert response["result"]["nextPageCursor"] == ""


async def test_list_without_flat_rows_as_the_documentation_describes(
    fake: FakeBybitServer, reader: Any
) -> None:
    fake.set_positions([flat_row("ETHUSDT", "3000"), position_row("BTCUSDT", "0.01", "Buy", "1", "1")])
    fake.list_flat_rows(False)
    listed = await reader.privateGetV5PositionList({"category": "linear", "settleCoin": "USDT"})
    asked = await reader.privateGetV5PositionList({"category": "linear", "symbol": "ETHUSDT"})
    assert [r["symbol"] for r in listed["result"]["list"]] == ["BTCUSDT"]
    assert asked["result"]["list"][0]["size"] == "0"


async def test_ccxt_fixture_rows_are_served_unchanged_and_parsed_as_ccxt_expects(
    fake: FakeBybitServer, reader: Any
) -> None:
    entry = fixture_document("ccxt_fetch_positions.json")
    fake.set_instruments("linear", [*linear_instruments(2), linear_instrument("LTCUSDT", "LTC")])
    fake.set_positions(fixture_rows("ccxt_fetch_positions.json"))
    raw = await reader.privateGetV5PositionList({"category": "linear", "settleCoin": "USDT"})
    assert raw["result"]["list"] == entry["httpResponse"]["result"]["list"]
    parsed = (await reader.fetch_positions(["LTC/USDT:USDT"]))[0]
    expected = entry["parsedResponse"][0]
    for name in ("symbol", "contracts", "side", "entryPrice", "unrealizedPnl", "realizedPnl", "markPrice"):
        assert parsed[name] == expected[name], name


async def test_ccxt_flat_fixture_is_contracts_zero(fake: FakeBybitServer, reader: Any) -> None:
    fake.set_instruments("linear", [linear_instrument("LTCUSDT", "LTC")])
    fake.script(POSITIONS, fixture_reply("ccxt_fetch_position_flat.json"))
    position = await reader.fetch_position("LTC/USDT:USDT")
    expected = fixture_document("ccxt_fetch_position_flat.json")["parsedResponse"]
    assert (position["contracts"], position["side"], position["entryPrice"]) == (0, None, None)
    assert position["contracts"] == expected["contracts"]
    assert fake.requests[-1].param("symbol") == "LTCUSDT"


# --- closed P&L, key, wallet --------------------------------------------------------------------


async def test_closed_pnl_rows_reach_ccxt_as_realized_pnl(fake: FakeBybitServer, reader: Any) -> None:
    fake.set_closed_pnl([closed_pnl_row("HIGHUSDT", "Sell", "10", "1.0", "1.25")])
    history = await reader.fetch_positions_history()
    assert fake.requests[-1].path == CLOSED_PNL and fake.requests[-1].param("category") == "linear"
    assert [(h["symbol"], h["realizedPnl"], h["side"]) for h in history] == [("HIGH/USDT:USDT", 2.5, "long")]
    assert history[0]["info"]["closedPnl"] == "2.5"


async def test_key_info_says_whether_the_key_can_trade(fake: FakeBybitServer, reader: Any) -> None:
    read_only = await reader.privateGetV5UserQueryApi()
    fake.set_key_info(read_only=False)
    trading = await reader.privateGetV5UserQueryApi()
    assert (read_only["result"]["readOnly"], trading["result"]["readOnly"]) == (1, 0)
    assert read_only["result"]["apiKey"] == fake.api_key


async def test_fetch_balance_asks_key_and_account_info_once_then_the_unified_wallet(
    fake: FakeBybitServer, reader: Any
) -> None:
    fake.set_wallet([wallet_coin("USDT", "120.5", "120.49"), wallet_coin("BTC", "0.002", "180.2")])
    await reader.load_markets()
    fake.clear_requests()
    first = await reader.fetch_balance()
    await reader.fetch_balance()
    assert sorted(_asked(fake)[:2]) == ["/v5/account/info", "/v5/user/query-api"]
    assert _asked(fake)[2:] == ["/v5/account/wallet-balance?accountType=UNIFIED"] * 2
    assert first["total"] == {"USDT": 120.5, "BTC": 0.002}


# --- errors -------------------------------------------------------------------------------------


async def test_a_wrong_secret_is_error_sign_and_an_authentication_error(fake: FakeBybitServer) -> None:
    exchange = _exchange(fake, secret="not-the-secret", **READER_CONFIG)
    try:
        with pytest.raises(ccxt.AuthenticationError, match="10004"):
            await exchange.privateGetV5PositionList({"category": "linear", "settleCoin": "USDT"})
    finally:
        await exchange.close()


async def test_an_unknown_key_is_an_authentication_error(fake: FakeBybitServer) -> None:
    exchange = ccxt.bybit({"apiKey": "someone-else", "secret": fake.api_secret, **READER_CONFIG})
    point_at(exchange, fake.url)
    try:
        with pytest.raises(ccxt.AuthenticationError, match="10003"):
            await exchange.privateGetV5UserQueryApi()
    finally:
        await exchange.close()


async def test_a_clock_outside_the_receive_window_is_invalid_nonce(
    fake: FakeBybitServer, reader: Any
) -> None:
    fake.set_clock_offset(-6000)  # ccxt's recv window is 5000 ms
    with pytest.raises(ccxt.InvalidNonce, match="10002"):
        await reader.privateGetV5PositionList({"category": "linear", "settleCoin": "USDT"})
    fake.set_clock_offset(0)
    assert (await reader.privateGetV5PositionList({"category": "linear", "settleCoin": "USDT"}))[
        "retCode"
    ] == 0


FAULTS: list[tuple[str, Reply, type[Exception]]] = [
    ("10005 permission denied", permission_denied(), ccxt.PermissionDenied),
    ("10006 too many visits", too_many_visits(50), ccxt.RateLimitExceeded),
    ("10016 server error", server_busy(), ccxt.ExchangeError),
    ("10016 request timeout", request_timeout(), ccxt.RequestTimeout),
    ("HTML 502 page", html_page(502), ccxt.ExchangeNotAvailable),
    ("bare 503", http_error(503), ccxt.ExchangeNotAvailable),
    ("403 IP limit", ip_banned(), ccxt.RateLimitExceeded),
    ("dropped socket", dropped(), ccxt.ExchangeNotAvailable),
    ("late answer", delayed(ok({"list": []}), 2.0), ccxt.RequestTimeout),
]


@pytest.mark.parametrize(("name", "reply", "expected"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_each_fault_becomes_one_ccxt_exception(
    fake: FakeBybitServer, reader: Any, name: str, reply: Reply, expected: type[Exception]
) -> None:
    await reader.load_markets()
    reader.timeout = 500
    fake.script(POSITIONS, reply)
    with pytest.raises(ccxt.BaseError) as raised:
        await reader.fetch_positions()
    assert type(raised.value) is expected, f"{name}: {type(raised.value).__name__}"


async def test_rate_limit_headers_come_with_every_private_answer(fake: FakeBybitServer, reader: Any) -> None:
    await reader.privateGetV5PositionList({"category": "linear", "settleCoin": "USDT"})
    headers = reader.last_response_headers
    assert headers["X-Bapi-Limit"] == "50" and int(headers["X-Bapi-Limit-Status"]) == 49
    assert int(headers["X-Bapi-Limit-Reset-Timestamp"]) > 0
    assert fake.rate_limit(POSITIONS) == 50 and fake.rate_limit(INSTRUMENTS) is None


async def test_past_the_limit_bybit_answers_10006_and_the_window_measure_sees_it() -> None:
    with FakeBybitServer(enforce_rate_limits=True) as fake:
        exchange = _exchange(fake, enableRateLimit=False, **READER_CONFIG)
        try:  # coin/query-info allows 5 a second: 12 at once cannot all fit, however slow the machine
            outcomes = await asyncio.gather(
                *(exchange.privateGetV5AssetCoinQueryInfo() for _ in range(12)), return_exceptions=True
            )
        finally:
            await exchange.close()
        refused = [o for o in outcomes if isinstance(o, Exception)]
        assert refused and all(isinstance(o, ccxt.RateLimitExceeded) and "10006" in str(o) for o in refused)
        assert len(outcomes) - len(refused) <= 5
        assert fake.max_requests_in_window(1.0, COIN_INFO) > (fake.rate_limit(COIN_INFO) or 0)


async def test_ccxt_own_limiter_keeps_position_reads_under_bybit_limit(fake: FakeBybitServer) -> None:
    exchange = _exchange(fake, **READER_CONFIG)  # ccxt's limiter on, as the adapter will run it
    try:
        await exchange.load_markets()
        fake.clear_requests()
        for _ in range(12):
            await exchange.fetch_positions()
    finally:
        await exchange.close()
    assert fake.max_requests_in_window(1.0, POSITIONS) <= 11  # ccxt spaces them 100 ms apart (cost 5 x 20 ms)
    assert fake.max_requests_in_window(1.0, POSITIONS) <= (fake.rate_limit(POSITIONS) or 0)


# --- never trade --------------------------------------------------------------------------------


async def test_orders_are_recorded_and_refused(fake: FakeBybitServer, reader: Any) -> None:
    await reader.load_markets()
    with pytest.raises(ccxt.PermissionDenied):
        await reader.create_order("BTC/USDT:USDT", "limit", "buy", 0.001, 50000)
    with pytest.raises(ccxt.PermissionDenied):
        await reader.set_leverage(5, "BTC/USDT:USDT")
    assert [w.path for w in fake.writes()] == ["/v5/order/create", "/v5/position/set-leverage"]


async def test_a_reading_session_makes_no_write(fake: FakeBybitServer, reader: Any) -> None:
    fake.set_positions([position_row("BTCUSDT", "0.01", "Buy", "60000", "61000")])
    await reader.load_markets()
    await reader.fetch_positions()
    await reader.fetch_positions_history()
    await reader.privateGetV5UserQueryApi()
    assert fake.writes() == []
    assert fake.count() == 5


async def test_an_unknown_path_is_route_not_found(fake: FakeBybitServer, reader: Any) -> None:
    with pytest.raises(ccxt.BadRequest, match="10017"):
        await reader.privateGetV5OrderRealtime({"category": "linear"})
    assert fake.requests[-1].path == "/v5/order/realtime"
