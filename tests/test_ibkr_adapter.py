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
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from position_sync.app.broker import AdapterContext, BrokerAdapter
from position_sync.app.config import AccountConfig
from position_sync.app.domain import (
    AccountState,
    BookSnapshot,
    BrokerSnapshot,
    Event,
    EventKind,
    Position,
    Status,
)
from position_sync.app.errors import ConfigError, ReadError, ReadErrorKind
from position_sync.app.reconcile import AccountMemory, JudgeSettings, reconcile
from position_sync.app.runtime import Runtime
from position_sync.app.secrets import Secrets
from position_sync.app.symbols import Resolver
from position_sync.app.sync import SyncResult
from position_sync.brokers import ibkr
from position_sync.brokers.ibkr_contracts import ContractKeys, instrument_key, key_file_name
from position_sync.brokers.registry import create_adapter
from tests.conftest import write_book
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
# IB's stock CFD: the stock's ticker as symbol and localSymbol (tests/fixtures/ib/README.md)
AAPL_CFD = FakeContract("CFD", "AAPL", 118239176, "AAPL", exchange="SMART")
FIXTURES = Path(__file__).parent / "fixtures" / "ib"


def recorded_contract(name: str) -> FakeContract:
    """A contract ib_async printed in its notebooks (tests/fixtures/ib/README.md names where)."""
    raw = json.loads((FIXTURES / "contracts.json").read_text(encoding="utf-8"))[name]
    return FakeContract(
        raw["secType"],
        raw["symbol"],
        raw["conId"],
        raw["localSymbol"],
        raw["lastTradeDateOrContractMonth"],
        format(Decimal(repr(raw["strike"])).normalize(), "f"),
        raw["right"],
        raw["multiplier"],
        exchange=raw["exchange"],
        currency=raw["currency"],
        trading_class=raw["tradingClass"],
    )


SPX_PUT = recorded_contract("spx_am_settled_put")

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
def context(tmp_path: Path) -> AdapterContext:
    """One runtime's context: the adapters a test makes share its connections."""
    return AdapterContext(data_dir=tmp_path / "data", secrets=Secrets({}))


@pytest.fixture
async def make(server: FakeTws, context: AdapterContext) -> AsyncIterator[Callable[..., ibkr.IbkrAdapter]]:
    """Adapters on the fake, all of one runtime; each keeps its key file in ``tmp_path / "data"``
    unless told otherwise."""
    adapters: list[ibkr.IbkrAdapter] = []

    def build(
        account_id: str = "ib1", timeout: float = 3.0, data_dir: Path | None = None, **options: Any
    ) -> ibkr.IbkrAdapter:
        options.setdefault("port", server.port)
        options.setdefault("client_id", 11)
        account = AccountConfig(id=account_id, broker="ibkr", book="book", timeout=timeout, options=options)
        adapter = ibkr.create(account, replace(context, data_dir=data_dir) if data_dir else context)
        adapters.append(adapter)
        return adapter

    yield build
    for adapter in adapters:
        await adapter.close()
    assert not ibkr.pool_of(context), "every pooled connection is closed with its last adapter"


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
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter], context: AdapterContext
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
    assert not ibkr.pool_of(context)


async def _has_price(adapter: ibkr.IbkrAdapter, key: str) -> bool:
    return by_key(await adapter.fetch())[key].last_price is not None


async def test_another_runtime_opens_its_own_connection(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter], tmp_path: Path
) -> None:
    """The pool is the runtime's, not the process's: a second runtime (the window rebuilding its
    own on new settings, say) never joins the first one's socket, so TWS sees the client id twice."""
    await make("ib1", ib_account=U1).fetch()
    other = AdapterContext(data_dir=tmp_path / "other", secrets=Secrets({}))
    options = {"port": server.port, "client_id": 11, "ib_account": U1}
    second = ibkr.create(
        AccountConfig(id="ib1", broker="ibkr", book="book", timeout=3.0, options=options), other
    )
    try:
        with pytest.raises(ReadError, match="client_id 11 is already in use"):
            await second.fetch()
        assert server.connections == 2 and server.client_count == 1
        assert len(ibkr.pool_of(other)) == 1
    finally:
        await second.close()
    assert not ibkr.pool_of(other)


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
    symbols = pytest.importorskip("position_sync.app.symbols")
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


