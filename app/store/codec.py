"""Rows and times to and from the text columns of the store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from app.domain import Part, Row, Status


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with offset: sorts as time does and reads back aware."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(text: str | None) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def undec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def parts_json(parts: tuple[Part, ...]) -> str | None:
    if not parts:
        return None
    return json.dumps([p.to_json() for p in parts], separators=(",", ":"))


def parts_from_json(text: str | None) -> tuple[Part, ...]:
    if not text:
        return ()
    return tuple(Part.from_json(item) for item in json.loads(text))


def row_record(row: Row, updated_at: str) -> dict[str, Any]:
    return {
        "account": row.account,
        "instrument": row.instrument,
        "status": row.status.value,
        "previous_status": row.previous_status.value if row.previous_status else None,
        "since": iso(row.since),
        "broker_qty": dec(row.broker_qty),
        "local_qty": dec(row.local_qty),
        "broker_avg": dec(row.broker_avg),
        "local_avg": dec(row.local_avg),
        "last_price": dec(row.last_price),
        "unrealised_pnl": dec(row.unrealised_pnl),
        "realised_pnl": dec(row.realised_pnl),
        "realised_estimated": row.realised_estimated,
        "multiplier": str(row.multiplier),
        "currency": row.currency,
        "hint": row.hint,
        "explained": row.explained,
        "streak": row.streak,
        "confirmed": row.confirmed,
        "broker_parts": parts_json(row.broker_parts),
        "local_parts": parts_json(row.local_parts),
        "updated_at": updated_at,
    }


def row_from_record(record: Any) -> Row:
    since = from_iso(record.since)
    assert since is not None
    return Row(
        account=record.account,
        instrument=record.instrument,
        status=Status(record.status),
        previous_status=Status(record.previous_status) if record.previous_status else None,
        since=since,
        broker_qty=undec(record.broker_qty),
        local_qty=undec(record.local_qty),
        broker_avg=undec(record.broker_avg),
        local_avg=undec(record.local_avg),
        last_price=undec(record.last_price),
        unrealised_pnl=undec(record.unrealised_pnl),
        realised_pnl=undec(record.realised_pnl),
        realised_estimated=bool(record.realised_estimated),
        multiplier=Decimal(record.multiplier),
        currency=record.currency,
        hint=record.hint,
        explained=bool(record.explained),
        streak=record.streak,
        confirmed=bool(record.confirmed),
        broker_parts=parts_from_json(record.broker_parts),
        local_parts=parts_from_json(record.local_parts),
    )


def material(row: Row) -> tuple[Any, ...]:
    """What a history record is kept for: prices ticking alone do not make history."""
    return (
        row.status,
        row.broker_qty,
        row.local_qty,
        row.broker_avg,
        row.local_avg,
        row.realised_pnl,
        row.hint,
    )
