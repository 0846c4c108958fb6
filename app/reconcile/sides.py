"""One side's lines keyed by instrument, several lines of one instrument summed into one.

A broker reports one instrument on several lines (Kite's MIS and NRML), a book too (one per
strategy); the judgement compares one figure per side, and the breakdown is kept for the user.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from position_sync.app.domain import ZERO, Part, Position, normal


class _Merged:
    """Several lines of one instrument on one side, summed; single lines skip this entirely."""

    __slots__ = ("parts", "position")

    def __init__(self, lines: list[Position], default_label: str) -> None:
        quantity = ZERO
        cost = ZERO
        costed = ZERO
        unrealised: Decimal | None = None
        realised: Decimal | None = None
        last_price: Decimal | None = None
        multiplier = Decimal(1)
        currency: str | None = None
        missing: str | None = None
        aliases: list[str] = []
        parts = []
        net = sum((line.quantity for line in lines), ZERO)
        unknown_cost = False
        for number, line in enumerate(lines, 1):
            quantity += line.quantity
            parts.append(Part(line.label or f"{default_label} {number}", line.quantity, line.average_price))
            # The average of what is held: lines on the side of the net position. A sale today
            # (a negative line at the sale price) reduces the holding, not its cost basis. One
            # held line of unknown average makes the whole average unknown: the average of the
            # others alone would be compared with the book's average of all of them.
            if line.quantity != ZERO and (line.quantity > 0) == (net > 0):
                if line.average_price is None:
                    unknown_cost = True
                else:
                    cost += line.average_price * abs(line.quantity)
                    costed += abs(line.quantity)
            if line.last_price is not None:
                last_price = line.last_price
            if line.unrealised_pnl is not None:
                unrealised = (unrealised or ZERO) + line.unrealised_pnl
            if line.realised_pnl is not None:
                realised = (realised or ZERO) + line.realised_pnl
            if line.multiplier != 1:
                multiplier = line.multiplier
            currency = currency or line.currency
            missing = missing or line.price_missing_reason
            aliases.extend(line.aliases)
        self.parts = tuple(parts)
        self.position = Position(
            instrument=lines[0].instrument,
            quantity=normal(quantity) or ZERO,
            average_price=normal(cost / costed) if costed and not unknown_cost else None,
            last_price=last_price,
            unrealised_pnl=unrealised,
            realised_pnl=realised,
            symbol=lines[0].symbol,
            multiplier=multiplier,
            currency=currency,
            aliases=tuple(aliases),
            price_missing_reason=missing,
        )


def index_side(
    positions: Iterable[Position], default_label: str
) -> tuple[dict[str, Position], dict[str, tuple[Part, ...]]]:
    """Positions by key, several lines of one key summed, with their breakdown kept apart."""
    by_key: dict[str, Position] = {}
    several: dict[str, list[Position]] = {}
    for position in positions:
        key = position.instrument
        first = by_key.get(key)
        if first is None:
            by_key[key] = position
        elif key in several:
            several[key].append(position)
        else:
            several[key] = [first, position]
    parts: dict[str, tuple[Part, ...]] = {}
    for key, lines in several.items():
        merged = _Merged(lines, default_label)
        by_key[key] = merged.position
        parts[key] = merged.parts
    return by_key, parts
