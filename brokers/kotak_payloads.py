"""Kotak Neo's portfolio payloads, read into domain objects.

What Kotak documents (``docs/functions/portfolio/positions.md`` of ``Kotak-Neo/kotak-neo-python``)
and what follows from it here:

- A position row has no net quantity. It is
  ``(cfBuyQty + flBuyQty) - (cfSellQty + flSellQty)``: what was carried forward from earlier
  days plus today's ("fresh") fills, in Decimal.
- Amounts are scaled by ``NF = multiplier x genNum/genDen x prcNum/prcDen`` (1 for equity): an
  average price is ``amount / (quantity x NF)``, rounded to the row's ``precision``, and a value
  is ``quantity x price x NF``. NF is the position's multiplier; the quantity is Kotak's own.
- Carried-forward amounts (``cfBuyAmt``/``cfSellAmt``) are valued at the previous day's
  settlement price, not at cost: F&O is settled daily, and the API keeps no entry price. An
  average that includes carried quantity is therefore labelled "previous settlement" and never
  compared with the book's cost (that would be a false price mismatch every morning), and the
  P&L measured from it is not passed off as realised or unrealised.
- Equity carried forward is delivery: its cost is in Holdings' ``averagePrice``, matched by
  ``positions.tok == holdings.exchangeIdentifier``. Such a row's carried quantity is the holding
  itself, so only today's fills stay on the position leg and the holding carries the rest; a
  carried equity row with no holding keeps its whole quantity, of unknown cost.
- ``ltp`` is sometimes 0 (the reason SDK 3.0.9 stopped computing P&L from it): then the price
  and the unrealised P&L are unknown, never zero.

``exSeg`` becomes the exchange prefix Kite uses (``nse_fo`` -> ``NFO``...), and a cash symbol
loses Kotak's ``-EQ`` series suffix, so ``NSE:IFBIND`` is one key whichever broker a book trades
at, and the book may still write ``IFBIND-EQ``. Every row is checked as it is read; one that is
not in Kotak's shape raises ``Malformed`` naming the row and field.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from position_sync.app.domain import ZERO, Position, normal, to_decimal
from position_sync.brokers.raw_fields import kind_of

CURRENCY = "INR"
ONE = Decimal(1)
PAISA = Decimal("0.01")

# Kotak's segments and the exchange prefixes Kite (and the books written for it) use.
SEGMENTS = {
    "nse_cm": "NSE",
    "bse_cm": "BSE",
    "nse_fo": "NFO",
    "bse_fo": "BFO",
    "mcx_fo": "MCX",
    "cde_fo": "CDS",
}
CASH_EXCHANGES = ("NSE", "BSE")
DELIVERY_PRODUCTS = frozenset({"CNC", "MTF"})

# The note of a row whose average Kotak gives at the previous settlement price.
PREVIOUS_SETTLEMENT = "previous settlement"


class Malformed(Exception):
    """A payload that is not the shape Kotak documents; the detail names the row and field."""


@dataclass(frozen=True)
class PositionRow:
    """One row of ``portfolio/v2/positions``, its numbers read, before it is joined to holdings."""

    where: str
    segment: str
    token: str
    instrument: str
    symbol: str
    aliases: tuple[str, ...]
    product: str
    cf_buy: Decimal
    cf_sell: Decimal
    fl_buy: Decimal
    fl_sell: Decimal
    buy_amount: Decimal
    sell_amount: Decimal
    cf_buy_amount: Decimal
    cf_sell_amount: Decimal
    factor: Decimal
    precision: int
    ltp: Decimal | None

    @property
    def net(self) -> Decimal:
        return (self.cf_buy + self.fl_buy) - (self.cf_sell + self.fl_sell)

    @property
    def carried(self) -> Decimal:
        return self.cf_buy - self.cf_sell


@dataclass(frozen=True)
class Holding:
    position: Position
    segment: str
    token: str


def envelope_rows(document: Any, what: str) -> list[Any]:
    """The ``data`` list of a good answer; a document without one is malformed."""
    if not isinstance(document, dict):
        raise Malformed(f"expected an object with 'data', got {kind_of(document)}")
    data = document.get("data")
    if not isinstance(data, list):
        raise Malformed(f"'data' should be a list of {what}, got {kind_of(data)}")
    return data


def parse_positions(rows: list[Any]) -> list[PositionRow]:
    parsed: list[PositionRow] = []
    seen: set[tuple[str, str, str]] = set()
    for index, row in enumerate(rows):
        where = f"data[{index}]"
        if not isinstance(row, dict):
            raise Malformed(f"{where} should be an object, got {kind_of(row)}")
        segment, exchange = _segment(row, "exSeg", where)
        trading_symbol = _text(row, "trdSym", where)
        token = _text(row, "tok", where)
        symbol, aliases = _spellings(exchange, trading_symbol, row.get("sym"))
        instrument = f"{exchange}:{symbol}"
        where = f"{where} {instrument}"
        product = _text(row, "prod", where).upper()
        key = (segment, token, product)
        if key in seen:
            raise Malformed(f"{where}: {product} is listed twice")
        seen.add(key)
        parsed.append(
            PositionRow(
                where=where,
                segment=segment,
                token=token,
                instrument=instrument,
                symbol=symbol,
                aliases=aliases,
                product=product,
                cf_buy=_required(row, "cfBuyQty", where),
                cf_sell=_required(row, "cfSellQty", where),
                fl_buy=_required(row, "flBuyQty", where),
                fl_sell=_required(row, "flSellQty", where),
                buy_amount=_number(row, "buyAmt", where) or ZERO,
                sell_amount=_number(row, "sellAmt", where) or ZERO,
                cf_buy_amount=_number(row, "cfBuyAmt", where) or ZERO,
                cf_sell_amount=_number(row, "cfSellAmt", where) or ZERO,
                factor=_factor(row, where),
                precision=_precision(row, where),
                ltp=_price(row, "ltp", where),
            )
        )
    return parsed


def parse_holdings(rows: list[Any]) -> list[Holding]:
    """Delivery holdings, labelled "NSE CNC holding"; an ``averagePrice`` of 0 is no average."""
    holdings: list[Holding] = []
    seen: set[tuple[str, str]] = set()
    for index, row in enumerate(rows):
        where = f"data[{index}]"
        if not isinstance(row, dict):
            raise Malformed(f"{where} should be an object, got {kind_of(row)}")
        segment, exchange = _segment(row, "exchangeSegment", where)
        name = row.get("symbol") or row.get("displaySymbol")
        if not isinstance(name, str) or not name.strip():
            raise Malformed(f"{where}: symbol {name!r} is missing or not text")
        symbol, aliases = _spellings(exchange, name.strip().upper(), row.get("displaySymbol"))
        instrument = f"{exchange}:{symbol}"
        where = f"{where} {instrument}"
        token = _text(row, "exchangeIdentifier", where)
        if (segment, token) in seen:
            raise Malformed(f"{where}: listed twice")
        seen.add((segment, token))
        if exchange in CASH_EXCHANGES:
            # Shares answer to both cash exchanges, and to Kotak's own order spelling
            # (``IFBIND-EQ``), which holdings leave out but a book fed by Kotak's orders uses.
            aliases += tuple(f"{other}:{symbol}" for other in CASH_EXCHANGES if other != exchange)
            aliases += (f"{symbol}-EQ", *(f"{ex}:{symbol}-EQ" for ex in CASH_EXCHANGES))
        quantity = _required(row, "quantity", where)
        average = _number(row, "averagePrice", where)
        average = None if not average else normal(average)
        last = _price(row, "closingPrice", where)
        unrealised = None
        if average is not None and last is not None:
            unrealised = _money(quantity * (last - average))
        position = Position(
            instrument=instrument,
            quantity=quantity,
            average_price=average,
            last_price=last,
            unrealised_pnl=unrealised,
            label=f"{exchange} CNC holding",
            symbol=symbol,
            currency=CURRENCY,
            aliases=aliases,
            price_missing_reason=None if average is not None or quantity == ZERO else NO_AVERAGE,
        )
        holdings.append(Holding(position, segment, token))
    return holdings


NO_AVERAGE = "Kotak has no buy average for this holding (corporate action or transfer-in); not compared"
NO_CARRIED_COST = (
    "Kotak lists no holding for this carried-forward equity, so its cost is unknown; not compared"
)


def broker_positions(rows: list[PositionRow], holdings: list[Holding]) -> list[Position]:
    """Position legs and holdings as one list; carried equity is counted once, by its holding."""
    by_token = {(h.segment, h.token): h.position for h in holdings}
    legs = [_leg(row, by_token.get((row.segment, row.token))) for row in rows]
    return [*rekey_delivery(legs, holdings), *(h.position for h in holdings)]


def _leg(row: PositionRow, holding: Position | None) -> Position:
    exchange = row.instrument.partition(":")[0]
    cash = exchange in CASH_EXCHANGES
    cf_buy, cf_sell = row.cf_buy, row.cf_sell
    cf_buy_amount, cf_sell_amount = row.cf_buy_amount, row.cf_sell_amount
    instrument = row.instrument
    if cash and holding is not None:
        instrument = holding.instrument  # one row for the holding and today's trades in it
        if row.carried != ZERO:
            # The carried quantity is the holding's: counted there, with its true cost.
            cf_buy = cf_sell = cf_buy_amount = cf_sell_amount = ZERO
    bought, sold = cf_buy + row.fl_buy, cf_sell + row.fl_sell
    buy_amount, sell_amount = row.buy_amount + cf_buy_amount, row.sell_amount + cf_sell_amount
    net = bought - sold
    factor = row.factor
    label = f"{exchange} {row.product}"
    carried_side = (net > ZERO and cf_buy > ZERO) or (net < ZERO and cf_sell > ZERO)
    touched_carry = cf_buy > ZERO or cf_sell > ZERO
    average: Decimal | None = None
    if net > ZERO:
        average = _average(buy_amount, bought, factor, row.precision)
    elif net < ZERO:
        average = _average(sell_amount, sold, factor, row.precision)
    reason: str | None = None
    realised: Decimal | None = None
    unrealised: Decimal | None = None
    if touched_carry:
        # Kotak values carried quantity at the previous settlement (F&O) or close (equity with
        # no holding): an average of it is not a cost, and no P&L since entry follows from it.
        if carried_side and average is not None:
            if cash:
                reason = NO_CARRIED_COST
            else:
                label = f"{label}, {PREVIOUS_SETTLEMENT}"
                reason = (
                    f"broker average {average:f} is Kotak's {PREVIOUS_SETTLEMENT} price of the "
                    "carried-forward quantity, not its cost; not compared with the book"
                )
            average = None
        if net != ZERO and average is not None and row.ltp is not None:
            unrealised = _money(net * (row.ltp - average) * factor)
    else:
        if net == ZERO or average is not None:
            realised = _money(sell_amount - buy_amount + net * (average or ZERO) * factor)
        if net != ZERO and average is not None and row.ltp is not None:
            unrealised = _money(net * (row.ltp - average) * factor)
    return Position(
        instrument=instrument,
        quantity=normal(net) or ZERO,
        average_price=average,
        last_price=row.ltp,
        unrealised_pnl=unrealised,
        realised_pnl=realised,
        label=label,
        symbol=row.symbol,
        multiplier=normal(factor) or ONE,
        currency=CURRENCY,
        aliases=row.aliases,
        price_missing_reason=reason if net != ZERO else None,
    )


def _average(amount: Decimal, quantity: Decimal, factor: Decimal, precision: int) -> Decimal | None:
    if quantity == ZERO or amount == ZERO:
        return None
    value = amount / (quantity * factor)
    return normal(value.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_EVEN))


def _money(value: Decimal) -> Decimal:
    return normal(value.quantize(PAISA, rounding=ROUND_HALF_EVEN)) or ZERO


def _spellings(exchange: str, trading_symbol: str, short: Any) -> tuple[str, tuple[str, ...]]:
    """The key's symbol and the other spellings a book may use for it.

    Kotak writes an NSE share as ``IFBIND-EQ`` (symbol and series), Kite and most books as
    ``IFBIND``; only the ``-EQ`` series is dropped, since another series (``-BE``) is another
    instrument, as it is at Kite.
    """
    symbol = trading_symbol.strip().upper()
    spellings = [symbol]
    if exchange in CASH_EXCHANGES and symbol.endswith("-EQ") and len(symbol) > 3:
        symbol = symbol[:-3]
        spellings = [symbol, trading_symbol, f"{exchange}:{trading_symbol}"]
    if exchange in CASH_EXCHANGES and isinstance(short, str) and short.strip():
        spellings.append(short.strip().upper())
    return symbol, tuple(dict.fromkeys(spellings))


def _segment(row: dict[str, Any], name: str, where: str) -> tuple[str, str]:
    segment = row.get(name)
    if not isinstance(segment, str) or not segment.strip():
        raise Malformed(f"{where}: {name} {segment!r} is missing or not text")
    segment = segment.strip().lower()
    return segment, SEGMENTS.get(segment, segment.upper())


def _factor(row: dict[str, Any], where: str) -> Decimal:
    """``multiplier x genNum/genDen x prcNum/prcDen``; a missing or zero part counts as 1, as
    Kotak's own calculation (``positions_pnl.py``) takes it."""
    factor = ONE
    for name in ("multiplier",):
        factor *= _number(row, name, where) or ONE
    for top, bottom in (("genNum", "genDen"), ("prcNum", "prcDen")):
        factor *= (_number(row, top, where) or ONE) / (_number(row, bottom, where) or ONE)
    if factor <= ZERO:
        raise Malformed(f"{where}: the lot factor {factor} is not positive")
    return factor


