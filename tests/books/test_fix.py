"""The "fix my book" actions on real SQLite and PostgreSQL books: what they write, events, undo."""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from position_sync.app.books.rows import to_position
from position_sync.app.config import BookConfig, Settings, load_settings
from position_sync.app.domain import EventKind
from position_sync.app.errors import ConfigError
from position_sync.app.exit_codes import ExitCode
from position_sync.app.fix import BookFixer, FixError
from position_sync.app.fix_command import cmd_fix
from position_sync.app.store import Store
from position_sync.app.team.audit import trail
from position_sync.cli import build_parser, main
from tests.books.conftest import PG_PASSWORD_ENV, Database

SCENARIO = """
[[steps]]
positions = [
  { symbol = "NSE:INFY", quantity = "100", average_price = "1500" },
  { symbol = "NSE:SBIN", quantity = "50", average_price = "812.5" },
]
"""


class Setup:
    def __init__(self, db: Database, tmp_path: Path, writable: bool = True) -> None:
        self.db = db
        self.tmp = tmp_path
        self.table = db.table("positions")
        key = "SERIAL PRIMARY KEY" if db.backend == "postgres" else "INTEGER PRIMARY KEY"
        closed = "TIMESTAMPTZ" if db.backend == "postgres" else "TEXT"
        db.run(
            f"CREATE TABLE {self.table} (id {key}, symbol VARCHAR(40), quantity NUMERIC(18,4), "
            f"average_price NUMERIC(18,4), closed_at {closed}, close_reason TEXT, source TEXT)",
            f"INSERT INTO {self.table} (symbol, quantity, average_price, source) VALUES "
            "('TCS', 5, 4100, 'bot'), ('SBIN', 30, 812.5, 'bot')",
        )
        (tmp_path / "scenario.toml").write_text(SCENARIO)
        password = f'password_env = "{PG_PASSWORD_ENV}"\n' if db.backend == "postgres" else ""
        write = (
            'writable = true\n\n[books.write]\nkey = "id"\nclosed_at = "closed_at"\n'
            'reason = "close_reason"\nexternal = "source"\n'
            if writable
            else ""
        )
        self.config = tmp_path / "config.toml"
        self.config.write_text(
            f"""
[[accounts]]
id = "sim"
broker = "simulated"
scenario = "scenario.toml"
book = "bot"
exchange = "NSE"
confirm_syncs = 1
settle_seconds = 0

[[books]]
id = "bot"
kind = "sql"
url = "{db.url}"
table = "{self.table}"
where = "closed_at IS NULL"
{password}{write}"""
        )
        self.data = tmp_path / "data"

    def cli(self, *args: str) -> int:
        return main(["--config", str(self.config), "--data-dir", str(self.data), *args])

    def sync(self) -> int:
        return self.cli("sync", "--once")

    @property
    def settings(self) -> Settings:
        return load_settings(self.config)

    def fixer(self) -> tuple[BookFixer, Store]:
        store = Store.open(self.data)
        return BookFixer(self.settings, store), store

    def rows(self) -> list[dict[str, Any]]:
        with self.db.admin.connect() as connection:
            result = connection.execute(text(f"SELECT * FROM {self.table} ORDER BY id"))
            return [dict(r) for r in result.mappings()]

    def statuses(self) -> dict[str, str]:
        store = Store.open(self.data)
        try:
            return {r.instrument: r.status.value for r in store.rows()}
        finally:
            store.close()


@pytest.fixture
def setup(database: Database, tmp_path: Path) -> Setup:
    s = Setup(database, tmp_path)
    assert s.sync() == 1
    assert s.statuses() == {"NSE:INFY": "untracked", "NSE:SBIN": "qty_mismatch", "NSE:TCS": "phantom"}
    return s


def test_close_phantom_marks_the_row_closed_and_never_deletes(setup: Setup) -> None:
    fixer, store = setup.fixer()
    plan = fixer.plan("sim", "NSE:TCS", "close-phantom")
    lines = plan.describe()
    assert "close-phantom for NSE:TCS at sim: 1 write(s) to book 'bot'" in lines[0]
    assert "closed_at: NULL -> '" in lines[1] and "close_reason: NULL -> 'closed_at_broker'" in lines[1]
    event = fixer.apply(plan)
    assert event.kind is EventKind.BOOK_FIXED
    rows = setup.rows()
    assert len(rows) == 2  # nothing deleted
    tcs = next(r for r in rows if r["symbol"] == "TCS")
    assert tcs["closed_at"] is not None and tcs["close_reason"] == "closed_at_broker"
    stored = [s.event for s in store.events(kinds=["book_fixed"])]
    assert stored[0].data["writes"][0]["before"] == {"closed_at": None, "close_reason": None}
    assert stored[0].data["writes"][0]["after"]["close_reason"] == "closed_at_broker"
    store.close()
    assert setup.sync() == 1
    assert "NSE:TCS" not in setup.statuses()


