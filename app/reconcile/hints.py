"""Hints on problem rows: a working order that would close the gap, a spelling the book missed.

A gap a pending order explains is marked ``explained`` and not reported; a phantom and an
untracked row of the same quantity that can be one instrument are pointed at each other, with
the alias that would join them.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from position_sync.app.domain import ZERO, Position, Row, WorkingOrder
from position_sync.app.lookalike import can_be_same
from position_sync.app.reconcile.events import fmt
from position_sync.app.symbols import compact, similarity, symbol_part

_LOOKALIKE = 0.75
_MAX_LOOKALIKES = 50


def apply_hints(
    rows: dict[str, Row],
    orders: Sequence[WorkingOrder],
    book: dict[str, Position],
    phantom_rows: list[Row],
    untracked_rows: list[Row],
) -> None:
    """Explain gaps by working orders, and suggest aliases for phantom/untracked look-alikes."""
    if orders:
        _explain_by_orders(rows, _pending(orders))
    _suggest_aliases(book, phantom_rows, untracked_rows)


def _pending(orders: Sequence[WorkingOrder]) -> dict[str, tuple[Decimal, list[str]]]:
    """Each instrument's pending quantity and the words for its orders."""
    pending: dict[str, tuple[Decimal, list[str]]] = {}
    for order in orders:
        total, texts = pending.get(order.instrument, (ZERO, []))
        side = "BUY" if order.quantity > 0 else "SELL"
        texts.append(order.description or f"{side} {fmt(abs(order.quantity))} pending")
        pending[order.instrument] = (total + order.quantity, texts)
    return pending


def _explain_by_orders(rows: dict[str, Row], pending: dict[str, tuple[Decimal, list[str]]]) -> None:
    """A problem row whose gap the pending orders would close exactly is explained, not reported."""
    for key, (total, texts) in pending.items():
        row = rows.get(key)
        if row is None or not row.status.is_problem:
            continue
        if (row.broker_qty or ZERO) + total == (row.local_qty or ZERO):
            row.explained = True
            row.hint = f"{', '.join(texts)} would close the gap"


def _suggest_aliases(book: dict[str, Position], phantom_rows: list[Row], untracked_rows: list[Row]) -> None:
    """Point each unexplained phantom and its untracked look-alike at each other."""
    phantoms = [r for r in phantom_rows if not r.explained]
    if not phantoms:
        return
    untracked = [r for r in untracked_rows if not r.explained]
    by_qty: dict[Decimal, list[Row]] = {}
    by_compact: dict[str, list[Row]] = {}
    for row in untracked:
        by_qty.setdefault(row.broker_qty or ZERO, []).append(row)
        by_compact.setdefault(compact(row.instrument), []).append(row)
    for phantom in phantoms:
        match = _lookalike(phantom, by_qty, by_compact)
        if match is None:
            continue
        position = book.get(phantom.instrument)
        spelling = (position.symbol if position is not None else None) or symbol_part(phantom.instrument)
        phantom.hint = (
            f"did you mean {match.instrument}? same quantity at the broker; add the alias "
            f'"{spelling}" = "{match.instrument}" to the account'
        )
        match.hint = (
            f"did you mean {phantom.instrument}? the book holds the same quantity under that spelling"
        )


def _lookalike(
    phantom: Row, by_qty: dict[Decimal, list[Row]], by_compact: dict[str, list[Row]]
) -> Row | None:
    """The untracked row the phantom most likely is: one spelling of it, else the most similar.

    Only spellings that can be one instrument (``app.lookalike``) qualify: never two contracts.
    """
    quantity = phantom.local_qty or ZERO
    same = [
        r
        for r in by_compact.get(compact(phantom.instrument), [])
        if r.broker_qty == quantity and can_be_same(r.instrument, phantom.instrument)
    ]
    if len(same) == 1:
        return same[0]
    candidates = by_qty.get(quantity, [])
    if len(candidates) > _MAX_LOOKALIKES:
        return None
    scored = [
        (similarity(c.instrument, phantom.instrument), c)
        for c in candidates
        if can_be_same(c.instrument, phantom.instrument)
    ]
    scored = [pair for pair in scored if pair[0] >= _LOOKALIKE]
    if not scored:
        return None
    return max(scored, key=lambda pair: pair[0])[1]
