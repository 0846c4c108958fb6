"""The Kotak Neo adapter against a fake Kotak on 127.0.0.1, over real HTTP.

Nothing here mocks ``requests``: the bytes Kotak would send go over a socket. The payload
arithmetic (net quantities, the lot factor, previous-settlement averages, LTP 0) is checked
on the documented rows and on rows built the way Kotak builds them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from position_sync.app.broker import AdapterContext, BrokerAdapter
from position_sync.app.config import AccountConfig
from position_sync.app.domain import Position
from position_sync.app.errors import ConfigError, LoginRequired, ReadError, ReadErrorKind
from position_sync.app.secrets import Secrets
from position_sync.brokers.kotak import KotakAdapter, create
from position_sync.brokers.kotak_payloads import PREVIOUS_SETTLEMENT
from position_sync.brokers.registry import broker_spec, create_adapter
from tests.conftest import MemoryKeyring
from tests.fakes.kotak_server import (
    HOLDINGS,
    POSITIONS,
    FakeKotakServer,
    fixture,
    holding_row,
    holdings_reply,
    ok,
    position_row,
    server_error,
)

ACCOUNT = "KT1"


@pytest.fixture
def kotak() -> Iterator[FakeKotakServer]:
    # A fresh consumer key per test: the rate limiter is shared per key for the whole process.
    with FakeKotakServer(consumer_key=f"ck-{uuid.uuid4().hex[:12]}") as server:
        yield server


def account_for(kotak: FakeKotakServer, **options: Any) -> AccountConfig:
    return AccountConfig(
        id=ACCOUNT,
        broker="kotak",
        book="book",
        timeout=2.0,
        options={"consumer_key": kotak.consumer_key, "api_root": kotak.url, **options},
    )


@pytest.fixture
async def adapter(
    kotak: FakeKotakServer, memory_keyring: MemoryKeyring, tmp_path: Path
) -> AsyncIterator[KotakAdapter]:
    memory_keyring.set_password("position-sync", f"{ACCOUNT}:session", kotak.issue_session())
    built = create(account_for(kotak), AdapterContext(tmp_path, Secrets()))
    try:
        yield built
    finally:
        await built.close()


def by_label(positions: tuple[Position, ...]) -> dict[str, Position]:
    return {f"{p.instrument} {p.label}": p for p in positions}


def test_the_registry_knows_kotak_and_its_login() -> None:
    spec = broker_spec("kotak")
    assert spec.title == "Kotak Neo"
    assert spec.login == "position_sync.brokers.kotak_login"
    assert {o.key for o in spec.options} >= {
        "consumer_key",
        "mobile_number",
        "ucc",
        "totp_from_keyring",
        "api_root",
    }


def test_create_adapter_checks_options(kotak: FakeKotakServer, tmp_path: Path) -> None:
    built = create_adapter(account_for(kotak), AdapterContext(tmp_path, Secrets()))
    assert isinstance(built, BrokerAdapter)
    asyncio.run(built.close())
    with pytest.raises(ConfigError, match="api_root"):
        create(account_for(kotak, api_root="ftp://x/y"), AdapterContext(tmp_path, Secrets()))
    with pytest.raises(ConfigError, match="api_root"):
        create(
            account_for(kotak, api_root="https://user:pw@mis.example"), AdapterContext(tmp_path, Secrets())
        )


async def test_the_documented_rows_are_read(adapter: KotakAdapter, kotak: FakeKotakServer) -> None:
    """Kotak's own example: 225 TCS futures bought today at 2112 (475200 / 225), LTP 2117;
    and 35 IDEA at an average 9.5699, closing 9.36."""
    kotak.script(POSITIONS, ok(fixture("positions.json")["data"]))
    kotak.script(HOLDINGS, holdings_reply(fixture("holdings.json")["data"]))
    snapshot = await adapter.fetch()
    legs = by_label(snapshot.positions)
    future = legs["NFO:TCS26JULFUT NFO NRML"]
    assert future.quantity == 225
    assert future.average_price == Decimal(2112)
    assert future.last_price == Decimal(2117)
    assert future.unrealised_pnl == Decimal(1125)  # Kotak's own positionPnl for the row
    assert future.realised_pnl == 0
    idea = legs["NSE:IDEA NSE CNC holding"]
    assert (idea.quantity, idea.average_price, idea.last_price) == (35, Decimal("9.5699"), Decimal("9.36"))
    assert idea.unrealised_pnl == Decimal("-7.35")  # mktValue - holdingCost, to the paisa
    assert "BSE:IDEA" in idea.aliases
    assert idea.currency == "INR"


async def test_what_is_sent_carries_the_session(adapter: KotakAdapter, kotak: FakeKotakServer) -> None:
    await adapter.fetch()
    sent = {r.path: r for r in kotak.requests}
    assert set(sent) == {POSITIONS, HOLDINGS}
    assert all(
        r.method == "GET"
        and r.header("Sid")
        and r.header(
            "Auth",
        )
        for r in sent.values()
    )
    assert sent[POSITIONS].header("accept") == "application/json"
    assert sent[HOLDINGS].header("accept") == "*/*"
    assert sent[HOLDINGS].header("Content-Type") == "application/x-www-form-urlencoded"
    assert all(r.header("Authorization") is None for r in sent.values()), "the consumer key is for the login"


async def test_carried_futures_net_with_todays_fills_and_are_labelled(
    adapter: KotakAdapter, kotak: FakeKotakServer
) -> None:
    """75 carried at a settlement of 24500, 150 bought today at 24550, 75 sold at 24600: net 150.

    The average Kotak's amounts give includes the carried 75 at the settlement price: it is not
    the cost, so it is labelled and not compared; no P&L since entry is claimed either."""
    kotak.set_positions(
        [
            position_row(
                "NIFTY26NOVFUT",
                cf_buy=75,
                fl_buy=150,
                fl_sell=75,
                settlement=24500,
                buy_price=24550,
                sell_price=24600,
                ltp=24620,
                lot=75,
            )
        ]
    )
    (leg,) = (await adapter.fetch()).positions
    assert leg.quantity == 150
    assert leg.average_price is None
    assert leg.label == f"NFO NRML, {PREVIOUS_SETTLEMENT}"
    assert leg.price_missing_reason is not None and PREVIOUS_SETTLEMENT in leg.price_missing_reason
    assert "24533.33" in leg.price_missing_reason  # (75 x 24500 + 150 x 24550) / 225
    assert leg.realised_pnl is None and leg.unrealised_pnl is None
    assert leg.last_price == Decimal(24620)


async def test_a_carried_short_covered_today_keeps_todays_cost(
    adapter: KotakAdapter, kotak: FakeKotakServer
) -> None:
    """Short 50 carried, 100 bought today: long 50, whose cost is today's buys alone."""
    kotak.set_positions(
        [
            position_row(
                "BANKNIFTY26NOVFUT", cf_sell=50, fl_buy=100, settlement=51000, buy_price=51200, ltp=51300
            )
        ]
    )
    (leg,) = (await adapter.fetch()).positions
    assert (leg.quantity, leg.average_price, leg.label) == (50, Decimal(51200), "NFO NRML")
    assert leg.price_missing_reason is None
    assert leg.unrealised_pnl == Decimal(5000)  # 50 x (51300 - 51200)
    assert leg.realised_pnl is None  # the cover was against the settlement price