def test_undo_restores_the_last_fix(setup: Setup) -> None:
    fixer, store = setup.fixer()
    before = setup.rows()
    fixer.apply(fixer.plan("sim", "NSE:TCS", "close-phantom"))
    undo = fixer.plan_undo()
    assert undo.undo_of is not None and "undo of fix" in undo.describe()[0]
    event = fixer.apply(undo)
    assert event.kind is EventKind.BOOK_FIX_UNDONE
    assert setup.rows() == before
    with pytest.raises(FixError, match="no fix to undo"):
        fixer.plan_undo()
    # The audit trail keeps both, each with what the book held before and after.
    fix, undone = trail(store.engine)
    assert (fix.action, undone.action) == ("fix", "fix_undone")
    assert fix.instrument == undone.instrument == "NSE:TCS"
    assert fix.after["rows"] == undone.before["rows"] and fix.before["rows"] == undone.after["rows"]
    assert fix.before["rows"] != fix.after["rows"]
    store.close()


def test_adopt_inserts_an_external_row_and_undo_removes_it(setup: Setup) -> None:
    fixer, store = setup.fixer()
    plan = fixer.plan("sim", "NSE:INFY", "adopt")
    assert "INSERT INTO" in plan.describe()[1] and "symbol = 'INFY'" in plan.describe()[1]
    fixer.apply(plan)
    infy = next(r for r in setup.rows() if r["symbol"] == "INFY")
    assert (Decimal(str(infy["quantity"])), Decimal(str(infy["average_price"])), infy["source"]) == (
        Decimal(100),
        Decimal(1500),
        "external",
    )
    assert setup.sync() == 1
    assert setup.statuses()["NSE:INFY"] == "match"
    fixer.apply(fixer.plan_undo())
    assert [r["symbol"] for r in setup.rows()] == ["TCS", "SBIN"]
    store.close()


def test_take_broker_sets_quantity_and_price(setup: Setup) -> None:
    fixer, store = setup.fixer()
    fixer.apply(fixer.plan("sim", "NSE:SBIN", "take-broker"))
    sbin = next(r for r in setup.rows() if r["symbol"] == "SBIN")
    assert Decimal(str(sbin["quantity"])) == 50
    store.close()
    setup.sync()
    assert setup.statuses()["NSE:SBIN"] == "match"


def test_wrong_status_and_unknown_rows_are_refused(setup: Setup) -> None:
    fixer, store = setup.fixer()
    with pytest.raises(FixError, match="adopt is for untracked rows; NSE:TCS at sim is phantom"):
        fixer.plan("sim", "NSE:TCS", "adopt")
    with pytest.raises(FixError, match="no row NSE:NOPE"):
        fixer.plan("sim", "NSE:NOPE", "close-phantom")
    store.close()


def test_a_row_changed_since_the_plan_writes_nothing(setup: Setup) -> None:
    fixer, store = setup.fixer()
    plan = fixer.plan("sim", "NSE:SBIN", "take-broker")
    setup.db.run(f"UPDATE {setup.table} SET quantity = 31 WHERE symbol = 'SBIN'")
    before = setup.rows()
    with pytest.raises(FixError, match="changed since the action was planned"):
        fixer.apply(plan)
    assert setup.rows() == before
    assert store.events(kinds=["book_fixed"]) == []
    store.close()


def test_read_only_book_is_refused(database: Database, tmp_path: Path) -> None:
    s = Setup(database, tmp_path, writable=False)
    s.sync()
    fixer, store = s.fixer()
    with pytest.raises(FixError, match="book 'bot' is read-only"):
        fixer.plan("sim", "NSE:TCS", "close-phantom")
    store.close()
    assert (
        s.cli("fix", "--account", "sim", "--instrument", "NSE:TCS", "--action", "close-phantom", "--yes") == 3
    )


