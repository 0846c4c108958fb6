"""The Kite adapter against a fake Kite on 127.0.0.1, through the real ``kiteconnect`` client.

Nothing here mocks kiteconnect or requests: the bytes Kite would send go over a socket, so the
client's own parsing and exception mapping are part of what is tested.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend

from position_sync.app.broker import AdapterContext, BrokerAdapter
from position_sync.app.config import AccountConfig, Settings, parse_settings
from position_sync.app.domain import AccountState, BrokerSnapshot, EventKind, Position, Status
from position_sync.app.errors import ConfigError, LoginRequired, ReadError, ReadErrorKind
from position_sync.app.runtime import build_books
from position_sync.app.secrets import KEYRING_SERVICE, Secrets
from position_sync.app.store import Store
from position_sync.app.sync import SyncResult, SyncWorker
from position_sync.brokers.kite import RATE_WINDOW_SECONDS, REQUESTS_PER_SECOND, KiteAdapter, create
from position_sync.brokers.rate_limit import SlidingWindowLimiter, shared_limiter
from position_sync.brokers.registry import create_adapter
from position_sync.wiring import build_runtime
from tests.conftest import MemoryKeyring, write_book
from tests.fakes.kite_server import (
    HOLDINGS,
    ORDERS,
    POSITIONS,
    READ_PATHS,
    FakeKiteServer,
    Reply,
    delayed,
    dropped,
    fixture_data,
    fixture_reply,
    holding_row,
    html_page,
    input_error,
    kite_error,
    order_row,
    position_row,
    positions_payload,
    rate_limited,
    server_error,
    success,
)

ACCOUNT = "AB1234"
OPTION = "NIFTY25O0725150CE"


@pytest.fixture
def kite() -> Iterator[FakeKiteServer]:
    # A fresh API key per test: the rate limiter is shared per key for the whole process.
    with FakeKiteServer(api_key=f"key{uuid.uuid4().hex[:12]}", access_token="token-day-1") as server:
        yield server


def account_for(kite: FakeKiteServer, *, timeout: float = 2.0, **options: Any) -> AccountConfig:
    return AccountConfig(
        id=ACCOUNT,
        broker="kite",
        book="book",
        timeout=timeout,
        options={"api_key": kite.api_key, "api_root": kite.url, **options},
    )


def store_token(ring: KeyringBackend, token: str) -> None:
    ring.set_password(KEYRING_SERVICE, f"{ACCOUNT}:access_token", token)


_TEMP_DIRS: list[str] = []


def _temp_dir() -> Path:
    """A data directory for an adapter built outside a test's ``tmp_path``; removed after the test."""
    path = tempfile.mkdtemp(prefix="kite-test-")
    _TEMP_DIRS.append(path)
    return Path(path)


@pytest.fixture(autouse=True)
def _remove_temp_dirs() -> Iterator[None]:
    yield
    while _TEMP_DIRS:
        shutil.rmtree(_TEMP_DIRS.pop(), ignore_errors=True)


def make(
    kite: FakeKiteServer,
    *,
    secrets: Secrets | None = None,
    timeout: float = 2.0,
    data_dir: Path | None = None,
    **options: Any,
) -> KiteAdapter:
    """An adapter with a roomy private limiter, so tests that are not about the rate run fast.

    The tests about the rate build theirs with ``create``, which uses the real shared limit.
    Each gets a data directory of its own (unless one is given), since a refused token is
    remembered there.
    """
    return KiteAdapter(
        account_for(kite, timeout=timeout, **options),
        AdapterContext(data_dir or _temp_dir(), secrets or Secrets()),
        limiter=SlidingWindowLimiter(100, 1.0),
    )


@pytest.fixture
async def adapter(kite: FakeKiteServer, memory_keyring: KeyringBackend) -> AsyncIterator[KiteAdapter]:
    store_token(memory_keyring, kite.access_token)
    made = make(kite)
    yield made
    await made.close()


def by_label(snapshot: BrokerSnapshot, instrument: str) -> dict[str | None, Position]:
    return {p.label: p for p in snapshot.positions if p.instrument == instrument}


def only_reads(kite: FakeKiteServer) -> None:
    for request in kite.requests:
        assert request.method == "GET", request
        assert request.path in READ_PATHS, request


# --- what Kite holds ---------------------------------------------------------------------------


