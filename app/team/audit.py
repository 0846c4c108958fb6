"""The audit trail: every acknowledgement, snooze, note and book fix, who and when, before and
after, appended in the same transaction as the change itself.

On a shared store several people act on the same rows; the acknowledgement records already say
who said what, but not what stood before, and book fixes are undone in place. The trail keeps
both sides of every change, and nobody but the tables' owner may rewrite it
(``app.team.roles`` grants INSERT only).
"""

from __future__ import annotations

import getpass
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select

from position_sync.app.store.codec import from_iso, iso
from position_sync.app.store.models import audit_log

# What the trail records: acknowledgement kinds, and the two book-fix actions.
ACTIONS = ("ack", "snooze", "clear", "note", "fix", "fix_undone")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    by: str | None
    action: str
    account: str
    instrument: str | None
    before: Any
    after: Any


def local_user() -> str | None:
    """The name of the user this process runs as, when no ``[store] user`` is configured."""
    try:
        return getpass.getuser()[:100] or None
    except (KeyError, OSError):  # no passwd entry and no LOGNAME/USER (a bare container)
        return None


def append(
    connection: Connection,
    *,
    at: datetime,
    by: str | None,
    action: str,
    account: str,
    instrument: str | None,
    before: Any,
    after: Any,
) -> None:
    """One line of the trail, in the caller's transaction (so it stands or falls with the change)."""
    assert action in ACTIONS, action
    connection.execute(
        audit_log.insert().values(
            at=iso(at),
            by=by,
            action=action,
            account=account,
            instrument=instrument,
            before=None if before is None else json.dumps(before, sort_keys=True),
            after=None if after is None else json.dumps(after, sort_keys=True),
        )
    )


def trail(engine: Engine, account: str | None = None, instrument: str | None = None) -> list[AuditEntry]:
    """The trail, oldest first, of the store, an account or one row."""
    query = select(audit_log).order_by(audit_log.c.id)
    if account is not None:
        query = query.where(audit_log.c.account == account)
    if instrument is not None:
        query = query.where(audit_log.c.instrument == instrument)
    with engine.connect() as connection:
        return [
            AuditEntry(
                r.id,
                from_iso(r.at) or datetime.min,
                r.by,
                r.action,
                r.account,
                r.instrument,
                json.loads(r.before) if r.before else None,
                json.loads(r.after) if r.after else None,
            )
            for r in connection.execute(query)
        ]
