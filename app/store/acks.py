"""Acknowledgements and snoozes: the user's word on a mismatch, kept in the store.

An acknowledgement records the row's material state (its *fingerprint*); it covers the row only
while that state holds, so a mismatch that changes after it was acknowledged is loud again
without anyone having to remember to undo anything. A snooze covers the row until a time,
whatever happens to it. Both only mute notifications and mark the row: nothing is hidden.

Blocking like the rest of the store: callers run these on a worker thread. Records are only ever
added (a "clear" is a record too), so the row's history shows who said what and when.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select

from position_sync.app.domain import Row
from position_sync.app.store.codec import from_iso, iso
from position_sync.app.store.models import acknowledgements
from position_sync.app.store.repository import Store
from position_sync.app.store.revisions import CHANGES, notify
from position_sync.app.team import audit
from position_sync.app.team.audit import local_user

Key = tuple[str, str]


class AckKind(StrEnum):
    ACK = "ack"
    SNOOZE = "snooze"
    CLEAR = "clear"
    NOTE = "note"  # a word on the row for the others; it mutes nothing


@dataclass(frozen=True)
class Acknowledgement:
    id: int
    account: str
    instrument: str
    kind: AckKind
    at: datetime
    note: str = ""
    until: datetime | None = None
    status: str | None = None
    fingerprint: str | None = None
    by: str | None = None

    @property
    def key(self) -> Key:
        return (self.account, self.instrument)


@dataclass(frozen=True)
class AckState:
    """What currently stands for one row: its latest acknowledgement and latest snooze."""

    ack: Acknowledgement | None = None
    snooze: Acknowledgement | None = None

    def acknowledged(self, row: Row | None) -> bool:
        return self.ack is not None and row is not None and self.ack.fingerprint == fingerprint(row)

    def snoozed(self, now: datetime) -> bool:
        return self.snooze is not None and self.snooze.until is not None and self.snooze.until > now

    def mutes(self, row: Row | None, now: datetime) -> bool:
        return self.acknowledged(row) or self.snoozed(now)


def fingerprint(row: Row) -> str:
    """The state an acknowledgement is about: a changed quantity or price makes it lapse."""
    return "|".join(
        str(part)
        for part in (
            row.effective_status.value,
            row.broker_qty,
            row.local_qty,
            row.broker_avg,
            row.local_avg,
        )
    )


def acknowledge(store: Store, row: Row, note: str, at: datetime) -> Acknowledgement:
    return _add(
        store,
        account=row.account,
        instrument=row.instrument,
        kind=AckKind.ACK,
        at=at,
        note=note,
        status=row.effective_status.value,
        fingerprint=fingerprint(row),
    )


def snooze(
    store: Store, account: str, instrument: str, until: datetime, at: datetime, note: str = ""
) -> Acknowledgement:
    if until <= at:
        raise ValueError("a snooze must end in the future")
    return _add(
        store, account=account, instrument=instrument, kind=AckKind.SNOOZE, at=at, until=until, note=note
    )


def note(store: Store, account: str, instrument: str, text: str, at: datetime) -> Acknowledgement:
    """A note on a row, seen by everyone on the store; it neither acknowledges nor snoozes."""
    if not text.strip():
        raise ValueError("a note needs some text")
    return _add(store, account=account, instrument=instrument, kind=AckKind.NOTE, at=at, note=text.strip())


def clear(store: Store, account: str, instrument: str, at: datetime) -> Acknowledgement:
    """Withdraw the acknowledgement and snooze of a row: it notifies again from now on."""
    return _add(store, account=account, instrument=instrument, kind=AckKind.CLEAR, at=at)


def current(store: Store, accounts: Iterable[str] | None = None) -> dict[Key, AckState]:
    """The standing acknowledgement and snooze of every row that has one."""
    query = select(acknowledgements).order_by(acknowledgements.c.id)
    if accounts is not None:
        query = query.where(acknowledgements.c.account.in_(list(accounts)))
    with store.engine.connect() as connection:
        records = [_record(r) for r in connection.execute(query)]
    return fold(records)


def fold(records: Iterable[Acknowledgement]) -> dict[Key, AckState]:
    """Replay records oldest first: the latest of each kind stands until a later clear."""
    states: dict[Key, AckState] = {}
    for record in records:
        if record.kind is AckKind.NOTE:
            continue
        state = states.get(record.key, AckState())
        if record.kind is AckKind.CLEAR:
            states.pop(record.key, None)
            continue
        is_ack = record.kind is AckKind.ACK
        states[record.key] = AckState(record, state.snooze) if is_ack else AckState(state.ack, record)
    return states


def records(store: Store, account: str, instrument: str) -> list[Acknowledgement]:
    """Every acknowledgement, snooze, clear and note of one row, oldest first (for its history)."""
    with store.engine.connect() as connection:
        return [_record(r) for r in connection.execute(_row_records(account, instrument))]


def _add(store: Store, **values: Any) -> Acknowledgement:
    """Append the record, its line in the audit trail (what stood before, what stands after)
    and a hint for the viewers, all in one transaction."""
    at = values["at"]
    values = {**values, "at": iso(at), "until": iso(values.get("until"))}
    values.setdefault("note", "")
    values.setdefault("by", store.user or local_user())
    key = (values["account"], values["instrument"])
    with store.engine.begin() as connection:
        earlier = [_record(r) for r in connection.execute(_row_records(*key))]
        inserted = connection.execute(acknowledgements.insert().values(**values)).inserted_primary_key
        assert inserted is not None
        new_id = inserted[0]
        record = _record(
            connection.execute(select(acknowledgements).where(acknowledgements.c.id == new_id)).one()
        )
        audit.append(
            connection,
            at=at,
            by=record.by,
            action=record.kind.value,
            account=record.account,
            instrument=record.instrument,
            before=_standing(fold(earlier).get(key)),
            after=_standing(fold([*earlier, record]).get(key))
            if record.kind is not AckKind.NOTE
            else record.note,
        )
        notify(connection, CHANGES, record.account, "acks", record.id)
    return record


def _row_records(account: str, instrument: str) -> Any:
    return (
        select(acknowledgements)
        .where(acknowledgements.c.account == account, acknowledgements.c.instrument == instrument)
        .order_by(acknowledgements.c.id)
    )


def _standing(state: AckState | None) -> dict[str, Any] | None:
    """What covers a row, as the audit trail keeps it."""
    if state is None:
        return None
    out: dict[str, Any] = {}
    for name, record in (("ack", state.ack), ("snooze", state.snooze)):
        if record is not None:
            out[name] = {
                "id": record.id,
                "by": record.by,
                "at": iso(record.at),
                "note": record.note,
                "until": iso(record.until),
                "status": record.status,
            }
    return out or None


def _record(record: Any) -> Acknowledgement:
    at = from_iso(record.at)
    assert at is not None
    return Acknowledgement(
        id=int(record.id),
        account=record.account,
        instrument=record.instrument,
        kind=AckKind(record.kind),
        at=at,
        note=record.note or "",
        until=from_iso(record.until),
        status=record.status,
        fingerprint=record.fingerprint,
        by=record.by,
    )