def test_cli_shows_the_plan_and_needs_confirmation(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    args = ("fix", "--account", "sim", "--instrument", "NSE:TCS", "--action", "close-phantom")
    before = setup.rows()
    assert setup.cli(*args) == 3  # no terminal to confirm on (a usage mistake): nothing written
    assert setup.rows() == before
    assert setup.cli(*args, "--yes") == 0
    out = capsys.readouterr().out
    assert "UPDATE" in out and "done: close-phantom in book 'bot'" in out
    # A process syncing the account is asked to sync it now, reading the book in full.
    store = Store.open(setup.data)
    try:
        with store.engine.connect() as connection:
            asked = connection.execute(text("SELECT account, taken_at FROM sync_requests")).all()
    finally:
        store.close()
    assert [tuple(r) for r in asked] == [("sim", None)]
    assert setup.cli("fix", "--undo", "--yes") == 0
    assert setup.rows() == before


def test_a_sync_never_writes_to_a_writable_book(database: Database, tmp_path: Path) -> None:
    s = Setup(database, tmp_path)
    digest = hashlib.sha1(database.path.read_bytes()).hexdigest() if database.path else None
    before = s.rows()
    for _ in range(3):
        s.sync()
    assert s.rows() == before
    if database.path:
        assert hashlib.sha1(database.path.read_bytes()).hexdigest() == digest


def test_the_instrument_is_resolved_as_the_book_spells_it(setup: Setup) -> None:
    """``tcs`` in an NSE account is the row ``NSE:TCS``, as the sync keys the book's lines."""
    fixer, store = setup.fixer()
    plan = fixer.plan("sim", " tcs ", "close-phantom")
    assert plan.instrument == "NSE:TCS"
    assert "close-phantom for NSE:TCS at sim" in plan.describe()[0]
    store.close()


def test_an_instrument_that_is_not_there_lists_close_matches(setup: Setup) -> None:
    fixer, store = setup.fixer()
    with pytest.raises(FixError) as caught:
        fixer.plan("sim", "TCSS", "close-phantom")
    message = str(caught.value)
    assert "sim has no row NSE:TCSS in the last sync (did you mean NSE:TCS?)" in message
    assert "run a sync first" not in message and "sync --once" not in message
    store.close()


def test_an_account_never_synced_is_told_to_sync(database: Database, tmp_path: Path) -> None:
    s = Setup(database, tmp_path)
    fixer, store = s.fixer()
    with pytest.raises(FixError, match=r"sim has no rows in the store yet; run `position-sync sync --once`"):
        fixer.plan("sim", "NSE:TCS", "close-phantom")
    store.close()


def test_fix_exit_codes(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    """0 written or declined at the prompt, 3 configuration or usage, 4 refused, 5 rolled back."""
    settings = setup.settings
    before = setup.rows()

    def run(*argv: str, answer: str = "y") -> int:
        args = build_parser().parse_args(["fix", *argv])
        return cmd_fix(settings, setup.data, args, ask=lambda _: answer)

    close = ("--account", "sim", "--instrument", "tcs", "--action", "close-phantom")
    assert run(*close, answer="n") == ExitCode.OK  # the user said no: nothing written, no failure
    assert "declined: nothing written" in capsys.readouterr().out
    assert setup.rows() == before
    assert run("--account", "sim", "--instrument", "NSE:TCS", "--action", "adopt") == ExitCode.REFUSED
    assert run("--account", "sim", "--instrument", "NOPE", "--action", "adopt") == ExitCode.REFUSED
    assert run("--undo") == ExitCode.REFUSED  # nothing to undo
    with pytest.raises(ConfigError, match="needs --account, --instrument and --action"):
        run("--account", "sim")
    assert setup.rows() == before

    plan_then_change = ("--account", "sim", "--instrument", "sbin", "--action", "take-broker")

    def change_meanwhile(_: str) -> str:
        setup.db.run(f"UPDATE {setup.table} SET quantity = 31 WHERE symbol = 'SBIN'")
        return "y"

    args = build_parser().parse_args(["fix", *plan_then_change])
    assert cmd_fix(settings, setup.data, args, ask=change_meanwhile) == ExitCode.ROLLED_BACK
    assert "changed since the action was planned" in capsys.readouterr().err
    assert run(*close) == ExitCode.OK
    assert ExitCode.CONFIG == 3


def test_a_non_writable_book_exits_3(database: Database, tmp_path: Path) -> None:
    s = Setup(database, tmp_path, writable=False)
    s.sync()
    assert s.cli("fix", "--account", "sim", "--instrument", "tcs", "--action", "close-phantom", "--yes") == 3


@pytest.mark.parametrize(("side", "sign"), [("SLD", -1), ("-1", -1), ("short", -1), ("BOT", 1), ("buy", 1)])
def test_fixes_read_side_words_as_the_sync_does(side: str, sign: int) -> None:
    book = BookConfig("bot", "sql", url="sqlite:///x.db", fields={"side": "side"}, options={"table": "p"})
    assert BookFixer._sign(book, {"side": side}) == sign
    assert to_position({"symbol": "A", "quantity": "5", "side": side}, book).quantity == 5 * sign