async def test_an_intraday_square_off_is_closed_with_its_realised_pnl(
    adapter: KotakAdapter, kotak: FakeKotakServer
) -> None:
    kotak.set_positions(
        [
            position_row(
                "SBIN-EQ",
                "nse_cm",
                product="MIS",
                fl_buy=100,
                fl_sell=100,
                buy_price=800,
                sell_price=805.5,
                ltp=806,
            )
        ]
    )
    (leg,) = (await adapter.fetch()).positions
    assert leg.instrument == "NSE:SBIN"
    assert leg.quantity == 0
    assert leg.average_price is None
    assert leg.realised_pnl == Decimal(550)
    assert leg.price_missing_reason is None


async def test_a_holding_bought_earlier_and_sold_in_part_today(
    adapter: KotakAdapter, kotak: FakeKotakServer
) -> None:
    """IFBIND held (100 at 1210) and listed among positions as carried 100 with 20 sold today:
    the carried 100 are the holding, so the account holds 80, not 180."""
    kotak.set_holdings([holding_row("IFBIND", quantity=100, average_price=1210, closing_price=1250)])
    kotak.set_positions(
        [
            position_row(
                "IFBIND-EQ",
                "nse_cm",
                product="CNC",
                cf_buy=100,
                fl_sell=20,
                settlement=1240,
                sell_price=1255,
                ltp=1252,
            )
        ]
    )
    legs = (await adapter.fetch()).positions
    assert {p.instrument for p in legs} == {"NSE:IFBIND"}
    assert sum(p.quantity for p in legs) == 80
    sale = next(p for p in legs if p.label == "NSE CNC")
    assert (sale.quantity, sale.average_price) == (-20, Decimal(1255))
    holding = next(p for p in legs if p.label == "NSE CNC holding")
    assert (holding.quantity, holding.average_price) == (100, Decimal(1210))
    assert {"IFBIND-EQ", "NSE:IFBIND-EQ", "IFBIND"} <= set(sale.aliases)


