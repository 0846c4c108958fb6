"""The store: migrations, refusing newer databases, atomic saves, small history, exact values."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, inspect, text
from sqlalchemy.exc import OperationalError

from position_sync.app.domain import AccountState, Event, EventKind, Part, Row, Status
from position_sync.app.reconcile import ClosedPosition, Outcome
from position_sync.app.store import Store, StoreError
from position_sync.app.store.codec import parts_from_json, parts_json
from position_sync.app.store.engine import current_revision, head_revision, make_engine, migrate, sqlite_url
from position_sync.app.store.repository import DB_NAME
from tests.conftest import T0, fresh_database, make_outcome, make_row

TABLES = {
    "sync_runs",
    "rows",
    "row_history",
    "events",
    "closed_positions",
    "account_state",
    "alembic_version",
}


outcome = make_outcome


def save(store: Store, result: Outcome, at: datetime = T0) -> int:
    return store.save(result.memory.account, result, at, at + timedelta(milliseconds=5))


def fresh_rows(path: Path) -> dict[str, Row]:
    """The rows as a new process would read them, bypassing any cache of the store under test."""
    other = Store.open(path)
    try:
        return {row.instrument: row for row in other.rows()}
    finally:
        other.close()


# -- migrations --------------------------------------------------------------------------


def test_migration_from_empty_creates_every_table_at_head(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "new" / "deeper")
    try:
        assert (tmp_path / "new" / "deeper" / DB_NAME).exists()
        assert set(inspect(store.engine).get_table_names()) >= TABLES
        assert current_revision(store.engine) == head_revision()
        assert store.rows() == []
        assert store.account_statuses() == {}
    finally:
        store.close()


def test_reopening_at_head_keeps_data(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    save(store, outcome([make_row("NFO:A")]))
    store.close()
    assert set(fresh_rows(tmp_path)) == {"NFO:A"}


def test_migration_from_0001_upgrades_in_place(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    engine = make_engine(sqlite_url(path))
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    assert "account_state" not in inspect(engine).get_table_names()
    since = "2026-11-19T03:45:00.000000+00:00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sync_runs (account, started_at, finished_at, outcome, rows, problems, events) "
                "VALUES ('kite:AB1234', :t, :t, 'ok', 2, 1, 1)"
            ),
            {"t": since},
        )
        for account, instrument, status, broker, local in [
            ("kite:AB1234", "NFO:NIFTY26NOVFUT", "match", "75", "75"),
            ("kite:AB1234", "NSE:TCS", "phantom", None, "50"),
            ("ib:U123", "SMART:AAPL", "qty_mismatch", "100.5", "100"),
        ]:
            connection.execute(
                text(
                    "INSERT INTO rows (account, instrument, status, since, broker_qty, local_qty, "
                    "broker_avg, realised_estimated, multiplier, explained, streak, confirmed, "
                    "local_parts, updated_at) VALUES (:a, :i, :s, :t, :b, :l, '0.1', 0, '1', 0, 3, 1, "
                    ":parts, :t)"
                ),
                {
                    "a": account,
                    "i": instrument,
                    "s": status,
                    "t": since,
                    "b": broker,
                    "l": local,
                    "parts": json.dumps([{"label": "entry 1", "quantity": local, "average_price": None}]),
                },
            )
        connection.execute(
            text(
                "INSERT INTO row_history (account, instrument, at, sync_run_id, status, local_qty) "
                "VALUES ('kite:AB1234', 'NSE:TCS', :t, 1, 'phantom', '50')"
            ),
            {"t": since},
        )
        connection.execute(
            text(
                "INSERT INTO events (at, account, instrument, kind, detail, sync_run_id) "
                "VALUES (:t, 'kite:AB1234', 'NSE:TCS', 'phantom_detected', 'phantom: broker none, book 50', 1)"
            ),
            {"t": since},
        )
    engine.dispose()

    store = Store(sqlite_url(path))
    try:
        assert current_revision(store.engine) == head_revision()
        assert set(inspect(store.engine).get_table_names()) >= TABLES
        rows = {row.key: row for row in store.rows()}
        assert set(rows) == {
            ("kite:AB1234", "NFO:NIFTY26NOVFUT"),
            ("kite:AB1234", "NSE:TCS"),
            ("ib:U123", "SMART:AAPL"),
        }
        tcs = rows[("kite:AB1234", "NSE:TCS")]
        assert tcs.status is Status.PHANTOM
        assert tcs.broker_qty is None
        assert tcs.local_qty == Decimal(50)
        assert tcs.streak == 3 and tcs.confirmed
        assert tcs.since == datetime(2026, 11, 19, 3, 45, tzinfo=UTC)
        assert tcs.local_parts == (Part("entry 1", Decimal(50)),)
        assert rows[("ib:U123", "SMART:AAPL")].broker_qty == Decimal("100.5")

        statuses = store.account_statuses()
        assert set(statuses) == {"kite:AB1234", "ib:U123"}
        assert all(s.state is AccountState.OK for s in statuses.values())
        memories, learned = store.load_memories()
        assert memories["kite:AB1234"].initialised and memories["ib:U123"].initialised
        assert set(memories["kite:AB1234"].rows) == {"NFO:NIFTY26NOVFUT", "NSE:TCS"}
        assert learned == {"kite:AB1234": {}, "ib:U123": {}}

        assert [h.status for h in store.history("kite:AB1234", "NSE:TCS")] == ["phantom"]
        [stored] = store.events()
        assert stored.event.kind is EventKind.PHANTOM_DETECTED
        assert stored.event.at == datetime(2026, 11, 19, 3, 45, tzinfo=UTC)
        assert store.latest_runs() == {"kite:AB1234": 1}

        # The upgraded database takes new syncs like a new one.
        save(store, outcome([make_row("NFO:NIFTY26NOVFUT", account="kite:AB1234")], account="kite:AB1234"))
        assert ("kite:AB1234", "NSE:TCS") not in {r.key for r in store.rows()}
    finally:
        store.close()


def test_a_database_from_a_newer_position_sync_is_refused(tmp_path: Path) -> None:
    store = Store.open(tmp_path)
    save(store, outcome([make_row("NFO:A")]))
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    store.close()

    with pytest.raises(StoreError) as caught:
        Store.open(tmp_path)
    message = str(caught.value)
    assert "newer Position Sync" in message
    assert "0099_from_the_future" in message
    assert str(tmp_path / DB_NAME) in message
    assert "\n" not in message
    # Refusing must not touch it: the future schema stays as it was.
    with sqlite3.connect(tmp_path / DB_NAME) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0099_from_the_future",)
        ]


def test_a_database_not_made_by_position_sync_is_refused(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / DB_NAME) as connection:
        connection.execute("CREATE TABLE rows (x INTEGER)")
    with pytest.raises(StoreError, match="not created by Position Sync"):
        Store.open(tmp_path)


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(store: Store) -> None:
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


# -- saving ------------------------------------------------------------------------------


class FailingInsert:
    """Makes the database raise, as a full disk would, when a statement on ``table`` is an insert."""

    def __init__(self, store: Store, table: str) -> None:
        self.engine = store.engine
        self.prefix = f"INSERT INTO {table.upper()} "
        self.armed = True
        self.statements: list[str] = []

    def __enter__(self) -> FailingInsert:
        event.listen(self.engine, "before_cursor_execute", self._before)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)

    def _before(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.statements.append(statement)
        if self.armed and statement.lstrip().upper().startswith(self.prefix):
            raise OperationalError(statement, {}, Exception("database or disk is full"))


def test_a_crash_in_the_middle_of_save_keeps_the_previous_picture(store: Store, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    first = outcome([make_row("NFO:A"), make_row("NFO:B"), make_row("NFO:C")])
    save(store, first)
    history_before = store.count_history()
    second = outcome(
        [
            make_row("NFO:A", broker_qty=Decimal(20), status=Status.QTY_MISMATCH),
            make_row("NFO:B", last_price=Decimal(99)),
            make_row("NFO:D"),
        ],
        events=[Event(T0, "acct", EventKind.QTY_CHANGED, "NFO:A", "10 to 20")],
        closed=[ClosedPosition("acct", "NFO:C", T0, Decimal(10), Decimal(100), Decimal(5), False)],
    )

    with FailingInsert(store, "row_history") as failure:
        with pytest.raises(StoreError) as caught:
            save(store, second, T0 + timedelta(minutes=1))
        message = str(caught.value)
        assert "saving the sync of acct" in message and "\n" not in message
        # The rows were upserted before the failing insert: only the transaction can undo them.
        assert any(s.lstrip().upper().startswith("INSERT INTO ROWS ") for s in failure.statements)

        assert fresh_rows(store_dir) == first.rows
        assert store.count_history() == history_before
        assert store.events() == []
        assert store.closed() == []
        assert store.latest_runs() == {"acct": 1}
        assert store.account_statuses()["acct"].last_attempt_at == T0 + timedelta(milliseconds=5)

        # Had the failed save updated the store's cache of saved rows, this retry would skip the
        # rows it believes written and the database would keep the first picture.
        failure.armed = False
        save(store, second, T0 + timedelta(minutes=2))
    assert fresh_rows(store_dir) == second.rows
    assert [c.instrument for c in store.closed()] == ["NFO:C"]
    assert [s.event.kind for s in store.events()] == [EventKind.QTY_CHANGED]
    assert store.history("acct", "NFO:A")[-1].broker_qty == Decimal(20)
    assert [h.status for h in store.history("acct", "NFO:D")] == ["match"]


def test_no_history_row_when_nothing_changed(store: Store) -> None:
    picture = outcome([make_row(f"NFO:S{i}") for i in range(5)])
    save(store, picture)
    assert store.count_history() == 5
    save(store, picture, T0 + timedelta(minutes=1))
    # An equal but separately built picture (as a reconciliation of an unchanged broker gives).
    save(store, outcome([make_row(f"NFO:S{i}") for i in range(5)]), T0 + timedelta(minutes=2))
    assert store.count_history() == 5


def test_a_price_tick_updates_the_row_but_makes_no_history(store: Store, tmp_path: Path) -> None:
    save(store, outcome([make_row("NFO:A"), make_row("NFO:B")]))
    ticked = make_row("NFO:A", last_price=Decimal("101.35"), unrealised_pnl=Decimal("13.5"))
    save(store, outcome([ticked, make_row("NFO:B")]), T0 + timedelta(minutes=1))
    assert store.count_history() == 2
    assert fresh_rows(tmp_path / "store")["NFO:A"] == ticked


def test_one_save_of_ticked_rows_and_rows_changed_otherwise_stores_each_whole(
    store: Store, tmp_path: Path
) -> None:
    """Prices alone are updated in place; a row with anything else changed is written whole."""
    save(store, outcome([make_row(f"NFO:S{i}") for i in range(4)]))
    tick: dict[str, Any] = {"last_price": Decimal("101.35"), "unrealised_pnl": Decimal("13.5")}
    second = [
        make_row("NFO:S0", **tick),
        make_row("NFO:S1", **tick, streak=2),  # not material, yet stored
        make_row("NFO:S2", last_price=None, unrealised_pnl=None),
        make_row("NFO:S3", **tick, broker_qty=Decimal(15), status=Status.QTY_MISMATCH),
    ]
    save(store, outcome(second), T0 + timedelta(minutes=1))
    assert fresh_rows(tmp_path / "store") == {row.instrument: row for row in second}
    assert store.count_history() == 5  # only the quantity change made history


def test_a_quantity_change_makes_one_history_row(store: Store) -> None:
    save(store, outcome([make_row("NFO:A"), make_row("NFO:B")]))
    changed = make_row("NFO:A", broker_qty=Decimal(15), status=Status.QTY_MISMATCH)
    save(store, outcome([changed, make_row("NFO:B")]), T0 + timedelta(minutes=1))
    assert store.count_history() == 3
    history = store.history("acct", "NFO:A")
    assert [(h.status, h.broker_qty) for h in history] == [
        ("match", Decimal(10)),
        ("qty_mismatch", Decimal(15)),
    ]
    assert history[-1].at == T0 + timedelta(minutes=1, milliseconds=5)
    assert store.history("acct", "NFO:B")[0].local_qty == Decimal(10)


def test_rows_that_disappear_are_deleted_but_their_history_and_close_stay(
    store: Store, tmp_path: Path
) -> None:
    save(store, outcome([make_row("NFO:A"), make_row("NFO:B")]))
    save(store, outcome([make_row("NFO:A")], account="other"))
    close = ClosedPosition("acct", "NFO:B", T0, Decimal(10), Decimal(100), Decimal("-12.5"), True)
    closed_event = Event(T0, "acct", EventKind.CLOSED, "NFO:B", "closed at the broker: was 10")
    save(store, outcome([make_row("NFO:A")], events=[closed_event], closed=[close]), T0 + timedelta(1))

    assert {r.key for r in store.rows()} == {("acct", "NFO:A"), ("other", "NFO:A")}
    assert set(fresh_rows(tmp_path / "store")) == {"NFO:A"}
    assert [h.status for h in store.history("acct", "NFO:B")] == ["match"]
    assert store.closed() == [close]
    assert store.closed("other") == []
    assert [s.event for s in store.events(account="acct")] == [closed_event]
    # Another account's rows are never touched by this account's sync.
    assert store.history("other", "NFO:A")


def test_a_save_handed_the_rows_it_last_saved_compares_against_them(store: Store, tmp_path: Path) -> None:
    """The sync worker hands its memory; the store keeps no copy of its own and reads none."""
    first = outcome([make_row("NFO:A"), make_row("NFO:B")])
    store.save("acct", first, T0, T0, previous={})
    second = outcome([make_row("NFO:A", broker_qty=Decimal(15), status=Status.QTY_MISMATCH)])
    store.save("acct", second, T0, T0 + timedelta(minutes=1), previous=first.rows)
    assert fresh_rows(tmp_path / "store") == second.rows
    assert [h.broker_qty for h in store.history("acct", "NFO:A")] == [Decimal(10), Decimal(15)]
    history = store.count_history()
    store.save("acct", second, T0, T0 + timedelta(minutes=2), previous=second.rows)
    assert store.count_history() == history


def test_a_stale_sync_is_recorded_with_its_state(store: Store) -> None:
    save(store, outcome([make_row("NFO:A")]))
    stale_row = replace(make_row("NFO:A"), status=Status.STALE, previous_status=Status.MATCH)
    save(store, outcome([stale_row], state=AccountState.STALE), T0 + timedelta(minutes=1))
    [row] = store.rows()
    assert row.status is Status.STALE and row.previous_status is Status.MATCH
    status = store.account_statuses()["acct"]
    assert status.state is AccountState.STALE
    assert status.error == "broker: down"
    assert status.last_success_at == T0
    assert status.last_attempt_at == T0 + timedelta(minutes=1, milliseconds=5)


def test_events_round_trip(store: Store) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    sent = [
        Event(
            datetime(2026, 11, 20, 15, 45, 1, 123456, tzinfo=india),
            "acct",
            EventKind.CLOSED,
            "NFO:NIFTY26N2424500CE",
            "closed at the broker: was 150, realised P&L -1650",
            {"realised_pnl": "-1650"},
        ),
        Event(T0, "acct", EventKind.SYNC_FAILED, None, "broker: down"),
        Event(T0, "acct", EventKind.MASS_CHANGE_HELD, None, "3 of 4", {"instruments": ["A", "B", "C"]}),
        Event(T0 + timedelta(hours=1), "other", EventKind.LOGIN_REQUIRED, None, "log in again ✓"),
    ]
    run_id = save(store, outcome([], events=sent[:3]))
    save(store, outcome([], account="other", events=sent[3:]))
    stored = store.events()
    assert [s.event for s in stored] == sent
    assert all(s.event.at.tzinfo is not None for s in stored)
    assert [s.id for s in stored] == sorted(s.id for s in stored)
    assert [s.event for s in store.events(run_ids=[run_id])] == sent[:3]
    assert [s.event for s in store.events(kinds=["closed", "login_required"])] == [sent[0], sent[3]]
    assert [s.event for s in store.events(since=T0 + timedelta(minutes=30))] == [sent[0], sent[3]]
    assert [s.event for s in store.events(limit=1)] == [sent[3]]


def test_decimals_come_back_exact(store: Store, tmp_path: Path) -> None:
    values: dict[str, Any] = {
        "broker_qty": Decimal("0.3"),
        "local_qty": Decimal("0.30000000000000004"),
        "broker_avg": Decimal("123456789.123456789"),
        "local_avg": Decimal("0.00000001"),
        "last_price": Decimal("-0.10"),
        "unrealised_pnl": Decimal("1E+3"),
        "realised_pnl": Decimal("-98765432109876543210.5"),
        "multiplier": Decimal("0.001"),
    }
    row = make_row(
        "BTC/USDT:USDT",
        status=Status.QTY_MISMATCH,
        broker_parts=(Part("BOTH", Decimal("0.1"), Decimal("1.10")), Part("x", Decimal("0.2"))),
        **values,
    )
    save(store, outcome([row]))
    back = fresh_rows(tmp_path / "store")["BTC/USDT:USDT"]
    assert back == row
    for name, value in values.items():
        assert str(getattr(back, name)) == str(value), name
    assert [str(p.average_price) for p in back.broker_parts] == ["1.10", "None"]
    close = ClosedPosition("acct", "X", T0, Decimal("0.1"), Decimal("0.30"), Decimal("-0.05"), False)
    save(store, outcome([], account="acct", closed=[close]))
    assert [str(c.average_price) for c in store.closed()] == ["0.30"]
    assert store.closed() == [close]


def test_figures_shared_on_reading_keep_each_ones_own_digits(store: Store, tmp_path: Path) -> None:
    """Reading shares one Decimal between equal texts (a matched row's sides, a part that is the
    row's own side); a figure written with other digits keeps them."""
    rows = [
        make_row(
            f"NFO:S{i}",
            broker_qty=Decimal("75"),
            local_qty=Decimal("75"),
            broker_avg=Decimal("100.0"),
            local_avg=Decimal("100.00") if i % 2 else Decimal("100.0"),
            broker_parts=(Part("NRML", Decimal("75.0") if i % 2 else Decimal("75"), Decimal("100.0")),),
            local_parts=(Part("swing", Decimal("75"), Decimal("100.000")),),
        )
        for i in range(4)
    ]
    save(store, outcome(rows))
    back = fresh_rows(tmp_path / "store")
    for row in rows:
        read = back[row.instrument]
        assert read == row
        assert (str(read.broker_qty), str(read.local_qty)) == ("75", "75")
        assert (str(read.broker_avg), str(read.local_avg)) == (str(row.broker_avg), str(row.local_avg))
        assert [(str(p.quantity), str(p.average_price)) for p in read.broker_parts] == [
            (str(p.quantity), str(p.average_price)) for p in row.broker_parts
        ]
        assert [str(p.average_price) for p in read.local_parts] == ["100.000"]


def test_times_come_back_tz_aware(store: Store, tmp_path: Path) -> None:
    new_york = timezone(timedelta(hours=-5))
    since = datetime(2026, 11, 20, 9, 30, 0, 1, tzinfo=new_york)
    save(store, outcome([make_row("SMART:AAPL", since=since)]))
    back = fresh_rows(tmp_path / "store")["SMART:AAPL"]
    assert back.since.tzinfo is not None
    assert back.since == since
    assert back.since.utcoffset() == timedelta(0)
    status = store.account_statuses()["acct"]
    assert status.last_success_at is not None and status.last_success_at.tzinfo is not None
    memories, _ = store.load_memories()
    assert memories["acct"].last_success_at == T0


def test_memory_and_learned_aliases_round_trip(store: Store) -> None:
    rows = [make_row("NFO:A"), make_row("NFO:B")]
    result = outcome(rows)
    memory = replace(
        result.memory,
        held=frozenset({"NFO:A", "NFO:B"}),
        book_fingerprint="abc123",
        book_changed_at=T0 - timedelta(seconds=3),
    )
    result = replace(result, memory=memory)
    store.save("acct", result, T0, T0, {"SMART:AAPL": "SMART:AAPL 123"})
    memories, learned = store.load_memories()
    assert memories["acct"] == memory
    assert learned == {"acct": {"SMART:AAPL": "SMART:AAPL 123"}}


def test_saving_is_per_account(store: Store) -> None:
    save(store, outcome([make_row("NFO:A"), make_row("NFO:B")], account="one"))
    save(store, outcome([make_row("NFO:A")], account="two"))
    save(store, outcome([], account="two"), T0 + timedelta(1))
    assert {r.key for r in store.rows()} == {("one", "NFO:A"), ("one", "NFO:B")}


# -- PostgreSQL (a team's shared store) --------------------------------------------------


@pytest.fixture
def postgres_store(pg_admin: Engine) -> Iterator[Store]:
    """A store on a fresh PostgreSQL database of its own, dropped afterwards."""
    with fresh_database(pg_admin, "ps_store") as url:
        store = Store(url)
        try:
            yield store
        finally:
            store.close()


@pytest.mark.postgres
def test_the_store_on_postgresql(postgres_store: Store) -> None:
    store = postgres_store
    assert current_revision(store.engine) == head_revision()
    india = timezone(timedelta(hours=5, minutes=30))
    first = outcome(
        [
            make_row("NFO:A", since=datetime(2026, 11, 20, 14, 45, tzinfo=india), explained=True),
            make_row("NFO:B", broker_qty=Decimal("0.30"), local_parts=(Part("entry 1", Decimal("0.1")),)),
        ],
        events=[Event(T0, "acct", EventKind.OPENED, "NFO:A", "opened", {"n": 1})],
    )
    save(store, first)
    save(store, first, T0 + timedelta(minutes=1))
    assert store.count_history() == 2
    ticked = outcome(
        [
            replace(row, last_price=Decimal("24512.5"), unrealised_pnl=Decimal("-3.25"))
            for row in first.rows.values()
        ]
    )
    save(store, ticked, T0 + timedelta(seconds=90))
    assert store.count_history() == 2
    repriced = Store(store.url)
    assert {r.instrument: r for r in repriced.rows()} == ticked.rows
    repriced.close()
    save(store, outcome(list(first.rows.values())), T0 + timedelta(seconds=100))  # as it was
    second = outcome(
        [make_row("NFO:A", broker_qty=Decimal(11), status=Status.QTY_MISMATCH, confirmed=True)],
        closed=[ClosedPosition("acct", "NFO:B", T0, Decimal("0.30"), None, Decimal("-1.5"), True)],
    )
    with FailingInsert(store, "row_history") as failure:
        with pytest.raises(StoreError):
            save(store, second, T0 + timedelta(minutes=2))
        other = Store(store.url)
        assert {r.instrument: r for r in other.rows()} == first.rows
        other.close()
        failure.armed = False
        save(store, second, T0 + timedelta(minutes=3))
    reopened = Store(store.url)
    try:
        assert {r.instrument: r for r in reopened.rows()} == second.rows
        assert [h.broker_qty for h in reopened.history("acct", "NFO:A")] == [Decimal(10), Decimal(11)]
        assert [h.broker_qty for h in reopened.history("acct", "NFO:B")] == [Decimal("0.30")]
        assert [c.instrument for c in reopened.closed()] == ["NFO:B"]
        assert [s.event for s in reopened.events()] == first.events * 2  # saved twice
        assert reopened.account_statuses()["acct"].state is AccountState.OK
    finally:
        reopened.close()


def test_parts_are_stored_as_plain_json() -> None:
    parts = (
        Part('entry "1" ✓\\', Decimal("0.10"), None),
        Part("NRML", Decimal("-5"), Decimal("1E+3")),
    )
    text = parts_json(parts)
    assert text == json.dumps([p.to_json() for p in parts], separators=(",", ":"))
    assert parts_from_json(text) == parts
    assert parts_json(()) is None and parts_from_json(None) == ()
