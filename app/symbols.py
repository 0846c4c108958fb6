"""One instrument key whatever the spelling.

False phantoms are mostly spelling: ``NIFTY25O0725150CE`` in the book and
``NFO:NIFTY25O0725150CE`` at the broker, ``BTCUSDT`` against ccxt's ``BTC/USDT:USDT``. The rules
here only remove what cannot change the instrument (case, surrounding space, a default exchange,
a native crypto pair's punctuation); they never shorten or reinterpret a symbol, so a weekly
option (``NIFTY25O0725150CE``) and a monthly one (``NIFTY25OCT25150CE``) stay two. What no rule
can guess goes into the account's alias table.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from position_sync.app.domain import BookSnapshot, BrokerSnapshot, Position, WorkingOrder

_SPACES = re.compile(r"\s+")
# Longest first, so USDT wins over USD.
_QUOTES = ("FDUSD", "USDT", "USDC", "BUSD", "TUSD", "USD", "EUR", "BTC", "ETH", "BNB", "DAI")
_LINEAR_SETTLE = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "TUSD"})


def clean(raw: str) -> str:
    text = raw.strip().upper()
    # Any whitespace but a single space is unprintable: most keys need no regular expression.
    if text.isprintable() and "  " not in text:
        return text
    return _SPACES.sub(" ", text)


def _native_crypto(symbol: str, market: str) -> str | None:
    """``BTCUSDT`` -> ``BTC/USDT:USDT`` (swap) or ``BTC/USDT`` (spot); None when not a pair."""
    text = symbol.replace("-", "").replace("_", "")
    perpetual = text.endswith("PERP")
    if perpetual:
        text = text[: -len("PERP")]
    for quote in _QUOTES:
        if text.endswith(quote) and len(text) > len(quote):
            base = text[: -len(quote)]
            if not base.isalnum():
                return None
            if market == "spot" and not perpetual:
                return f"{base}/{quote}"
            settle = quote if quote in _LINEAR_SETTLE else base
            return f"{base}/{quote}:{settle}"
    return None


def normalise(raw: str, exchange: str | None = None, market: str | None = None) -> str:
    """The canonical key of one spelling, with the account's default exchange and market."""
    text = clean(raw)
    if "/" in text:  # ccxt unified: BASE/QUOTE[:SETTLE[-EXPIRY...]]
        return text.replace(" ", "")
    if ":" in text:
        prefix, _, rest = text.partition(":")
        return f"{prefix.strip()}:{rest.strip()}"
    if market is not None and exchange is None:
        unified = _native_crypto(text, market)
        if unified is not None:
            return unified
    if exchange:
        return f"{exchange}:{text}"
    return text


_CONID_SUFFIX = re.compile(r"@\d+$")


def symbol_part(key: str) -> str:
    """The symbol alone, for comparing spellings across exchanges and brokers.

    Drops an exchange prefix (``NSE:INFY`` -> ``INFY``) and, from IB's keys, the security type,
    the currency and a collision's ``@conId`` (``STK:BRK B:USD`` -> ``BRK B``,
    ``STK:SHOP:USD@2`` -> ``SHOP``); a ccxt unified symbol is kept whole.
    """
    if "/" in key:
        return key
    _, colon, rest = key.partition(":")
    if not colon:
        return key
    rest = _CONID_SUFFIX.sub("", rest)
    if ":" in rest:  # IB: <secType>:<name>:<currency>
        rest = rest.rpartition(":")[0]
    return rest.strip() or key


def compact(key: str) -> str:
    """Letters and digits only: what two spellings of one symbol still share."""
    return re.sub(r"[^A-Z0-9]", "", symbol_part(key).upper())


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, symbol_part(a), symbol_part(b)).ratio()


