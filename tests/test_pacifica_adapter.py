"""The Pacifica adapter against the fake Pacifica on 127.0.0.1, through the real ccxt client.

Nothing mocks ccxt or aiohttp: Pacifica's envelopes, credit headers and error codes go over a
socket. The answers ccxt's own ``fetch_positions`` reads as an empty account (see
``tests/test_dex_servers.py``) are each a failed read here.
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
from position_sync.brokers import pacifica as pacifica_module
from position_sync.brokers.ccxt_adapter import CcxtAdapter
from position_sync.brokers.pacifica import READS, create, pacifica_pacer
from tests.dex_helpers import PACIFICA_WALLET, dex_account, dex_context
from tests.exchange_helpers import quick_reads
from tests.fakes import pacifica_server as pf
from tests.fakes.http_fake import Reply, delayed, dropped, html_page, json_reply
from tests.fakes.pacifica_server import FakePacificaServer, position_row

__all__ = ["quick_reads"]

D = Decimal
WALLET = PACIFICA_WALLET


@pytest.fixture
def pacifica() -> Iterator[FakePacificaServer]:
    with FakePacificaServer() as server:
        yield server


@pytest.fixture
async def adapter(
    pacifica: FakePacificaServer, tmp_path: Path, quick_reads: None
) -> AsyncIterator[CcxtAdapter]:
    made = create(dex_account("pacifica", pacifica.url, WALLET), dex_context(tmp_path))
    yield made
    await made.close()


async def test_side_gives_the_sign_and_marks_value_the_position(
    pacifica: FakePacificaServer, adapter: CcxtAdapter
) -> None:
    pacifica.set_positions(
        WALLET,
        [
            position_row("ZEC", "bid", "1.5", entry_price=400.0, funding=-0.25, liquidation_price=310.5),
            position_row("SUI", "ask", "120", entry_price=3.5, isolated=True, margin=42.0),
        ],
    )
    pacifica.set_mark("ZEC", 402.7)
    pacifica.set_mark("SUI", 3.25)
    snapshot = await adapter.fetch()
    zec, sui = snapshot.positions
    assert (zec.instrument, zec.quantity, zec.average_price) == ("ZEC/USDC:USDC", D("1.5"), D("400"))
    assert zec.last_price == D("402.7") and zec.unrealised_pnl == D("4.05")
    assert zec.label == "funding -0.25 · liquidation 310.5"
    assert zec.symbol == "ZEC" and zec.currency == "USDC"
    assert (sui.instrument, sui.quantity) == ("SUI/USDC:USDC", D("-120"))
    assert sui.unrealised_pnl == D("30"), "a short gains as the mark falls"
    assert sui.label == "funding 0 · isolated"


async def test_ccxts_recorded_positions_are_read(pacifica: FakePacificaServer, adapter: CcxtAdapter) -> None:
    """ccxt's recording: strings for ``last_order_id`` and the times, a liquidation price set."""
    pacifica.script(pf.INFO, pf.fixture_reply("info.json"))
    pacifica.script_positions(pf.fixture_reply("positions.json"))
    pacifica.set_mark("BTC", 89000.0)
    [btc] = (await adapter.fetch()).positions
    assert (btc.instrument, btc.quantity, btc.average_price) == ("BTC/USDC:USDC", D("-0.007"), D("89114"))
    assert btc.unrealised_pnl == D("0.798")
    assert btc.label == "funding 0.009371 · liquidation 102443.420678"


async def test_the_docs_positions_are_read(pacifica: FakePacificaServer, adapter: CcxtAdapter) -> None:
    """Pacifica's documented example: integer ``last_order_id``, ``liquidation_price`` null."""
    pacifica.script_positions(pf.fixture_reply("positions_docs.json"))
    [aave] = (await adapter.fetch()).positions
    assert (aave.instrument, aave.quantity) == ("AAVE/USDC:USDC", D("-223.72"))
    assert aave.average_price == D("279.283134") and aave.label == "funding 13.159593"


async def test_books_bare_bases_are_spellings_of_the_perpetuals(
    pacifica: FakePacificaServer, adapter: CcxtAdapter
) -> None:
    snapshot = await adapter.fetch()
    for base in ("ZEC", "SUI", "WLFI", "2Z", "PENGU"):
        assert snapshot.spellings[base] == f"{base}/USDC:USDC"