async def test_carried_equity_without_a_holding_keeps_its_quantity_of_unknown_cost(
    adapter: KotakAdapter, kotak: FakeKotakServer
) -> None:
    kotak.set_positions(
        [position_row("INFY-EQ", "nse_cm", product="CNC", cf_buy=10, settlement=1500, ltp=1510)]
    )
    (leg,) = (await adapter.fetch()).positions
    assert (leg.quantity, leg.average_price) == (10, None)
    assert leg.price_missing_reason is not None and "no holding" in leg.price_missing_reason


async def test_ltp_zero_is_an_unknown_price_not_a_zero_pnl(
    adapter: KotakAdapter, kotak: FakeKotakServer
) -> None:
    kotak.set_positions([position_row("TCS26NOVFUT", fl_buy=175, buy_price=4100, ltp=0)])
    (leg,) = (await adapter.fetch()).positions
    assert leg.last_price is None
    assert leg.unrealised_pnl is None
    assert leg.average_price == Decimal(4100)


async def test_the_lot_factor_scales_prices_not_quantities(
    adapter: KotakAdapter, kotak: FakeKotakServer
) -> None:
    """MCX: 2 lots of a contract whose amounts carry a multiplier of 100 (and genNum/genDen 1/1)."""
    row = position_row("CRUDEOIL26NOVFUT", "mcx_fo", fl_buy=2, buy_price=5650, ltp=5661, multiplier=100)
    kotak.set_positions([row])
    (leg,) = (await adapter.fetch()).positions
    assert leg.instrument == "MCX:CRUDEOIL26NOVFUT"
    assert (leg.quantity, leg.average_price, leg.multiplier) == (2, Decimal(5650), Decimal(100))
    assert leg.unrealised_pnl == Decimal(2200)  # 2 x 11 x 100
    row = dict(row, genNum="3", genDen="2", buyAmt=f"{2 * 5650 * 150:.2f}")
    kotak.set_positions([row])
    (leg,) = (await adapter.fetch()).positions
    assert (leg.average_price, leg.multiplier) == (Decimal(5650), Decimal(150))


@pytest.mark.parametrize(
    ("segment", "prefix"),
    [("nse_cm", "NSE"), ("bse_cm", "BSE"), ("nse_fo", "NFO"), ("bse_fo", "BFO"), ("mcx_fo", "MCX")],
)
async def test_segments_take_kites_exchange_prefixes(
    adapter: KotakAdapter, kotak: FakeKotakServer, segment: str, prefix: str
) -> None:
    symbol = "ABC-EQ" if segment.endswith("_cm") else "ABC26NOVFUT"
    kotak.set_positions([position_row(symbol, segment, fl_buy=1, buy_price=10, ltp=10)])
    (leg,) = (await adapter.fetch()).positions
    assert leg.instrument == f"{prefix}:{symbol.removesuffix('-EQ')}"


