"""Rows and times to and from the text columns of the store."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

from position_sync.app.collector import collector_paused
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


def row_values(row: Row, updated_at: str) -> tuple[Any, ...]:
    """The ``rows`` table's record of a row, in ``ROW_RECORD_COLUMNS`` order: a first save
    writes 100,000 of them.

    A tuple, the shape sqlite3's ``executemany`` takes, rather than a dict turned into one
    afterwards: that turning was a tenth of a save where every row changed. The numbers are
    written inline rather than through a call per field.
    """
    previous = row.previous_status
    return (
        row.account,
        row.instrument,
        row.status.value,
        previous.value if previous else None,
        since_text(row.since),
        None if (v := row.broker_qty) is None else str(v),
        None if (v := row.local_qty) is None else str(v),
        None if (v := row.broker_avg) is None else str(v),
        None if (v := row.local_avg) is None else str(v),
        None if (v := row.last_price) is None else str(v),
        None if (v := row.unrealised_pnl) is None else str(v),
        None if (v := row.realised_pnl) is None else str(v),
        row.realised_estimated,
        str(row.multiplier),
        row.currency,
        row.hint,
        row.explained,
        row.streak,
        row.confirmed,
        parts_json(row.broker_parts) if row.broker_parts else None,
        parts_json(row.local_parts) if row.local_parts else None,
        updated_at,
    )


def since_text(since: datetime) -> str:
    """``iso(since)`` for a row's ``since``, worked out once for the rows of one sync.

    Every row of a sync shares one ``since`` (the sync's time) until its status changes, so the
    text of the last one seen is kept: a 100,000-row save or JSON picture formats it once.
    """
    global _last_since
    last = _last_since
    if last[0] is since:
        return last[1]
    text = iso(since)
    assert text is not None
    _last_since = (since, text)
    return text


# The last ``since`` written and its text, replaced as one tuple: a reader on another thread
# sees one pair or the other, never one's time with the other's text.
_last_since: tuple[datetime | None, str] = (None, "")


ROW_COLUMNS = (
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
# What ``row_values`` writes: the row's columns and when the row was last written.
ROW_RECORD_COLUMNS = (*ROW_COLUMNS, "updated_at")


def rows_from_records(columns: Sequence[str], records: Iterable[Sequence[Any]]) -> list[Row]:
    """Rows from records of the ``rows`` table, given as sequences in ``columns`` order.

    Opening the store reads every current row (100,000 on a large account) in every ``sync
    --once`` process, so this is written for speed: columns are taken by position, each distinct
    time, status and parts text is decoded once (a sync gives many rows the same ``since``), the
    parts this store wrote itself are read without a JSON parser (``_parts``), each row's slots
    are filled on an empty object (``Row``'s keyword-only ``__init__`` goes through a dict), and
    the cyclic collector is paused, as reconciliation does: none of this makes a cycle.
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
    ) = (position[name] for name in ROW_COLUMNS)
    statuses: dict[str | None, Status | None] = {s.value: s for s in Status}
    statuses[None] = statuses[""] = None
    times: dict[str, datetime] = {}
    numbers: dict[str | None, Decimal | None] = {None: None, "1": Decimal(1)}
    quantities: dict[str | None, Decimal | None] = {None: None}
    decoded_parts: dict[str | None, tuple[Part, ...]] = {None: (), "": ()}
    new = object.__new__
    rows: list[Row] = []
    append = rows.append
    with collector_paused():
        for r in records:
            row = new(Row)
            row.account = r[account]
            row.instrument = r[instrument]
            row.status = statuses[r[status]]  # type: ignore[assignment]
            row.previous_status = statuses[r[previous]]
            text = r[since]
            moment = times.get(text)
            if moment is None:
                moment = times[text] = _aware(datetime.fromisoformat(text))
            row.since = moment
            # Quantities repeat across rows (and a matched row's two sides are one figure), and a
            # matched row's two averages are one text: one Decimal each, shared, not four.
            row.broker_qty = b_qty = _shared(r[broker_qty], quantities)
            row.local_qty = l_qty = _shared(r[local_qty], quantities)
            b_text = r[broker_avg]
            row.broker_avg = b_avg = None if b_text is None else Decimal(b_text)
            text = r[local_avg]
            row.local_avg = b_avg if text == b_text else (None if text is None else Decimal(text))
            text = r[last_price]
            row.last_price = None if text is None else Decimal(text)
            text = r[unrealised]
            row.unrealised_pnl = None if text is None else Decimal(text)
            text = r[realised]
            row.realised_pnl = None if text is None else Decimal(text)
            row.realised_estimated = bool(r[estimated])
            text = r[multiplier]
            found = numbers.get(text)
            row.multiplier = found if found is not None else Decimal(text)
            row.currency = r[currency]
            row.hint = r[hint]
            row.explained = bool(r[explained])
            row.streak = r[streak]
            row.confirmed = bool(r[confirmed])
            text = r[broker_parts]
            parts = decoded_parts.get(text)
            if parts is None:
                parts = _parts(text, decoded_parts, (r[broker_qty], b_qty, b_text, b_avg))
            row.broker_parts = parts
            text = r[local_parts]
            parts = decoded_parts.get(text)
            if parts is None:
                parts = _parts(text, decoded_parts, (r[local_qty], l_qty, r[local_avg], row.local_avg))
            row.local_parts = parts
            append(row)
    return rows


def _shared(text: str | None, seen: dict[str | None, Decimal | None]) -> Decimal | None:
    """The Decimal of ``text``, one object for every repeat of it: quantities repeat across an
    account's rows. At most 10,000 texts are kept, so an account of all-different figures does
    not hold a second table of them while it loads."""
    found = seen.get(text)
    if found is None and text is not None:
        found = Decimal(text)
        if len(seen) < 10_000:
            seen[text] = found
    return found


# One part as ``_part_json`` writes it, whose label needs no unescaping: most stored parts. Read
# with one regular expression, five times cheaper than ``json.loads`` and building the dicts.
_ONE_PART = re.compile(
    r'\[\{"label":"([^"\\]*)","quantity":"([^"\\]*)","average_price":(?:"([^"\\]*)"|null)\}\]\Z'
)
_new_part: Callable[[tuple[str, Decimal, Decimal | None]], Part] = partial(tuple.__new__, Part)


def _parts(
    text: str,
    seen: dict[str | None, tuple[Part, ...]],
    side: tuple[str | None, Decimal | None, str | None, Decimal | None] = (None, None, None, None),
) -> tuple[Part, ...]:
    """Stored parts, decoded once per distinct text; anything but the plain shape goes to JSON.

    A single part is most often the row's own side under a label (Kite's product, an exchange's
    margin mode). ``side`` is that side's quantity and price, as stored text and as read: a
    part written with the very same text shares the row's Decimal instead of parsing another.
    """
    match = _ONE_PART.match(text)
    if match is not None:
        label, quantity, price = match.groups()
        quantity_text, row_quantity, price_text, row_price = side
        amount = row_quantity if quantity == quantity_text and row_quantity is not None else Decimal(quantity)
        if price is None:
            paid = None
        else:
            paid = row_price if price == price_text and row_price is not None else Decimal(price)
        parts: tuple[Part, ...] = (_new_part((label, amount, paid)),)
    else:
        parts = tuple(
            _new_part((str(item["label"]), Decimal(item["quantity"]), undec(item.get("average_price"))))
            for item in json.loads(text)
        )
    if len(seen) < 10_000:  # only repeats are worth keeping: parts texts are mostly one row's own
        seen[text] = parts
    return parts


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