async def test_spot_pairs_are_not_indexed(pacifica: FakePacificaServer, adapter: CcxtAdapter) -> None:
    pacifica.script(pf.INFO, pf.fixture_reply("info.json"))
    snapshot = await adapter.fetch()
    assert snapshot.spellings["BTC"] == "BTC/USDC:USDC"
    assert "SOL/USDC" not in snapshot.spellings.values()


async def test_an_empty_success_is_an_empty_account(
    pacifica: FakePacificaServer, adapter: CcxtAdapter
) -> None:
    """``success: true, data: []`` is Pacifica's word for no open position: the core judges it."""
    pacifica.set_positions(WALLET, [])
    assert (await adapter.fetch()).positions == ()
    assert pacifica.count(pf.PRICES) == 0, "no position, no marks asked for"


SILENT_EMPTIES: list[tuple[str, Reply, ReadErrorKind]] = [
    (
        "success false, no code",
        json_reply({"success": False, "data": None, "error": None, "code": None}),
        ReadErrorKind.HTTP,
    ),
    ("success missing", json_reply({"data": [], "error": None, "code": None}), ReadErrorKind.HTTP),
    ("no data key", pf.missing_data(), ReadErrorKind.MALFORMED),
    ("data null", pf.ok(None), ReadErrorKind.MALFORMED),
    ("data not a list", pf.ok({"positions": []}), ReadErrorKind.MALFORMED),
    (
        "200 not JSON",
        Reply(200, body=b"<html>maintenance</html>", content_type="text/html"),
        ReadErrorKind.MALFORMED,
    ),
    (
        "error text with success",
        json_reply({"success": True, "data": [], "error": "stale replica"}),
        ReadErrorKind.HTTP,
    ),
]


@pytest.mark.parametrize(("name", "reply", "kind"), SILENT_EMPTIES, ids=[c[0] for c in SILENT_EMPTIES])
async def test_what_ccxt_reads_as_no_positions_is_a_failed_read(
    pacifica: FakePacificaServer, adapter: CcxtAdapter, name: str, reply: Reply, kind: ReadErrorKind
) -> None:
    pacifica.script_positions(reply)
    with pytest.raises(ReadError) as failed:
        await adapter.fetch()
    assert failed.value.kind is kind, name
    assert str(failed.value).startswith("Pacifica positions")


FAULTS: list[tuple[str, Reply, ReadErrorKind, str]] = [
    ("400", pf.failure("Invalid account", 400), ReadErrorKind.HTTP, "Invalid account"),
    ("422 business code", pf.failure("ACCOUNT_NOT_FOUND", 1), ReadErrorKind.HTTP, "ACCOUNT_NOT_FOUND"),
    ("500 on a 200", pf.failure("Internal server error", 500, 200), ReadErrorKind.HTTP, "unavailable"),
    ("500", pf.server_error(500), ReadErrorKind.HTTP, "unavailable"),
    ("503", pf.server_error(503), ReadErrorKind.HTTP, "unavailable"),
    ("429", pf.rate_limited(), ReadErrorKind.RATE_LIMITED, "rate limited"),
    ("HTML 502", html_page(502), ReadErrorKind.HTTP, "unavailable"),
    ("CDN 403", pf.get_with_body_refused(), ReadErrorKind.HTTP, "HTML page"),
    ("dropped", dropped(), ReadErrorKind.HTTP, "unavailable"),
]


@pytest.mark.parametrize(("name", "reply", "kind", "words"), FAULTS, ids=[f[0] for f in FAULTS])
async def test_every_failure_is_a_failed_read(
    pacifica: FakePacificaServer,
    adapter: CcxtAdapter,
    name: str,
    reply: Reply,
    kind: ReadErrorKind,
    words: str,
) -> None:
    pacifica.open_positions(WALLET, 3)
    await adapter.fetch()
    pacifica.script_positions(reply)
    with pytest.raises(ReadError) as failed:
        await adapter.fetch()
    assert failed.value.kind is kind, name
    assert words in str(failed.value) and "Pacifica" in str(failed.value)


async def test_a_late_answer_is_a_timeout(
    pacifica: FakePacificaServer, tmp_path: Path, quick_reads: None
) -> None:
    account = replace(dex_account("pacifica", pacifica.url, WALLET), timeout=1.0)
    made = create(account, dex_context(tmp_path))
    pacifica.script_positions(delayed(pf.ok([]), 2.0))
    try:
        with pytest.raises(ReadError) as failed:
            await made.fetch()
    finally:
        await made.close()
    assert failed.value.kind is ReadErrorKind.TIMEOUT


