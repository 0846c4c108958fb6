"""Rows and times to and from the text columns of the store."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from position_sync.app.domain import Part, Row, Status


def iso(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with offset: sorts as time does and reads back aware."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(text: str | None) -> datetime | None:
    if text is None:
        return None
    return _aware(datetime.fromisoformat(text))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def undec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def parts_json(parts: tuple[Part, ...]) -> str | None:
    """The same text as ``json.dumps([p.to_json() ...], separators=(",", ":"))``, built directly.

    A save where every row changed writes two of these per row; ``json.dumps`` made them a
    seventh of the whole save.
    """
    if not parts:
        return None
    return "[" + ",".join(map(_part_json, parts)) + "]"


def _part_json(part: Part) -> str:
    price = "null" if part.average_price is None else f'"{part.average_price}"'
    return f'{{"label":{_quote(part.label)},"quantity":"{part.quantity}","average_price":{price}}}'


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


_ROW_COLUMNS = (
    "account",
    "instrument",
    "status",
    "previous_status",
    "since",
    "broker_qty",
    "local_qty",
    "broker_avg",
    "local_avg",
    "last_price",
    "unrealised_pnl",
    "realised_pnl",
    "realised_estimated",
    "multiplier",
    "currency",
    "hint",
    "explained",
    "streak",
    "confirmed",
    "broker_parts",
    "local_parts",
)


def rows_from_records(columns: Sequence[str], records: Iterable[Sequence[Any]]) -> list[Row]:
    """Rows from records of the ``rows`` table, given as sequences in ``columns`` order.

    Opening the store reads every current row (10,000 on a large account) in every ``sync
    --once`` process, so this is written for speed: columns are taken by position, each distinct
    time, status and parts text is decoded once (a sync gives many rows the same ``since``), and
    stored parts skip the checks meant for user input. Twice as fast as decoding row by row.
    """
    position = {name: index for index, name in enumerate(columns)}
    (
        account,
        instrument,
        status,
        previous,
        since,
        broker_qty,
        local_qty,
        broker_avg,
        local_avg,
        last_price,
        unrealised,
        realised,
        estimated,
        multiplier,
        currency,
        hint,
        explained,
        streak,
        confirmed,
        broker_parts,
        local_parts,
    ) = (position[name] for name in _ROW_COLUMNS)
    statuses: dict[str | None, Status | None] = {s.value: s for s in Status}
    statuses[None] = statuses[""] = None
    times: dict[str, datetime] = {}
    decoded_parts: dict[str | None, tuple[Part, ...]] = {None: (), "": ()}

    def moment(text: str) -> datetime:
        found = times.get(text)
        if found is None:
            found = times[text] = _aware(datetime.fromisoformat(text))
        return found

    def parts(text: str | None) -> tuple[Part, ...]:
        found = decoded_parts.get(text)
        if found is None:
            found = decoded_parts[text] = tuple(
                Part(str(item["label"]), Decimal(item["quantity"]), undec(item.get("average_price")))
                for item in json.loads(text or "[]")
            )
        return found

    return [
        Row(
            account=r[account],
            instrument=r[instrument],
            status=statuses[r[status]],  # type: ignore[arg-type]
            previous_status=statuses[r[previous]],
            since=moment(r[since]),
            broker_qty=undec(r[broker_qty]),
            local_qty=undec(r[local_qty]),
            broker_avg=undec(r[broker_avg]),
            local_avg=undec(r[local_avg]),
            last_price=undec(r[last_price]),
            unrealised_pnl=undec(r[unrealised]),
            realised_pnl=undec(r[realised]),
            realised_estimated=bool(r[estimated]),
            multiplier=Decimal(r[multiplier]),
            currency=r[currency],
            hint=r[hint],
            explained=bool(r[explained]),
            streak=r[streak],
            confirmed=bool(r[confirmed]),
            broker_parts=parts(r[broker_parts]),
            local_parts=parts(r[local_parts]),
        )
        for r in records
    ]


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
