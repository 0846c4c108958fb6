"""Instrument keys and aliases for Interactive Brokers contracts.

IB identifies a contract by its ``conId``; people and trading systems write ``AAPL``,
``AAPL  251219C00150000`` or ``ESZ5``. Rows, history and events hang on the instrument key, so
the key must stay the same for as long as the contract does, and it must be readable in the
window. Both hold because the conId is the identity and the readable key is only its name:
``ContractKeys`` remembers, per account and across restarts, which key each conId was given.

- The first time a conId is seen it gets the readable key of its contract (below). If that key
  already belongs to another conId of the account (one ticker, one currency, two exchanges; or a
  ticker that moved to a new company), the newcomer gets ``<key>@<conId>``.
- From then on the conId keeps that key, whatever else the account opens or closes and even if
  IB renames the contract (``FB`` -> ``META`` keeps ``STK:FB:USD``): the new readable spellings
  become aliases, so a book writing ``META`` still matches. A spelling that is another conId's
  key is never an alias.
- A conId not seen for ``FORGET_AFTER_DAYS`` is forgotten, so the file does not grow with every
  option ever traded; should it come back it is keyed afresh.

Readable keys (the part after the colon is IB's own spelling) and aliases, besides ``<conId>``
and ``conid:<conId>`` which every contract has:

- STK: ``STK:<localSymbol>:<currency>`` (``STK:AAPL:USD``, ``STK:SHOP:CAD``); aliases the symbol,
  the localSymbol and ``STK:<symbol>``.
- OPT: ``OPT:<localSymbol>``, which for US options is the OCC symbol (``OPT:AAPL  251219C00150000``);
  aliases the localSymbol and the OCC symbol with and without its padding spaces.
- FUT: ``FUT:<localSymbol>`` (``FUT:ESZ5``); alias the localSymbol.
- FOP: ``FOP:<localSymbol>`` (``FOP:ESZ5 C5000``); alias the localSymbol.
- CASH: ``CASH:<symbol>.<currency>`` (``CASH:EUR.USD``); aliases the localSymbol, the symbol,
  ``EUR/USD`` and ``EURUSD``.
- CRYPTO: ``CRYPTO:<symbol>.<currency>`` (``CRYPTO:BTC.USD``); aliases as for CASH.
- anything else (CFD, IOPT warrants, FUND, CMDTY, BOND, ...): ``<secType>:<localSymbol>:<currency>``
  (``CFD:AAPL:USD``); alias ``<secType>:<localSymbol>`` (``CFD:AAPL``), never the bare localSymbol:
  IB gives a stock CFD the stock's own ticker as its localSymbol, and a book writing ``AAPL``
  means the shares.

A derivative's localSymbol is an alias only when it is not the bare symbol (``ESZ5``, the OCC
symbol), for the same reason.

The OCC spelling takes its expiry from the localSymbol whenever IB's localSymbol is an OCC symbol:
for AM-settled index options (SPX monthlies, VIX) ``lastTradeDateOrContractMonth`` is the last
trading day, the day before the expiration date the OCC symbol carries
(``SPX   200117P03205000`` has ``lastTradeDateOrContractMonth`` ``20200116``). Only without an
OCC-shaped localSymbol is the spelling built from the fields, with the last trade date.

Without a localSymbol, derivatives fall back to trading class, expiry, strike and right.

Stocks carry their currency because dual listings are common (``SHOP`` on the TSX in CAD and on
the NYSE in USD are two contracts with one ticker). The bare symbol is an alias only for stocks,
forex and crypto: a book writing ``AAPL`` means the shares, never an AAPL option. When two held
contracts share a bare symbol, both claim it and the core drops such an alias rather than guess.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from position_sync.app.paths import id_file_stem
from position_sync.app.private import write_private_text

log = logging.getLogger(__name__)

ONE = Decimal(1)
# IB's "no value" double on the wire; ib_async and ib_insync both decode it to this float.
UNSET_DOUBLE = sys.float_info.max
# Bare symbols are aliases only where the symbol is the instrument itself.
SYMBOL_ALIAS_TYPES = frozenset({"STK", "CASH", "CRYPTO"})
PAIR_TYPES = frozenset({"CASH", "CRYPTO"})
# Types whose localSymbol names the contract itself (an OCC symbol, ``ESZ5``, ``EUR.USD``).
LOCAL_ALIAS_TYPES = frozenset({"STK", "CASH", "CRYPTO", "OPT", "FUT", "FOP"})
# ROOT (up to 6, space padded) YYMMDD C|P STRIKE*1000 (8 digits)
_OCC = re.compile(r"^([A-Z0-9./]{1,6}) *(\d{6})([CP])(\d{8})$")
OCC_ROOT_WIDTH = 6
KEY_FILE_VERSION = 1
# A conId unseen this long is forgotten: an expired option never comes back, and a stock that
# does is keyed afresh (the same readable key unless it was renamed or its name was taken).
FORGET_AFTER_DAYS = 400


class ContractLike(Protocol):
    """The fields of an IB contract that position and portfolio messages carry."""

    secType: str
    conId: int
    symbol: str
    lastTradeDateOrContractMonth: str
    strike: float
    right: str
    multiplier: str
    currency: str
    localSymbol: str
    tradingClass: str


def wire_decimal(value: float | int | str | None) -> Decimal | None:
    """The exact decimal IB sent, from the float the client library decoded it to.

    ib_async (like ib_insync) parses quantities and prices with ``float()``. IB sends at most
    about a dozen significant digits, and ``repr`` of a float is the shortest string that reads
    back to the same float, so ``Decimal(repr(float(s)))`` gives back ``s`` exactly: 0.1 BTC stays
    0.1, not 0.1000000000000000055511151231257827. IB's "unset" double and NaN mean "no value".
    """
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            result = Decimal(text)
        except InvalidOperation:
            return None
        return result if result.is_finite() else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if math.isnan(value) or math.isinf(value) or value == UNSET_DOUBLE:
        return None
    return Decimal(repr(value))


def multiplier_of(contract: ContractLike) -> Decimal:
    """IB sends the multiplier as text, empty for stocks, forex and crypto."""
    parsed = wire_decimal(contract.multiplier or "")
    if parsed is None or parsed <= 0:
        return ONE
    return parsed


def _right(contract: ContractLike) -> str:
    right = (contract.right or "").strip().upper()
    return {"CALL": "C", "PUT": "P"}.get(right, right)


def _strike_text(contract: ContractLike) -> str:
    strike = wire_decimal(contract.strike)
    if strike is None:
        return ""
    return format(strike.normalize(), "f")


def occ_symbol(contract: ContractLike) -> str | None:
    """The OCC spelling ``ROOT(6) YYMMDD C|P STRIKE*1000(8)`` of a US-style option, or None.

    IB's own localSymbol when it is one: it carries the expiration date, which for AM-settled
    index options is a day after ``lastTradeDateOrContractMonth``. Otherwise built from the
    fields; the root is then the trading class when IB gives one (``SPXW`` for SPX weeklies), as
    in the OCC symbol itself, the symbol otherwise.
    """
    if contract.secType != "OPT":
        return None
    from_local = parse_occ(contract.localSymbol or "")
    if from_local is not None:
        return from_local
    root = (contract.tradingClass or contract.symbol or "").strip().upper()
    expiry = (contract.lastTradeDateOrContractMonth or "").strip()
    right = _right(contract)
    strike = wire_decimal(contract.strike)
    if not root or len(root) > OCC_ROOT_WIDTH or " " in root:
        return None
    if len(expiry) < 8 or not expiry[:8].isdigit() or right not in ("C", "P"):
        return None
    if strike is None or strike <= 0:
        return None
    thousandths = strike * 1000
    if thousandths != thousandths.to_integral_value() or thousandths >= 10**8:
        return None
    return f"{root.ljust(OCC_ROOT_WIDTH)}{expiry[2:8]}{right}{int(thousandths):08d}"


def parse_occ(spelling: str) -> str | None:
    """``spelling`` as a padded OCC symbol if it is one (with or without the padding), else None."""
    match = _OCC.match(spelling.strip().upper())
    if match is None:
        return None
    root, expiry, right, strike = match.groups()
    return f"{root.ljust(OCC_ROOT_WIDTH)}{expiry}{right}{strike}"


def instrument_key(contract: ContractLike) -> str:
    """The readable, stable key of one contract (see the module docstring for the scheme)."""
    sec_type = (contract.secType or "").strip().upper() or "UNKNOWN"
    symbol = (contract.symbol or "").strip()
    local = (contract.localSymbol or "").strip()
    currency = (contract.currency or "").strip().upper()
    if sec_type in PAIR_TYPES:
        pair = local if local and "." in local else f"{symbol}.{currency}"
        return f"{sec_type}:{pair}"
    if sec_type == "OPT":
        # the OCC spelling keeps its padding: it is how IB itself writes the localSymbol
        name = (contract.localSymbol or "").strip() or occ_symbol(contract) or _derivative_name(contract)
        return f"OPT:{name}"
    if sec_type in ("FUT", "FOP"):
        return f"{sec_type}:{local or _derivative_name(contract)}"
    name = local or symbol or str(contract.conId)
    return f"{sec_type}:{name}:{currency}" if currency else f"{sec_type}:{name}"


def _derivative_name(contract: ContractLike) -> str:
    """A fallback spelling when IB sent no localSymbol: class, expiry, strike and right."""
    parts = [
        (contract.tradingClass or contract.symbol or "").strip(),
        (contract.lastTradeDateOrContractMonth or "").strip(),
    ]
    if contract.secType in ("OPT", "FOP"):
        parts += [_strike_text(contract), _right(contract)]
    return " ".join(part for part in parts if part) or str(contract.conId)


def aliases(contract: ContractLike, key: str | None = None) -> tuple[str, ...]:
    """Other spellings of the contract a book may use; the key itself is left out."""
    key = key if key is not None else instrument_key(contract)
    sec_type = (contract.secType or "").strip().upper()
    symbol = (contract.symbol or "").strip()
    local = (contract.localSymbol or "").strip()
    currency = (contract.currency or "").strip().upper()
    found: list[str] = []
    if contract.conId:
        found += [str(contract.conId), f"conid:{contract.conId}"]
    if (
        local
        and sec_type in LOCAL_ALIAS_TYPES
        and (sec_type in SYMBOL_ALIAS_TYPES or fold(local) != fold(symbol))
    ):
        found.append(local)
    elif local and sec_type not in LOCAL_ALIAS_TYPES:
        found.append(f"{sec_type or 'UNKNOWN'}:{local}")
    if sec_type in SYMBOL_ALIAS_TYPES and symbol:
        found.append(symbol)
    if sec_type == "STK" and symbol:
        found.append(f"STK:{symbol}")
    if sec_type in PAIR_TYPES and symbol and currency:
        found += [f"{symbol}.{currency}", f"{symbol}/{currency}", f"{symbol}{currency}"]
    occ = occ_symbol(contract)
    if occ is not None:
        found += [occ, occ.replace(" ", "")]
    # the contract's readable key today, when its key was fixed under another name (a rename) or
    # with @conId; ContractKeys drops it again when it is another contract's key
    found.append(instrument_key(contract))
    return _unique(found, exclude=key)


def _unique(spellings: Iterable[str], exclude: str) -> tuple[str, ...]:
    seen = {" ".join(exclude.upper().split())}
    result: list[str] = []
    for spelling in spellings:
        folded = " ".join(spelling.upper().split())
        if folded and folded not in seen:
            seen.add(folded)
            result.append(spelling)
    return tuple(result)


def fold(spelling: str) -> str:
    """Upper case, single spaces: how the core compares spellings (``app.symbols.clean``)."""
    return " ".join(spelling.upper().split())


@dataclass(slots=True)
class _Entry:
    key: str
    seen: date


class ContractKeys:
    """The key each conId of one account was given, remembered in a small JSON file.

    Everything here runs on the event loop and does no I/O except ``load``; ``take_changes``
    hands the new file content to the caller, which writes it with ``write_atomic`` in a thread.
    """

    def __init__(
        self,
        path: Path | None = None,
        entries: Mapping[int, _Entry] | None = None,
        *,
        today: Callable[[], date] = date.today,
    ) -> None:
        self.path = path
        self._entries: dict[int, _Entry] = dict(entries or {})
        self._owners = {fold(entry.key): con_id for con_id, entry in self._entries.items()}
        self._today = today
        self.dirty = False

    @classmethod
    def load(cls, path: Path, *, today: Callable[[], date] = date.today) -> ContractKeys:
        """Read the file; a missing one is a first start, a broken one is logged and ignored.

        Ignoring a broken file loses nothing a user relies on: keys are derived again, which
        gives the same readable keys except after a rename or a collision.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return cls(path, today=today)
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("cannot read the IB key file %s (%s); instrument keys are derived afresh", path, exc)
            return cls(path, today=today)
        try:
            entries = _parse_key_file(json.loads(text))
        except (ValueError, TypeError, KeyError) as exc:
            log.warning(
                "the IB key file %s is damaged (%s); instrument keys are derived afresh and the "
                "file is rewritten",
                path,
                exc,
            )
            keys = cls(path, today=today)
            keys.dirty = True
            return keys
        horizon = today() - timedelta(days=FORGET_AFTER_DAYS)
        kept = {con_id: entry for con_id, entry in entries.items() if entry.seen >= horizon}
        keys = cls(path, kept, today=today)
        keys.dirty = len(kept) != len(entries)
        return keys

    def __len__(self) -> int:
        return len(self._entries)

    def revision(self) -> tuple[int, date]:
        """What a snapshot's keys and aliases depend on besides its contracts.

        Entries are only ever added, so their number tells whether any was; the day is there
        because ``assign`` marks held contracts seen once a day, so a snapshot reused across
        midnight is built again and keeps them remembered.
        """
        return len(self._entries), self._today()

    def key_of(self, con_id: int) -> str | None:
        entry = self._entries.get(con_id)
        return entry.key if entry is not None else None

    def assign(self, contracts: Mapping[int, ContractLike]) -> dict[int, str]:
        """The key of each contract, giving new conIds theirs (see the module docstring).

        New conIds are keyed in conId order, so two colliding contracts seen together for the
        first time get the same keys on every machine. A newcomer also avoids the readable key
        of a held contract that was renamed to it, so the renamed one keeps that alias.
        """
        today = self._today()
        new = sorted(con_id for con_id in contracts if con_id not in self._entries)
        if new:
            taken = set(self._owners)
            taken.update(
                fold(instrument_key(contract))
                for con_id, contract in contracts.items()
                if con_id in self._entries
            )
            for con_id in new:
                readable = instrument_key(contracts[con_id])
                key = readable if fold(readable) not in taken else f"{readable}@{con_id}"
                self._entries[con_id] = _Entry(key, today)
                self._owners[fold(key)] = con_id
                taken.add(fold(key))
            self.dirty = True
        for con_id in contracts:
            entry = self._entries[con_id]
            if entry.seen != today:
                entry.seen = today  # at most one rewrite a day keeps a held contract remembered
                self.dirty = True
        return {con_id: self._entries[con_id].key for con_id in contracts}

    def aliases(self, contract: ContractLike, key: str) -> tuple[str, ...]:
        """``aliases`` without any spelling that is another conId's key."""
        return tuple(
            spelling
            for spelling in aliases(contract, key)
            if self._owners.get(fold(spelling), contract.conId) == contract.conId
        )

    def take_changes(self) -> str | None:
        """The file content to write if anything changed since the last call, else None."""
        if not self.dirty:
            return None
        self.dirty = False
        keys = {
            str(con_id): {"key": entry.key, "seen": entry.seen.isoformat()}
            for con_id, entry in sorted(self._entries.items())
        }
        return json.dumps({"version": KEY_FILE_VERSION, "keys": keys}, indent=1, ensure_ascii=False) + "\n"


def _parse_key_file(raw: Any) -> dict[int, _Entry]:
    if not isinstance(raw, dict) or raw.get("version") != KEY_FILE_VERSION:
        raise ValueError(f"expected an object with version {KEY_FILE_VERSION}")
    keys = raw["keys"]
    if not isinstance(keys, dict):
        raise ValueError("'keys' is not an object")
    entries: dict[int, _Entry] = {}
    owners: set[str] = set()
    for con_id, item in keys.items():
        key = item["key"]
        if not isinstance(key, str) or not key.strip():
            raise ValueError(f"conId {con_id} has no key")
        if fold(key) in owners:
            raise ValueError(f"key {key!r} is given to two conIds")
        owners.add(fold(key))
        entries[int(con_id)] = _Entry(key, date.fromisoformat(item["seen"]))
    return entries


def key_file_name(account_id: str) -> str:
    """``ibkr-keys-<account>.json``; an id with characters unfit for a file name gets a hash too."""
    return f"ibkr-keys-{id_file_stem(account_id)}.json"


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so that a crash leaves the old file or the new, never half."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write_private_text(temporary, text)  # owner-only, like everything in the data directory
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