async def test_an_older_answer_is_stale_never_newer_truth(
    pacifica: FakePacificaServer, adapter: CcxtAdapter
) -> None:
    pacifica.open_positions(WALLET, 4)
    first = await adapter.fetch()
    newest = pacifica.last_order_id(WALLET)
    pacifica.script_positions(pf.ok([], last_order_id=newest - 1), pacifica.positions_reply(WALLET))
    with pytest.raises(ReadError) as failed:
        await adapter.fetch()
    assert failed.value.kind is ReadErrorKind.SOURCE
    assert f"last_order_id {newest - 1}, older than the {newest} already seen" in str(failed.value)
    assert (await adapter.fetch()).positions == first.positions, "the current answer is read again"


async def test_an_answer_without_an_order_id_after_one_was_seen_is_stale(
    pacifica: FakePacificaServer, adapter: CcxtAdapter
) -> None:
    pacifica.open_positions(WALLET, 2)
    await adapter.fetch()
    pacifica.script_positions(pf.ok([]))
    with pytest.raises(ReadError) as failed:
        await adapter.fetch()
    assert "no last_order_id" in str(failed.value)


async def test_the_newest_order_id_outlives_the_process(
    pacifica: FakePacificaServer, tmp_path: Path, quick_reads: None
) -> None:
    """``sync --once`` from cron is a new process each time: the order is kept on disk."""
    pacifica.open_positions(WALLET, 2)
    newest = pacifica.last_order_id(WALLET)
    for reply, fails in (
        (pacifica.positions_reply(WALLET), False),
        (pf.ok([], last_order_id=newest - 5), True),
    ):
        pacifica.script_positions(reply)
        made = create(dex_account("pacifica", pacifica.url, WALLET), dex_context(tmp_path))
        try:
            if fails:
                with pytest.raises(ReadError):
                    await made.fetch()
            else:
                await made.fetch()
        finally:
            await made.close()


async def test_a_newer_empty_answer_is_read(pacifica: FakePacificaServer, adapter: CcxtAdapter) -> None:
    pacifica.open_positions(WALLET, 3)
    await adapter.fetch()
    pacifica.script_positions(pf.ok([], last_order_id=pacifica.last_order_id(WALLET) + 3))
    assert (await adapter.fetch()).positions == ()


async def test_a_malformed_row_names_itself(pacifica: FakePacificaServer, adapter: CcxtAdapter) -> None:
    cases = [
        (position_row("ZEC", "bid", "-1"), "unsigned"),
        ({**position_row("ZEC"), "side": "long"}, "not bid or ask"),
        ({**position_row("ZEC"), "amount": "lots"}, "'amount'"),
        (position_row("NOPE"), "not in Pacifica's market list"),
    ]
    for row, words in cases:
        pacifica.script_positions(pf.ok([row], last_order_id=pacifica.last_order_id(WALLET)))
        with pytest.raises(ReadError) as failed:
            await adapter.fetch()
        assert failed.value.kind is ReadErrorKind.MALFORMED and words in str(failed.value), words
    pacifica.script_positions(pf.ok([position_row("ZEC"), position_row("ZEC")]))
    with pytest.raises(ReadError, match="listed twice"):
        await adapter.fetch()


async def test_a_failed_price_read_keeps_the_positions(
    pacifica: FakePacificaServer, adapter: CcxtAdapter
) -> None:
    pacifica.set_positions(WALLET, [position_row("ZEC", "bid", "2", entry_price=400.0)])
    pacifica.script(pf.PRICES, pf.server_error(500))
    [zec] = (await adapter.fetch()).positions
    assert zec.quantity == D("2") and zec.last_price is None and zec.unrealised_pnl is None


async def test_marks_are_asked_at_most_every_few_seconds(
    pacifica: FakePacificaServer, adapter: CcxtAdapter
) -> None:
    pacifica.open_positions(WALLET, 2)
    for _ in range(3):
        await adapter.fetch()
    assert pacifica.count(pf.POSITIONS) == 3 and pacifica.count(pf.PRICES) == 1