def _precision(row: dict[str, Any], where: str) -> int:
    value = _number(row, "precision", where)
    if value is None or value == ZERO:
        return 2
    if value != value.to_integral_value() or not 0 < value <= 8:
        raise Malformed(f"{where}: precision {row.get('precision')!r} is not a number of decimal places")
    return int(value)


def _price(row: dict[str, Any], name: str, where: str) -> Decimal | None:
    """A price Kotak may send as 0 when it has none: unknown then, not zero."""
    value = _number(row, name, where)
    return None if value is None or value <= ZERO else normal(value)


def _text(row: dict[str, Any], name: str, where: str) -> str:
    value = row.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise Malformed(f"{where}: {name} {value!r} is missing or not text")
    return value.strip()


def _number(row: dict[str, Any], name: str, where: str) -> Decimal | None:
    value = row.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return to_decimal(value)
    except ValueError:
        raise Malformed(f"{where}: {name} {value!r} is not a number") from None


def _required(row: dict[str, Any], name: str, where: str) -> Decimal:
    value = _number(row, name, where)
    if value is None:
        raise Malformed(f"{where}: {name} is missing")
    if value < ZERO:
        raise Malformed(f"{where}: {name} {value} is negative")
    return value


def rekey_delivery(positions: list[Position], holdings: list[Holding]) -> Iterator[Position]:
    """A delivery leg on the other cash exchange than its holding joins the holding's row.

    Shares sit in one demat account whichever exchange they are sold on: a CNC sale on BSE of a
    holding Kotak lists under NSE is one instrument, joined when exactly one holding has the
    symbol (as Kite's holdings are joined).
    """
    home: dict[str, set[str]] = {}
    for holding in holdings:
        exchange = holding.position.instrument.partition(":")[0]
        if exchange in CASH_EXCHANGES and holding.position.symbol:
            home.setdefault(holding.position.symbol, set()).add(holding.position.instrument)
    for position in positions:
        exchange = position.instrument.partition(":")[0]
        product = (position.label or "").split(",")[0].rpartition(" ")[2]
        targets = home.get(position.symbol or "", set())
        if exchange in CASH_EXCHANGES and product in DELIVERY_PRODUCTS and len(targets) == 1:
            target = next(iter(targets))
            if target != position.instrument:
                position = replace(position, instrument=target)
        yield position
