"""The record of "fix my book" actions: what each wrote, so the last one can be undone.

Each record and its event are written in one transaction, so the event log and the undo list
never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from position_sync.app.domain import Event
from position_sync.app.store.codec import from_iso, iso
from position_sync.app.store.models import book_fixes, events
from position_sync.app.store.repository import Store, event_record
from position_sync.app.team import audit


@dataclass(frozen=True)
class FixRecord:
    id: int
    at: datetime
    account: str
    instrument: str
    book: str
    action: str
    writes: list[dict[str, Any]]
    undone_at: datetime | None


def record_fix(
    store: Store,
    at: datetime,
    account: str,
    instrument: str,
    book: str,
    action: str,
    writes: list[dict[str, Any]],
    event: Event,
) -> int:
    with store.engine.begin() as connection:
        result = connection.execute(
            book_fixes.insert().values(
                at=iso(at),
                account=account,
                instrument=instrument,
                book=book,
                action=action,
                writes=json.dumps(writes, sort_keys=True),
            )
        )
        connection.execute(events.insert(), [event_record(event, None)])
        audit.append(
            connection,
            at=at,
            by=store.user or audit.local_user(),
            action="fix",
            account=account,
            instrument=instrument,
            before={"book": book, "action": action, "rows": [w.get("before") for w in writes]},
            after={"book": book, "action": action, "rows": [w.get("after") for w in writes]},
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def last_fix(store: Store) -> FixRecord | None:
    """The newest action not undone yet: undo walks back one action at a time."""
    query = (
        select(book_fixes).where(book_fixes.c.undone_at.is_(None)).order_by(book_fixes.c.id.desc()).limit(1)
    )
    with store.engine.connect() as connection:
        record = connection.execute(query).first()
    if record is None:
        return None
    at = from_iso(record.at)
    assert at is not None
    return FixRecord(
        record.id,
        at,
        record.account,
        record.instrument,
        record.book,
        record.action,
        json.loads(record.writes),
        from_iso(record.undone_at),
    )


def mark_undone(store: Store, fix_id: int, at: datetime, event: Event) -> None:
    with store.engine.begin() as connection:
        fix = connection.execute(select(book_fixes).where(book_fixes.c.id == fix_id)).one()
        connection.execute(update(book_fixes).where(book_fixes.c.id == fix_id).values(undone_at=iso(at)))
        connection.execute(events.insert(), [event_record(event, None)])
        writes = json.loads(fix.writes)
        # Undoing puts back what the fix found: the trail shows it from the fix's "after".
        audit.append(
            connection,
            at=at,
            by=store.user or audit.local_user(),
            action="fix_undone",
            account=fix.account,
            instrument=fix.instrument,
            before={"book": fix.book, "fix": fix_id, "rows": [w.get("after") for w in writes]},
            after={"book": fix.book, "fix": fix_id, "rows": [w.get("before") for w in writes]},
        )