async def test_no_data_is_an_empty_account(adapter: KotakAdapter, kotak: FakeKotakServer) -> None:
    """Kotak's answer for no positions today is ``Not_Ok`` "No Data" 5203: empty, not failed."""
    kotak.set_positions([])
    assert (await adapter.fetch()).positions == ()


async def test_an_expired_session_asks_for_a_login_and_then_sends_nothing(
    adapter: KotakAdapter, kotak: FakeKotakServer, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    await adapter.fetch()
    kotak.expire_sessions()
    with pytest.raises(LoginRequired, match=r"expired.*position-sync login kotak --account KT1"):
        await adapter.fetch()
    assert (tmp_path / "kotak" / f"{ACCOUNT}.refused-session").exists()
    kotak.clear_requests()
    with pytest.raises(LoginRequired):
        await adapter.fetch()
    assert kotak.count() == 0, "no request with a refused session"
    # A new session stored by a login is tried, and the refusal forgotten once it reads.
    memory_keyring.set_password("position-sync", f"{ACCOUNT}:session", kotak.issue_session())
    await adapter.fetch()
    assert not (tmp_path / "kotak" / f"{ACCOUNT}.refused-session").exists()


async def test_no_session_is_a_login_required_sentence(
    kotak: FakeKotakServer, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    built = create(account_for(kotak), AdapterContext(tmp_path, Secrets()))
    try:
        with pytest.raises(LoginRequired, match="no session in the keyring entry"):
            await built.fetch()
        memory_keyring.set_password("position-sync", f"{ACCOUNT}:session", "not json")
        with pytest.raises(LoginRequired, match="unreadable session"):
            await built.fetch()
    finally:
        await built.close()
    assert kotak.count() == 0


async def test_a_new_session_pushes_a_sync(
    kotak: FakeKotakServer, memory_keyring: MemoryKeyring, tmp_path: Path
) -> None:
    built = create(account_for(kotak), AdapterContext(tmp_path, Secrets()))
    built.session_poll_seconds = 0.05
    pushed = asyncio.Event()
    built.on_push(pushed.set)
    try:
        with pytest.raises(LoginRequired):
            await built.fetch()
        memory_keyring.set_password("position-sync", f"{ACCOUNT}:session", kotak.issue_session())
        await asyncio.wait_for(pushed.wait(), 2)
        await built.fetch()
    finally:
        await built.close()


async def test_a_malformed_row_names_its_field(adapter: KotakAdapter, kotak: FakeKotakServer) -> None:
    row = position_row("TCS26NOVFUT", fl_buy=1, buy_price=1, ltp=1)
    del row["flSellQty"]
    kotak.set_positions([row])
    with pytest.raises(ReadError, match="flSellQty is missing") as caught:
        await adapter.fetch()
    assert caught.value.kind is ReadErrorKind.MALFORMED


async def test_a_row_listed_twice_is_not_a_sum(adapter: KotakAdapter, kotak: FakeKotakServer) -> None:
    row = position_row("TCS26NOVFUT", fl_buy=1, buy_price=1, ltp=1)
    kotak.set_positions([row, row])
    with pytest.raises(ReadError, match="listed twice"):
        await adapter.fetch()


def test_the_adapter_leaves_logging_alone_and_writes_only_in_the_data_directory(
    kotak: FakeKotakServer, tmp_path: Path
) -> None:
    """What the issue asked of the SDK, held by our client: importing and using it changes no
    logger and writes nothing in the working directory or the home directory."""
    import os
    import subprocess
    import sys

    work, home, data = tmp_path / "work", tmp_path / "home", tmp_path / "data"
    for folder in (work, home, data):
        folder.mkdir()
    kotak.set_positions(fixture("positions.json")["data"])
    script = f"""
import asyncio, logging, keyring
from pathlib import Path
from tests.conftest import MemoryKeyring
def state():
    found = {{n: (l.level, l.propagate, len(l.handlers)) for n, l in logging.Logger.manager.loggerDict.items()
             if isinstance(l, logging.Logger)}}
    root = logging.getLogger()
    return root.level, list(root.handlers), found
before = state()
from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig
from position_sync.app.secrets import Secrets
from position_sync.brokers import kotak, kotak_login
after = state()
assert before[:2] == after[:2], "root logger changed"
assert all(after[2][n] == v for n, v in before[2].items()), "a logger changed"
keyring.set_keyring(MemoryKeyring())
keyring.set_password("position-sync", "KT1:session", {kotak.issue_session()!r})
account = AccountConfig(id="KT1", broker="kotak", book="b", options={{"consumer_key": "{kotak.consumer_key}", "api_root": "{kotak.url}"}})
async def main():
    adapter = kotak.create(account, AdapterContext(Path({str(data)!r}), Secrets()))
    try:
        print(len((await adapter.fetch()).positions))
    finally:
        await adapter.close()
asyncio.run(main())
"""
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "HOME": str(home), "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "1"
    assert not list(work.iterdir()) and not list(home.iterdir())


# --- an unchanged answer is not rebuilt (issue 19) ------------------------------------------------


def _future(*, fl_buy: int = 150, ltp: float = 24620) -> dict[str, Any]:
    return position_row("NIFTY26NOVFUT", fl_buy=fl_buy, buy_price=24550, ltp=ltp)


def _holding(quantity: int = 100) -> dict[str, Any]:
    return holding_row("IFBIND", quantity=quantity, average_price=1210, closing_price=1250)


async def test_an_unchanged_answer_hands_back_the_very_same_positions(
    adapter: KotakAdapter, kotak: FakeKotakServer
) -> None:
    kotak.set_positions([_future()])
    kotak.set_holdings([_holding()])
    first = await adapter.fetch()
    second = await adapter.fetch()
    assert second.positions is first.positions
    assert by_label(second.positions)["NFO:NIFTY26NOVFUT NFO NRML"].quantity == 150


@pytest.mark.parametrize("change", ["price", "quantity", "new position", "lot factor", "holding"])
async def test_a_changed_answer_is_built_anew(
    adapter: KotakAdapter, kotak: FakeKotakServer, change: str
) -> None:
    kotak.set_positions([_future()])
    kotak.set_holdings([_holding()])
    first = await adapter.fetch()
    rows = {
        "price": [_future(ltp=24700)],
        "quantity": [_future(fl_buy=75)],
        "new position": [_future(), position_row("TCS26NOVFUT", fl_buy=1, buy_price=1, ltp=1)],
        "lot factor": [dict(_future(), genNum="3", genDen="2")],
        "holding": [_future()],
    }[change]
    kotak.set_positions(rows)
    if change == "holding":
        kotak.set_holdings([_holding(120)])
    second = await adapter.fetch()
    assert second.positions is not first.positions
    legs = by_label(second.positions)
    future = legs["NFO:NIFTY26NOVFUT NFO NRML"]
    if change == "price":
        assert future.last_price == Decimal(24700)
    elif change == "quantity":
        assert future.quantity == 75
    elif change == "new position":
        assert legs["NFO:TCS26NOVFUT NFO NRML"].quantity == 1
    elif change == "lot factor":
        assert future.multiplier == Decimal("1.5")
    else:
        assert legs["NSE:IFBIND NSE CNC holding"].quantity == 120


async def test_a_failed_read_between_two_equal_answers_is_a_read_error_never_the_memo(
    adapter: KotakAdapter, kotak: FakeKotakServer
) -> None:
    kotak.set_holdings([])
    kotak.script(POSITIONS, ok([_future()]), server_error(503), ok([_future()]), ok([_future(ltp=24000)]))
    first = await adapter.fetch()
    with pytest.raises(ReadError) as failed:
        await adapter.fetch()
    assert failed.value.kind is ReadErrorKind.HTTP
    again = await adapter.fetch()
    assert again.positions is first.positions
    assert again.positions[0].last_price == Decimal(24620)
    after = await adapter.fetch()
    assert after.positions[0].last_price == Decimal(24000)