async def test_startup_fetch_reads_positions_holdings_and_working_orders(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    kite.set_positions(
        [
            position_row(OPTION, quantity=-75, average_price=120.35, last_price=118.1, close_price=119.0),
            position_row(
                "CRUDEOIL25OCTFUT", "MCX", quantity=2, average_price=5650, last_price=5661, multiplier=100
            ),
        ]
    )
    kite.set_holdings([holding_row("INFY", quantity=10, average_price=1450.5, last_price=1500.05)])
    kite.set_orders(
        [
            order_row(OPTION, transaction_type="BUY", quantity=75, filled_quantity=25, price=110.5),
            order_row(
                "INFY", "NSE", transaction_type="SELL", quantity=5, status="TRIGGER PENDING", product="CNC"
            ),
            order_row(OPTION, transaction_type="SELL", quantity=75, status="COMPLETE", filled_quantity=75),
            order_row(
                OPTION, transaction_type="SELL", quantity=50, status="CANCELLED", cancelled_quantity=50
            ),
            order_row(OPTION, transaction_type="SELL", quantity=50, status="REJECTED"),
        ]
    )

    snapshot = await adapter.fetch()

    option = by_label(snapshot, f"NFO:{OPTION}")["NFO NRML"]
    assert option.quantity == Decimal(-75)
    assert option.average_price == Decimal("120.35")
    assert option.last_price == Decimal("118.1")
    assert option.unrealised_pnl == Decimal("168.75")  # Kite's own field; m2m (from the close) is 67.5
    assert option.realised_pnl == Decimal(0)
    assert option.currency == "INR"
    assert option.symbol == OPTION
    crude = by_label(snapshot, "MCX:CRUDEOIL25OCTFUT")["MCX NRML"]
    assert crude.multiplier == Decimal(100)
    assert crude.quantity == Decimal(2)
    infy = by_label(snapshot, "NSE:INFY")["NSE CNC holding"]
    assert infy.quantity == Decimal(10)
    assert infy.last_price == Decimal("1500.05")
    assert all(isinstance(p.quantity, Decimal) for p in snapshot.positions)
    assert {(o.instrument, o.quantity) for o in snapshot.orders} == {
        (f"NFO:{OPTION}", Decimal(50)),
        ("NSE:INFY", Decimal(-5)),
    }
    buy = next(o for o in snapshot.orders if o.quantity > 0)
    assert buy.description.startswith("BUY 50 pending")
    sell = next(o for o in snapshot.orders if o.quantity < 0)
    assert sell.description.startswith("SELL 5 pending") and "TRIGGER PENDING" in sell.description

    assert sorted(r.path for r in kite.requests) == sorted([POSITIONS, HOLDINGS, ORDERS])
    for request in kite.requests:
        assert request.headers["Authorization"] == f"token {kite.api_key}:token-day-1"
        assert request.headers["X-Kite-Version"] == "3"


async def test_position_closed_at_the_broker_comes_back_as_zero_with_realised_pnl(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    kite.script(
        POSITIONS,
        positions_payload([position_row(OPTION, quantity=75, average_price=100, last_price=104)]),
        positions_payload(
            [position_row(OPTION, quantity=0, closed_quantity=75, average_price=100, realised=412.5)]
        ),
    )
    first = await adapter.fetch()
    assert by_label(first, f"NFO:{OPTION}")["NFO NRML"].quantity == 75

    second = await adapter.fetch()
    closed = by_label(second, f"NFO:{OPTION}")["NFO NRML"]
    assert closed.quantity == 0
    assert closed.realised_pnl == Decimal("412.5")
    assert closed.average_price is None  # Kite's 0 on a closed row is not a price


async def test_partial_close_reports_the_remaining_quantity(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    kite.script(
        POSITIONS,
        positions_payload([position_row(OPTION, quantity=150, average_price=100, last_price=101)]),
        positions_payload(
            [
                position_row(
                    OPTION, quantity=75, closed_quantity=75, average_price=100, last_price=103, realised=150
                )
            ]
        ),
    )
    await adapter.fetch()
    row = by_label(await adapter.fetch(), f"NFO:{OPTION}")["NFO NRML"]
    assert row.quantity == 75
    assert row.realised_pnl == Decimal(150)
    assert row.unrealised_pnl == Decimal(225)


async def test_a_manual_trade_appears_as_a_new_position(kite: FakeKiteServer, adapter: KiteAdapter) -> None:
    kite.script(
        POSITIONS,
        positions_payload([position_row(OPTION, quantity=75, average_price=100, last_price=100)]),
        positions_payload(
            [
                position_row(OPTION, quantity=75, average_price=100, last_price=100),
                position_row("BANKNIFTY25OCTFUT", quantity=35, average_price=56000, last_price=56010),
            ]
        ),
    )
    assert {p.instrument for p in (await adapter.fetch()).positions} == {f"NFO:{OPTION}"}
    assert {p.instrument for p in (await adapter.fetch()).positions} == {
        f"NFO:{OPTION}",
        "NFO:BANKNIFTY25OCTFUT",
    }


async def test_mis_and_nrml_of_one_instrument_stay_two_labelled_rows(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    kite.set_positions(
        [
            position_row(OPTION, product="MIS", quantity=50, average_price=101, last_price=102),
            position_row(
                OPTION, product="NRML", quantity=25, average_price=99, last_price=102, overnight_quantity=25
            ),
        ]
    )
    rows = by_label(await adapter.fetch(), f"NFO:{OPTION}")
    assert set(rows) == {"NFO MIS", "NFO NRML"}
    assert rows["NFO MIS"].quantity == 50
    assert rows["NFO NRML"].quantity == 25
    assert rows["NFO MIS"].average_price == 101
    assert rows["NFO NRML"].average_price == 99


async def test_delivery_equity_comes_from_holdings_with_t1_quantity(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    kite.set_positions(
        [position_row("SBIN", "NSE", product="CNC", quantity=-3, average_price=800, last_price=805)]
    )
    kite.set_holdings(
        [
            holding_row(
                "SBIN", "BSE", quantity=11, t1_quantity=7, used_quantity=3, average_price=790, last_price=805
            ),
            holding_row("RELIANCE", quantity=0, t1_quantity=2, average_price=2206.5, last_price=2214),
        ]
    )
    snapshot = await adapter.fetch()

    sbin = by_label(snapshot, "BSE:SBIN")["BSE CNC holding"]
    assert sbin.quantity == 18  # quantity + t1_quantity; today's sale is the CNC position below
    assert sbin.unrealised_pnl == Decimal(270)
    assert sbin.realised_pnl is None
    assert "NSE:SBIN" in sbin.aliases  # Kite lists demat shares under either cash exchange
    # Today's delivery sale on NSE reduces the one demat balance Kite lists under BSE.
    assert by_label(snapshot, "BSE:SBIN")["NSE CNC"].quantity == -3
    reliance = by_label(snapshot, "NSE:RELIANCE")["NSE CNC holding"]
    assert reliance.quantity == 2  # bought yesterday, not delivered yet: still held


async def test_an_empty_account_is_an_empty_snapshot(kite: FakeKiteServer, adapter: KiteAdapter) -> None:
    snapshot = await adapter.fetch()
    assert snapshot == BrokerSnapshot((), ())


# --- the session -------------------------------------------------------------------------------


async def test_expired_token_stops_all_requests_until_a_new_token_is_stored(
    kite: FakeKiteServer, adapter: KiteAdapter, memory_keyring: KeyringBackend
) -> None:
    kite.set_positions([position_row(OPTION, quantity=75, average_price=100, last_price=100)])
    await adapter.fetch()
    kite.expire_tokens()

    with pytest.raises(LoginRequired) as first:
        await adapter.fetch()
    assert str(first.value) == (
        f"Kite session for account {ACCOUNT} expired; run position-sync login kite --account {ACCOUNT}."
    )
    assert first.value.kind is ReadErrorKind.LOGIN_EXPIRED
    sent = kite.count()

    for _ in range(3):
        with pytest.raises(LoginRequired):
            await adapter.fetch()
    assert kite.count() == sent  # the refused token is never sent again

    kite.accept_token("token-day-2")
    store_token(memory_keyring, "token-day-2")
    snapshot = await adapter.fetch()
    assert snapshot.positions[0].quantity == 75
    assert kite.requests[-1].headers["Authorization"] == f"token {kite.api_key}:token-day-2"
    only_reads(kite)


async def test_missing_token_asks_for_a_login_without_a_request(
    kite: FakeKiteServer, memory_keyring: KeyringBackend
) -> None:
    adapter = make(kite)
    try:
        with pytest.raises(LoginRequired, match=f"run position-sync login kite --account {ACCOUNT}"):
            await adapter.fetch()
    finally:
        await adapter.close()
    assert kite.count() == 0


async def test_a_locked_keyring_makes_the_account_stale_not_login_required(
    kite: FakeKiteServer, memory_keyring: KeyringBackend
) -> None:
    class Locked(MemoryKeyring):
        def get_password(self, service: str, username: str) -> str | None:
            raise keyring.errors.KeyringLocked("locked")

    keyring.set_keyring(Locked())
    adapter = make(kite)
    try:
        with pytest.raises(ReadError) as raised:
            await adapter.fetch()
    finally:
        await adapter.close()
    assert not isinstance(raised.value, LoginRequired)
    assert "keyring could not be read" in str(raised.value) and f"{ACCOUNT}:access_token" in str(raised.value)
    assert kite.count() == 0


async def test_token_from_an_environment_variable(kite: FakeKiteServer) -> None:
    environ = {"KITE_TOKEN": kite.access_token}
    adapter = make(kite, secrets=Secrets(environ), access_token_env="KITE_TOKEN")
    try:
        kite.set_positions([position_row(OPTION, quantity=75, average_price=100, last_price=100)])
        assert len((await adapter.fetch()).positions) == 1
        kite.expire_tokens()
        with pytest.raises(LoginRequired, match="environment variable KITE_TOKEN"):
            await adapter.fetch()
        environ["KITE_TOKEN"] = "token-day-2"
        kite.accept_token("token-day-2")
        assert len((await adapter.fetch()).positions) == 1
    finally:
        await adapter.close()


async def test_a_new_token_in_the_keyring_pushes_a_sync(
    kite: FakeKiteServer, adapter: KiteAdapter, memory_keyring: KeyringBackend
) -> None:
    adapter.token_poll_seconds = 0.05
    pushed = asyncio.Event()
    adapter.on_push(pushed.set)
    kite.expire_tokens()
    with pytest.raises(LoginRequired):
        await adapter.fetch()
    sent = kite.count()
    await asyncio.sleep(0.2)
    assert not pushed.is_set()

    store_token(memory_keyring, "token-day-2")
    await asyncio.wait_for(pushed.wait(), timeout=2)
    assert kite.count() == sent  # watching the keyring costs no request


# --- failures ----------------------------------------------------------------------------------

FAILURES = [
    pytest.param(server_error(500), ReadErrorKind.HTTP, "HTTP 500", id="500"),
    pytest.param(server_error(502), ReadErrorKind.HTTP, "HTTP 502", id="502-json"),
    pytest.param(server_error(503), ReadErrorKind.HTTP, "HTTP 503", id="503"),
    pytest.param(rate_limited(), ReadErrorKind.RATE_LIMITED, "HTTP 429", id="429"),
    pytest.param(html_page(502), ReadErrorKind.HTTP, "text/html page", id="html-502"),
    pytest.param(html_page(200), ReadErrorKind.MALFORMED, "text/html instead of JSON", id="html-200"),
    pytest.param(input_error("Invalid `segment`."), ReadErrorKind.HTTP, "InputException", id="envelope-400"),
    pytest.param(
        kite_error("PermissionException", "Not allowed.", 403),
        ReadErrorKind.HTTP,
        "HTTP 403",
        id="envelope-403",
    ),
    pytest.param(dropped(), ReadErrorKind.NETWORK, "closed the connection", id="dropped"),
    pytest.param(delayed(success([]), 3.0), ReadErrorKind.TIMEOUT, "no answer within 0.4 s", id="too-slow"),
    pytest.param(
        Reply(200, body=b'{"status": "success", "da'), ReadErrorKind.MALFORMED, "not valid JSON", id="cut"
    ),
    pytest.param(
        Reply(200, payload=["no", "envelope"]), ReadErrorKind.MALFORMED, "could not read", id="list-body"
    ),
    pytest.param(
        Reply(200, payload={"status": "success"}), ReadErrorKind.MALFORMED, "could not read", id="no-data"
    ),
    pytest.param(
        Reply(200, body=b"{}", content_type=""), ReadErrorKind.MALFORMED, "instead of JSON", id="no-ctype"
    ),
]


@pytest.mark.parametrize(("reply", "kind", "cause"), FAILURES)
async def test_each_failure_is_one_read_error_sentence(
    kite: FakeKiteServer, memory_keyring: KeyringBackend, reply: Reply, kind: ReadErrorKind, cause: str
) -> None:
    store_token(memory_keyring, kite.access_token)
    adapter = make(kite, timeout=0.5)
    try:
        kite.script(HOLDINGS, reply)
        with pytest.raises(ReadError) as raised:
            await adapter.fetch()
        error = raised.value
        assert not isinstance(error, LoginRequired)
        assert error.kind is kind
        text = str(error)
        assert text.startswith(f"Kite account {ACCOUNT}: GET {HOLDINGS} ")
        assert cause in text
        assert text.endswith(".") and "\n" not in text and len(text) < 300
        assert kite.access_token not in text

        kite.set_holdings([])  # the next sync reads normally again
        assert await adapter.fetch() == BrokerSnapshot((), ())
    finally:
        await adapter.close()


GARBAGE = [
    pytest.param(POSITIONS, success("positions"), "expected an object with 'net'", id="positions-text"),
    pytest.param(POSITIONS, success({"day": []}), "'net' should be a list, got nothing", id="no-net"),
    pytest.param(POSITIONS, success({"net": [1]}), "net[0] should be an object", id="net-row-number"),
    pytest.param(
        POSITIONS,
        success({"net": [{**position_row(OPTION), "quantity": "seventy"}]}),
        f"net[0] NFO:{OPTION}: quantity 'seventy' is not a number",
        id="quantity-text",
    ),
    pytest.param(
        POSITIONS,
        success({"net": [{k: v for k, v in position_row(OPTION).items() if k != "quantity"}]}),
        "quantity is missing",
        id="quantity-missing",
    ),
    pytest.param(
        POSITIONS,
        success({"net": [{**position_row(OPTION), "tradingsymbol": None}]}),
        "tradingsymbol None is missing",
        id="symbol-missing",
    ),
    pytest.param(
        POSITIONS,
        success({"net": [{**position_row(OPTION), "last_price": True}]}),
        "last_price True is not a number",
        id="price-bool",
    ),
    pytest.param(HOLDINGS, success({"INFY": 10}), "expected a list of holdings", id="holdings-object"),
    pytest.param(
        HOLDINGS,
        success([{**holding_row("INFY", quantity=1, average_price=1, last_price=1), "t1_quantity": "x"}]),
        "t1_quantity 'x' is not a number",
        id="t1-text",
    ),
    pytest.param(
        ORDERS,
        success([{**order_row(OPTION, transaction_type="BUY", quantity=75), "transaction_type": "HOLD"}]),
        "neither BUY nor SELL",
        id="order-side",
    ),
]


@pytest.mark.parametrize(("path", "reply", "detail"), GARBAGE)
async def test_garbage_payloads_are_malformed_never_empty(
    kite: FakeKiteServer, adapter: KiteAdapter, path: str, reply: Reply, detail: str
) -> None:
    kite.script(path, reply)
    with pytest.raises(ReadError) as raised:
        await adapter.fetch()
    assert raised.value.kind is ReadErrorKind.MALFORMED
    assert str(raised.value).startswith(f"Kite account {ACCOUNT}: GET {path} returned data")
    assert detail in str(raised.value)


async def test_unreachable_kite_is_a_network_error(memory_keyring: KeyringBackend) -> None:
    with FakeKiteServer(api_key=f"key{uuid.uuid4().hex[:12]}") as kite:
        account = account_for(kite)
    store_token(memory_keyring, "token")
    adapter = KiteAdapter(
        account,
        AdapterContext(_temp_dir(), Secrets()),
        limiter=SlidingWindowLimiter(100, 1.0),
    )
    try:
        with pytest.raises(ReadError) as raised:
            await adapter.fetch()
    finally:
        await adapter.close()
    assert raised.value.kind is ReadErrorKind.NETWORK
    assert "refused the connection" in str(raised.value)


async def test_a_token_error_wins_over_other_failures_of_the_same_sync(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    kite.script(HOLDINGS, server_error(503))
    kite.script(POSITIONS, kite_error("TokenException", "Token is invalid or has expired.", 403))
    with pytest.raises(LoginRequired):
        await adapter.fetch()


# --- rate and read-only ------------------------------------------------------------------------


async def test_hammered_fetches_are_delayed_never_dropped_and_stay_under_the_limit(
    memory_keyring: KeyringBackend,
) -> None:
    # This fake answers 429 past Kite's documented 10 requests a second, as Kite does.
    with FakeKiteServer(api_key=f"key{uuid.uuid4().hex[:12]}", rate_limit=10) as kite:
        store_token(memory_keyring, kite.access_token)
        kite.set_positions([position_row(OPTION, quantity=75, average_price=100, last_price=100)])
        context = AdapterContext(_temp_dir(), Secrets())
        first = create(account_for(kite), context)
        second = create(account_for(kite, include_orders=False), context)  # same API key: one budget
        try:
            started = time.monotonic()
            results = await asyncio.gather(
                first.fetch(), first.fetch(), second.fetch(), second.fetch(), second.fetch()
            )
            elapsed = time.monotonic() - started
        finally:
            await first.close()
            await second.close()
        assert all(len(r.positions) == 1 for r in results)  # none dropped, none refused
        assert kite.count() == 2 * 3 + 3 * 2
        assert kite.max_requests_in_window(1.0) <= 10  # Kite's limit, as Kite would count
        # Our own budget, allowing 200 ms for threads and sockets to bunch requests together.
        assert kite.max_requests_in_window(0.9) <= REQUESTS_PER_SECOND
        assert elapsed >= 3 * RATE_WINDOW_SECONDS - 0.2  # 12 requests, 3 per window: they waited
        only_reads(kite)


async def test_a_fetch_cancelled_while_waiting_for_the_limiter_sends_nothing(
    kite: FakeKiteServer, memory_keyring: KeyringBackend
) -> None:
    store_token(memory_keyring, kite.access_token)
    adapter = create(account_for(kite), AdapterContext(_temp_dir(), Secrets()))
    try:
        limiter = shared_limiter(f"kite:{kite.api_key}", REQUESTS_PER_SECOND, RATE_WINDOW_SECONDS)
        for _ in range(REQUESTS_PER_SECOND):
            limiter.reserve()  # someone else spent this window's budget
        task = asyncio.create_task(adapter.fetch())
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(RATE_WINDOW_SECONDS + 0.2)
    finally:
        await adapter.close()
    assert kite.count() == 0


def test_sliding_window_limiter_books_starts_in_order() -> None:
    now = [100.0]
    limiter = SlidingWindowLimiter(3, 1.0, clock=lambda: now[0])
    assert [limiter.reserve() for _ in range(7)] == [100.0, 100.0, 100.0, 101.0, 101.0, 101.0, 102.0]
    now[0] = 105.0
    assert limiter.reserve() == 105.0


async def test_trading_calls_are_refused_before_anything_is_sent(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    client = adapter._client  # the guard is the point of this test
    client.set_access_token(kite.access_token)
    with pytest.raises(PermissionError):
        client.place_order(
            variety="regular",
            exchange="NFO",
            tradingsymbol=OPTION,
            transaction_type="BUY",
            quantity=75,
            product="NRML",
            order_type="MARKET",
        )
    with pytest.raises(PermissionError):
        client.cancel_order(variety="regular", order_id="250000000000001")
    with pytest.raises(PermissionError):
        client.convert_position("NFO", OPTION, "BUY", "day", 75, "MIS", "NRML")
    with pytest.raises(PermissionError):
        client.delete_gtt(123)
    assert kite.count() == 0


async def test_a_day_of_syncs_only_ever_reads(kite: FakeKiteServer, adapter: KiteAdapter) -> None:
    kite.script(
        POSITIONS,
        positions_payload([position_row(OPTION, quantity=75, average_price=100, last_price=100)]),
        server_error(503),
        positions_payload(
            [position_row(OPTION, quantity=0, closed_quantity=75, average_price=100, realised=10)]
        ),
    )
    for _ in range(3):
        with contextlib.suppress(ReadError):
            await adapter.fetch()
    kite.expire_tokens()
    with pytest.raises(LoginRequired):
        await adapter.fetch()
    assert kite.count() > 0
    only_reads(kite)


# --- construction ------------------------------------------------------------------------------


async def test_registry_builds_a_broker_adapter(kite: FakeKiteServer) -> None:
    made = create_adapter(account_for(kite), AdapterContext(_temp_dir(), Secrets({})))
    try:
        assert isinstance(made, KiteAdapter)
        assert isinstance(made, BrokerAdapter)
        assert made.account_id == ACCOUNT
        assert made._client.timeout == 1.6  # 0.8 x the account timeout
        assert made._client.root == kite.url
    finally:
        await made.close()
    with pytest.raises(RuntimeError):
        await made.fetch()
    await made.close()  # twice is fine


@pytest.mark.parametrize(
    ("options", "field", "words"),
    [
        pytest.param({}, "accounts.AB1234.api_key", "is required", id="no-api-key"),
        pytest.param({"api_key": "  "}, "accounts.AB1234.api_key", "API key", id="blank-api-key"),
        pytest.param(
            {"api_key": "k", "api_root": "ftp://x"}, "accounts.AB1234.api_root", "http(s)", id="root"
        ),
        pytest.param(
            {"api_key": "k", "api_root": "https://x/v3"}, "accounts.AB1234.api_root", "path", id="path"
        ),
        pytest.param(
            {"api_key": "k", "api_rot": "x"}, "accounts.AB1234.api_rot", "did you mean 'api_root'", id="typo"
        ),
        pytest.param(
            {"api_key": "k", "include_orders": "yes"}, "accounts.AB1234.include_orders", "true or", id="b"
        ),
    ],
)
def test_config_mistakes_name_the_field(options: dict[str, Any], field: str, words: str) -> None:
    account = AccountConfig(id=ACCOUNT, broker="kite", book="book", options=options)
    with pytest.raises(ConfigError) as raised:  # the registry checks the declared keys first
        create_adapter(account, AdapterContext(_temp_dir(), Secrets({})))
    assert raised.value.field == field
    assert words in str(raised.value)


def test_default_api_root_is_kites_own() -> None:
    account = AccountConfig(id=ACCOUNT, broker="kite", book="book", options={"api_key": "k"})
    made = create(account, AdapterContext(_temp_dir(), Secrets({})))
    assert made.api_root == "https://api.kite.trade"
    asyncio.run(made.close())


# --- through the sync worker -------------------------------------------------------------------
# The adapter as the core uses it: fetch -> key -> reconcile -> store, against a JSON book.


@dataclass
class Desk:
    kite: FakeKiteServer
    worker: SyncWorker
    book: Path
    adapter: KiteAdapter

    def write_book(self, positions: list[dict[str, Any]]) -> None:
        write_book(self.book, positions)

    async def sync(self) -> SyncResult:
        return await self.worker.sync(ACCOUNT)


def kite_settings(kite: FakeKiteServer, root: Path, **account: Any) -> Settings:
    raw = {
        "books": [{"id": "bot", "kind": "file", "path": "book.json"}],
        "accounts": [
            {
                "id": ACCOUNT,
                "broker": "kite",
                "book": "bot",
                "exchange": "NFO",
                "timeout": 2,
                "api_key": kite.api_key,
                "api_root": kite.url,
                **account,
            }
        ],
    }
    return parse_settings(raw, root / "config.toml")


@pytest.fixture
async def desk(kite: FakeKiteServer, memory_keyring: KeyringBackend, tmp_path: Path) -> AsyncIterator[Desk]:
    store_token(memory_keyring, kite.access_token)
    book = tmp_path / "book.json"
    write_book(book, [])
    settings = kite_settings(kite, tmp_path)
    secrets = Secrets()
    adapter = KiteAdapter(
        settings.accounts[0], AdapterContext(tmp_path, secrets), limiter=SlidingWindowLimiter(100, 1.0)
    )
    store = Store.open(tmp_path / "data")
    worker = SyncWorker(settings, store, {ACCOUNT: adapter}, build_books(settings, secrets))
    await worker.load()
    yield Desk(kite, worker, book, adapter)
    await worker.stop()
    store.close()


def statuses(result: SyncResult) -> dict[str, Status]:
    return {key: row.status for key, row in result.rows.items()}


def event_kinds(result: SyncResult) -> set[tuple[EventKind, str | None]]:
    return {(e.kind, e.instrument) for e in result.events}


FUT = "BANKNIFTY25OCTFUT"
MANUAL = "FINNIFTY25OCTFUT"


async def test_worker_sees_phantom_closed_untracked_and_qty_mismatch(desk: Desk) -> None:
    desk.write_book(
        [
            {"symbol": OPTION, "quantity": 75, "average_price": 100},
            {"symbol": FUT, "quantity": 35, "average_price": 56000},
        ]
    )
    desk.kite.script(
        POSITIONS,
        positions_payload(
            [
                position_row(OPTION, quantity=75, average_price=100, last_price=101),
                position_row(FUT, quantity=35, average_price=56000, last_price=56010),
            ]
        ),
        positions_payload(
            [
                position_row(OPTION, quantity=0, closed_quantity=75, average_price=100, realised=412.5),
                position_row(
                    FUT, quantity=15, closed_quantity=20, average_price=56000, last_price=56010, realised=200
                ),
                position_row(MANUAL, quantity=40, average_price=26000, last_price=26010),
            ]
        ),
    )
    first = await desk.sync()
    assert first.state is AccountState.OK
    assert statuses(first) == {f"NFO:{OPTION}": Status.MATCH, f"NFO:{FUT}": Status.MATCH}

    second = await desk.sync()
    assert statuses(second) == {
        f"NFO:{OPTION}": Status.PHANTOM,  # closed at Kite, the book still holds it
        f"NFO:{FUT}": Status.QTY_MISMATCH,  # partly closed at Kite
        f"NFO:{MANUAL}": Status.UNTRACKED,  # a manual trade
    }
    assert (EventKind.CLOSED, f"NFO:{OPTION}") in event_kinds(second)
    assert second.rows[f"NFO:{OPTION}"].realised_pnl == Decimal("412.5")

    desk.write_book([{"symbol": FUT, "quantity": 15, "average_price": 56000}])  # the bot catches up
    third = await desk.sync()
    assert third.rows[f"NFO:{OPTION}"].status is Status.CLOSED
    assert third.rows[f"NFO:{FUT}"].status is Status.MATCH
    only_reads(desk.kite)


async def test_worker_sums_mis_and_nrml_and_keeps_the_breakdown(desk: Desk) -> None:
    desk.write_book([{"symbol": OPTION, "quantity": 75, "average_price": 100}])
    desk.kite.set_positions(
        [
            position_row(OPTION, product="MIS", quantity=50, average_price=100, last_price=101),
            position_row(OPTION, product="NRML", quantity=25, average_price=100, last_price=101),
        ]
    )
    row = (await desk.sync()).rows[f"NFO:{OPTION}"]
    assert row.status is Status.MATCH
    assert row.broker_qty == 75
    assert {(p.label, p.quantity) for p in row.broker_parts} == {("NFO MIS", 50), ("NFO NRML", 25)}


async def test_worker_adds_holdings_t1_and_todays_cnc_sale(desk: Desk) -> None:
    # 11 delivered + 7 bought yesterday (T1), listed by Kite under BSE; 3 sold today on NSE.
    desk.write_book([{"symbol": "NSE:SBIN", "quantity": 15, "average_price": 790}])
    # Sold at the holding's average: the core averages prices over all lines of an instrument,
    # so a sale at another price would move the broker average (a core question, not Kite's).
    desk.kite.set_positions([position_row("SBIN", "NSE", product="CNC", quantity=-3, average_price=790)])
    desk.kite.set_holdings(
        [
            holding_row(
                "SBIN", "BSE", quantity=11, t1_quantity=7, used_quantity=3, average_price=790, last_price=805
            )
        ]
    )
    result = await desk.sync()
    assert statuses(result) == {"BSE:SBIN": Status.MATCH}
    row = result.rows["BSE:SBIN"]
    assert row.broker_qty == 15
    assert {(p.label, p.quantity) for p in row.broker_parts} == {("BSE CNC holding", 18), ("NSE CNC", -3)}


async def test_worker_marks_login_required_and_keeps_the_picture(
    desk: Desk, memory_keyring: KeyringBackend
) -> None:
    desk.write_book([{"symbol": OPTION, "quantity": 75, "average_price": 100}])
    desk.kite.set_positions([position_row(OPTION, quantity=75, average_price=100, last_price=101)])
    assert (await desk.sync()).state is AccountState.OK

    desk.kite.expire_tokens()
    expired = await desk.sync()
    assert expired.state is AccountState.LOGIN_REQUIRED
    assert "run position-sync login kite --account AB1234" in (expired.error or "")
    row = expired.rows[f"NFO:{OPTION}"]
    assert row.status is Status.STALE and row.previous_status is Status.MATCH  # not phantom
    assert {kind for kind, _ in event_kinds(expired)} == {EventKind.LOGIN_REQUIRED}

    sent = desk.kite.count()
    for _ in range(3):
        assert (await desk.sync()).state is AccountState.LOGIN_REQUIRED
    assert desk.kite.count() == sent

    desk.kite.accept_token("token-day-2")
    store_token(memory_keyring, "token-day-2")
    back = await desk.sync()
    assert back.state is AccountState.OK
    assert statuses(back) == {f"NFO:{OPTION}": Status.MATCH}


@pytest.mark.parametrize(
    "failure",
    [server_error(503), html_page(502), dropped(), rate_limited(), success({"net": "oops"})],
    ids=["503", "html", "dropped", "429", "garbage"],
)
async def test_worker_never_reads_a_failure_as_an_empty_broker(desk: Desk, failure: Reply) -> None:
    desk.write_book([{"symbol": OPTION, "quantity": 75, "average_price": 100}])
    desk.kite.script(
        POSITIONS,
        positions_payload([position_row(OPTION, quantity=75, average_price=100, last_price=101)]),
        failure,
    )
    assert statuses(await desk.sync()) == {f"NFO:{OPTION}": Status.MATCH}
    stale = await desk.sync()
    assert stale.state is AccountState.STALE
    assert stale.error and f"Kite account {ACCOUNT}: GET {POSITIONS}" in stale.error
    assert stale.rows[f"NFO:{OPTION}"].status is Status.STALE
    assert stale.rows[f"NFO:{OPTION}"].previous_status is Status.MATCH
    kinds = {kind for kind, _ in event_kinds(stale)}
    assert kinds == {EventKind.SYNC_FAILED}  # no phantom, no closed


async def test_worker_resyncs_by_itself_once_a_new_token_is_stored(
    desk: Desk, memory_keyring: KeyringBackend
) -> None:
    desk.adapter.token_poll_seconds = 0.05
    desk.write_book([{"symbol": OPTION, "quantity": 75, "average_price": 100}])
    desk.kite.set_positions([position_row(OPTION, quantity=75, average_price=100, last_price=101)])
    published: asyncio.Queue[SyncResult] = asyncio.Queue()
    desk.worker.subscribe(published.put_nowait)
    await desk.worker.start()
    assert (await asyncio.wait_for(published.get(), 5)).state is AccountState.OK  # the start-up sync

    desk.kite.expire_tokens()
    assert (await desk.sync()).state is AccountState.LOGIN_REQUIRED
    assert (await asyncio.wait_for(published.get(), 5)).state is AccountState.LOGIN_REQUIRED

    desk.kite.accept_token("token-day-2")
    store_token(memory_keyring, "token-day-2")  # what position-sync login does
    pushed = await asyncio.wait_for(published.get(), 5)
    assert pushed.reason == "push"
    assert pushed.state is AccountState.OK


async def test_runtime_builds_the_kite_account_from_config(kite: FakeKiteServer, tmp_path: Path) -> None:
    write_book(tmp_path / "book.json", [{"symbol": OPTION, "quantity": 75, "average_price": 100}])
    kite.set_positions([position_row(OPTION, quantity=75, average_price=100, last_price=101)])
    settings = kite_settings(kite, tmp_path, access_token_env="KITE_TOKEN")
    assert settings.accounts[0].interval == 10  # Kite's default from the registry
    runtime = build_runtime(settings, tmp_path / "data", secrets=Secrets({"KITE_TOKEN": kite.access_token}))
    try:
        await runtime.worker.load()
        result = await runtime.worker.sync(ACCOUNT)
    finally:
        await runtime.close()
    assert statuses(result) == {f"NFO:{OPTION}": Status.MATCH}
    only_reads(kite)


@pytest.mark.parametrize(
    "root",
    ["http://trader:hunter2@127.0.0.1:9", "https://trader:hunter2@api.kite.trade/v3", "http://:hunter2@h"],
)
def test_credentials_in_the_api_root_are_refused_and_never_echoed(root: str) -> None:
    with pytest.raises(ConfigError) as caught:
        create(
            AccountConfig(id=ACCOUNT, broker="kite", book="book", options={"api_key": "k", "api_root": root}),
            AdapterContext(_temp_dir(), Secrets()),
        )
    assert "api_root" in str(caught.value)
    assert "hunter2" not in str(caught.value)


async def test_a_non_2xx_status_is_a_failed_read_whatever_the_body(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    """kiteconnect returns ``data`` for any status whose body does not say "error"."""
    kite.script(HOLDINGS, Reply(503, {"status": "success", "data": []}))
    with pytest.raises(ReadError) as caught:
        await adapter.fetch()
    assert caught.value.kind is ReadErrorKind.HTTP
    assert f"GET {HOLDINGS} answered HTTP 503" in str(caught.value)


# --- Kite's own payloads (tests/fixtures/kite, sources in its README) ------------------------


async def test_pnl_comes_from_pnl_not_from_realised_and_unrealised(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    """Real rows leave ``realised``/``unrealised`` at 0 (or put all of ``pnl`` in ``unrealised``)."""
    kite.script(POSITIONS, fixture_reply("positions.json"))
    snapshot = await adapter.fetch()
    # Closed today with pnl 801 (Kite: realised 0, unrealised 801): all of it is realised.
    gold = by_label(snapshot, "MCX:GOLDGUINEA17DECFUT")["MCX NRML"]
    assert (gold.quantity, gold.realised_pnl, gold.unrealised_pnl) == (0, Decimal(801), None)
    # An NSE cover order bought at 311, sold at 309: pnl -2, realised.
    sbin = by_label(snapshot, "NSE:SBIN")["NSE CO"]
    assert (sbin.realised_pnl, sbin.average_price) == (Decimal(-2), None)
    # Open at the last price: nothing made yet either way.
    lead = by_label(snapshot, "MCX:LEADMINI17DECFUT")["MCX NRML"]
    assert (lead.multiplier, lead.unrealised_pnl, lead.realised_pnl) == (Decimal(1000), 0, 0)

    # The row Zerodha staff posted with the formula: short 100 at 3.475, now 0.75, pnl 272.5.
    kite.script(POSITIONS, fixture_reply("forum_short_option.json"))
    short = by_label(await adapter.fetch(), "NFO:NIFTY15DEC9500CE")["NFO NRML"]
    assert (short.quantity, short.unrealised_pnl, short.realised_pnl) == (-100, Decimal("272.5"), 0)


async def test_pnl_is_split_between_what_is_open_and_what_was_closed(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    """Forum row changed: 60 of the 100 bought back at 1.475 today, 40 still short at 3.475."""
    row = fixture_data("forum_short_option.json")["net"][0]
    row.update(quantity=-40, buy_quantity=60, buy_price=1.475, buy_value=88.5, realised=0, unrealised=0)
    row["pnl"] = round(347.5 - 88.5 + -40 * 0.75, 4)  # Zerodha's formula: 229.0
    kite.set_positions([row])
    short = by_label(await adapter.fetch(), "NFO:NIFTY15DEC9500CE")["NFO NRML"]
    assert short.unrealised_pnl == Decimal(109)  # -40 x (0.75 - 3.475)
    assert short.realised_pnl == Decimal(120)  # 60 x (3.475 - 1.475)

    del row["pnl"]  # no pnl field at all: the formula from the values
    kite.set_positions([row])
    again = by_label(await adapter.fetch(), "NFO:NIFTY15DEC9500CE")["NFO NRML"]
    assert (again.unrealised_pnl, again.realised_pnl) == (Decimal(109), Decimal(120))


async def test_a_holding_without_a_buy_average_is_unknown_not_zero(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    rows = fixture_data("holdings.json")
    rows[1]["average_price"] = 0  # SBIN as Kite lists shares from a corporate action or transfer-in
    rows[1]["pnl"] = rows[1]["last_price"] * rows[1]["quantity"]  # what Kite computes from that 0
    kite.set_holdings(rows)
    sbin = by_label(await adapter.fetch(), "BSE:SBIN")["BSE CNC holding"]
    assert sbin.quantity == 16
    assert sbin.average_price is None and sbin.unrealised_pnl is None
    assert sbin.price_missing_reason and "no buy average" in sbin.price_missing_reason


async def test_mtf_shares_are_a_leg_of_their_own(kite: FakeKiteServer, adapter: KiteAdapter) -> None:
    """Kite counts margin-funded shares in ``mtf``, apart from ``quantity`` (AARON: 1 + 1000)."""
    kite.script(HOLDINGS, fixture_reply("holdings.json"))
    legs = by_label(await adapter.fetch(), "NSE:AARON")
    assert set(legs) == {"NSE CNC holding", "NSE MTF holding"}
    cnc, mtf = legs["NSE CNC holding"], legs["NSE MTF holding"]
    assert (cnc.quantity, cnc.average_price, cnc.unrealised_pnl) == (1, 161, Decimal("191.95"))
    assert (mtf.quantity, mtf.average_price, mtf.last_price) == (1000, 100, Decimal("352.95"))
    assert mtf.unrealised_pnl == Decimal(252950)
    assert set(by_label(await adapter.fetch(), "BSE:SBIN")) == {"BSE CNC holding"}  # mtf quantity 0


async def test_an_iceberg_order_explains_a_gap_with_all_its_legs(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    """Kite's iceberg row: leg 1 of 5, 200 a leg, 800 in later legs (made OPEN, it was REJECTED)."""
    rows = fixture_data("orders.json")
    iceberg = next(o for o in rows if o["variety"] == "iceberg")
    iceberg["status"] = "OPEN"
    kite.set_orders(rows)
    orders = (await adapter.fetch()).orders
    assert [(o.instrument, o.quantity) for o in orders] == [("NSE:SBIN", Decimal(1000))]
    assert orders[0].description.startswith("BUY 1000 pending")
    assert "200 in this leg, 800 in later legs" in orders[0].description


async def test_intraday_legs_stay_on_their_exchange_whatever_else_is_held(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    """NSE MIS and BSE MIS of one stock: the same rows with a holding as without one."""
    mis = [
        position_row("SBIN", "NSE", product="MIS", quantity=10, average_price=760, last_price=762),
        position_row("SBIN", "BSE", product="MIS", quantity=-10, average_price=763, last_price=762),
    ]
    kite.set_positions(mis)
    without = {(p.instrument, p.label, p.quantity) for p in (await adapter.fetch()).positions}
    kite.script(HOLDINGS, fixture_reply("holdings.json"))  # SBIN is held, listed under BSE
    kite.set_positions([*mis, position_row("SBIN", "NSE", product="CNC", quantity=-4, average_price=765)])
    with_holding = {(p.instrument, p.label, p.quantity) for p in (await adapter.fetch()).positions}
    assert without == {("NSE:SBIN", "NSE MIS", 10), ("BSE:SBIN", "BSE MIS", -10)}
    assert without <= with_holding
    assert ("BSE:SBIN", "NSE CNC", -4) in with_holding  # a delivery sale reduces the holding


async def test_a_refused_token_is_not_sent_again_by_the_next_process(
    kite: FakeKiteServer, memory_keyring: KeyringBackend, tmp_path: Path
) -> None:
    """Two adapters on one data directory stand for two runs of ``sync --once``."""
    store_token(memory_keyring, kite.access_token)
    kite.expire_tokens()
    first = make(kite, data_dir=tmp_path)
    try:
        with pytest.raises(LoginRequired):
            await first.fetch()
    finally:
        await first.close()
    sent = kite.count()
    assert sent > 0
    stored = (tmp_path / "kite" / f"{ACCOUNT}.refused-token").read_text()
    assert kite.access_token not in stored

    second = make(kite, data_dir=tmp_path)
    try:
        with pytest.raises(LoginRequired, match="expired"):
            await second.fetch()
        assert kite.count() == sent  # nothing sent for the refused token

        kite.accept_token("token-day-2")
        store_token(memory_keyring, "token-day-2")
        await second.fetch()
        assert kite.count() > sent
    finally:
        await second.close()
    assert not (tmp_path / "kite" / f"{ACCOUNT}.refused-token").exists()  # a good read forgets it


async def test_worker_archives_a_kite_close_with_its_pnl(desk: Desk) -> None:
    """GOLDGUINEA17DECFUT, held at the last sync, comes back closed with Kite's pnl 801."""
    desk.write_book([])
    open_row = fixture_data("positions.json")["net"][1]
    open_row.update(quantity=1, average_price=23139.75, sell_quantity=3, sell_value=70020, pnl=1016)
    desk.kite.script(POSITIONS, success({"net": [open_row], "day": []}), fixture_reply("positions.json"))
    await desk.sync()
    closed = await desk.sync()
    row = closed.rows["MCX:GOLDGUINEA17DECFUT"]
    assert (row.status, row.realised_pnl, row.realised_estimated) == (Status.CLOSED, Decimal(801), False)
    event = next(e for e in closed.events if e.kind is EventKind.CLOSED and e.instrument == row.instrument)
    assert "realised P&L 801" in event.detail


async def test_worker_never_compares_an_unknown_holding_average(desk: Desk) -> None:
    rows = fixture_data("holdings.json")
    rows[1]["average_price"] = 0
    desk.kite.set_holdings(rows)
    desk.write_book(
        [
            {"symbol": "NSE:SBIN", "quantity": 16, "average_price": 801.78},
            {"symbol": "NSE:AARON", "quantity": 1001, "average_price": 100.06},
        ]
    )
    first = await desk.sync()
    second = await desk.sync()
    assert statuses(second) == {"BSE:SBIN": Status.MATCH, "NSE:AARON": Status.MATCH}
    assert second.rows["BSE:SBIN"].broker_avg is None
    assert not [e for e in [*first.events, *second.events] if e.kind is EventKind.MISMATCH_DETECTED]


async def test_worker_keeps_nse_and_bse_intraday_rows_apart_beside_a_holding(desk: Desk) -> None:
    desk.kite.script(HOLDINGS, fixture_reply("holdings.json"))
    desk.kite.set_positions(
        [
            position_row("SBIN", "NSE", product="MIS", quantity=10, average_price=760, last_price=762),
            position_row("SBIN", "BSE", product="MIS", quantity=5, average_price=763, last_price=762),
        ]
    )
    desk.write_book(
        [
            {"symbol": "NSE:SBIN", "quantity": 10, "average_price": 760},
            {"symbol": "BSE:SBIN", "quantity": 21},
            {"symbol": "NSE:AARON", "quantity": 1001},
        ]
    )
    result = await desk.sync()
    assert statuses(result) == {"NSE:SBIN": Status.MATCH, "BSE:SBIN": Status.MATCH, "NSE:AARON": Status.MATCH}
    assert [(p.label, p.quantity) for p in result.rows["NSE:SBIN"].broker_parts] == [("NSE MIS", 10)]
    assert {(p.label, p.quantity) for p in result.rows["BSE:SBIN"].broker_parts} == {
        ("BSE CNC holding", 16),
        ("BSE MIS", 5),
    }


async def test_float_residue_of_pnl_is_not_a_realised_amount(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    row = fixture_data("forum_short_option.json")["net"][0]
    row["pnl"] = 272.50000000000006  # what float arithmetic on Kite's side can send
    kite.set_positions([row])
    short = by_label(await adapter.fetch(), "NFO:NIFTY15DEC9500CE")["NFO NRML"]
    assert short.realised_pnl == 0


# --- an unchanged answer is not rebuilt (issue 19) ------------------------------------------------


def _kite_account(kite: FakeKiteServer, *, last_price: float = 118.1, quantity: int = -75) -> None:
    kite.set_positions([position_row(OPTION, quantity=quantity, average_price=120.35, last_price=last_price)])
    kite.set_holdings([holding_row("INFY", quantity=10, average_price=1450.5, last_price=1500.05)])
    kite.set_orders([order_row(OPTION, transaction_type="BUY", quantity=75, filled_quantity=25)])


async def test_an_unchanged_answer_hands_back_the_very_same_snapshot(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    _kite_account(kite)
    first = await adapter.fetch()
    second = await adapter.fetch()
    assert len(kite.requests) == 6  # both fetches read all three endpoints
    assert second.positions is first.positions and second.orders is first.orders
    assert by_label(second, f"NFO:{OPTION}")["NFO NRML"].last_price == Decimal("118.1")


@pytest.mark.parametrize(
    "change",
    ["price", "quantity", "new position", "holding", "order"],
)
async def test_a_changed_answer_is_built_anew(
    kite: FakeKiteServer, adapter: KiteAdapter, change: str
) -> None:
    _kite_account(kite)
    first = await adapter.fetch()
    if change == "price":
        _kite_account(kite, last_price=119.4)
    elif change == "quantity":
        _kite_account(kite, quantity=-50)
    elif change == "new position":
        kite.set_positions(
            [
                position_row(OPTION, quantity=-75, average_price=120.35, last_price=118.1),
                position_row("BANKNIFTY25OCTFUT", quantity=35, average_price=56000, last_price=56010),
            ]
        )
    elif change == "holding":
        kite.set_holdings([holding_row("INFY", quantity=12, average_price=1450.5, last_price=1500.05)])
    else:
        kite.set_orders([order_row(OPTION, transaction_type="BUY", quantity=75, filled_quantity=50)])
    second = await adapter.fetch()
    if change == "order":
        assert second.orders is not first.orders and second.orders[0].quantity == Decimal(25)
        return
    assert second.positions is not first.positions
    option = by_label(second, f"NFO:{OPTION}")["NFO NRML"]
    if change == "price":
        assert option.last_price == Decimal("119.4")
    elif change == "quantity":
        assert option.quantity == Decimal(-50)
    elif change == "new position":
        assert by_label(second, "NFO:BANKNIFTY25OCTFUT")["NFO NRML"].quantity == 35
    else:
        assert by_label(second, "NSE:INFY")["NSE CNC holding"].quantity == Decimal(12)


async def test_a_failed_read_between_two_equal_answers_is_a_read_error_never_the_memo(
    kite: FakeKiteServer, adapter: KiteAdapter
) -> None:
    _kite_account(kite)
    good = positions_payload([position_row(OPTION, quantity=-75, average_price=120.35, last_price=118.1)])
    moved = positions_payload([position_row(OPTION, quantity=-75, average_price=120.35, last_price=117)])
    kite.script(POSITIONS, good, server_error(503), success({"net": [1]}), good, moved)
    first = await adapter.fetch()
    with pytest.raises(ReadError) as failed:
        await adapter.fetch()
    assert failed.value.kind is ReadErrorKind.HTTP
    with pytest.raises(ReadError) as malformed:
        await adapter.fetch()
    assert malformed.value.kind is ReadErrorKind.MALFORMED
    again = await adapter.fetch()  # the answer of the first read once more: its snapshot
    assert again.positions is first.positions
    assert by_label(again, f"NFO:{OPTION}")["NFO NRML"].last_price == Decimal("118.1")
    after = await adapter.fetch()
    assert by_label(after, f"NFO:{OPTION}")["NFO NRML"].last_price == Decimal(117)


async def test_a_kite_account_at_rest_is_neither_keyed_nor_judged_again(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the worker: the same answer from the fake Kite, sync after sync, is keyed and
    indexed for judging once; a moved price is seen at the next sync; a failed read is stale."""
    import importlib

    from tests.test_daemon_at_rest import counting

    good_sync = importlib.import_module("position_sync.app.reconcile.good_sync")

    symbols = [f"SYM{i:02d}25OCTFUT" for i in range(40)]
    desk.write_book([{"symbol": s, "quantity": 25, "average_price": 100 + i} for i, s in enumerate(symbols)])

    def answer(moved: str = "") -> Reply:
        return positions_payload(
            [
                position_row(s, quantity=25, average_price=100 + i, last_price=120.5 if s == moved else 110)
                for i, s in enumerate(symbols)
            ]
        )

    desk.kite.script(POSITIONS, answer())
    desk.kite.set_holdings([])
    desk.kite.set_orders([])
    keyings = counting(desk.worker._accounts[ACCOUNT].resolver, "key_broker")
    monkeypatch.setattr(good_sync, "index_side", good_sync.index_side)  # restored after the test
    judged = counting(good_sync, "index_side")  # a side indexed is a side judged anew
    first = await desk.sync()
    assert first.state is AccountState.OK and set(statuses(first).values()) == {Status.MATCH}
    assert keyings[0] == 1 and judged[0] == 2  # broker and book
    for _ in range(4):
        again = await desk.sync()
    assert len(desk.kite.requests) == 5 * 3  # read every time
    assert keyings[0] == 1 and judged[0] == 2
    assert all(again.rows[k] is first.rows[k] for k in first.rows)

    desk.kite.script(POSITIONS, answer(moved=symbols[7]))
    moved = await desk.sync()
    assert keyings[0] == 2 and judged[0] == 4  # judged anew: both sides indexed again
    assert moved.rows[f"NFO:{symbols[7]}"].last_price == Decimal("120.5")
    assert first.rows[f"NFO:{symbols[7]}"].last_price == Decimal(110)

    desk.kite.script(POSITIONS, server_error(503), answer(moved=symbols[7]))
    failed = await desk.sync()
    assert failed.state is AccountState.STALE
    back = await desk.sync()
    assert back.state is AccountState.OK
    assert back.rows[f"NFO:{symbols[7]}"].status is Status.MATCH
    at_rest = judged[0]
    await desk.sync()
    assert judged[0] == at_rest and keyings[0] == 2