@dataclass
class Resolver:
    """Keys both sides of one account.

    Broker positions may carry aliases (IB's symbol, localSymbol, OCC spelling); those are
    learned and kept in ``learned`` across syncs, so a book that writes ``AAPL`` still lands on
    the broker's row after the broker closed it (and the row turns phantom, not a second row).
    """

    exchange: str | None = None
    market: str | None = None
    aliases: Mapping[str, str] = field(default_factory=dict)
    learned: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Each spelling normalised once: both sides spell the same instruments sync after sync.
        self._norms: dict[str, str] = {}
        self._configured = {
            self.norm(spelling): self.norm(target) for spelling, target in self.aliases.items()
        }
        self._known: dict[str, str] = {}
        self._known_from: Mapping[str, str] | None = None
        self._sides_memo: (
            tuple[
                tuple[Position, ...],
                tuple[WorkingOrder, ...],
                Mapping[str, str],
                BookSnapshot,
                dict[str, str],
                BrokerSnapshot,
                BookSnapshot,
            ]
            | None
        ) = None

    def norm(self, raw: str) -> str:
        found = self._norms.get(raw)
        if found is None:
            if len(self._norms) >= 1_000_000:  # spellings that come and go: a bound all the same
                self._norms.clear()
            found = self._norms[raw] = normalise(raw, self.exchange, self.market)
        return found

    def key(self, raw: str) -> str:
        key = self.norm(raw)
        if key in self._configured:
            return self._configured[key]
        learned = self.learned.get(key)
        if learned is not None:
            return learned
        return self._known.get(key, key)

    def know(self, spellings: Mapping[str, str]) -> None:
        """Take the broker's own spellings (``BrokerSnapshot.spellings``), after the configured
        aliases and the learned ones.

        Normalised once per new mapping: an adapter hands back the same object while its
        instrument list is unchanged, so a sync with thousands of markets pays nothing for it.
        An empty mapping (an adapter without an instrument list) keeps what was known.
        """
        if spellings is self._known_from or not spellings:
            return
        self._known_from = spellings
        self._known = {self.norm(spelling): key for spelling, key in spellings.items()}

    def learn(self, positions: Iterable[Position]) -> None:
        """Record broker aliases; a spelling claimed by two instruments is dropped, not guessed.

        A spelling the broker itself uses as an instrument this sync is that instrument, never
        an alias of another one: a Kite holding listed under BSE answers to "NSE:X", but not
        while an NSE intraday leg of X is held as "NSE:X" (it would fold into the holding's row
        only when a holding happens to be present). Configured aliases still apply.
        """
        positions = list(positions)
        owned = {self.norm(position.instrument) for position in positions}
        for spelling in owned:
            self.learned.pop(spelling, None)
        claims: dict[str, set[str]] = {}
        for position in positions:
            if not position.aliases:  # most positions: nothing to claim, no key to work out
                continue
            target = self.key(position.instrument)
            for alias in position.aliases:
                spelling = self.norm(alias)
                if spelling != target and spelling not in owned:
                    claims.setdefault(spelling, set()).add(target)
        for spelling, targets in claims.items():
            if len(targets) == 1:
                self.learned[spelling] = next(iter(targets))
            else:
                self.learned.pop(spelling, None)

    def forget_except(self, keys: set[str]) -> None:
        """Drop learned spellings whose instrument has no row any more, so the map stays small."""
        self.learned = {s: k for s, k in self.learned.items() if k in keys}

    def key_broker(self, positions: Iterable[Position]) -> list[Position]:
        positions = list(positions)
        self.learn(positions)
        return [_rekey(p, self.key(p.instrument)) for p in positions]

    def key_book(self, positions: Iterable[Position]) -> list[Position]:
        return [_rekey(p, self.key(p.symbol or p.instrument)) for p in positions]

    def key_sides(self, broker: BrokerSnapshot, book: BookSnapshot) -> tuple[BrokerSnapshot, BookSnapshot]:
        """Both sides keyed; the previous keyed sides again when nothing they depend on changed.

        A daemon at rest reads the same answer sync after sync: an adapter hands back the same
        positions while its answer is unchanged, a file book the same snapshot while its bytes
        are. Keying is a pure function of those objects and of ``learned`` (configured aliases
        and the broker's spellings are fixed for a given mapping object), and keying the same
        broker positions again leaves ``learned`` as it was, so when every input is the very
        object of the previous call and ``learned`` is as that call left it, the result is too.
        """
        memo = self._sides_memo
        if (
            memo is not None
            and memo[0] is broker.positions
            and memo[1] is broker.orders
            and (memo[2] is broker.spellings or not (memo[2] or broker.spellings))  # a new {} each time
            and memo[3] is book
            and memo[4] == self.learned
        ):
            return memo[5], memo[6]
        self.know(broker.spellings)
        positions = tuple(self.key_broker(broker.positions))
        orders = tuple(replace(o, instrument=self.key(o.instrument)) for o in broker.orders)
        keyed_broker = BrokerSnapshot(positions, orders, broker.spellings)
        keyed_book = replace(book, positions=tuple(self.key_book(book.positions)))
        self._sides_memo = (
            broker.positions,
            broker.orders,
            broker.spellings,
            book,
            dict(self.learned),
            keyed_broker,
            keyed_book,
        )
        return keyed_broker, keyed_book


def _rekey(position: Position, key: str) -> Position:
    if position.instrument == key and position.symbol is not None:
        return position
    p = position
    # Positionally rather than through ``dataclasses.replace``: a book that spells every
    # instrument without its exchange is rekeyed line by line, 100,000 times.
    return Position(
        key,
        p.quantity,
        p.average_price,
        p.last_price,
        p.unrealised_pnl,
        p.realised_pnl,
        p.label,
        p.symbol or p.instrument,
        p.multiplier,
        p.currency,
        p.aliases,
        p.price_missing_reason,
    )