async def test_only_read_requests_are_sent(pacifica: FakePacificaServer, adapter: CcxtAdapter) -> None:
    """Every request the adapter makes, recorded by the fake: three GETs, no body, no key."""
    pacifica.open_positions(WALLET, 16)
    await adapter.fetch()
    pacifica.close_position(WALLET, "ZEC")
    await adapter.fetch()
    requests = pacifica.requests
    assert {(r.method, r.path) for r in requests} == {("GET", path) for path in READS}
    assert all(r.body == b"" and r.header("Transfer-Encoding") is None for r in requests)
    assert all(r.header(pf.API_KEY_HEADER) is None for r in requests)
    assert {r.query["account"][0] for r in requests if r.path == pf.POSITIONS} == {WALLET}
    assert pacifica.write_requests == []
    session = adapter.session
    assert session is not None
    exchange = session.exchange
    assert not (exchange.privateKey or exchange.secret or exchange.apiKey), "ccxt holds nothing to sign with"
    with pytest.raises((PermissionError, AuthenticationError)):  # no key to sign with, and the guard
        await session.exchange.create_order("ZEC/USDC:USDC", "limit", "buy", 1, 100)
    with pytest.raises(ReadError, match="read-only towards Pacifica"):
        await session.call("privatePostOrdersCreate", {"symbol": "ZEC"}, "an order")
    assert pacifica.write_requests == [] and len(pacifica.requests) == len(requests)


async def test_an_api_config_key_is_sent_and_raises_the_throttle(tmp_path: Path, quick_reads: None) -> None:
    with FakePacificaServer(api_keys={"cfg-key-1"}) as pacifica:
        pacifica.open_positions(WALLET, 2)
        made = create(
            dex_account("pacifica", pacifica.url, WALLET, api_key="cfg-key-1"), dex_context(tmp_path)
        )
        try:
            await made.fetch()
            assert made.session is not None
            assert made.session.exchange.throttler.config["maxWeight"] == pytest.approx(240)
        finally:
            await made.close()
        assert {r.header(pf.API_KEY_HEADER) for r in pacifica.requests} == {"cfg-key-1"}
        assert pacifica.max_credits_per_window(keyed=True) == len(pacifica.requests)


async def test_a_429_holds_every_request_back(pacifica: FakePacificaServer, adapter: CcxtAdapter) -> None:
    pacifica.open_positions(WALLET, 2)
    await adapter.fetch()
    pacifica.script_positions(pf.rate_limited())
    with pytest.raises(ReadError):
        await adapter.fetch()
    sent = len(pacifica.requests)
    with pytest.raises(ReadError) as held:
        await adapter.fetch()
    assert held.value.kind is ReadErrorKind.RATE_LIMITED and "nothing was sent" in str(held.value)
    assert len(pacifica.requests) == sent


async def test_few_credits_left_hold_back_before_the_limit(tmp_path: Path, quick_reads: None) -> None:
    with FakePacificaServer(quota=10) as pacifica:
        pacifica.open_positions(WALLET, 2)
        made = create(dex_account("pacifica", pacifica.url, WALLET), dex_context(tmp_path))
        try:
            reads = 0
            with pytest.raises(ReadError) as held:
                for _ in range(10):
                    await made.fetch()
                    reads += 1
        finally:
            await made.close()
        assert held.value.kind is ReadErrorKind.RATE_LIMITED and "nothing was sent" in str(held.value)
        assert reads >= 3
        assert len(pacifica.charges) == len(pacifica.requests), "every request was charged: no 429"
        assert pacifica.max_credits_per_window() <= 10


def test_the_pacer_reads_pacificas_credit_headers() -> None:
    policy = '"credits";q=1000;w=60'
    assert pacifica_pacer(200, {"ratelimit": '"credits";r=900;t=40', "ratelimit-policy": policy}, 0) == 0
    assert pacifica_pacer(200, {"ratelimit": '"credits";r=150;t=40', "ratelimit-policy": policy}, 0) == 40.5
    assert pacifica_pacer(429, {"ratelimit": '"credits";r=0;t=12'}, 0) == 12.5
    assert pacifica_pacer(429, {}, 0) == 60.5
    assert pacifica_pacer(200, {}, 0) == 0


