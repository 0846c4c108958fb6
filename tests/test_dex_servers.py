"""The Pacifica and Hyperliquid fakes driven by the real ccxt clients, with a wallet address only.

These tests pin what the adapters will stand on: which requests ccxt makes to load markets and to
read positions (and which options bring them down to what a positions reader needs), which ccxt
exception each failure becomes, which answers ccxt reads as an empty account without any error,
and that nothing is ever sent to a write or signing endpoint when no key is configured.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import ccxt.async_support as ccxt_async
import pytest
from ccxt.base import errors

from position_sync.brokers.ccxt_urls import point_at
from tests.fakes import hyperliquid_server as hl
from tests.fakes import pacifica_server as pf
from tests.fakes.dex_rows import DEX_BASES
from tests.fakes.http_fake import Reply, delayed, dropped, html_page, json_reply
from tests.fakes.hyperliquid_server import FakeHyperliquidServer, PerpDex
from tests.fakes.pacifica_server import FakePacificaServer

ACCOUNT = "42trU9A5fakeSolanaAccount1111111111111111"
WALLET = "0x" + "ab" * 20
# What a positions reader needs of Hyperliquid's markets: the main dex's perpetuals only.
HL_PERPS_ONLY: dict[str, Any] = {
    "options": {"fetchMarkets": {"types": ["swap"]}},
    "has": {"fetchCurrencies": False},
}
SIXTEEN = DEX_BASES[:16]


@pytest.fixture
def pacifica() -> Iterator[FakePacificaServer]:
    with FakePacificaServer() as server:
        yield server


@pytest.fixture
def hyperliquid() -> Iterator[FakeHyperliquidServer]:
    with FakeHyperliquidServer() as server:
        yield server


@asynccontextmanager
async def hyperliquid_client(url: str, **config: Any) -> AsyncIterator[Any]:
    exchange = ccxt_async.hyperliquid({"walletAddress": WALLET, **config})
    point_at(exchange, url)
    try:
        yield exchange
    finally:
        await exchange.close()


@asynccontextmanager
async def pacifica_client(url: str, **config: Any) -> AsyncIterator[Any]:
    exchange = ccxt_async.pacifica({"walletAddress": ACCOUNT, **config})
    point_at(exchange, url)
    try:
        yield exchange
    finally:
        await exchange.close()


def calls(server: Any) -> list[str]:
    out = []
    for r in server.requests:
        query = "&".join(f"{k}={v[0]}" for k, v in sorted(r.query.items()))
        out.append(f"{r.method} {r.path}" + (f"?{query}" if query else ""))
    return out


def raw_request(
    url: str, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> Any:
    """One request outside ccxt, for what ccxt never sends (a GET with a body, a write)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(method, path, body=body or None, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


# --- Pacifica: markets and positions -------------------------------------------------------------


async def test_pacifica_load_markets_is_one_get_of_info(pacifica: FakePacificaServer) -> None:
    async with pacifica_client(pacifica.url) as exchange:
        markets = await exchange.load_markets()
    assert calls(pacifica) == ["GET /api/v1/info"]
    assert {f"{base}/USDC:USDC" for base in SIXTEEN} <= set(markets)
    assert markets["2Z/USDC:USDC"]["id"] == "2Z"
    assert markets["2Z/USDC:USDC"]["swap"] is True


async def test_pacifica_serves_ccxts_recorded_markets_unchanged(pacifica: FakePacificaServer) -> None:
    pacifica.script(pf.INFO, pf.fixture_reply("info.json"))
    async with pacifica_client(pacifica.url) as exchange:
        markets = await exchange.load_markets()
    assert set(markets) == {"BTC/USDC:USDC", "SOL/USDC"}
    assert markets["BTC/USDC:USDC"]["info"] == pf.fixture_document("info.json")["data"][0]


async def test_pacifica_fetch_positions_for_the_wallet_is_one_get(pacifica: FakePacificaServer) -> None:
    rows = pacifica.open_positions(ACCOUNT, 16)
    async with pacifica_client(pacifica.url) as exchange:
        await exchange.load_markets()
        pacifica.clear_requests()
        positions = await exchange.fetch_positions()
    assert calls(pacifica) == [f"GET /api/v1/positions?account={ACCOUNT}"]
    assert [p["symbol"] for p in positions] == [f"{base}/USDC:USDC" for base in SIXTEEN]
    assert [p["info"] for p in positions] == rows
    assert positions[0]["side"] == "long" and rows[0]["side"] == "bid"
    assert positions[1]["side"] == "short" and positions[1]["contracts"] == 0.2
    request = pacifica.requests[0]
    assert request.body == b"" and request.header(pf.API_KEY_HEADER) is None


async def test_pacifica_account_param_replaces_the_wallet_address(pacifica: FakePacificaServer) -> None:
    pacifica.open_positions("OtherAccount1111", 2)
    exchange = ccxt_async.pacifica({})
    point_at(exchange, pacifica.url)
    try:
        positions = await exchange.fetch_positions(None, {"account": "OtherAccount1111"})
        with pytest.raises(errors.ArgumentsRequired):
            await exchange.fetch_positions()
    finally:
        await exchange.close()
    assert len(positions) == 2
    assert calls(pacifica)[-1] == "GET /api/v1/positions?account=OtherAccount1111"


@pytest.mark.parametrize("name", ["positions.json", "positions_docs.json"])
async def test_pacifica_serves_recorded_positions_unchanged(pacifica: FakePacificaServer, name: str) -> None:
    pacifica.script_positions(pf.fixture_reply(name))
    async with pacifica_client(pacifica.url, enableRateLimit=False) as exchange:
        await exchange.load_markets()
        positions = await exchange.fetch_positions()
    row = pf.fixture_document(name)["data"][0]
    assert [p["info"] for p in positions] == [row]
    assert positions[0]["side"] == "short" and positions[0]["contracts"] == float(row["amount"])


async def test_pacifica_closed_position_is_absent_and_order_id_moves(pacifica: FakePacificaServer) -> None:
    pacifica.open_positions(ACCOUNT, 16)
    first_id = pacifica.last_order_id(ACCOUNT)
    pacifica.close_position(ACCOUNT, "ZEC")
    pacifica.change_position(ACCOUNT, "SUI", amount="5", side="bid")
    status, _, body = raw_request(pacifica.url, "GET", f"{pf.POSITIONS}?account={ACCOUNT}")
    envelope = json.loads(body)
    assert status == 200 and envelope["success"] is True and envelope["error"] is None
    assert envelope["last_order_id"] == first_id + 2
    assert "ZEC" not in {r["symbol"] for r in envelope["data"]}
    assert next(r for r in envelope["data"] if r["symbol"] == "SUI")["amount"] == "5"


async def test_pacifica_mark_prices_are_one_get_of_info_prices(pacifica: FakePacificaServer) -> None:
    pacifica.set_mark("ZEC", 410.5)
    async with pacifica_client(pacifica.url, enableRateLimit=False) as exchange:
        await exchange.load_markets()
        pacifica.clear_requests()
        tickers = await exchange.fetch_tickers()
        pacifica.script(pf.PRICES, pf.fixture_reply("prices_docs.json"))
        raw = await exchange.publicGetInfoPrices()
    assert calls(pacifica) == ["GET /api/v1/info/prices", "GET /api/v1/info/prices"]
    assert tickers["ZEC/USDC:USDC"]["info"]["mark"] == "410.5"
    assert raw == pf.fixture_document("prices_docs.json")


# --- Pacifica: failures --------------------------------------------------------------------------

PACIFICA_FAULTS: list[tuple[str, Reply, type[Exception]]] = [
    ("success false, code 400", pf.failure("Invalid account", 400), errors.BadRequest),
    ("success false, business code 1 (422)", pf.failure("ACCOUNT_NOT_FOUND", 1), errors.ExchangeError),
    (
        "success false, code 500 on HTTP 200",
        pf.failure("Internal server error", 500, 200),
        errors.ExchangeNotAvailable,
    ),
    ("500", pf.server_error(500), errors.ExchangeNotAvailable),
    ("503", pf.server_error(503), errors.ExchangeNotAvailable),
    ("429", pf.rate_limited(), errors.RateLimitExceeded),
    ("HTML 502 page", html_page(502), errors.ExchangeNotAvailable),
    ("CDN 403 page", pf.get_with_body_refused(), errors.ExchangeNotAvailable),
    ("dropped socket", dropped(), errors.ExchangeNotAvailable),
    ("late answer", delayed(pf.ok([]), 2.0), errors.RequestTimeout),
]


@pytest.mark.parametrize(("name", "reply", "raised"), PACIFICA_FAULTS, ids=[f[0] for f in PACIFICA_FAULTS])
async def test_pacifica_fault_raises(
    pacifica: FakePacificaServer, name: str, reply: Reply, raised: type[Exception]
) -> None:
    pacifica.script_positions(reply)
    async with pacifica_client(pacifica.url, timeout=700, enableRateLimit=False) as exchange:
        await exchange.load_markets()
        with pytest.raises(raised) as caught:
            await exchange.fetch_positions()
    assert type(caught.value) is raised, name


PACIFICA_SILENT_EMPTIES: list[tuple[str, Reply]] = [
    ("success true, data []", pf.ok([], last_order_id=7)),
    (
        "success false, no code, no error",
        json_reply({"success": False, "data": None, "error": None, "code": None}),
    ),
    ("no data key", pf.missing_data()),
    ("data null", pf.ok(None)),
    ("200 that is not JSON", Reply(200, body=b"<html>maintenance</html>", content_type="text/html")),
]


@pytest.mark.parametrize(
    ("name", "reply"), PACIFICA_SILENT_EMPTIES, ids=[f[0] for f in PACIFICA_SILENT_EMPTIES]
)
async def test_pacifica_answers_ccxt_reads_as_no_positions(
    pacifica: FakePacificaServer, name: str, reply: Reply
) -> None:
    """ccxt raises nothing here: the adapter must check the envelope (``info``) itself."""
    pacifica.script_positions(reply)
    async with pacifica_client(pacifica.url, enableRateLimit=False) as exchange:
        await exchange.load_markets()
        assert await exchange.fetch_positions() == [], name


async def test_pacifica_scripted_empty_then_back(pacifica: FakePacificaServer) -> None:
    pacifica.open_positions(ACCOUNT, 16)
    full = pacifica.positions_reply(ACCOUNT)
    pacifica.script_positions(full, pacifica.empty_positions(ACCOUNT), full)
    async with pacifica_client(pacifica.url, enableRateLimit=False) as exchange:
        sizes = [len(await exchange.fetch_positions()) for _ in range(4)]
    assert sizes == [16, 0, 16, 16]


# --- Pacifica: the wire's rules ------------------------------------------------------------------


def test_pacifica_refuses_a_get_with_a_body_before_counting_it(pacifica: FakePacificaServer) -> None:
    status, headers, body = raw_request(
        pacifica.url, "GET", f"{pf.POSITIONS}?account={ACCOUNT}", b"{}", {"Content-Type": "application/json"}
    )
    assert status == 403 and b"could not be satisfied" in body
    assert "ratelimit" not in {k.lower() for k in headers}
    assert pacifica.count(pf.POSITIONS) == 1 and pacifica.credits_used() == 0


def test_pacifica_refuses_and_records_every_write(pacifica: FakePacificaServer) -> None:
    status, _, body = raw_request(pacifica.url, "POST", f"{pf.API}/orders/create", b'{"symbol": "ZEC"}')
    assert status == 400 and json.loads(body)["success"] is False
    assert [r.path for r in pacifica.write_requests] == [f"{pf.API}/orders/create"]


def test_pacifica_credit_limit_and_headers() -> None:
    with FakePacificaServer(quota=5, key_quota=8, api_keys={"good-key"}) as server:
        answers = [raw_request(server.url, "GET", pf.INFO) for _ in range(6)]
        keyed = [
            raw_request(server.url, "GET", pf.INFO, headers={pf.API_KEY_HEADER: "good-key"}) for _ in range(9)
        ]
        heavy = raw_request(server.url, "GET", f"{pf.API}/kline?symbol=BTC")
        assert [a[0] for a in answers] == [200] * 5 + [429]
        assert [a[0] for a in keyed] == [200] * 8 + [429]
        assert heavy[0] == 429
        assert answers[0][1]["ratelimit"].startswith('"credits";r=40;t=')
        assert answers[0][1]["ratelimit-policy"] == '"credits";q=50;w=60'
        assert json.loads(answers[5][2]) == {
            "success": False,
            "data": None,
            "error": "Rate limit exceeded",
            "code": 429,
        }
        assert server.max_credits_per_window(keyed=False) == 5
        assert server.max_credits_per_window(keyed=True) == 8
        assert server.credits_used() == 13
    assert pf.credit_cost("GET", f"{pf.API}/kline", keyed=False) == 12
    assert pf.credit_cost("GET", f"{pf.API}/kline", keyed=True) == 3
    assert pf.credit_cost("POST", f"{pf.API}/orders/cancel", keyed=False) == 0.5


async def test_pacifica_ccxt_never_writes_or_signs_without_a_key(pacifica: FakePacificaServer) -> None:
    pacifica.open_positions(ACCOUNT, 3)
    async with pacifica_client(pacifica.url, enableRateLimit=False) as exchange:
        await exchange.load_markets()
        await exchange.fetch_positions()
        await exchange.fetch_tickers()
        with pytest.raises(errors.AuthenticationError):
            await exchange.create_order("ZEC/USDC:USDC", "limit", "buy", 1, 100)
        with pytest.raises(errors.AuthenticationError):
            await exchange.set_leverage(3, "ZEC/USDC:USDC")
    assert pacifica.write_requests == []
    assert {r.method for r in pacifica.requests} == {"GET"}


# --- Hyperliquid: markets and positions ----------------------------------------------------------


async def test_hyperliquid_default_load_markets_asks_four_info_types(
    hyperliquid: FakeHyperliquidServer,
) -> None:
    async with hyperliquid_client(hyperliquid.url) as exchange:
        markets = await exchange.load_markets()
    types = hyperliquid.info_types()
    assert types[0] == "spotMeta"  # fetchCurrencies, before the markets
    assert sorted(str(t) for t in types[1:]) == ["metaAndAssetCtxs", "perpDexs", "spotMetaAndAssetCtxs"]
    assert {r.path for r in hyperliquid.requests} == {hl.INFO}
    assert hyperliquid.weight_used() == 80
    assert {f"{base}/USDC:USDC" for base in SIXTEEN} <= set(markets)
    assert "PURR/USDC" in markets


async def test_hyperliquid_hip3_dexes_add_one_request_each(hyperliquid: FakeHyperliquidServer) -> None:
    hyperliquid.add_perp_dex(PerpDex("flx", ["CRCL"]))
    async with hyperliquid_client(hyperliquid.url) as exchange:
        await exchange.load_markets()
    bodies = [r.json() for r in hyperliquid.requests]
    assert {"type": "metaAndAssetCtxs", "dex": "flx"} in bodies
    assert len(bodies) == 5


async def test_hyperliquid_perps_only_options_load_markets_in_one_request(
    hyperliquid: FakeHyperliquidServer,
) -> None:
    hyperliquid.add_perp_dex(PerpDex("flx", ["CRCL"]))
    async with hyperliquid_client(hyperliquid.url, **HL_PERPS_ONLY) as exchange:
        markets = await exchange.load_markets()
    assert [r.json() for r in hyperliquid.requests] == [{"type": "metaAndAssetCtxs"}]
    assert hyperliquid.weight_used() == 20
    assert all(m["swap"] for m in markets.values())
    assert markets["2Z/USDC:USDC"]["baseName"] == "2Z"


async def test_hyperliquid_serves_the_docs_markets_unchanged(hyperliquid: FakeHyperliquidServer) -> None:
    hyperliquid.script("metaAndAssetCtxs", hl.fixture_reply("meta_and_asset_ctxs_docs.json"))
    async with hyperliquid_client(hyperliquid.url, **HL_PERPS_ONLY) as exchange:
        markets = await exchange.load_markets()
    assert set(markets) == {"BTC/USDC:USDC", "ETH/USDC:USDC", "HPOS/USDC:USDC"}


async def test_hyperliquid_fetch_positions_is_one_clearinghouse_state(
    hyperliquid: FakeHyperliquidServer,
) -> None:
    rows = hyperliquid.open_positions(WALLET, 16)
    async with hyperliquid_client(hyperliquid.url, **HL_PERPS_ONLY) as exchange:
        await exchange.load_markets()
        hyperliquid.clear_requests()
        before = hyperliquid.weight_used()
        positions = await exchange.fetch_positions()
    assert [r.json() for r in hyperliquid.requests] == [{"type": "clearinghouseState", "user": WALLET}]
    assert hyperliquid.weight_used() - before == 2
    assert [p["symbol"] for p in positions] == [f"{base}/USDC:USDC" for base in SIXTEEN]
    assert [p["info"] for p in positions] == rows
    assert positions[1]["side"] == "short" and positions[1]["contracts"] == 0.2
    assert rows[1]["position"]["szi"] == "-0.2"


async def test_hyperliquid_user_param_replaces_the_wallet_address(hyperliquid: FakeHyperliquidServer) -> None:
    other = "0x" + "cd" * 20
    hyperliquid.open_positions(other, 2)
    exchange = ccxt_async.hyperliquid(HL_PERPS_ONLY)
    point_at(exchange, hyperliquid.url)
    try:
        positions = await exchange.fetch_positions(None, {"user": other})
        with pytest.raises(errors.ArgumentsRequired):
            await exchange.fetch_positions()
    finally:
        await exchange.close()
    assert len(positions) == 2
    assert hyperliquid.requests[-1].json() == {"type": "clearinghouseState", "user": other}


@pytest.mark.parametrize(
    ("name", "sides"),
    [
        ("clearinghouse_state_two_longs.json", ["long", "long"]),
        ("clearinghouse_state_short.json", ["short", "long"]),
        ("clearinghouse_state_isolated_short.json", ["short"]),
        ("clearinghouse_state_no_positions.json", []),
    ],
)
async def test_hyperliquid_serves_recorded_states_unchanged(
    hyperliquid: FakeHyperliquidServer, name: str, sides: list[str]
) -> None:
    hyperliquid.script("clearinghouseState", hl.fixture_reply(name))
    async with hyperliquid_client(hyperliquid.url, enableRateLimit=False, **HL_PERPS_ONLY) as exchange:
        positions = await exchange.fetch_positions()
    rows = hl.fixture_document(name)["assetPositions"]
    assert [p["info"] for p in positions] == rows
    assert [p["side"] for p in positions] == sides
    assert [p["contracts"] for p in positions] == [abs(float(r["position"]["szi"])) for r in rows]


async def test_hyperliquid_closed_position_is_omitted(hyperliquid: FakeHyperliquidServer) -> None:
    hyperliquid.open_positions(WALLET, 16)
    hyperliquid.close_position(WALLET, "ZEC")
    hyperliquid.change_position(WALLET, "SUI", 5.0)
    async with hyperliquid_client(hyperliquid.url, **HL_PERPS_ONLY) as exchange:
        positions = await exchange.fetch_positions()
    by_symbol = {p["symbol"]: p for p in positions}
    assert len(positions) == 15 and "ZEC/USDC:USDC" not in by_symbol
    assert by_symbol["SUI/USDC:USDC"]["side"] == "long" and by_symbol["SUI/USDC:USDC"]["contracts"] == 5


async def test_hyperliquid_hip3_positions_need_the_dex(hyperliquid: FakeHyperliquidServer) -> None:
    hyperliquid.add_perp_dex(PerpDex("flx", ["CRCL"]))
    hyperliquid.set_positions(WALLET, [hl.asset_position("ZEC", 1), hl.asset_position("flx:CRCL", 0.13)])
    async with hyperliquid_client(hyperliquid.url, enableRateLimit=False) as exchange:
        main = await exchange.fetch_positions()
        flx = await exchange.fetch_positions(None, {"dex": "flx"})
    assert [p["symbol"] for p in main] == ["ZEC/USDC:USDC"]
    assert [p["info"]["position"]["coin"] for p in flx] == ["flx:CRCL"]


# --- Hyperliquid: failures -----------------------------------------------------------------------

HYPERLIQUID_FAULTS: list[tuple[str, Reply, type[Exception]]] = [
    ("500", hl.server_error(500), errors.ExchangeNotAvailable),
    ("HTML 502 page", html_page(502), errors.ExchangeNotAvailable),
    ("429", hl.rate_limited(), errors.RateLimitExceeded),
    ("422 unreadable body", hl.unreadable(), errors.ExchangeError),
    ("status err", json_reply({"status": "err", "response": "User does not exist"}), errors.ExchangeError),
    ("dropped socket", dropped(), errors.ExchangeNotAvailable),
    ("late answer", delayed(FakeHyperliquidServer.empty_state(), 2.0), errors.RequestTimeout),
]


@pytest.mark.parametrize(
    ("name", "reply", "raised"), HYPERLIQUID_FAULTS, ids=[f[0] for f in HYPERLIQUID_FAULTS]
)
async def test_hyperliquid_fault_raises(
    hyperliquid: FakeHyperliquidServer, name: str, reply: Reply, raised: type[Exception]
) -> None:
    hyperliquid.script("clearinghouseState", reply)
    async with hyperliquid_client(
        hyperliquid.url, timeout=700, enableRateLimit=False, **HL_PERPS_ONLY
    ) as exchange:
        await exchange.load_markets()
        with pytest.raises(raised) as caught:
            await exchange.fetch_positions()
    assert type(caught.value) is raised, name


HYPERLIQUID_SILENT_EMPTIES: list[tuple[str, Reply]] = [
    ("assetPositions []", FakeHyperliquidServer.empty_state()),
    ("null", json_reply(None)),
    ("{}", json_reply({})),
    ("200 that is not JSON", Reply(200, body=b"<html>maintenance</html>", content_type="text/html")),
]


@pytest.mark.parametrize(
    ("name", "reply"), HYPERLIQUID_SILENT_EMPTIES, ids=[f[0] for f in HYPERLIQUID_SILENT_EMPTIES]
)
async def test_hyperliquid_answers_ccxt_reads_as_no_positions(
    hyperliquid: FakeHyperliquidServer, name: str, reply: Reply
) -> None:
    """ccxt raises nothing here: the adapter must check the answer's shape itself."""
    hyperliquid.script("clearinghouseState", reply)
    async with hyperliquid_client(hyperliquid.url, enableRateLimit=False, **HL_PERPS_ONLY) as exchange:
        assert await exchange.fetch_positions() == [], name


@pytest.mark.parametrize("reply", [hl.server_error(500), html_page(502), dropped()])
async def test_hyperliquid_load_markets_failure_is_exchange_not_available(
    hyperliquid: FakeHyperliquidServer, reply: Reply
) -> None:
    hyperliquid.script("metaAndAssetCtxs", reply)
    async with hyperliquid_client(hyperliquid.url, **HL_PERPS_ONLY) as exchange:
        with pytest.raises(errors.ExchangeNotAvailable):
            await exchange.load_markets()


# --- Hyperliquid: weights and signing ------------------------------------------------------------


def test_hyperliquid_weight_limit() -> None:
    with FakeHyperliquidServer(weight_limit=10) as server:
        body = json.dumps({"type": "clearinghouseState", "user": WALLET}).encode()
        answers = [
            raw_request(server.url, "POST", hl.INFO, body, {"Content-Type": "application/json"})
            for _ in range(6)
        ]
        meta = raw_request(server.url, "POST", hl.INFO, b'{"type": "meta"}')
        assert [a[0] for a in answers] == [200] * 5 + [429]
        assert meta[0] == 429
        assert server.max_weight_per_window() == 10
    assert hl.info_weight("allMids") == 2 and hl.info_weight("metaAndAssetCtxs") == 20
    assert hl.info_weight("userRole") == 60
    assert hl.exchange_weight({"action": {"type": "order", "orders": [{}] * 79}}) == 2


def test_hyperliquid_refuses_what_it_cannot_read(hyperliquid: FakeHyperliquidServer) -> None:
    for body in (b'{"type": "noSuchType"}', b'{"type": "clearinghouseState"}', b"not json"):
        status, headers, text = raw_request(hyperliquid.url, "POST", hl.INFO, body)
        assert (status, text) == (422, b"Failed to deserialize the JSON body into the target type")
        assert headers["Content-Type"].startswith("text/plain")


async def test_hyperliquid_ccxt_never_signs_without_a_key(hyperliquid: FakeHyperliquidServer) -> None:
    hyperliquid.open_positions(WALLET, 3)
    async with hyperliquid_client(hyperliquid.url, enableRateLimit=False) as exchange:
        await exchange.load_markets()
        await exchange.fetch_positions()
        with pytest.raises(errors.AuthenticationError):
            await exchange.create_order("ZEC/USDC:USDC", "limit", "buy", 1, 100)
    assert hyperliquid.exchange_requests == []
    assert hyperliquid.count() == len(hyperliquid.info_types())


async def test_hyperliquid_with_a_private_key_ccxt_signs_on_load_markets(
    hyperliquid: FakeHyperliquidServer,
) -> None:
    """Why an account may never carry a key: ccxt then approves a builder fee and sets a referrer."""
    throwaway = "0x" + "11" * 32  # a made-up key, only to show what ccxt does with one
    async with hyperliquid_client(hyperliquid.url, privateKey=throwaway, enableRateLimit=False) as exchange:
        await exchange.load_markets()
    actions = sorted(r.json()["action"]["type"] for r in hyperliquid.exchange_requests)
    assert actions == ["approveBuilderFee", "setReferrer"]
    assert "userAbstraction" in hyperliquid.info_types()


async def test_both_fakes_generate_two_hundred_listed_positions(
    pacifica: FakePacificaServer, hyperliquid: FakeHyperliquidServer
) -> None:
    pacifica.open_positions(ACCOUNT, 200)
    hyperliquid.open_positions(WALLET, 200)
    async with pacifica_client(pacifica.url, enableRateLimit=False) as exchange:
        pacifica_rows = await exchange.fetch_positions()
        assert len(exchange.markets) == 200
    async with hyperliquid_client(hyperliquid.url, enableRateLimit=False, **HL_PERPS_ONLY) as exchange:
        hyperliquid_rows = await exchange.fetch_positions()
        assert len(exchange.markets) == 200
    assert len(pacifica_rows) == len(hyperliquid_rows) == 200
    assert pacifica_rows[-1]["symbol"] == hyperliquid_rows[-1]["symbol"] == "T0199/USDC:USDC"
