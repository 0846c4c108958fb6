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
from tests.fakes import pacifica_server as pf
from tests.fakes.dex_rows import DEX_BASES
from tests.fakes.http_fake import Reply, delayed, dropped, html_page, json_reply
from tests.fakes.pacifica_server import FakePacificaServer

ACCOUNT = "42trU9A5fakeSolanaAccount1111111111111111"
SIXTEEN = DEX_BASES[:16]


@pytest.fixture
def pacifica() -> Iterator[FakePacificaServer]:
    with FakePacificaServer() as server:
        yield server


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
