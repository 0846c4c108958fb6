"""The fake Binance server driven by the real ccxt client (``ccxt.async_support``, 4.5.x).

These tests pin down what ccxt really requests and what it raises for each failure Binance
produces, so the adapter's tests can rely on the fake: if ccxt changes its requests or its error
mapping, this file fails first. Observed with ccxt 4.5.90:

- ``binanceusdm.load_markets()`` with an API key: ``/sapi/v1/capital/config/getall`` and
  ``/sapi/v1/margin/allPairs`` (fetchCurrencies, with the inherited ``fetchMargins``) and
  ``/fapi/v1/exchangeInfo``; with ``options={"fetchCurrencies": False}`` only the last.
- ``fetch_positions()``: ``/fapi/v1/leverageBracket`` once per instance, then
  ``/fapi/v3/positionRisk`` each call; rows whose ``entryPrice`` is not above 0 are dropped.
- errors: -1022 and -2015 AuthenticationError; -1021 InvalidNonce; 429 and 418 DDoSProtection;
  503 -1001 OperationFailed (not a NetworkError); an HTML 502/503 page ExchangeNotAvailable, an
  HTML 504 RequestTimeout; a dropped socket ExchangeNotAvailable after aiohttp retried once;
  a late answer RequestTimeout.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from position_sync.brokers.ccxt_urls import point_at
from tests.fakes import binance_replies as replies
from tests.fakes import binance_rows as rows
from tests.fakes import binance_server as fb

NO_CURRENCIES = {"fetchCurrencies": False}


@pytest.fixture
def fake() -> Iterator[fb.FakeBinanceServer]:
    with fb.FakeBinanceServer() as server:
        yield server


@asynccontextmanager
async def client(
    fake: fb.FakeBinanceServer,
    *,
    kind: Callable[..., Any] = ccxt.binanceusdm,
    secret: str | None = None,
    api_key: str | None = None,
    options: dict[str, Any] | None = None,
    **config: Any,
) -> AsyncIterator[Any]:
    exchange = kind(
        {
            "apiKey": fake.api_key if api_key is None else api_key,
            "secret": fake.api_secret if secret is None else secret,
            "options": dict(NO_CURRENCIES if options is None else options),
            **config,
        }
    )
    point_at(exchange, fake.url)
    try:
        yield exchange
    finally:
        await exchange.close()


def raw_get(
    fake: fb.FakeBinanceServer, path_and_query: str, api_key: str | None = None
) -> tuple[int, Any, Any]:
    """A request made by hand, to see status, headers and body as the wire carries them."""
    request = urllib.request.Request(fake.url + path_and_query)
    if api_key is not None:
        request.add_header("X-MBX-APIKEY", api_key)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


# --- what ccxt requests ---------------------------------------------------------------------------


async def test_load_markets_requests_with_and_without_currencies(fake: fb.FakeBinanceServer) -> None:
    async with client(fake, options={}) as exchange:
        markets = await exchange.load_markets()
    assert sorted(fake.paths()) == [
        "GET /fapi/v1/exchangeInfo",
        "GET /sapi/v1/capital/config/getall",
        "GET /sapi/v1/margin/allPairs",
    ]
    assert {"BTC/USDT:USDT", "BTC/USDC:USDC", "BTC/USDT:USDT-261225", "HIGH/USDT:USDT"} <= set(markets)
    assert markets["HIGH/USDT:USDT"]["id"] == "HIGHUSDT"

    fake.clear_requests()
    async with client(fake, options=NO_CURRENCIES) as exchange:
        await exchange.load_markets()
    assert fake.paths() == ["GET /fapi/v1/exchangeInfo"]


async def test_fetch_positions_reads_position_risk_and_drops_flat_rows(fake: fb.FakeBinanceServer) -> None:
    served = [
        rows.position_row("BTCUSDT", "-0.010", "67445.9", "67502.68519858"),
        rows.position_row("ETHUSDT", 0, 0, "3000"),
        *rows.hedge_rows("HIGHUSDT", 12, 0, "1.2345", "1.3", quantity_decimals=1),
    ]
    fake.set_positions(served)
    async with client(fake) as exchange:
        await exchange.load_markets()
        fake.clear_requests()
        positions = await exchange.fetch_positions()
        assert fake.paths() == ["GET /fapi/v1/leverageBracket", "GET /fapi/v3/positionRisk"]
        fake.clear_requests()
        await exchange.fetch_positions()
        assert fake.paths() == ["GET /fapi/v3/positionRisk"]
        raw = await exchange.fapiPrivateV3GetPositionRisk()
    assert [(p["symbol"], p["contracts"], p["side"]) for p in positions] == [
        ("BTC/USDT:USDT", 0.01, "short"),
        ("HIGH/USDT:USDT", 12.0, "long"),
    ]
    assert raw == served  # the raw call keeps the flat rows and Binance's strings
    assert raw[0]["positionAmt"] == "-0.010" and raw[1]["positionAmt"] == "0.000"
    assert fake.writes() == []


async def test_account_positions_come_from_the_v3_account(fake: fb.FakeBinanceServer) -> None:
    fake.set_positions(
        [rows.position_row("ETHUSDT", "1.500", "3000", "3100"), rows.position_row("BTCUSDT", 0, 0, "1")]
    )
    async with client(fake) as exchange:
        await exchange.load_markets()
        fake.clear_requests()
        positions = await exchange.fetch_account_positions()
    assert fake.paths() == ["GET /fapi/v1/leverageBracket", "GET /fapi/v3/account"]
    assert [(p["symbol"], p["contracts"]) for p in positions] == [("ETH/USDT:USDT", 1.5)]


async def test_stored_real_payloads_are_served_unchanged(fake: fb.FakeBinanceServer) -> None:
    fake.set_markets([*rows.fixture("futures_symbols.json"), rows.futures_market(rows.BTCUSDT)])
    fake.set_positions(
        [*rows.fixture("position_risk_v3.json"), *rows.fixture("position_risk_v2_hedge_docs.json")]
    )
    async with client(fake) as exchange:
        markets = await exchange.load_markets()
        raw = await exchange.fapiPrivateV3GetPositionRisk()
        positions = await exchange.fetch_positions()
    assert {"ETH/USDT:USDT", "LTC/USDT:USDT", "BTC/USDT:USDT"} <= set(markets)
    assert raw == [*rows.fixture("position_risk_v3.json"), *rows.fixture("position_risk_v2_hedge_docs.json")]
    # ccxt keeps the two open rows (one-way BOTH 0.009, hedge LONG 0.001), not the flat SHORT leg.
    assert [(p["contracts"], p["info"]["positionSide"]) for p in positions] == [
        (0.009, "BOTH"),
        (0.001, "LONG"),
    ]

    fake.set_spot_account(rows.fixture("spot_account.json"))
    spot_options = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False}
    async with client(fake, kind=ccxt.binance, options=spot_options) as exchange:
        fake.clear_requests()
        await exchange.load_markets()
        assert fake.paths() == ["GET /api/v3/exchangeInfo"]
        balance = await exchange.fetch_balance()
    assert fake.paths()[-1] == "GET /api/v3/account"
    assert balance["total"]["LTC"] == 0.919741 and balance["info"]["balances"][1]["free"] == "0.91974100"


async def test_income_and_key_permissions(fake: fb.FakeBinanceServer) -> None:
    fake.set_income(
        [
            rows.income_row("BTCUSDT", "12.5", time_ms=rows.T0_MS - 1000),
            rows.income_row("ETHUSDT", "-3.25", time_ms=rows.T0_MS - 500),
            *rows.fixture("income_funding_fee.json"),
            *rows.fixture("income_docs.json"),
        ]
    )
    fake.set_api_restrictions(futures=True)
    async with client(fake) as exchange:
        realised = await exchange.fapiPrivateGetIncome({"incomeType": "REALIZED_PNL"})
        one = await exchange.fapiPrivateGetIncome({"incomeType": "REALIZED_PNL", "symbol": "ETHUSDT"})
        everything = await exchange.fapiPrivateGetIncome()
        restrictions = await exchange.sapiGetAccountApiRestrictions()
    assert [(r["symbol"], r["income"]) for r in realised] == [
        ("BTCUSDT", "12.50000000"),
        ("ETHUSDT", "-3.25000000"),
    ]
    assert [r["income"] for r in one] == ["-3.25000000"]
    assert len(everything) == 5
    assert restrictions["enableFutures"] is True and restrictions["enableSpotAndMarginTrading"] is False


# --- failures and the exceptions ccxt raises -----------------------------------------------------


FAULTS: list[tuple[str, replies.Reply, type[Exception]]] = [
    ("rate limited 429", replies.rate_limited(), ccxt.DDoSProtection),
    ("ip banned 418", replies.ip_banned(), ccxt.DDoSProtection),
    ("internal error 503 -1001", replies.internal_error(), ccxt.OperationFailed),
    ("html 502 page", replies.html_page(502), ccxt.ExchangeNotAvailable),
    ("html 504 page", replies.html_page(504), ccxt.RequestTimeout),
    ("key refused -2015", replies.invalid_api_key(), ccxt.AuthenticationError),
    ("clock off -1021", replies.timestamp_outside_window(), ccxt.InvalidNonce),
    ("dropped socket", replies.dropped(), ccxt.ExchangeNotAvailable),
    ("late answer", replies.delayed(replies.ok([]), 2.0), ccxt.RequestTimeout),
]


@pytest.mark.parametrize(("name", "reply", "expected"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_each_fault_raises_what_ccxt_maps_it_to(
    fake: fb.FakeBinanceServer, name: str, reply: replies.Reply, expected: type[Exception]
) -> None:
    fake.script(fb.POSITION_RISK, reply)
    async with client(fake, timeout=800) as exchange:
        await exchange.load_markets()
        with pytest.raises(expected) as raised:
            await exchange.fetch_positions()
    assert type(raised.value) is expected
    if name.startswith("internal error"):
        assert not isinstance(raised.value, ccxt.NetworkError)  # a failed read, not a network fault
    if name == "dropped socket":
        assert fake.count(fb.POSITION_RISK) == 2  # aiohttp retried the dropped request once


async def test_real_signature_key_and_clock_checks(fake: fb.FakeBinanceServer) -> None:
    async with client(fake, secret="not-the-secret") as exchange:
        await exchange.load_markets()  # public: no signature needed
        with pytest.raises(ccxt.AuthenticationError, match="-1022"):
            await exchange.fetch_positions()
    async with client(fake, api_key="unknown-key", secret="x") as exchange:
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await exchange.fapiPrivateV3GetPositionRisk()
    fake.set_clock_offset(-20_000)  # the server is 20 s behind: the client's stamp is in its future
    async with client(fake) as exchange:
        with pytest.raises(ccxt.InvalidNonce, match="-1021"):
            await exchange.fapiPrivateV3GetPositionRisk()
    fake.set_clock_offset(0)
    assert raw_get(fake, "/fapi/v3/positionRisk?timestamp=1")[2]["code"] == -2014
    status, _, body = raw_get(fake, "/fapi/v3/positionRisk?timestamp=1&signature=00", fake.api_key)
    assert (status, body["code"]) == (400, -1022)
    stamp = rows.T0_MS
    query = f"timestamp={stamp}&recvWindow=5000"
    signed = f"{query}&signature={fb.sign(fake.api_secret, query)}"
    assert raw_get(fake, f"/fapi/v3/positionRisk?{signed}", fake.api_key)[2]["code"] == -1021


async def test_signed_requests_carry_timestamp_recv_window_and_key(fake: fb.FakeBinanceServer) -> None:
    async with client(fake) as exchange:
        await exchange.fapiPrivateV3GetPositionRisk()
    request = fake.requests[-1]
    assert request.headers["X-MBX-APIKEY"] == fake.api_key
    assert request.query["recvWindow"] == ["10000"] and request.query["timestamp"][0].isdigit()
    assert request.query["signature"] == [fb.sign(fake.api_secret, fb.signed_part(request.raw_query))]


# --- weight ------------------------------------------------------------------------------------


async def test_weight_headers_and_the_sliding_window(fake: fb.FakeBinanceServer) -> None:
    # Binance counts the header's weight in calendar minutes: the calls below must not straddle
    # a minute's end, or the header counts only those after it.
    left = 60 - time.time() % 60
    if left < 10:
        await asyncio.sleep(left + 0.1)
    async with client(fake) as exchange:
        await exchange.load_markets()
        await exchange.fetch_positions()
        await exchange.fetch_positions()
        await exchange.fapiPrivateGetIncome({"incomeType": "REALIZED_PNL"})
        await exchange.sapiGetAccountApiRestrictions()
    # exchangeInfo 1 + leverageBracket 1 + 2 x positionRisk 5 + income 30 (Binance's weights)
    assert fake.max_weight_in_window("fapi") == 42
    assert fake.max_weight_in_window("sapi") == 1
    status, headers, _ = raw_get(fake, "/fapi/v1/time")
    assert status == 200 and int(headers["X-MBX-USED-WEIGHT-1M"]) >= 43
    _, headers, _ = raw_get(fake, "/sapi/v1/account/apiRestrictions")
    assert "X-SAPI-USED-IP-WEIGHT-1M" in headers


async def test_past_the_weight_limit_binance_answers_429_with_retry_after() -> None:
    with fb.FakeBinanceServer(weight_limits={"fapi": 12}) as fake:
        async with client(fake) as exchange:
            await exchange.load_markets()  # weight 1
            await exchange.fetch_positions()  # 1 + 5
            await exchange.fetch_positions()  # 5: 12, at the limit
            with pytest.raises(ccxt.DDoSProtection, match="-1003"):
                await exchange.fetch_positions()
        status, headers, body = raw_get(fake, "/fapi/v1/time")
    assert (status, body["code"]) == (429, -1003)
    assert 1 <= int(headers["Retry-After"]) <= 60


# --- never a write -------------------------------------------------------------------------------


async def test_orders_are_recorded_and_refused(fake: fb.FakeBinanceServer) -> None:
    async with client(fake) as exchange:
        await exchange.load_markets()
        await exchange.fetch_positions()
        assert fake.writes() == []
        with pytest.raises(ccxt.ExchangeError):
            await exchange.create_order("BTC/USDT:USDT", "limit", "buy", 0.01, 10000)
        with pytest.raises(ccxt.ExchangeError):
            await exchange.fapiPrivateGetAdlQuantile()  # a path the fake does not serve
    assert [(w.method, w.path) for w in fake.writes()] == [("POST", "/fapi/v1/order")]
    assert fake.requests[-1].path == "/fapi/v1/adlQuantile"


# --- the row builders --------------------------------------------------------------------------


def test_position_rows_are_formatted_as_binance_sends_them() -> None:
    row = rows.position_row("BTCUSDT", Decimal("0.01"), "67445.90", "67502.68519858")
    assert (row["positionAmt"], row["entryPrice"], row["unRealizedProfit"]) == (
        "0.010",
        "67445.9",
        "0.56785199",
    )
    flat = rows.position_row("BTCUSDT", 0, 0, "67502.7")
    assert (flat["positionAmt"], flat["entryPrice"], flat["updateTime"]) == ("0.000", "0.0", 0)
    long, short = rows.hedge_rows("HIGHUSDT", 5, "-2", "1.5", "1.4", quantity_decimals=1)
    assert [(r["positionSide"], r["positionAmt"]) for r in (long, short)] == [
        ("LONG", "5.0"),
        ("SHORT", "-2.0"),
    ]
    assert set(row) == set(rows.fixture("position_risk_v3.json")[0])


def test_generated_market_lists_have_every_kind() -> None:
    markets = [rows.futures_market(c) for c in rows.contracts(500)]
    assert len({m["symbol"] for m in markets}) == 500
    kinds = {(m["marginAsset"], m["contractType"]) for m in markets}
    assert kinds == {("USDT", "PERPETUAL"), ("USDC", "PERPETUAL"), ("USDT", "CURRENT_QUARTER")}
    assert set(markets[0]) >= set(rows.fixture("futures_symbols.json")[0])
