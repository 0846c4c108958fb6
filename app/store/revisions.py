"""What a shared store tells the processes watching it: a wake-up hint per change.

Every save of an account raises its ``revision`` (``account_state``); a viewer re-reads an
account whose revision is above the one it last read. On PostgreSQL the writer also sends a
``NOTIFY`` inside the writing transaction (so it arrives only once the change is committed, and
never for a change that rolled back). The notification is only a hint: it is not replayed to
a listener that was away, so a viewer polls the revisions now and then and re-reads everything
after a reconnect. The payload stays far below PostgreSQL's 8,000 bytes: an account name and a
number.

Channels and payloads (JSON):

- ``position_sync``: ``{"account": A, "revision": N}`` after a sync of A was saved;
  ``{"account": A, "acks": ID}`` after acknowledgement record ID of a row of A was written.
- ``position_sync_requests``: ``{"account": A, "request": ID}`` when someone asked for a resync
  of A (request row ID); the daemon holding A takes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, select, text

from position_sync.app.store.models import account_state

CHANGES = "position_sync"
REQUESTS = "position_sync_requests"


@dataclass(frozen=True)
class Hint:
    """One decoded notification; ``kind`` is "revision", "acks" or "request"."""

    channel: str
    account: str
    kind: str
    number: int


def notify(connection: Connection, channel: str, account: str, kind: str, number: int) -> None:
    """Send the hint with the transaction ``connection`` is in; nothing on SQLite (no listener)."""
    if connection.dialect.name != "postgresql":
        return
    payload = json.dumps({"account": account, kind: number}, separators=(",", ":"))
    connection.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload})


def decode(channel: str, payload: str) -> Hint | None:
    """A notification's meaning; None for one this version does not know (a newer writer's)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("account"), str):
        return None
    for kind in ("revision", "acks", "request"):
        number = data.get(kind)
        if isinstance(number, int) and not isinstance(number, bool):
            return Hint(channel, data["account"], kind, number)
    return None


def revision_in(connection: Connection, account: str) -> int:
    """The account's revision (0 before its first save): what a viewer compares to know what moved."""
    found = connection.execute(
        select(account_state.c.revision).where(account_state.c.account == account)
    ).scalar()
    return int(found or 0)
