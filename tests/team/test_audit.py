"""The shared word on rows: notes, and the append-only trail of who did what, before and after;
on PostgreSQL each write wakes the viewers with a hint."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from position_sync.app.domain import Status
from position_sync.app.store import Store
from position_sync.app.store import acks as ack_store
from position_sync.app.store.revisions import CHANGES, decode
from position_sync.app.team.audit import trail
from position_sync.cli import main
from tests.conftest import T0, make_row
from tests.team.test_leases import outcome_for
from tests.test_acks import demo_dir

__all__ = ["demo_dir"]


def test_every_acknowledgement_snooze_note_and_clear_is_in_the_trail(store: Store) -> None:
    store.user = "asha"
    row = make_row("NFO:X", account="a1", status=Status.PHANTOM, broker_qty=None)
    ack_store.acknowledge(store, row, "closing tonight", T0)
    ack_store.snooze(store, "a1", "NFO:X", T0 + timedelta(hours=2), T0 + timedelta(minutes=1))
    ack_store.note(store, "a1", "NFO:X", "  stop hit at 14:02  ", T0 + timedelta(minutes=2))
    ack_store.clear(store, "a1", "NFO:X", T0 + timedelta(minutes=3))
    entries = trail(store.engine, "a1", "NFO:X")
    assert [(e.action, e.by) for e in entries] == [
        ("ack", "asha"),
        ("snooze", "asha"),
        ("note", "asha"),
        ("clear", "asha"),
    ]
    ack, snooze, note, clear = entries
    assert ack.before is None and ack.after["ack"]["note"] == "closing tonight"
    assert snooze.before == ack.after and set(snooze.after) == {"ack", "snooze"}
    assert note.after == "stop hit at 14:02" and note.before == snooze.after
    assert clear.before == snooze.after and clear.after is None
    # A note mutes nothing: the row's standing acknowledgement and snooze are what they were.
    assert ack_store.current(store) == {}
    with pytest.raises(ValueError, match="needs some text"):
        ack_store.note(store, "a1", "NFO:X", "   ", T0)


def test_note_and_audit_commands(demo_dir: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    config, data = demo_dir
    base = ["--config", str(config), "--data-dir", str(data)]
    assert main([*base, "status", "--json"]) in (0, 1)
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert main([*base, "note", row["account"], row["instrument"], "looking into it", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["kind"] == "note" and record["note"] == "looking into it" and record["by"]
    assert main([*base, "audit", "--json"]) == 0
    (entry,) = json.loads(capsys.readouterr().out)
    assert (
        entry["action"] == "note"
        and entry["after"] == "looking into it"
        and entry["instrument"] == row["instrument"]
    )
    assert main([*base, "audit", "--instrument", "X"]) == 3
    assert "needs --account" in capsys.readouterr().err


@pytest.mark.postgres
def test_saves_and_acknowledgements_wake_listeners_after_they_commit(shared_url: str) -> None:
    conninfo = make_url(shared_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as listener:
        listener.execute(f"LISTEN {CHANGES}")
        store = Store(shared_url)
        try:
            store.save("a1", outcome_for("a1"), T0, T0)
            store.save("a1", outcome_for("a1"), T0, T0 + timedelta(seconds=1))
            record = ack_store.note(store, "a1", "NFO:X", "hello", T0)
        finally:
            store.close()
        hints = [decode(n.channel, n.payload) for n in listener.notifies(timeout=2.0, stop_after=3)]
    assert [(h.account, h.kind, h.number) for h in hints if h is not None] == [
        ("a1", "revision", 1),
        ("a1", "revision", 2),
        ("a1", "acks", record.id),
    ]
