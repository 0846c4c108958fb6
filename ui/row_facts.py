"""What a row implies beyond its stored fields: product, side, price gap and market value.

A trader reads a positions grid by these (Kite's Product column, TWS's Market Value), yet the
core has no field for them: they follow from the row's legs, key, prices and multiplier. They
are worked out here, Qt-free, so the cells, the sort order and the totals footer say the same
thing and are tested without a ``QApplication``.
"""

from __future__ import annotations

from decimal import Decimal

from position_sync.app.display import MINUS, fmt_money, leg_average
from position_sync.app.domain import ZERO, Row, Status
from position_sync.app.lookalike import IB_KINDS  # IB's security types, the first part of its keys

# Kite's products (margin intraday, carry-forward derivatives, delivery, margin-funded, cover
# and bracket orders); a leg's label names one ("NFO NRML", "BSE CNC holding", or the bare word).
KITE_PRODUCTS = frozenset({"MIS", "NRML", "CNC", "MTF", "CO", "BO"})


def product(row: Row) -> str:
    """``NRML``, ``NRML+MIS`` (several legs), ``STK``, ``Perp hedge``; empty when nothing says.

    The broker's legs first (what is actually held), then the book's; an IB key's security
    type when no leg names a product; a ccxt symbol's kind (spot, perpetual, dated future), with
    "hedge" when an exchange account in hedge mode holds it as a long and a short leg.
    """
    found: list[str] = []
    for part in (*row.broker_parts, *row.local_parts):
        for word in part.label.upper().split():
            if word in KITE_PRODUCTS and word not in found:
                found.append(word)
    if found:
        return "+".join(found)
    if "/" in row.instrument:
        hedged = any(part.label.startswith(HEDGE_LEGS) for part in row.broker_parts)
        return crypto_kind(row.instrument) + (" hedge" if hedged else "")
    prefix, colon, _ = row.instrument.partition(":")
    return prefix if colon and prefix in IB_KINDS else ""


# The labels exchange adapters give hedge-mode legs (brokers.binance, brokers.bybit).
HEDGE_LEGS = ("long leg", "short leg")


def crypto_kind(symbol: str) -> str:
    """A ccxt unified symbol's kind: ``BTC/USDT`` Spot, ``BTC/USDT:USDT`` Perp, ``...-261225`` Future."""
    _, colon, settle = symbol.partition(":")
    if not colon:
        return "Spot"
    return "Future" if "-" in settle else "Perp"


def held(row: Row) -> Decimal | None:
    """The quantity the row's side and value are of: the broker's, the book's where the broker
    holds none (a phantom)."""
    if row.broker_qty:
        return row.broker_qty
    return row.local_qty or row.broker_qty


def side(row: Row) -> str:
    """``Long`` or ``Short`` in words; empty for a flat row (closed, or nothing held)."""
    quantity = held(row)
    if not quantity:
        return ""
    return "Long" if quantity > ZERO else "Short"


def side_detail(row: Row) -> str | None:
    """For the tooltip of a side mismatch: both sides in words."""
    if row.effective_status is not Status.SIDE_MISMATCH or not row.broker_qty or not row.local_qty:
        return None
    broker = "long" if row.broker_qty > ZERO else "short"
    book = "long" if row.local_qty > ZERO else "short"
    return f"{broker} at the broker, {book} in the book"


def price_gap(row: Row) -> tuple[Decimal, Decimal | None] | None:
    """A price mismatch's broker average minus the book's, and that as a percentage of the
    book's average; None for any other row (their averages are not judged against each other).

    The averages are those the cells show (several legs' average rounded to their precision),
    so the gap is the difference of the two numbers on screen."""
    if row.effective_status is not Status.PRICE_MISMATCH:
        return None
    broker = leg_average(row.broker_avg, row.broker_parts)
    local = leg_average(row.local_avg, row.local_parts)
    if broker is None or local is None:
        return None
    amount = broker - local
    return amount, (amount / local * 100 if local else None)


def percent_text(value: Decimal) -> str:
    """``+1.67%``, ``−0.04%``; a gap below a hundredth of a percent keeps its first digit."""
    magnitude = abs(value)
    text = f"{magnitude:.2f}" if magnitude >= Decimal("0.01") or magnitude == ZERO else f"{magnitude:.1g}"
    sign = MINUS if value < ZERO else "+" if value > ZERO else ""
    return f"{sign}{text}%"


def price_gap_text(row: Row, currency: str | None) -> str:
    """``+₹25.00 (+1.67%)``; empty for a row that is not a price mismatch."""
    gap = price_gap(row)
    if gap is None:
        return ""
    amount, percent = gap
    money = fmt_money(amount, currency, signed=True)
    return money if percent is None else f"{money} ({percent_text(percent)})"


def market_value(row: Row) -> Decimal | None:
    """The broker's quantity × last price × multiplier, signed (a short is negative), in the
    row's currency: what TWS calls Market Value.

    Zero where the broker holds nothing (a phantom, a closed row); None where it holds a
    position whose last price is unknown, so a total over it can say it is partial.
    """
    quantity = row.broker_qty
    if not quantity:
        return ZERO
    if row.last_price is None:
        return None
    return quantity * row.last_price * row.multiplier
