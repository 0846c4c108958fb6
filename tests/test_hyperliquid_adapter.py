"""The Hyperliquid adapter against the fake Hyperliquid ``/info`` on 127.0.0.1, through the real ccxt.

The answers ccxt's own ``fetch_positions`` reads as an empty account (``null``, ``{}``, a page
that is not JSON; see ``tests/test_dex_servers.py``) are each a failed read here, and not one
request reaches ``/exchange``, where ccxt would sign.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from ccxt.base.errors import AuthenticationError

from position_sync.app.errors import ConfigError, ReadError, ReadErrorKind
from position_sync.brokers import ccxt_session
from position_sync.brokers.ccxt_adapter import CcxtAdapter
from position_sync.brokers.hyperliquid import create, hyperliquid_pacer
from tests.dex_helpers import HYPERLIQUID_WALLET, dex_account, dex_context
from tests.exchange_helpers import quick_reads
from tests.fakes import hyperliquid_server as hl
from tests.fakes.http_fake import Reply, delayed, dropped, html_page, json_reply
from tests.fakes.hyperliquid_server import FakeHyperliquidServer, PerpDex, asset_position

__all__ = ["quick_reads"]

D = Decimal
WALLET = HYPERLIQUID_WALLET
STATE = "clearinghouseState"


@pytest.fixture
def hyperliquid() -> Iterator[FakeHyperliquidServer]:
    with FakeHyperliquidServer() as server:
        yield server


@pytest.fixture
async def adapter(
    hyperliquid: FakeHyperliquidServer, tmp_path: Path, quick_reads: None
) -> AsyncIterator[CcxtAdapter]:
    made = create(dex_account("hyperliquid", hyperliquid.url, WALLET), dex_context(tmp_path))
    yield made
    await made.close()


async def test_szi_is_the_signed_size(hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter) -> None:
    hyperliquid.set_positions(
        WALLET,
        [
            asset_position(
                "ZEC", "1.5", entry_px=400.0, mark_px=402.7, liquidation_px=310.5, cum_funding=-0.25
            ),
            asset_position("2Z", "-1200", entry_px=0.2, mark_px=0.18, isolated=True),
        ],
    )
    zec, two_z = (await adapter.fetch()).positions
    assert (zec.instrument, zec.quantity, zec.average_price) == ("ZEC/USDC:USDC", D("1.5"), D("400"))
    assert zec.last_price == D("402.7") and zec.unrealised_pnl == D("4.05")
    assert zec.label == "funding -0.25 · liquidation 310.5"
    assert zec.symbol == "ZEC" and zec.currency == "USDC"
    assert (two_z.instrument, two_z.quantity, two_z.last_price) == ("2Z/USDC:USDC", D("-1200"), D("0.18"))
    assert two_z.unrealised_pnl == D("24") and two_z.label == "funding 0 · isolated"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("clearinghouse_state_two_longs.json", None),
        ("clearinghouse_state_short.json", {"SOL/USDC:USDC": D("-0.5"), "ETH/USDC:USDC": D("1.6")}),
        ("clearinghouse_state_isolated_short.json", {"HYPE/USDC:USDC": D("-4.0")}),
        ("clearinghouse_state_no_positions.json", {}),
    ],
)
async def test_ccxts_recorded_states_are_read(
    hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter, name: str, expected: dict[str, Decimal] | None
) -> None:
    hyperliquid.script(STATE, hl.fixture_reply(name))
    positions = (await adapter.fetch()).positions
    rows = hl.fixture_document(name)["assetPositions"]
    held = {p.instrument: p.quantity for p in positions}
    if expected is None:
        expected = {f"{r['position']['coin']}/USDC:USDC": D(r["position"]["szi"]) for r in rows}
    assert held == expected
    if name == "clearinghouse_state_short.json":
        sol = positions[0]
        assert sol.last_price == D("137.96") and sol.average_price == D("138.76")
        assert sol.label == "funding 0 · liquidation 22881.19788911"


async def test_books_bare_bases_are_spellings(
    hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter
) -> None:
    snapshot = await adapter.fetch()
    for base in ("ZEC", "SUI", "WLFI", "2Z", "PENGU"):
        assert snapshot.spellings[base] == f"{base}/USDC:USDC"


async def test_markets_are_one_request_of_the_main_perpetuals(
    hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter
) -> None:
    hyperliquid.add_perp_dex(PerpDex("flx", ["CRCL"]))
    hyperliquid.open_positions(WALLET, 2)
    await adapter.fetch()
    await adapter.fetch()
    assert hyperliquid.info_types() == ["metaAndAssetCtxs", STATE, STATE]
    assert hyperliquid.weight_used() == 20 + 2 * 2


async def test_a_closed_position_is_absent(hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter) -> None:
    hyperliquid.open_positions(WALLET, 16)
    assert len((await adapter.fetch()).positions) == 16
    hyperliquid.close_position(WALLET, "ZEC")
    positions = (await adapter.fetch()).positions
    assert len(positions) == 15 and "ZEC/USDC:USDC" not in {p.instrument for p in positions}


async def test_an_empty_state_is_an_empty_account(
    hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter
) -> None:
    hyperliquid.script(STATE, FakeHyperliquidServer.empty_state())
    assert (await adapter.fetch()).positions == ()


SILENT_EMPTIES: list[tuple[str, Reply]] = [
    ("null", json_reply(None)),
    ("{}", json_reply({})),
    ("a list", json_reply([])),
    ("no marginSummary", json_reply({"assetPositions": []})),
    ("assetPositions null", json_reply({"marginSummary": {}, "assetPositions": None})),
    ("200 not JSON", Reply(200, body=b"<html>maintenance</html>", content_type="text/html")),
]


@pytest.mark.parametrize(("name", "reply"), SILENT_EMPTIES, ids=[c[0] for c in SILENT_EMPTIES])
async def test_what_ccxt_reads_as_no_positions_is_a_failed_read(
    hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter, name: str, reply: Reply
) -> None:
    hyperliquid.script(STATE, reply)
    with pytest.raises(ReadError) as failed:
        await adapter.fetch()
    assert failed.value.kind is ReadErrorKind.MALFORMED, name
    assert str(failed.value).startswith("Hyperliquid positions")


FAULTS: list[tuple[str, Reply, ReadErrorKind, str]] = [
    ("500", hl.server_error(500), ReadErrorKind.HTTP, "unavailable"),
    ("HTML 502", html_page(502), ReadErrorKind.HTTP, "unavailable"),
    ("429", hl.rate_limited(), ReadErrorKind.RATE_LIMITED, "rate limited"),
    ("422", hl.unreadable(), ReadErrorKind.HTTP, "deserialize"),
    (
        "status err",
        json_reply({"status": "err", "response": "User does not exist"}),
        ReadErrorKind.HTTP,
        "User",
    ),
    ("dropped", dropped(), ReadErrorKind.HTTP, "unavailable"),
]


@pytest.mark.parametrize(("name", "reply", "kind", "words"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_every_failure_is_a_failed_read(
    hyperliquid: FakeHyperliquidServer,
    adapter: CcxtAdapter,
    name: str,
    reply: Reply,
    kind: ReadErrorKind,
    words: str,
) -> None:
    hyperliquid.open_positions(WALLET, 3)
    await adapter.fetch()
    hyperliquid.script(STATE, reply)
    with pytest.raises(ReadError) as failed:
        await adapter.fetch()
    assert failed.value.kind is kind, name
    assert words in str(failed.value) and "Hyperliquid" in str(failed.value)


async def test_a_late_answer_is_a_timeout(
    hyperliquid: FakeHyperliquidServer, tmp_path: Path, quick_reads: None
) -> None:
    made = create(
        replace(dex_account("hyperliquid", hyperliquid.url, WALLET), timeout=1.0), dex_context(tmp_path)
    )
    hyperliquid.script(STATE, delayed(FakeHyperliquidServer.empty_state(), 2.0))
    try:
        with pytest.raises(ReadError) as failed:
            await made.fetch()
    finally:
        await made.close()
    assert failed.value.kind is ReadErrorKind.TIMEOUT


async def test_a_malformed_entry_names_itself(
    hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter
) -> None:
    cases: list[tuple[list[object], str]] = [
        ([{"type": "oneWay"}], "no 'position' object"),
        ([{"type": "oneWay", "position": {**asset_position("ZEC", 1)["position"], "szi": "lots"}}], "'szi'"),
        ([asset_position("NOPE", 1)], "not among Hyperliquid's perpetuals"),
        ([asset_position("ZEC", 1), asset_position("ZEC", 2)], "listed twice"),
    ]
    for rows, words in cases:
        hyperliquid.script(
            STATE,
            json_reply(hl.clearinghouse_state([]))
            if not rows
            else json_reply({**hl.clearinghouse_state([]), "assetPositions": rows}),
        )
        with pytest.raises(ReadError) as failed:
            await adapter.fetch()
        assert failed.value.kind is ReadErrorKind.MALFORMED and words in str(failed.value), words


async def test_a_new_listing_reloads_the_markets_once(
    hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter
) -> None:
    await adapter.fetch()
    hyperliquid.set_coins([*hl.DEX_BASES, "NEWCOIN"])
    hyperliquid.set_positions(WALLET, [asset_position("NEWCOIN", 3)])
    [new] = (await adapter.fetch()).positions
    assert new.instrument == "NEWCOIN/USDC:USDC"
    assert hyperliquid.info_types().count("metaAndAssetCtxs") == 2


async def test_only_read_requests_are_sent(hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter) -> None:
    """Every request recorded: ``POST /info`` of two read types, never ``/exchange``."""
    hyperliquid.open_positions(WALLET, 16)
    await adapter.fetch()
    hyperliquid.close_position(WALLET, "ZEC")
    await adapter.fetch()
    requests = hyperliquid.requests
    assert {(r.method, r.path) for r in requests} == {("POST", hl.INFO)}
    assert set(hyperliquid.info_types()) == {"metaAndAssetCtxs", STATE}
    assert {r.json().get("user") for r in requests if r.json()["type"] == STATE} == {WALLET}
    assert hyperliquid.exchange_requests == []
    session = adapter.session
    assert session is not None
    exchange = session.exchange
    assert not (exchange.privateKey or exchange.secret or exchange.apiKey), "ccxt holds nothing to sign with"
    with pytest.raises((PermissionError, AuthenticationError)):  # no key to sign with, and the guard
        await session.exchange.create_order("ZEC/USDC:USDC", "limit", "buy", 1, 100)
    with pytest.raises(ReadError, match="read-only towards Hyperliquid"):
        await session.call("privatePostExchange", {"action": {"type": "approveBuilderFee"}}, "an action")
    assert hyperliquid.exchange_requests == [] and len(hyperliquid.requests) == len(requests)


async def test_a_429_holds_every_request_back(
    hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter
) -> None:
    hyperliquid.open_positions(WALLET, 2)
    await adapter.fetch()
    hyperliquid.script(STATE, hl.rate_limited())
    with pytest.raises(ReadError):
        await adapter.fetch()
    sent = len(hyperliquid.requests)
    with pytest.raises(ReadError) as held:
        await adapter.fetch()
    assert held.value.kind is ReadErrorKind.RATE_LIMITED and "nothing was sent" in str(held.value)
    assert len(hyperliquid.requests) == sent


def test_the_pacer_waits_a_minute_after_a_429() -> None:
    assert hyperliquid_pacer(429, {}, 0) == 60
    assert hyperliquid_pacer(429, {"retry-after": "7"}, 0) == 7
    assert hyperliquid_pacer(200, {}, 0) == 0


async def test_resync_pressed_fast_keeps_far_inside_the_weights(
    hyperliquid: FakeHyperliquidServer, tmp_path: Path
) -> None:
    assert ccxt_session.MIN_SECONDS_BETWEEN_READS == 1.0
    hyperliquid.open_positions(WALLET, 16)
    made = create(dex_account("hyperliquid", hyperliquid.url, WALLET), dex_context(tmp_path))
    started = time.monotonic()
    try:
        for _ in range(5):
            await made.fetch()
        assert made.session is not None
        assert made.session.exchange.throttler.config["maxWeight"] == pytest.approx(hl.WEIGHT_PER_MINUTE / 2)
    finally:
        await made.close()
    elapsed = time.monotonic() - started
    starts = [s.at for s in hyperliquid.spends if s.info_type == STATE]
    # Arrival times at the server jitter under load (the floor is kept on the client clock).
    assert (starts[-1] - starts[0]) / (len(starts) - 1) >= 0.9
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.8
    per_minute = 2 * (len(starts) - 1) / (starts[-1] - starts[0]) * 60
    assert per_minute <= 2 * 60 / 0.9, "one clearinghouseState (weight 2) a second at most"
    assert elapsed >= 4 * 0.95
    assert hyperliquid.weight_used() < hl.WEIGHT_PER_MINUTE / 10


@pytest.mark.parametrize("wallet", ["", "0xabc", "ab" * 20, "42trU9A5fakeSoLanaAccount1111111111111111"])
def test_a_wallet_that_is_no_address_is_a_config_error(tmp_path: Path, wallet: str) -> None:
    with pytest.raises(ConfigError) as refused:
        create(dex_account("hyperliquid", "http://127.0.0.1:9", wallet), dex_context(tmp_path))
    assert "wallet_address' must be a Hyperliquid address" in str(refused.value)


# --- an unchanged answer is not rebuilt (issue 19) ------------------------------------------------


async def test_an_unchanged_state_hands_back_the_very_same_positions(
    hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter
) -> None:
    """Each answer carries its own ``time`` and margin summary: only the positions are the key."""
    hyperliquid.open_positions(WALLET, 16)
    hyperliquid.script(
        STATE,
        json_reply(hl.clearinghouse_state(hyperliquid.positions(WALLET), time_ms=1)),
        json_reply(hl.clearinghouse_state(hyperliquid.positions(WALLET), cash=5.0, time_ms=2)),
    )
    first = await adapter.fetch()
    second = await adapter.fetch()
    assert second.positions is first.positions and len(first.positions) == 16


@pytest.mark.parametrize("change", ["size", "mark", "closed", "new position"])
async def test_a_changed_state_is_built_anew(
    hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter, change: str
) -> None:
    hyperliquid.set_positions(WALLET, [asset_position("ZEC", "1.5", entry_px=400.0, mark_px=402.7)])
    first = await adapter.fetch()
    if change == "size":
        hyperliquid.change_position(WALLET, "ZEC", -2.0, entry_px=400.0, mark_px=402.7)
    elif change == "mark":
        hyperliquid.change_position(WALLET, "ZEC", 1.5, entry_px=400.0, mark_px=410.0)
    elif change == "closed":
        hyperliquid.close_position(WALLET, "ZEC")
    else:
        hyperliquid.set_positions(WALLET, [*hyperliquid.positions(WALLET), asset_position("SUI", "3")])
    second = await adapter.fetch()
    assert second.positions is not first.positions
    held = {p.instrument: p for p in second.positions}
    if change == "size":
        assert held["ZEC/USDC:USDC"].quantity == D(-2)
    elif change == "mark":
        assert held["ZEC/USDC:USDC"].last_price == D(410)
    elif change == "closed":
        assert held == {}
    else:
        assert held["SUI/USDC:USDC"].quantity == D(3)


async def test_a_new_market_list_builds_the_same_state_anew(
    hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter
) -> None:
    """The coins' symbols come from the market list: a list loaded again is a new key."""
    hyperliquid.set_positions(WALLET, [asset_position("ZEC", "1.5")])
    first = await adapter.fetch()
    session = adapter.session
    assert session is not None and await session.refresh_markets(min_age=0)
    second = await adapter.fetch()
    assert second.positions is not first.positions and second.positions == first.positions
    assert (await adapter.fetch()).positions is second.positions


async def test_a_failed_read_between_two_equal_states_is_a_read_error_never_the_memo(
    hyperliquid: FakeHyperliquidServer, adapter: CcxtAdapter
) -> None:
    hyperliquid.set_positions(WALLET, [asset_position("ZEC", "1.5")])
    first = await adapter.fetch()
    for reply in (hl.server_error(), json_reply({"assetPositions": first_rows(hyperliquid)})):
        hyperliquid.script(STATE, reply)
        with pytest.raises(ReadError):
            await adapter.fetch()
    hyperliquid.scripts.clear(STATE)
    again = await adapter.fetch()
    assert again.positions is first.positions and again.positions[0].quantity == D("1.5")


def first_rows(hyperliquid: FakeHyperliquidServer) -> list[dict[str, object]]:
    """The very positions last answered, without the margin summary that makes a state one."""
    return hyperliquid.positions(WALLET)