async def test_resync_pressed_fast_stays_inside_the_unauthenticated_credits(
    pacifica: FakePacificaServer, tmp_path: Path
) -> None:
    assert ccxt_session.MIN_SECONDS_BETWEEN_READS == 1.0
    pacifica.open_positions(WALLET, 16)
    made = create(dex_account("pacifica", pacifica.url, WALLET), dex_context(tmp_path))
    started = time.monotonic()
    try:
        for _ in range(6):
            await made.fetch()
    finally:
        await made.close()
    elapsed = time.monotonic() - started
    starts = [r.at for r in pacifica.requests if r.path == pf.POSITIONS]
    # Arrival times at the server jitter under load (the floor is kept on the client clock).
    assert (starts[-1] - starts[0]) / (len(starts) - 1) >= 0.9
    assert min(b - a for a, b in itertools.pairwise(starts)) >= 0.8
    per_minute = pacifica.credits_used() / max(elapsed, 1.0) * 60
    assert per_minute < pf.UNIDENTIFIED_QUOTA, per_minute
    assert len(pacifica.charges) == len(pacifica.requests), "no request was refused"


@pytest.mark.parametrize("wallet", ["", "0x" + "ab" * 20, "not a wallet", "O" * 40])
def test_a_wallet_that_is_no_solana_address_is_a_config_error(tmp_path: Path, wallet: str) -> None:
    with pytest.raises(ConfigError) as refused:
        create(dex_account("pacifica", "http://127.0.0.1:9", wallet), dex_context(tmp_path))
    assert "wallet_address' must be a Solana address" in str(refused.value)


# --- an unchanged answer is not rebuilt (issue 19) ------------------------------------------------


@pytest.fixture
def fresh_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Marks asked at every read, so that a moved mark is seen by the next one."""
    monkeypatch.setattr(pacifica_module, "PRICES_MAX_AGE", 0.0)


async def test_an_unchanged_answer_hands_back_the_very_same_positions(
    pacifica: FakePacificaServer, adapter: CcxtAdapter, fresh_marks: None
) -> None:
    """A newer order id with the same rows, and the marks asked again and the same: no rebuild."""
    rows = pacifica.open_positions(WALLET, 12)
    first = await adapter.fetch()
    pacifica.set_positions(WALLET, rows)  # the order id moves on, the rows do not
    second = await adapter.fetch()
    assert second.positions is first.positions and len(first.positions) == 12


@pytest.mark.parametrize("change", ["mark", "amount", "side", "closed", "new position"])
async def test_a_changed_answer_is_built_anew(
    pacifica: FakePacificaServer, adapter: CcxtAdapter, fresh_marks: None, change: str
) -> None:
    pacifica.open_positions(WALLET, 3)
    first = await adapter.fetch()
    zec = first.positions[0]
    native = zec.symbol
    assert native is not None
    if change == "mark":
        pacifica.set_mark(native, 1234.5)
    elif change == "amount":
        pacifica.change_position(WALLET, native, amount="7")
    elif change == "side":
        pacifica.change_position(WALLET, native, side="ask" if zec.quantity > 0 else "bid")
    elif change == "closed":
        pacifica.close_position(WALLET, native)
    else:
        pacifica.open_positions(WALLET, 4)
    second = await adapter.fetch()
    assert second.positions is not first.positions
    held = {p.instrument: p for p in second.positions}
    if change == "mark":
        assert held[zec.instrument].last_price == D("1234.5")
    elif change == "amount":
        assert abs(held[zec.instrument].quantity) == D(7)
    elif change == "side":
        assert held[zec.instrument].quantity == -zec.quantity
    elif change == "closed":
        assert zec.instrument not in held and len(held) == 2
    else:
        assert len(held) == 4


async def test_a_failed_or_older_answer_between_two_equal_ones_is_a_read_error_never_the_memo(
    pacifica: FakePacificaServer, adapter: CcxtAdapter
) -> None:
    rows = pacifica.open_positions(WALLET, 3)
    first = await adapter.fetch()
    newest = pacifica.last_order_id(WALLET)
    # The very rows, but under an older order id: out of date, whatever the rows say.
    pacifica.script_positions(pf.server_error(), pf.ok(rows, last_order_id=newest - 1))
    for kind in (ReadErrorKind.HTTP, ReadErrorKind.SOURCE):
        with pytest.raises(ReadError) as failed:
            await adapter.fetch()
        assert failed.value.kind is kind
    pacifica.script_positions(pacifica.positions_reply(WALLET))
    again = await adapter.fetch()
    assert again.positions is first.positions
