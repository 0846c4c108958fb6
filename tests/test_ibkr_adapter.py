"""The IB adapter with the real ib_async client against the fake TWS on 127.0.0.1.

Waits are bounded and tied to something observable (a push, a message reaching the fake, a
fetch turning stale); reconnect backoff is shortened so the file stays fast.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.config import AccountConfig
from app.domain import BrokerSnapshot, Position
from app.errors import ConfigError, ReadError, ReadErrorKind
from app.secrets import Secrets
from brokers import ibkr
from brokers.base import BrokerAdapter
from brokers.ibkr_contracts import disambiguate, instrument_key
from brokers.registry import AdapterContext
from tests.fakes.tws_server import ORDER_MESSAGE_IDS, ORDER_REQUEST_IDS, FakeContract, FakeTws

U1, U2 = "U1111111", "U2222222"

AAPL = FakeContract("STK", "AAPL", 265598, "AAPL", exchange="NASDAQ", primary_exchange="NASDAQ")
AAPL_CALL = FakeContract(
    "OPT", "AAPL", 700001, "AAPL  251219C00150000", "20251219", "150", "C", "100", trading_class="AAPL"
)
ES = FakeContract(
    "FUT", "ES", 495512563, "ESZ5", "20251219", multiplier="50", exchange="CME", trading_class="ES"
)
ES_CALL = FakeContract(
    "FOP", "ES", 700002, "ESZ5 C5000", "20251219", "5000", "C", "50", exchange="CME", trading_class="ES"
)
EURUSD = FakeContract("CASH", "EUR", 12087792, "EUR.USD", exchange="IDEALPRO")
BTC = FakeContract("CRYPTO", "BTC", 479624278, "BTC.USD", exchange="PAXOS")
MSFT = FakeContract("STK", "MSFT", 272093, "MSFT", exchange="NASDAQ")

Handler = Callable[[], None]


class Pushes:
    """Counts push-handler calls and lets a test await the next one."""

    def __init__(self) -> None:
        self.count = 0
        self._event = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self._event.set()

    async def next(self, timeout: float = 1.0) -> float:
        """Wait for a call; returns how long it took."""
        start = time.perf_counter()
        async with asyncio.timeout(timeout):
            await self._event.wait()
        self._event.clear()
        return time.perf_counter() - start


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 3.0) -> None:
    """Re-check an outcome the adapter reaches on its own (a drop it notices, a reconnect)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.01)


async def stale(adapter: ibkr.IbkrAdapter) -> bool:
    try:
        await adapter.fetch()
    except ReadError:
        return True
    return False


async def fresh(adapter: ibkr.IbkrAdapter) -> bool:
    return not await stale(adapter)


def by_key(snapshot: BrokerSnapshot) -> dict[str, Position]:
    return {p.instrument: p for p in snapshot.positions}


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ibkr, "BACKOFF", ibkr.Backoff(initial=0.05, cap=0.2))


@pytest.fixture
async def server() -> AsyncIterator[FakeTws]:
    fake = FakeTws(accounts=[U1, U2])
    fake.set_position(U1, AAPL, "100", "150.25", market_price="190.5", realized_pnl="12.5")
    fake.set_position(U1, MSFT, "-30", "410.1")  # no market data: no portfolio update
    fake.set_position(U2, ES, "2", "250012.5")
    await fake.start()
    yield fake
    await fake.stop()
    # safety rule of the whole program: nothing that trades or touches orders ever left the adapter
    assert not set(fake.received) & (ORDER_MESSAGE_IDS | ORDER_REQUEST_IDS), fake.received


