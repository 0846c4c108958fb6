"""Kite's portfolio and order payloads, read into domain objects.

Kept apart from the adapter (``brokers.kite``) because this is where Kite's documented shapes
meet ours: which field carries the P&L, what an average of 0 means, how product and exchange
legs are named, what an iceberg order still has to fill. Every row is checked as it is read; a
row that is not in Kite's shape raises ``Malformed`` naming the row and field, which the adapter
turns into one stale sentence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from position_sync.app.domain import ZERO, Position, WorkingOrder, normal, to_decimal
from position_sync.brokers.raw_fields import kind_of

CURRENCY = "INR"

# Orders still able to fill. A whitelist, not "everything but COMPLETE/CANCELLED/REJECTED": the
# core lets a working order explain a quantity gap, and a dead order (or one being cancelled)
# wrongly explaining a gap would hide a real problem.
WORKING_STATUSES = frozenset(
    {
        "OPEN",
        "TRIGGER PENDING",
        "OPEN PENDING",
        "VALIDATION PENDING",
        "PUT ORDER REQ RECEIVED",
        "MODIFY PENDING",
        "MODIFY VALIDATION PENDING",
        "AMO REQ RECEIVED",
    }
)

# Delivery equity sits in one demat account whichever exchange Kite lists the holding under
# (it often shows BSE for shares bought on NSE), so a holding answers to both cash exchanges.
_CASH_EXCHANGES = ("NSE", "BSE")


class Malformed(Exception):
    """A payload that is not the shape Kite documents; the detail names the row and field."""


def parse_positions(data: Any) -> list[Position]:
    """Kite's ``net`` positions, closed-today rows (quantity 0) included, labelled "NSE MIS".

    P&L comes from ``pnl``, not from ``realised`` and ``unrealised``: real answers leave those
    two at 0 (or put the whole ``pnl`` in ``unrealised``) whatever happened, so a close read from
    them would be archived with "realised P&L 0". See ``_pnl_split``. ``m2m`` is measured from the
    previous close, not from the entry price, so it is neither.
    """
    if not isinstance(data, dict):
        raise Malformed(f"expected an object with 'net' and 'day', got {kind_of(data)}")
    net = data.get("net")
    if not isinstance(net, list):
        raise Malformed(f"'net' should be a list, got {kind_of(net)}")
    positions = []
    seen: set[tuple[str, str]] = set()
    for row, instrument, symbol, where in _rows(net, "net"):
        product = _text(row, "product", where)
        _once(seen, (instrument, product), where)
        multiplier = _number(row, "multiplier", where) or Decimal(1)
        quantity = _required_number(row, "quantity", where)
        average_price = _number(row, "average_price", where)
        if quantity == ZERO and average_price == ZERO:
            average_price = None  # a closed row's 0 is "no position", not a price
        last_price = _number(row, "last_price", where)
        realised, unrealised = _pnl_split(row, quantity, average_price, last_price, multiplier, where)
        positions.append(
            Position(
                instrument=instrument,
                quantity=quantity,
                average_price=average_price,
                last_price=last_price,
                unrealised_pnl=unrealised,
                realised_pnl=realised,
                label=leg_label(instrument, product),
                symbol=symbol,
                multiplier=multiplier,
                currency=CURRENCY,
                aliases=(symbol,),
            )
        )
    return positions


def _pnl_split(
    row: dict[str, Any],
    quantity: Decimal,
    average: Decimal | None,
    last: Decimal | None,
    multiplier: Decimal,
    where: str,
) -> tuple[Decimal | None, Decimal | None]:
    """(realised, unrealised) of one position row, from Kite's ``pnl``.

    Zerodha's formula is ``pnl = (sell_value - buy_value) + quantity * last_price * multiplier``
    (used here when ``pnl`` itself is missing). What is still open is worth
    ``quantity * (last_price - average_price) * multiplier`` against its entry; the rest of
    ``pnl`` was made by what was closed. A closed row (quantity 0) is all realised. When the
    split cannot be made (no average or no last price on an open row), both are unknown rather
    than 0, so the core may estimate them.
    """
    pnl = _number(row, "pnl", where)
    if pnl is None:
        sold, bought = _number(row, "sell_value", where), _number(row, "buy_value", where)
        if sold is None or bought is None or last is None:
            return None, None
        pnl = sold - bought + quantity * last * multiplier
    if quantity == ZERO:
        return normal(pnl), None
    if average is None or last is None:
        return None, None
    unrealised = quantity * (last - average) * multiplier
    # ``pnl`` arrives as a float (Kite's own mocks carry -629.2999999999993); the difference is
    # money, so it is taken to the paisa, lest float residue read as a realised 0.0000000000007.
    return normal((pnl - unrealised).quantize(PAISA, rounding=ROUND_HALF_EVEN)), normal(unrealised)


PAISA = Decimal("0.01")


def leg_label(instrument: str, product: str) -> str:
    """ "NSE MIS": a leg names its exchange too, since legs of two exchanges may share a row."""
    return f"{instrument.partition(':')[0]} {product}"


def parse_holdings(data: Any) -> list[Position]:
    """Delivery holdings, labelled "BSE CNC holding", and their margin-funded part "BSE MTF holding".

    The quantity is ``quantity + t1_quantity``: shares bought on the previous trading day
    appear only in ``t1_quantity`` until the exchange delivers them, yet they are held.
    ``used_quantity`` (sold today) is *not* subtracted, because today's sale already appears
    as a negative CNC row among positions, which the core adds to this one.

    An ``average_price`` of 0 is Kite saying it has no buy average (shares from a corporate
    action or a transfer-in), not a price: it is unknown, never compared, and Kite's ``pnl``
    (measured from that 0) is not used. Shares bought with margin trading (MTF) are counted in
    the ``mtf`` block, apart from ``quantity``, so they are a leg of their own (see ``_mtf_leg``).
    """
    if not isinstance(data, list):
        raise Malformed(f"expected a list of holdings, got {kind_of(data)}")
    holdings = []
    seen: set[tuple[str, str]] = set()
    for row, instrument, symbol, where in _rows(data, "holdings"):
        quantity = _required_number(row, "quantity", where) + (_number(row, "t1_quantity", where) or ZERO)
        product = row.get("product") or "CNC"
        if not isinstance(product, str):
            raise Malformed(f"{where}: product {product!r} is not text")
        product = product.strip().upper()
        _once(seen, (instrument, product), where)
        exchange = instrument.partition(":")[0]
        aliases = [symbol]
        if exchange in _CASH_EXCHANGES:
            aliases += [f"{other}:{symbol}" for other in _CASH_EXCHANGES if other != exchange]
        isin = row.get("isin")
        if isinstance(isin, str) and isin.strip():
            aliases.append(isin.strip().upper())
        last_price = _number(row, "last_price", where)
        average = _known_average(_number(row, "average_price", where))
        holding = Position(
            instrument=instrument,
            quantity=quantity,
            average_price=average,
            last_price=last_price,
            unrealised_pnl=_number(row, "pnl", where) if average is not None else None,
            label=f"{leg_label(instrument, product)} holding",
            symbol=symbol,
            currency=CURRENCY,
            aliases=tuple(aliases),
            price_missing_reason=None if average is not None or quantity == ZERO else NO_AVERAGE,
        )
        holdings.append(holding)
        mtf = _mtf_leg(row, holding, where)
        if mtf is not None:
            _once(seen, (instrument, "MTF"), where)
            holdings.append(mtf)
    return holdings


# Why a holding's row has no average (shown as the row's note, never a price mismatch).
NO_AVERAGE = "Kite has no buy average for this holding (corporate action or transfer-in); not compared"


def _known_average(average: Decimal | None) -> Decimal | None:
    return None if average is None or average == ZERO else average


def _mtf_leg(row: dict[str, Any], holding: Position, where: str) -> Position | None:
    """The margin-funded shares of a holding, as Kite counts them: in ``mtf``, not in ``quantity``.

    Kite's own example (AARON: ``quantity`` 1 at 161, ``mtf.quantity`` 1000 at 100, ``pnl``
    191.95 = 1 x (352.95 - 161)) shows the two apart: the account holds both, so the MTF
    quantity is added as a leg with its own average and P&L. ``mtf.used_quantity`` (sold today)
    is not subtracted, for the same reason as ``used_quantity``: the sale is a position row.
    """
    block = row.get("mtf")
    if block is None:
        return None
    if not isinstance(block, dict):
        raise Malformed(f"{where}: mtf should be an object, got {kind_of(block)}")
    quantity = _number(block, "quantity", f"{where} mtf") or ZERO
    if quantity == ZERO:
        return None
    average = _known_average(_number(block, "average_price", f"{where} mtf"))
    last = holding.last_price
    unrealised = normal(quantity * (last - average)) if average is not None and last is not None else None
    return replace(
        holding,
        quantity=quantity,
        average_price=average,
        unrealised_pnl=unrealised,
        label=f"{leg_label(holding.instrument, 'MTF')} holding",
        price_missing_reason=None if average is not None else NO_AVERAGE,
    )


# Products whose shares land in (or leave) the demat account: their legs join the holding.
DELIVERY_PRODUCTS = frozenset({"CNC", "MTF"})


def join_delivery_legs(positions: list[Position], holdings: list[Position]) -> list[Position]:
    """Today's delivery legs (CNC, MTF) of a stock move onto its holding's instrument.

    A holding is one demat balance, listed under either cash exchange, and a delivery sale on the
    other exchange reduces it, so that leg belongs on the holding's row. Intraday legs (MIS, CO,
    BO) are squared off on the exchange they were traded on and stay on their own exchange's
    row, whether or not a holding exists: one rule, so NSE and BSE MIS never fold together.
    """
    home: dict[str, set[str]] = {}
    for holding in holdings:
        exchange = holding.instrument.partition(":")[0]
        if exchange in _CASH_EXCHANGES and holding.symbol:
            home.setdefault(holding.symbol, set()).add(holding.instrument)
    if not home:
        return positions
    joined = []
    for position in positions:
        exchange = position.instrument.partition(":")[0]
        product = (position.label or "").rpartition(" ")[2]
        targets = home.get(position.symbol or "", set())
        if exchange in _CASH_EXCHANGES and product in DELIVERY_PRODUCTS and len(targets) == 1:
            position = replace(position, instrument=next(iter(targets)))
        joined.append(position)
    return joined


def parse_orders(data: Any) -> list[WorkingOrder]:
    """Orders that may still fill, with what remains unfilled (BUY positive).

    Remaining is ``quantity - filled_quantity - cancelled_quantity``; ``pending_quantity`` is
    not used because Kite leaves it set on orders that were partly cancelled.
    """
    if not isinstance(data, list):
        raise Malformed(f"expected a list of orders, got {kind_of(data)}")
    orders = []
    for index, row in enumerate(data):
        where = f"orders[{index}]"
        if not isinstance(row, dict):
            raise Malformed(f"{where} should be an object, got {kind_of(row)}")
        status = row.get("status")
        if not isinstance(status, str):
            raise Malformed(f"{where}: status {status!r} is not text")
        if status.strip().upper() not in WORKING_STATUSES:
            continue
        instrument, _symbol = _instrument(row, where)
        where = f"{where} {instrument}"
        side = row.get("transaction_type")
        if side not in ("BUY", "SELL"):
            raise Malformed(f"{where}: transaction_type {side!r} is neither BUY nor SELL")
        remaining = (
            _required_number(row, "quantity", where)
            - (_number(row, "filled_quantity", where) or ZERO)
            - (_number(row, "cancelled_quantity", where) or ZERO)
        )
        if remaining <= ZERO:
            continue
        later = _iceberg_rest(row, where)
        text = _order_text(row, side, remaining + later, status.strip().upper(), where)
        if later:
            text += f" (iceberg: {_plain(remaining)} in this leg, {_plain(later)} in later legs)"
        remaining += later
        orders.append(
            WorkingOrder(
                instrument=instrument,
                quantity=remaining if side == "BUY" else -remaining,
                description=text,
            )
        )
    return orders


def _iceberg_rest(row: dict[str, Any], where: str) -> Decimal:
    """What an iceberg order still has to place after the leg this row is.

    Kite lists only the working leg; ``meta.iceberg.remaining_quantity`` is the quantity of the
    legs not placed yet (Kite's own example: leg 1 of 5, 200 a leg, 1000 in all, 800 remaining),
    so the whole order's unfilled quantity is this leg's plus that.
    """
    meta = row.get("meta")
    iceberg = meta.get("iceberg") if isinstance(meta, dict) else None
    if not isinstance(iceberg, dict):
        return ZERO
    rest = _number(iceberg, "remaining_quantity", f"{where} meta.iceberg") or ZERO
    if rest < ZERO:
        raise Malformed(f"{where}: meta.iceberg.remaining_quantity {rest} is negative")
    return rest


def _plain(value: Decimal) -> str:
    return f"{normal(value):f}"


def _order_text(row: dict[str, Any], side: str, remaining: Decimal, status: str, where: str) -> str:
    text = f"{side} {_plain(remaining)} pending"
    order_type = row.get("order_type")
    price = _number(row, "price", where)
    if order_type == "LIMIT" and price:
        text += f", LIMIT at {price}"
    elif isinstance(order_type, str) and order_type:
        text += f", {order_type}"
    product = row.get("product")
    if isinstance(product, str) and product:
        text += f" {product}"
    if status != "OPEN":
        text += f" ({status})"
    return text


def _rows(items: list[Any], name: str) -> Iterator[tuple[dict[str, Any], str, str, str]]:
    """Each row of a Kite list with its instrument key, symbol and the words that name it
    (``net[3] NFO:NIFTY25NOVFUT``) in a sentence about it; a row that is no object is malformed."""
    for index, row in enumerate(items):
        where = f"{name}[{index}]"
        if not isinstance(row, dict):
            raise Malformed(f"{where} should be an object, got {kind_of(row)}")
        instrument, symbol = _instrument(row, where)
        yield row, instrument, symbol, f"{where} {instrument}"


def _once(seen: set[tuple[str, str]], key: tuple[str, str], where: str) -> None:
    """Kite lists an instrument once per product; a repeat is a broken answer, never a sum.

    Added up, two copies of one row would pass for a quantity mismatch the account does not have.
    """
    if key in seen:
        raise Malformed(f"{where}: {key[1]} is listed twice")
    seen.add(key)


def _instrument(row: dict[str, Any], where: str) -> tuple[str, str]:
    exchange = row.get("exchange")
    symbol = row.get("tradingsymbol")
    if not isinstance(exchange, str) or not exchange.strip():
        raise Malformed(f"{where}: exchange {exchange!r} is missing or not text")
    if not isinstance(symbol, str) or not symbol.strip():
        raise Malformed(f"{where}: tradingsymbol {symbol!r} is missing or not text")
    symbol = symbol.strip().upper()
    return f"{exchange.strip().upper()}:{symbol}", symbol


def _text(row: dict[str, Any], name: str, where: str) -> str:
    value = row.get(name)
    if not isinstance(value, str) or not value.strip():
        raise Malformed(f"{where}: {name} {value!r} is missing or not text")
    return value.strip().upper()


def _number(row: dict[str, Any], name: str, where: str) -> Decimal | None:
    value = row.get(name)
    if value is None:
        return None
    try:
        return to_decimal(value)
    except ValueError:
        raise Malformed(f"{where}: {name} {value!r} is not a number") from None


def _required_number(row: dict[str, Any], name: str, where: str) -> Decimal:
    value = _number(row, name, where)
    if value is None:
        raise Malformed(f"{where}: {name} is missing")
    return value