async def reconciled(adapter: ibkr.IbkrAdapter, *book_lines: tuple[str, str]) -> dict[str, Status]:
    """One sync of the adapter's positions against a book of (spelling, quantity) lines."""
    resolver = Resolver()
    positions = resolver.key_broker((await adapter.fetch()).positions)
    lines = [Position(spelling, Decimal(qty), symbol=spelling) for spelling, qty in book_lines]
    outcome = reconcile(
        "ib1",
        BrokerSnapshot(tuple(positions)),
        BookSnapshot(tuple(resolver.key_book(lines))),
        AccountMemory("ib1"),
        JudgeSettings(settle_seconds=0),
        datetime.now(UTC),
    )
    return {key: row.status for key, row in outcome.rows.items()}


async def test_a_cfd_never_answers_to_the_stock_ticker(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    server.accounts = [U1]
    server.positions.clear()
    server.set_position(U1, AAPL_CFD, "100", "150")
    adapter = make()
    cfd = by_key(await adapter.fetch())["CFD:AAPL:USD"]
    assert "AAPL" not in cfd.aliases and "CFD:AAPL" in cfd.aliases

    # only CFDs held: the book's shares are not there, the CFDs are nobody's
    assert await reconciled(adapter, ("AAPL", "100")) == {
        "AAPL": Status.PHANTOM,
        "CFD:AAPL:USD": Status.UNTRACKED,
    }
    # the book may still name the CFD by its own key
    assert await reconciled(adapter, ("CFD:AAPL", "100")) == {"CFD:AAPL:USD": Status.MATCH}

    # shares and CFDs both held: AAPL is the shares, and only they
    await server.update_position(U1, AAPL, "100", "150")
    await eventually(lambda: _holds(adapter, "STK:AAPL:USD"))
    assert await reconciled(adapter, ("AAPL", "100")) == {
        "STK:AAPL:USD": Status.MATCH,
        "CFD:AAPL:USD": Status.UNTRACKED,
    }


async def _holds(adapter: ibkr.IbkrAdapter, key: str) -> bool:
    return key in by_key(await adapter.fetch())


async def test_the_occ_spelling_carries_the_expiry_not_the_last_trade_date(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    """An AM-settled SPX monthly as ib_async recorded it: last trade 2020-01-16, expiry 01-17."""
    server.accounts = [U1]
    server.positions.clear()
    server.set_position(U1, SPX_PUT, "-1", "2810")
    adapter = make()
    put = by_key(await adapter.fetch())["OPT:SPX   200117P03205000"]
    assert "SPX200117P03205000" in put.aliases
    assert not any("200116" in alias for alias in put.aliases), put.aliases
    key = Resolver().norm("OPT:SPX   200117P03205000")
    assert await reconciled(adapter, ("SPX200117P03205000", "-1")) == {key: Status.MATCH}
    assert await reconciled(adapter, ("SPX   200117P03205000", "-1")) == {key: Status.MATCH}
    wrong_day = await reconciled(adapter, ("SPX200116P03205000", "-1"))
    assert wrong_day == {"SPX200116P03205000": Status.PHANTOM, key: Status.UNTRACKED}


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


class Contract:
    """A stock contract as ib_async hands it over, for the key map's unit tests."""

    secType = "STK"
    lastTradeDateOrContractMonth = ""
    strike = 0.0
    right = ""
    multiplier = ""
    tradingClass = ""

    def __init__(self, con_id: int, symbol: str, currency: str = "USD") -> None:
        self.conId = con_id
        self.symbol = symbol
        self.localSymbol = symbol
        self.currency = currency


def test_one_key_per_contract_even_when_spellings_collide() -> None:
    """Two listings with one ticker and currency: the conId keeps them apart, for good."""
    assert instrument_key(Contract(1, "SHOP", "CAD")) != instrument_key(Contract(2, "SHOP", "USD"))
    keys = ContractKeys()
    # seen together for the first time: keyed in conId order, so every machine agrees
    both = {2: Contract(2, "SHOP"), 1: Contract(1, "SHOP")}
    assert keys.assign(both) == {1: "STK:SHOP:USD", 2: "STK:SHOP:USD@2"}
    # the @ contract does not claim the other's key as an alias; both keep their conId aliases
    assert "STK:SHOP:USD" not in keys.aliases(both[2], "STK:SHOP:USD@2")
    assert {"2", "conid:2", "SHOP"} <= set(keys.aliases(both[2], "STK:SHOP:USD@2"))
    # whatever is held later, each conId keeps its key
    assert keys.assign({2: Contract(2, "SHOP")}) == {2: "STK:SHOP:USD@2"}
    assert keys.assign({1: Contract(1, "SHOP")}) == {1: "STK:SHOP:USD"}
    # a newcomer whose readable key is taken gets @conId, even when the owner is not held now
    assert keys.assign({3: Contract(3, "SHOP")}) == {3: "STK:SHOP:USD@3"}


def test_the_key_file_survives_restarts_and_damage(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / key_file_name("ib1")
    keys = ContractKeys.load(path)
    keys.assign({1: Contract(1, "FB"), 2: Contract(2, "SHOP")})
    text = keys.take_changes()
    assert text is not None and keys.take_changes() is None  # nothing new: nothing to write
    path.write_text(text, encoding="utf-8")

    again = ContractKeys.load(path)
    assert again.assign({1: Contract(1, "META")}) == {1: "STK:FB:USD"}
    assert not again.dirty, "a known conId seen again the same day changes nothing"

    path.write_text('{"version": 1, "keys": {"1": {"key": "STK:FB:USD"', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="position_sync.brokers.ibkr_contracts"):
        damaged = ContractKeys.load(path)
    assert len(damaged) == 0 and damaged.dirty, "ignored, and rewritten at the next save"
    assert str(path) in caplog.text and "damaged" in caplog.text
    assert key_file_name("ib 1/x") != key_file_name("ib_1_x"), "unsafe characters do not merge accounts"


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
        return sum(
            "connection refused" in r.getMessage()
            for r in caplog.records
            if r.name == "position_sync.brokers.ibkr"
        )

    async def retried() -> bool:
        return refusals() >= 3

    await eventually(retried)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in loud] == ["position_sync.brokers.ibkr"], [(r.name, r.getMessage()) for r in loud]
    assert "was lost" in loud[0].getMessage()

    await server.start()
    await eventually(lambda: fresh(adapter))
    assert any(r.levelno == logging.INFO and "reconnected" in r.getMessage() for r in caplog.records)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == loud


async def _outage_sentences(
    adapter: ibkr.IbkrAdapter, until: Callable[[], bool], timeout: float
) -> list[str]:
    """What fetch said, every 50 ms, until ``until()`` holds."""
    seen: list[str] = []
    async with asyncio.timeout(timeout):
        while not until():
            with pytest.raises(ReadError) as raised:
                await adapter.fetch()
            seen.append(str(raised.value))
            await asyncio.sleep(0.05)
    return seen


async def test_an_outage_is_one_sentence_from_start_to_end(
    server: FakeTws,
    make: Callable[..., ibkr.IbkrAdapter],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No countdown and no change of cause in what fetch says: each change would be an event."""
    # retries 0.6-1.2 s apart: long enough for a countdown to have shown whole seconds
    monkeypatch.setattr(ibkr, "BACKOFF", ibkr.Backoff(initial=1.2, cap=1.2))
    caplog.set_level(logging.DEBUG, logger="position_sync.brokers.ibkr")
    adapter = make(ib_account=U1)
    await adapter.fetch()
    caplog.clear()

    await server.stop_listening()
    await server.drop_clients()
    await eventually(lambda: stale(adapter))

    def refusals() -> int:
        return sum(
            "connection refused" in r.getMessage()
            for r in caplog.records
            if r.name == "position_sync.brokers.ibkr"
        )

    seen = await _outage_sentences(adapter, lambda: refusals() >= 2, timeout=10.0)
    assert len(seen) >= 5
    assert set(seen) == {
        f"the connection to TWS/IB Gateway at 127.0.0.1:{server.port} was lost; reconnecting with backoff"
    }

    await server.start()
    await eventually(lambda: fresh(adapter), timeout=5.0)


async def test_a_refused_first_connection_keeps_its_sentence(make: Callable[..., ibkr.IbkrAdapter]) -> None:
    adapter = make(ib_account=U1, port=1)
    with pytest.raises(ReadError) as raised:
        await adapter.fetch()
    first = str(raised.value)
    assert first == (
        "cannot connect to TWS/IB Gateway at 127.0.0.1:1 (connection refused; is it running with the "
        "API enabled on that port?); reconnecting with backoff"
    )
    for _ in range(5):  # retries come and go (0.05-0.2 s apart here); the sentence stays
        await asyncio.sleep(0.1)
        with pytest.raises(ReadError) as raised:
            await adapter.fetch()
        assert str(raised.value) == first


async def test_nothing_is_returned_before_the_first_position_download_ends(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    server.hold_position_end = True
    adapter = make(ib_account=U1, timeout=1.0)
    with pytest.raises(ReadError) as raised:
        await adapter.fetch()
    assert raised.value.kind is ReadErrorKind.TIMEOUT


LOST_TEXTS = {
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    2110: "Connectivity between Trader Workstation and server is broken. It will be restored automatically.",
}


# 2110 ends with 1101/1102 like 1100, or (should TWS only say so) with its data farms back: 2104
@pytest.mark.parametrize(("lost", "restored"), [(1100, 1101), (1100, 1102), (2110, 1102), (2110, 2104)])
async def test_connectivity_lost_and_restored(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter], lost: int, restored: int
) -> None:
    adapter = make(ib_account=U1)
    pushes = Pushes()
    adapter.on_push(pushes)
    await adapter.fetch()
    updates_before, requests_before = server.count(6), server.count(61)

    await server.send_error(lost, LOST_TEXTS[lost])
    await eventually(lambda: stale(adapter))
    with pytest.raises(ReadError) as raised:
        await adapter.fetch()
    sentence = str(raised.value)
    assert f"error {lost}" in sentence and "out of date" in sentence
    assert raised.value.kind is ReadErrorKind.NETWORK

    server.hold_position_end = True
    server.set_position(U1, AAPL, "90", "150.25", market_price="190.5")
    await server.send_error(restored)
    await server.wait_for(lambda: server.count(61) == requests_before + 1)  # positions asked again
    with pytest.raises(ReadError) as raised:
        await adapter.fetch()  # restored, but the positions are not all in yet
    # still the outage's one sentence: a new one would be a second sync_failed event
    assert str(raised.value) == sentence

    waiting = asyncio.ensure_future(pushes.next())
    await server.release_position_ends()
    await waiting
    assert by_key(await adapter.fetch())["STK:AAPL:USD"].quantity == Decimal(90)
    if restored == 1101:  # data lost: the price stream is subscribed again as well
        await server.wait_for(lambda: server.count(6) == updates_before + 1)


async def test_a_data_farm_notice_does_not_end_an_1100(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    """Only 1101/1102 restore a 1100; the farm notices end a 2110 alone (see the test above)."""
    adapter = make(ib_account=U1)
    await adapter.fetch()
    requests_before = server.count(61)
    await server.send_error(1100)
    await eventually(lambda: stale(adapter))
    await server.send_error(2104)
    await server.send_error(1102)  # a marker behind the notice: its resync asks for positions
    await server.wait_for(lambda: server.count(61) == requests_before + 1)
    await eventually(lambda: fresh(adapter))
    assert server.count(61) == requests_before + 1, "the 2104 started no resync of its own"


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


async def _after_messages(server: FakeTws, adapter: ibkr.IbkrAdapter, pushes: Pushes, quantity: str) -> None:
    """Push a change behind whatever the fake sent before, so the adapter has read all of it."""
    waiting = asyncio.ensure_future(pushes.next(timeout=3.0))
    await server.update_position(U1, AAPL, quantity, "150.25")
    await waiting
    assert by_key(await adapter.fetch())["STK:AAPL:USD"].quantity == Decimal(quantity)


async def test_informational_codes_do_not_make_the_account_stale(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = make(ib_account=U1)
    pushes = Pushes()
    adapter.on_push(pushes)
    await adapter.fetch()
    caplog.clear()
    for code in (2104, 2106, 2158, 2107, 2108, 2119, 165, 399, 10167, 10197):
        await server.send_error(code)
    await _after_messages(server, adapter, pushes, "101")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_data_farm_warnings_are_logged_once_and_leave_positions_alone(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    adapter = make(ib_account=U1)
    pushes = Pushes()
    adapter.on_push(pushes)
    await adapter.fetch()
    caplog.clear()
    broken = {
        2103: "Market data farm connection is broken:usfarm",
        2105: "HMDS data farm connection is broken:ushmds",
        2157: "Sec-def data farm connection is broken:secdefnj",
    }
    for _ in range(3):  # a flapping farm repeats itself
        for code, text in broken.items():
            await server.send_error(code, text)
    await _after_messages(server, adapter, pushes, "102")  # read, and not stale

    loud = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in loud] == ["position_sync.brokers.ibkr"] * 3, [
        (r.name, r.getMessage()) for r in loud
    ]
    for record, (code, text) in zip(loud, broken.items(), strict=True):
        assert f"IB warning {code}" in record.getMessage() and text in record.getMessage()
        assert "positions are not affected" in record.getMessage()


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
def test_bad_settings_are_config_errors(options: dict[str, Any], field: str, tmp_path: Path) -> None:
    account = AccountConfig(id="ib1", broker="ibkr", book="book", options=options)
    context = AdapterContext(data_dir=tmp_path, secrets=Secrets({}))
    with pytest.raises(ConfigError) as raised:  # the registry checks the declared keys first
        create_adapter(account, context)
    assert raised.value.field == f"accounts.ib1.{field}"
    assert not ibkr.pool_of(context)


# ---------------------------------------------------------------- end to end


class IbRun:
    """The real runtime (file books, SQLite store, SyncWorker) on IB accounts at the fake TWS."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.worker = runtime.worker
        self.store = runtime.store
        self.results: asyncio.Queue[SyncResult] = asyncio.Queue()
        runtime.worker.subscribe(self.results.put_nowait)

    async def published(self, check: Callable[[SyncResult], bool], timeout: float = 5.0) -> SyncResult:
        """The next published result that passes ``check`` (others are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                result = await self.results.get()
                if check(result):
                    return result

    def forget(self) -> None:
        """Drop what was published so far: the next wait sees only what comes after."""
        while not self.results.empty():
            self.results.get_nowait()

    async def first_ok(self, *accounts: str, timeout: float = 5.0) -> dict[str, SyncResult]:
        """The first good result of each account, in whatever order the accounts published."""
        found: dict[str, SyncResult] = {}
        async with asyncio.timeout(timeout):
            while len(found) < len(accounts):
                result = await self.results.get()
                if result.account in accounts and result.state is AccountState.OK:
                    found.setdefault(result.account, result)
        return found

    def events(self, account: str, *kinds: EventKind) -> list[Event]:
        """Events as the store keeps them: what ``position-sync events`` and the window show."""
        stored = self.store.events(account=account, kinds=[k.value for k in kinds] if kinds else None)
        return [item.event for item in stored]


def ib_runtime(
    server: FakeTws, tmp_path: Path, books: dict[str, list[dict[str, Any]]], accounts: list[dict[str, Any]]
) -> IbRun:
    """Books by id (written now, dated an hour back) and ``[[accounts]]`` entries on the fake."""
    from position_sync.app.config import parse_settings
    from position_sync.wiring import build_runtime

    for book_id, positions in books.items():
        write_book(tmp_path / f"{book_id}.json", positions)
    raw = {
        "books": [
            {"id": book_id, "kind": "file", "path": str(tmp_path / f"{book_id}.json")} for book_id in books
        ],
        "accounts": [
            {
                "broker": "ibkr",
                "port": server.port,
                "interval": 3600,
                "timeout": 3,
                "settle_seconds": 0,
                **entry,
            }
            for entry in accounts
        ],
    }
    settings = parse_settings(raw, tmp_path / "config.toml")
    return IbRun(build_runtime(settings, tmp_path / "data", secrets=Secrets({})))


def ok(account: str) -> Callable[[SyncResult], bool]:
    return lambda r: r.account == account and r.state is AccountState.OK


async def test_a_push_reaches_the_published_row_within_a_second(server: FakeTws, tmp_path: Path) -> None:
    """Fake TWS -> adapter push -> SyncWorker sync -> reconciled row published."""
    run = ib_runtime(
        server,
        tmp_path,
        {
            "bot": [
                {"symbol": "AAPL", "quantity": 100, "average_price": "150.25"},
                {"symbol": "MSFT", "quantity": -30, "average_price": "410.1"},
            ]
        },
        [{"id": "ib1", "book": "bot", "client_id": 21, "ib_account": U1}],
    )
    # the registry default for IB
    assert run.runtime.settings.accounts[0].price_tolerance_rel == Decimal("0.005")
    try:
        await run.worker.start()
        first = await run.published(ok("ib1"))
        assert first.rows["STK:AAPL:USD"].status is Status.MATCH, first.rows
        assert first.rows["STK:MSFT:USD"].status is Status.MATCH

        start = time.perf_counter()
        await server.update_position(U1, AAPL, "150", "155", market_price="191")
        pushed = await run.published(
            lambda r: r.rows.get("STK:AAPL:USD") is not None and r.rows["STK:AAPL:USD"].broker_qty == 150,
            timeout=1.0,
        )
        assert time.perf_counter() - start < 1.0
        assert pushed.reason == "push"
        assert pushed.rows["STK:AAPL:USD"].status is Status.QTY_MISMATCH
    finally:
        await run.runtime.close()
    assert run.runtime.adapter_context is not None
    assert not ibkr.pool_of(run.runtime.adapter_context)


async def test_ibs_nightly_restart_is_one_sync_failed_event(
    server: FakeTws, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Dropped, then refused for several syncs, then back: one event, and a resync before judging."""
    caplog.set_level(logging.DEBUG, logger="position_sync.brokers.ibkr")
    run = ib_runtime(
        server,
        tmp_path,
        {
            "bot": [
                {"symbol": "AAPL", "quantity": 100, "average_price": "150.25"},
                {"symbol": "MSFT", "quantity": -30},
            ]
        },
        [{"id": "ib1", "book": "bot", "client_id": 22, "ib_account": U1}],
    )
    try:
        await run.worker.start()
        await run.published(ok("ib1"))

        await server.stop_listening()
        await server.drop_clients()
        async with asyncio.timeout(5.0):  # until the adapter has seen the drop
            while (result := await run.worker.sync("ib1", "manual")).state is AccountState.OK:
                await asyncio.sleep(0.02)
        stale_results = [result]

        def refusals() -> int:
            return sum("connection refused" in r.getMessage() for r in caplog.records)

        for _ in range(5):
            before = refusals()
            async with asyncio.timeout(5.0):  # a refused retry (0.05-0.2 s apart here) in between
                while refusals() == before:
                    await asyncio.sleep(0.02)
            result = await run.worker.sync("ib1", "manual")
            assert result.state is AccountState.STALE, result
            stale_results.append(result)
        errors = {r.error for r in stale_results}
        assert errors == {
            f"broker: the connection to TWS/IB Gateway at 127.0.0.1:{server.port} was lost; "
            f"reconnecting with backoff"
        }
        assert all(r.rows["STK:AAPL:USD"].status is Status.STALE for r in stale_results)

        server.set_position(U1, AAPL, "120", "151", market_price="190.5")  # changed while down
        run.forget()
        await server.start()
        back = await run.published(ok("ib1"))
        assert back.rows["STK:AAPL:USD"].broker_qty == 120, "judged on the re-sent positions"
        assert back.rows["STK:AAPL:USD"].status is Status.QTY_MISMATCH
    finally:
        await run.runtime.close()
    failed = run.events("ib1", EventKind.SYNC_FAILED)
    assert len(failed) == 1, [e.detail for e in failed]
    assert not run.events("ib1", EventKind.PHANTOM_DETECTED, EventKind.CLOSED), "no alarm from a stale read"


async def test_a_close_at_the_broker_while_the_book_holds_it_is_phantom(
    server: FakeTws, tmp_path: Path
) -> None:
    """Two accounts on one connection; only the first gets IB's portfolio stream (and P&L)."""
    run = ib_runtime(
        server,
        tmp_path,
        {
            "bot1": [
                {"symbol": "AAPL", "quantity": 100, "average_price": "150.25"},
                {"symbol": "MSFT", "quantity": -30, "average_price": "410.1"},
            ],
            "bot2": [{"symbol": "ESZ5", "quantity": 2, "average_price": "5000.25"}],
        },
        [
            {"id": "ib1", "book": "bot1", "client_id": 23, "ib_account": U1},
            {"id": "ib2", "book": "bot2", "client_id": 23, "ib_account": U2},
        ],
    )
    try:
        await run.worker.start()
        first = await run.first_ok("ib1", "ib2")
        assert first["ib1"].rows["STK:AAPL:USD"].status is Status.MATCH
        assert first["ib2"].rows["FUT:ESZ5"].status is Status.MATCH
        assert server.connections == 1

        # the account with the portfolio stream: IB's realised P&L, phantom reported at once (the
        # broker's own row at zero says it was closed, nothing to wait for)
        await server.close_position(U1, AAPL.con_id, realized_pnl="4012.75")
        closed = await run.published(
            lambda r: r.account == "ib1" and r.rows["STK:AAPL:USD"].status is Status.PHANTOM
        )
        row = closed.rows["STK:AAPL:USD"]
        assert (row.broker_qty, row.local_qty) == (0, 100)
        assert row.realised_pnl == Decimal("4012.75") and not row.realised_estimated
        assert closed.rows["STK:MSFT:USD"].status is Status.MATCH, "the other position is untouched"
        await eventually_stored(run, "ib1", EventKind.PHANTOM_DETECTED)
        [event] = run.events("ib1", EventKind.CLOSED)
        assert event.instrument == "STK:AAPL:USD"
        assert event.detail == "closed at the broker: was 100, realised P&L 4012.75"
        assert event.data == {"realised_pnl": "4012.75"}
        [phantom] = run.events("ib1", EventKind.PHANTOM_DETECTED)
        assert phantom.instrument == "STK:AAPL:USD" and phantom.detail.startswith(
            "phantom: broker 0, book 100"
        )
        [archived] = run.store.closed("ib1")
        assert archived.realised_pnl == Decimal("4012.75") and not archived.estimated

        # the account without it: no P&L from IB and no price to estimate one, and the phantom is
        # reported once a second good sync confirms it
        await server.close_position(U2, ES.con_id)
        closed = await run.published(
            lambda r: r.account == "ib2" and r.rows["FUT:ESZ5"].status is Status.PHANTOM
        )
        row = closed.rows["FUT:ESZ5"]
        assert row.broker_qty is None and row.local_qty == 2 and row.realised_pnl is None
        [event] = run.events("ib2", EventKind.CLOSED)
        assert event.detail == "closed at the broker: was 2" and event.data == {"realised_pnl": None}
        assert not run.events("ib2", EventKind.PHANTOM_DETECTED)
        confirmed = await run.worker.sync("ib2", "manual")
        assert confirmed.rows["FUT:ESZ5"].status is Status.PHANTOM
        [phantom] = run.events("ib2", EventKind.PHANTOM_DETECTED)
        assert phantom.instrument == "FUT:ESZ5" and phantom.detail.startswith("phantom: broker none, book 2")
        [archived] = run.store.closed("ib2")
        assert archived.quantity == 2 and archived.realised_pnl is None
    finally:
        await run.runtime.close()
    assert (
        len(run.events("ib1", EventKind.CLOSED)) == 1
        and len(run.events("ib1", EventKind.PHANTOM_DETECTED)) == 1
    )
    assert not run.events("ib1", EventKind.SYNC_FAILED) and not run.events("ib2", EventKind.SYNC_FAILED)


async def eventually_stored(run: IbRun, account: str, kind: EventKind, timeout: float = 5.0) -> None:
    """Until an event of ``kind`` is in the store (a sync saves before it publishes)."""
    async with asyncio.timeout(timeout):
        while not run.events(account, kind):
            await run.results.get()


# ---------------------------------------------------------------- keys across time


FB = FakeContract("STK", "FB", 107113386, "FB", exchange="NASDAQ")
META = FakeContract("STK", "META", 107113386, "META", exchange="NASDAQ")  # FB renamed, same conId
NEW_FB = FakeContract("STK", "FB", 990001, "FB", exchange="NYSE")  # a later company with the old ticker


async def test_a_renamed_contract_keeps_its_key_across_a_restart(server: FakeTws, tmp_path: Path) -> None:
    server.accounts = [U1]
    server.positions.clear()
    server.set_position(U1, FB, "10", "300")
    account = [{"id": "ib1", "book": "bot", "client_id": 24}]
    run = ib_runtime(
        server, tmp_path, {"bot": [{"symbol": "FB", "quantity": 10, "average_price": "300"}]}, account
    )
    try:
        await run.worker.start()
        assert (await run.published(ok("ib1"))).rows["STK:FB:USD"].status is Status.MATCH
    finally:
        await run.runtime.close()
    assert (tmp_path / "data" / "ibkr-keys-ib1.json").is_file()

    # overnight IB renames the ticker, and the trading system writes the new one
    server.positions.clear()
    server.set_position(U1, META, "10", "300")
    server.set_position(U1, NEW_FB, "5", "20")
    run = ib_runtime(
        server,
        tmp_path,
        {
            "bot": [
                {"symbol": "META", "quantity": 10, "average_price": "300"},
                {"symbol": "conid:990001", "quantity": 5, "average_price": "20"},
            ]
        },
        account,
    )
    try:
        await run.worker.start()
        result = await run.published(ok("ib1"))
    finally:
        await run.runtime.close()
    assert {key: row.status for key, row in result.rows.items()} == {
        "STK:FB:USD": Status.MATCH,  # same conId, same key, same history; META is an alias now
        "STK:FB:USD@990001": Status.MATCH,  # the old name is taken by the first conId
    }
    assert not run.events("ib1", EventKind.PHANTOM_DETECTED, EventKind.UNTRACKED_DETECTED, EventKind.CLOSED)


SHOP_A = FakeContract("STK", "SHOP", 880001, "SHOP", exchange="NYSE")
SHOP_B = FakeContract("STK", "SHOP", 880002, "SHOP", exchange="ARCA")  # one ticker, one currency


async def test_a_key_does_not_change_when_a_colliding_contract_closes(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    server.accounts = [U1]
    server.positions.clear()
    server.set_position(U1, SHOP_B, "10", "80")
    adapter = make()
    pushes = Pushes()
    adapter.on_push(pushes)

    async def keys() -> dict[int, tuple[str, Decimal]]:
        return {int(p.aliases[0]): (p.instrument, p.quantity) for p in (await adapter.fetch()).positions}

    assert await keys() == {880002: ("STK:SHOP:USD", 10)}
    waiting = asyncio.ensure_future(pushes.next(timeout=3.0))
    await server.update_position(U1, SHOP_A, "5", "81")
    await waiting
    assert await keys() == {880001: ("STK:SHOP:USD@880001", 5), 880002: ("STK:SHOP:USD", 10)}

    waiting = asyncio.ensure_future(pushes.next(timeout=3.0))
    await server.close_position(U1, SHOP_B.con_id)
    await waiting
    # the closed one stays today at zero (IB's portfolio row), and neither key moved
    assert await keys() == {880001: ("STK:SHOP:USD@880001", 5), 880002: ("STK:SHOP:USD", 0)}

    await adapter.close()  # a restart: a new adapter reads the same key file
    adapter = make()
    adapter.on_push(pushes)
    server.positions.pop((U1, SHOP_B.con_id))  # and the closed one is gone from IB's lists
    assert await keys() == {880001: ("STK:SHOP:USD@880001", 5)}, "not promoted to the free name"

    waiting = asyncio.ensure_future(pushes.next(timeout=3.0))
    await server.update_position(U1, SHOP_B, "1", "82")
    await waiting
    assert await keys() == {880001: ("STK:SHOP:USD@880001", 5), 880002: ("STK:SHOP:USD", 1)}, "reopened alike"


# ---------------------------------------------------------------- an unchanged answer is not rebuilt


async def test_streams_at_rest_hand_back_the_very_same_snapshot(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    adapter = make(ib_account=U1)
    first = await adapter.fetch()
    second = await adapter.fetch()
    assert second is first and second.positions is first.positions
    assert by_key(second)["STK:AAPL:USD"].last_price == Decimal("190.5")


@pytest.mark.parametrize("change", ["price", "quantity", "new position", "contract detail"])
async def test_a_message_since_builds_the_snapshot_anew(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter], change: str
) -> None:
    adapter = make(ib_account=U1)
    server.set_position(U1, AAPL_CALL, "2", "1520")  # no market data: only the position stream tells
    first = await adapter.fetch()
    assert by_key(first)["OPT:AAPL  251219C00150000"].average_price == Decimal("15.2")
    if change == "price":
        await server.update_position(U1, AAPL, "100", "150.25", market_price="191.75")
    elif change == "quantity":
        await server.update_position(U1, AAPL, "120", "150.25")
    elif change == "new position":
        await server.update_position(U1, BTC, "0.5", "60000", market_price="61000")
    else:
        # The same conId with another multiplier: ib_async's Contract compares equal by conId,
        # so only "a message since" can tell. The average per unit follows the multiplier.
        await server.update_position(U1, replace(AAPL_CALL, multiplier="10"), "2", "1520")

    async def seen() -> bool:
        return (await adapter.fetch()).positions is not first.positions

    await eventually(seen)
    await asyncio.sleep(0.05)  # the portfolio half of the change, when it has one
    held = by_key(await adapter.fetch())
    if change == "price":
        assert held["STK:AAPL:USD"].last_price == Decimal("191.75")
    elif change == "quantity":
        assert held["STK:AAPL:USD"].quantity == Decimal(120)
    elif change == "new position":
        assert held["CRYPTO:BTC.USD"].quantity == Decimal("0.5")
    else:
        option = held["OPT:AAPL  251219C00150000"]
        assert option.multiplier == Decimal(10) and option.average_price == Decimal(152)


async def test_a_new_day_builds_the_snapshot_anew_and_keeps_its_contracts_remembered(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    from datetime import date, timedelta

    day = [date(2026, 12, 4)]
    adapter = make(ib_account=U1)
    adapter.keys = ContractKeys(today=lambda: day[0])
    first = await adapter.fetch()
    assert (await adapter.fetch()) is first
    day[0] += timedelta(days=1)
    second = await adapter.fetch()
    assert second is not first and second.positions == first.positions
    assert '"seen": "2026-12-05"' in (adapter.keys.take_changes() or "")


async def test_a_stale_spell_between_two_equal_pictures_is_a_read_error_never_the_memo(
    server: FakeTws, make: Callable[..., ibkr.IbkrAdapter]
) -> None:
    adapter = make(ib_account=U1)
    pushes = Pushes()
    adapter.on_push(pushes)
    first = await adapter.fetch()
    await server.send_error(1100, LOST_TEXTS[1100])
    await eventually(lambda: stale(adapter))
    with pytest.raises(ReadError):
        await adapter.fetch()
    server.set_position(U1, AAPL, "90", "150.25", market_price="190.5")
    waiting = asyncio.ensure_future(pushes.next())
    await server.send_error(1102)
    await waiting
    after = await adapter.fetch()
    assert after.positions is not first.positions
    assert by_key(after)["STK:AAPL:USD"].quantity == Decimal(90)