@pytest.fixture
async def make(server: FakeTws) -> AsyncIterator[Callable[..., ibkr.IbkrAdapter]]:
    adapters: list[ibkr.IbkrAdapter] = []
    context = AdapterContext(data_dir=Path("."), secrets=Secrets({}))

    def build(account_id: str = "ib1", timeout: float = 3.0, **options: Any) -> ibkr.IbkrAdapter:
        options.setdefault("port", server.port)
        options.setdefault("client_id", 11)
        account = AccountConfig(id=account_id, broker="ibkr", book="book", timeout=timeout, options=options)
        adapter = ibkr.create(account, context)
        adapters.append(adapter)
        return adapter

    yield build
    for adapter in adapters:
        await adapter.close()
    assert not ibkr._POOL, "every pooled connection is closed with its last adapter"


# ---------------------------------------------------------------- accounts and the pool


async def test_meets_the_protocol(make: Callable[..., ibkr.IbkrAdapter]) -> None:
    assert isinstance(make(ib_account=U1), BrokerAdapter)


async def test_two_accounts_share_one_connection(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    first = make("ib1", ib_account=U1)
    second = make("ib2", ib_account=U2)
    one, two = await asyncio.gather(first.fetch(), second.fetch())

    assert server.connections == 1 and server.client_count == 1
    assert set(by_key(one)) == {"STK:AAPL:USD", "STK:MSFT:USD"}
    assert set(by_key(two)) == {"FUT:ESZ5"}
    apple = by_key(one)["STK:AAPL:USD"]
    assert apple.last_price == Decimal("190.5") and apple.realised_pnl == Decimal("12.5")
    assert apple.price_missing_reason is None
    # the first account gets IB's one portfolio stream; the others say why they have no price
    assert (
        by_key(one)["STK:MSFT:USD"].price_missing_reason
        == "IB has not sent a market price for this contract yet"
    )
    future = by_key(two)["FUT:ESZ5"]
    assert future.last_price is None
    assert future.price_missing_reason is not None and U1 in future.price_missing_reason
    assert server.count(6) == 1  # one reqAccountUpdates: the first account's


async def test_ib_account_omitted_with_several_accounts_names_them(
    make: Callable[..., ibkr.IbkrAdapter],
) -> None:
    adapter = make("ib1")
    with pytest.raises(ReadError) as raised:
        await adapter.fetch()
    message = str(raised.value)
    assert U1 in message and U2 in message and "ib_account" in message and "ib1" in message


async def test_ib_account_omitted_with_one_account_follows_it(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    server.accounts = [U1]
    snapshot = await make().fetch()
    assert set(by_key(snapshot)) == {"STK:AAPL:USD", "STK:MSFT:USD"}
    assert by_key(snapshot)["STK:AAPL:USD"].last_price == Decimal("190.5")


async def test_unknown_ib_account_is_named(make: Callable[..., ibkr.IbkrAdapter]) -> None:
    with pytest.raises(ReadError) as raised:
        await make(ib_account="U9999999").fetch()
    assert "U9999999" in str(raised.value) and U1 in str(raised.value)
    assert raised.value.kind is ReadErrorKind.SOURCE


async def test_last_adapter_closes_the_shared_connection(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    first = make("ib1", ib_account=U1)
    second = make("ib2", ib_account=U2)
    await asyncio.gather(first.fetch(), second.fetch())
    server.set_position(U2, ES, "2", "250012.5", market_price="5010.25")

    await first.close()
    assert server.client_count == 1
    # the price stream moves on to the account still followed
    await server.wait_for(lambda: server.count(6) >= 3)  # unsubscribe U1, subscribe U2
    await eventually(lambda: _has_price(second, "FUT:ESZ5"))

    await second.close()
    await server.wait_for(lambda: server.client_count == 0)
    assert not ibkr._POOL


async def _has_price(adapter: ibkr.IbkrAdapter, key: str) -> bool:
    return by_key(await adapter.fetch())[key].last_price is not None


async def test_different_client_ids_open_separate_connections(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    await asyncio.gather(
        make("ib1", ib_account=U1, client_id=1).fetch(), make("ib2", ib_account=U2, client_id=2).fetch()
    )
    assert server.client_count == 2


# ---------------------------------------------------------------- contracts, keys, numbers


async def test_every_security_type_keys_and_aliases(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    server.accounts = [U1]
    server.positions.clear()
    server.set_position(U1, AAPL, "10", "150")
    server.set_position(U1, AAPL_CALL, "-2", "512.3")
    server.set_position(U1, ES, "1", "250012.5")
    server.set_position(U1, ES_CALL, "3", "1250")
    server.set_position(U1, EURUSD, "25000", "1.0825")
    server.set_position(U1, BTC, "0.12345678", "60000.12345")
    rows = by_key(await make().fetch())

    assert set(rows) == {
        "STK:AAPL:USD",
        "OPT:AAPL  251219C00150000",
        "FUT:ESZ5",
        "FOP:ESZ5 C5000",
        "CASH:EUR.USD",
        "CRYPTO:BTC.USD",
    }
    stock = rows["STK:AAPL:USD"]
    assert {"265598", "conid:265598", "AAPL", "STK:AAPL"} <= set(stock.aliases)
    option = rows["OPT:AAPL  251219C00150000"]
    assert {"700001", "conid:700001", "AAPL  251219C00150000", "AAPL251219C00150000"} <= set(option.aliases)
    assert "AAPL" not in option.aliases, "a book's AAPL means the shares, never the option"
    assert option.multiplier == Decimal(100) and option.average_price == Decimal("5.123")
    future = rows["FUT:ESZ5"]
    assert {"ESZ5", "495512563"} <= set(future.aliases) and "ES" not in future.aliases
    assert future.average_price == Decimal("5000.25") and future.multiplier == Decimal(50)
    assert rows["FOP:ESZ5 C5000"].average_price == Decimal(25)
    assert "ES" not in rows["FOP:ESZ5 C5000"].aliases
    forex = rows["CASH:EUR.USD"]
    assert {"EUR.USD", "EUR/USD", "EURUSD", "EUR", "12087792"} <= set(forex.aliases)
    assert forex.quantity == Decimal(25000) and forex.average_price == Decimal("1.0825")
    crypto = rows["CRYPTO:BTC.USD"]
    assert {"BTC.USD", "BTC/USD", "BTCUSD", "BTC"} <= set(crypto.aliases)
    assert crypto.quantity == Decimal("0.12345678"), "exact, not 0.1234567799999..."
    assert crypto.average_price == Decimal("60000.12345")


async def test_book_spellings_resolve_to_the_broker_rows(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    symbols = pytest.importorskip("app.symbols")
    server.accounts = [U1]
    server.positions.clear()
    for contract in (AAPL, AAPL_CALL, ES, EURUSD):
        server.set_position(U1, contract, "1", "1")
    snapshot = await make().fetch()
    resolver = symbols.Resolver()
    keyed = {p.instrument for p in resolver.key_broker(snapshot.positions)}
    for spelling, key in {
        "AAPL": "STK:AAPL:USD",
        "aapl ": "STK:AAPL:USD",
        "AAPL  251219C00150000": "OPT:AAPL  251219C00150000",
        "AAPL251219C00150000": "OPT:AAPL  251219C00150000",
        "ESZ5": "FUT:ESZ5",
        "EUR.USD": "CASH:EUR.USD",
        "265598": "STK:AAPL:USD",
    }.items():
        resolved = resolver.key(spelling)
        assert resolved == resolver.norm(key) and resolved in keyed, spelling


async def test_fractional_quantities_stay_exact(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    server.set_position(U1, AAPL, "10.5", "150.3333", market_price="190.17")
    server.set_position(U1, BTC, "0.1", "60000.1", market_price="61000.2")
    rows = by_key(await make(ib_account=U1).fetch())
    assert rows["STK:AAPL:USD"].quantity == Decimal("10.5")
    assert rows["CRYPTO:BTC.USD"].quantity == Decimal("0.1")
    assert str(rows["CRYPTO:BTC.USD"].quantity) == "0.1"
    assert rows["CRYPTO:BTC.USD"].last_price == Decimal("61000.2")
    assert rows["STK:AAPL:USD"].average_price == Decimal("150.3333")


def test_one_key_per_contract_even_when_spellings_collide() -> None:
    class Contract:
        secType = "STK"
        symbol = "SHOP"
        lastTradeDateOrContractMonth = ""
        strike = 0.0
        right = ""
        multiplier = ""
        tradingClass = ""

        def __init__(self, con_id: int, currency: str) -> None:
            self.conId = con_id
            self.currency = currency
            self.localSymbol = "SHOP"

    assert instrument_key(Contract(1, "CAD")) != instrument_key(Contract(2, "USD"))
    keys = disambiguate({1: instrument_key(Contract(1, "USD")), 2: instrument_key(Contract(2, "USD"))})
    assert keys == {1: "STK:SHOP:USD@1", 2: "STK:SHOP:USD@2"}


# ---------------------------------------------------------------- push


async def test_a_change_at_the_broker_reaches_the_handler_fast(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    first, second = make("ib1", ib_account=U1), make("ib2", ib_account=U2)
    first_pushes, second_pushes = Pushes(), Pushes()
    first.on_push(first_pushes)
    second.on_push(second_pushes)
    await asyncio.gather(first.fetch(), second.fetch())

    waiting = asyncio.ensure_future(second_pushes.next())
    await server.update_position(U2, ES, "3", "250100")
    assert await waiting < 1.0
    await asyncio.sleep(0)  # let any push for the other account be delivered too
    assert first_pushes.count == 0, "a change in U2 is not a reason to sync U1"
    assert by_key(await second.fetch())["FUT:ESZ5"].quantity == Decimal(3)

    waiting = asyncio.ensure_future(first_pushes.next())
    await server.update_position(U1, AAPL, "150", "160", market_price="191")
    assert await waiting < 1.0
    apple = by_key(await first.fetch())["STK:AAPL:USD"]
    assert apple.quantity == Decimal(150) and apple.average_price == Decimal(160)


async def test_closed_position_comes_back_at_zero_with_realised_pnl(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    first, second = make("ib1", ib_account=U1), make("ib2", ib_account=U2)
    first_pushes, second_pushes = Pushes(), Pushes()
    first.on_push(first_pushes)
    second.on_push(second_pushes)
    await asyncio.gather(first.fetch(), second.fetch())

    waiting = asyncio.ensure_future(first_pushes.next())
    await server.close_position(U1, AAPL.con_id, realized_pnl="4012.75")
    await waiting
    await eventually(lambda: _realised(first, "STK:AAPL:USD"))
    closed = by_key(await first.fetch())["STK:AAPL:USD"]
    assert closed.quantity == 0 and closed.realised_pnl == Decimal("4012.75")

    # an account without the portfolio stream has no realised P&L to show: the row is omitted
    waiting = asyncio.ensure_future(second_pushes.next())
    await server.close_position(U2, ES.con_id)
    await waiting
    assert "FUT:ESZ5" not in by_key(await second.fetch())


async def _realised(adapter: ibkr.IbkrAdapter, key: str) -> bool:
    row = by_key(await adapter.fetch()).get(key)
    return row is not None and row.realised_pnl == Decimal("4012.75")


# ---------------------------------------------------------------- connection life


async def test_drop_and_reconnect(server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]) -> None:
    adapter = make(ib_account=U1)
    pushes = Pushes()
    adapter.on_push(pushes)
    await adapter.fetch()

    await server.stop_listening()
    await server.drop_clients()
    await eventually(lambda: stale(adapter))
    with pytest.raises(ReadError) as raised:
        await adapter.fetch()
    assert raised.value.kind is ReadErrorKind.NETWORK
    assert f"127.0.0.1:{server.port}" in str(raised.value)

    server.set_position(U1, AAPL, "120", "151")  # changed while the link was down
    waiting = asyncio.ensure_future(pushes.next(timeout=3.0))
    await server.start()
    await waiting  # the reconnect asks for a resync before anything is judged
    assert by_key(await adapter.fetch())["STK:AAPL:USD"].quantity == Decimal(120)
    assert server.connections == 2


async def test_a_restart_window_is_one_warning_and_quiet_retries(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = make(ib_account=U1)
    await adapter.fetch()
    caplog.clear()

    await server.stop_listening()  # IB's nightly restart: the socket goes, then refusals
    await server.drop_clients()

    def refusals() -> int:
        return sum("connection refused" in r.getMessage() for r in caplog.records if r.name == "brokers.ibkr")

    async def retried() -> bool:
        return refusals() >= 3

    await eventually(retried)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in loud] == ["brokers.ibkr"], [(r.name, r.getMessage()) for r in loud]
    assert "was lost" in loud[0].getMessage()

    await server.start()
    await eventually(lambda: fresh(adapter))
    assert any(r.levelno == logging.INFO and "reconnected" in r.getMessage() for r in caplog.records)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == loud


async def test_nothing_is_returned_before_the_first_position_download_ends(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    server.hold_position_end = True
    adapter = make(ib_account=U1, timeout=1.0)
    with pytest.raises(ReadError) as raised:
        await adapter.fetch()
    assert raised.value.kind is ReadErrorKind.TIMEOUT


@pytest.mark.parametrize("restored", [1101, 1102])
async def test_connectivity_lost_and_restored(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter], restored: int
) -> None:
    adapter = make(ib_account=U1)
    pushes = Pushes()
    adapter.on_push(pushes)
    await adapter.fetch()
    updates_before, requests_before = server.count(6), server.count(61)

    await server.send_error(1100)
    await eventually(lambda: stale(adapter))
    with pytest.raises(ReadError) as raised:
        await adapter.fetch()
    assert "1100" in str(raised.value)

    server.hold_position_end = True
    server.set_position(U1, AAPL, "90", "150.25", market_price="190.5")
    await server.send_error(restored)
    await server.wait_for(lambda: server.count(61) == requests_before + 1)  # positions asked again
    with pytest.raises(ReadError) as raised:
        await adapter.fetch()  # restored, but the positions are not all in yet
    assert str(restored) in str(raised.value)

    waiting = asyncio.ensure_future(pushes.next())
    await server.release_position_ends()
    await waiting
    assert by_key(await adapter.fetch())["STK:AAPL:USD"].quantity == Decimal(90)
    if restored == 1101:  # data lost: the price stream is subscribed again as well
        await server.wait_for(lambda: server.count(6) == updates_before + 1)


async def test_client_id_in_use_names_it(server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]) -> None:
    server.client_ids_in_use.add(7)
    adapter = make("ib1", ib_account=U1, client_id=7)
    start = time.perf_counter()
    with pytest.raises(ReadError) as raised:
        await adapter.fetch()
    assert time.perf_counter() - start < 2.0, "326 fails the attempt at once, not after a timeout"
    assert str(raised.value).startswith(
        f"client_id 7 is already in use at 127.0.0.1:{server.port}; set a different client_id for account ib1"
    )

    server.client_ids_in_use.clear()  # the other client went away: the retries get through
    await eventually(lambda: fresh(adapter))


async def test_connection_refused_is_a_network_read_error(make: Callable[..., ibkr.IbkrAdapter]) -> None:
    adapter = make(ib_account=U1, port=1)
    with pytest.raises(ReadError) as raised:
        await adapter.fetch()
    assert raised.value.kind is ReadErrorKind.NETWORK
    assert "127.0.0.1:1" in str(raised.value) and "refused" in str(raised.value)


async def test_informational_codes_do_not_make_the_account_stale(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    adapter = make(ib_account=U1)
    pushes = Pushes()
    adapter.on_push(pushes)
    await adapter.fetch()
    for code in (2104, 2106, 2107, 2108, 2119, 2158, 10167):
        await server.send_error(code)
    waiting = asyncio.ensure_future(pushes.next())
    await server.update_position(U1, AAPL, "101", "150.25")  # arrives after the notices
    await waiting
    assert by_key(await adapter.fetch())["STK:AAPL:USD"].quantity == Decimal(101)


async def test_no_order_message_ever_leaves_the_adapter(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    first, second = make("ib1", ib_account=U1), make("ib2", ib_account=U2)
    await asyncio.gather(first.fetch(), second.fetch())
    await server.update_position(U1, AAPL, "1", "1")
    requests_before = server.count(61)
    await server.send_error(1102)
    await server.wait_for(lambda: server.count(61) == requests_before + 1)
    await server.drop_clients()
    await eventually(lambda: fresh(first))
    assert {71, 61, 6, 7, 76} <= set(server.received)
    assert not set(server.received) & (ORDER_MESSAGE_IDS | ORDER_REQUEST_IDS)


# ---------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"client_id": 0}, "client_id"),
        ({"client_id": "7"}, "client_id"),
        ({"port": 70000}, "port"),
        ({"host": ""}, "host"),
        ({"clientid": 3}, "clientid"),
        ({"ib_account": " "}, "ib_account"),
    ],
)
def test_bad_settings_are_config_errors(options: dict[str, Any], field: str) -> None:
    account = AccountConfig(id="ib1", broker="ibkr", book="book", options=options)
    with pytest.raises(ConfigError) as raised:
        ibkr.create(account, AdapterContext(data_dir=Path("."), secrets=Secrets({})))
    assert raised.value.field == f"accounts.ib1.{field}"
    assert not ibkr._POOL


# ---------------------------------------------------------------- end to end


async def test_a_push_reaches_the_published_row_within_a_second(server: FakeTws, tmp_path: Path) -> None:
    """Fake TWS -> adapter push -> SyncWorker sync -> reconciled row published."""
    from app.config import parse_settings
    from app.domain import AccountState, Status
    from app.runtime import build_runtime
    from app.sync import SyncResult

    book = tmp_path / "book.json"
    book.write_text(
        json.dumps(
            {
                "positions": [
                    {"symbol": "AAPL", "quantity": 100, "average_price": "150.25"},
                    {"symbol": "MSFT", "quantity": -30, "average_price": "410.1"},
                ]
            }
        ),
        encoding="utf-8",
    )
    raw = {
        "books": [{"id": "bot", "kind": "file", "path": str(book)}],
        "accounts": [
            {
                "id": "ib1",
                "broker": "ibkr",
                "book": "bot",
                "port": server.port,
                "client_id": 21,
                "ib_account": U1,
                "interval": 3600,
                "timeout": 3,
                "settle_seconds": 0,
            }
        ],
    }
    settings = parse_settings(raw, tmp_path / "config.toml")
    assert settings.accounts[0].price_tolerance_rel == Decimal("0.005")  # the registry default for IB
    runtime = build_runtime(settings, tmp_path / "data", secrets=Secrets({}))
    results: asyncio.Queue[SyncResult] = asyncio.Queue()
    runtime.worker.subscribe(results.put_nowait)

    async def published(check: Callable[[SyncResult], bool], timeout: float) -> SyncResult:
        async with asyncio.timeout(timeout):
            while True:
                result = await results.get()
                if check(result):
                    return result

    try:
        await runtime.worker.start()
        first = await published(lambda r: r.state is AccountState.OK, timeout=5.0)
        assert first.rows["STK:AAPL:USD"].status is Status.MATCH, first.rows
        assert first.rows["STK:MSFT:USD"].status is Status.MATCH

        start = time.perf_counter()
        await server.update_position(U1, AAPL, "150", "155", market_price="191")
        pushed = await published(
            lambda r: r.rows.get("STK:AAPL:USD") is not None and r.rows["STK:AAPL:USD"].broker_qty == 150,
            timeout=1.0,
        )
        assert time.perf_counter() - start < 1.0
        assert pushed.reason == "push"
        assert pushed.rows["STK:AAPL:USD"].status is Status.QTY_MISMATCH
    finally:
        await runtime.close()
    assert not ibkr._POOL
