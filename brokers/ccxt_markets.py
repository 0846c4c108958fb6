"""An exchange's market list: loaded once per process, kept on disk briefly, and turned into
the spellings a book may use.

``load_markets`` is the heaviest thing ccxt does (Binance's exchangeInfo is megabytes; Bybit
pages through instruments in several categories), and a ``sync --once`` from cron would pay it
on every run. So the list is kept in this process for hours and on disk for an hour, and a new
exchange instance is handed the kept list (``set_markets``) instead of asking again.

The list is also where instrument keys come from: positions are keyed by ccxt's unified symbol
(``HIGH/USDT:USDT``), and every spelling the list knows for that market (the native id
``HIGHUSDT``, ``HIGH-USDT``, ``HIGH_USDT``, ``HIGHUSDT.P``, a DEX's bare ``ZEC``) maps to it.
Only the account's kind of market is indexed, so spot ``BTC/USDT`` and the perpetual
``BTC/USDT:USDT`` never collapse; a spelling two markets could claim (``ZEC`` with USDC- and
USDT-settled perpetuals both listed) is dropped rather than guessed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: How long a list saved on disk is used by the next process (``sync --once`` from cron).
DISK_LIFETIME_SECONDS = 3600.0
#: How long one process keeps a list before loading it again (a daemon sees new listings).
PROCESS_LIFETIME_SECONDS = 6 * 3600.0

MarketFilter = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True)
class MarketList:
    """One exchange's markets as ccxt loaded them, and the spellings built from them."""

    markets: Mapping[str, Any]
    loaded_at: float
    spellings: Mapping[str, str] = field(default_factory=dict)
    by_id: Mapping[str, str] = field(default_factory=dict)

    def symbol_of(self, market_id: str) -> str | None:
        """The unified symbol of an exchange-native id (``BTCUSDT``), None when not listed."""
        return self.by_id.get(market_id)

    def id_of(self, symbol: str) -> str | None:
        """The exchange-native id of a unified symbol, None when not listed."""
        market = self.markets.get(symbol)
        market_id = market.get("id") if isinstance(market, Mapping) else None
        return market_id if isinstance(market_id, str) else None

    def settle_of(self, symbol: str) -> str | None:
        """The currency a contract settles in (``USDT``), None for spot or when not listed."""
        market = self.markets.get(symbol)
        settle = market.get("settle") if isinstance(market, Mapping) else None
        return settle if isinstance(settle, str) else None


def perpetual_spellings(market: Mapping[str, Any], bare_base: bool) -> set[str]:
    """What bots write for one market besides its unified symbol and native id."""
    base, quote = market.get("base"), market.get("quote")
    forms: set[str] = set()
    if not (isinstance(base, str) and isinstance(quote, str) and base and quote):
        return forms
    if market.get("swap"):
        pair = f"{base}{quote}"
        forms |= {
            pair,
            f"{base}-{quote}",
            f"{base}_{quote}",
            f"{pair}.P",
            f"{pair}PERP",
            f"{base}-{quote}-PERP",
        }
        base_id = market.get("baseId")
        if isinstance(base_id, str) and base_id.isdigit():
            base_id = None  # Hyperliquid's asset index ("3" for 2Z): a number, not a spelling
        if isinstance(base_id, str) and base_id and base_id != base:
            forms |= {f"{base_id}{quote}", f"{base_id}-{quote}"}
        if bare_base:
            forms.add(base)
            if isinstance(base_id, str) and base_id:
                forms.add(base_id)
    elif market.get("spot"):
        forms |= {f"{base}{quote}", f"{base}-{quote}", f"{base}_{quote}"}
    return forms


def build_spellings(markets: Iterable[Mapping[str, Any]], *, bare_base: bool = False) -> dict[str, str]:
    """Every spelling of the given markets to its unified symbol; ambiguous spellings left out."""
    claims: dict[str, set[str]] = {}
    for market in markets:
        symbol = market.get("symbol")
        if not isinstance(symbol, str):
            continue
        forms = perpetual_spellings(market, bare_base)
        market_id = market.get("id")
        if isinstance(market_id, str) and market_id:
            forms.add(market_id)
        forms.discard(symbol)
        for form in forms:
            claims.setdefault(form.upper(), set()).add(symbol)
    return {spelling: next(iter(symbols)) for spelling, symbols in claims.items() if len(symbols) == 1}


def market_list(
    markets: Mapping[str, Any], loaded_at: float, wanted: MarketFilter, bare_base: bool
) -> MarketList:
    chosen = [m for m in markets.values() if isinstance(m, Mapping) and wanted(m)]
    by_id = {str(m["id"]): str(m["symbol"]) for m in chosen if m.get("id") and m.get("symbol")}
    return MarketList(markets, loaded_at, build_spellings(chosen, bare_base=bare_base), by_id)


class MarketStore:
    """Market lists by exchange and API root: in this process, and on disk for the next one.

    One store serves every account of a runtime (kept in ``AdapterContext.shared``), so two
    accounts on one exchange load its list once.
    """

    def __init__(self, directory: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._clock = clock
        self._kept: dict[str, tuple[Mapping[str, Any], float]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def name(exchange_id: str, api_root: str | None, kind: str) -> str:
        digest = hashlib.sha256(f"{api_root or ''}|{kind}".encode()).hexdigest()[:12]
        return f"{exchange_id}-{kind}-{digest}"

    def kept(self, name: str) -> tuple[Mapping[str, Any], float] | None:
        """A list young enough to use: this process's, else the disk's; None to load afresh."""
        now = self._clock()
        with self._lock:
            held = self._kept.get(name)
        if held is not None and now - held[1] < PROCESS_LIFETIME_SECONDS:
            return held
        saved = self._read(name, now)
        if saved is not None:
            with self._lock:
                self._kept[name] = saved
        return saved

    def keep(self, name: str, markets: Mapping[str, Any]) -> float:
        """Remember a freshly loaded list here and on disk; returns its load time."""
        loaded_at = self._clock()
        with self._lock:
            self._kept[name] = (markets, loaded_at)
        self._write(name, markets, loaded_at)
        return loaded_at

    def forget(self, name: str) -> None:
        """Drop a list (an unknown instrument turned up): the next read loads it again."""
        with self._lock:
            self._kept.pop(name, None)
        (self.directory / f"{name}.json").unlink(missing_ok=True)

    def _read(self, name: str, now: float) -> tuple[Mapping[str, Any], float] | None:
        path = self.directory / f"{name}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            loaded_at = float(data["saved_at"])
            markets = data["markets"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.info("ignoring the saved market list %s: %s", path, type(exc).__name__)
            return None
        if not isinstance(markets, dict) or not markets or not 0 <= now - loaded_at < DISK_LIFETIME_SECONDS:
            return None
        return markets, loaded_at

    def _write(self, name: str, markets: Mapping[str, Any], loaded_at: float) -> None:
        """Written whole or not at all: a torn file is ignored by the reader anyway, but a
        failure to save only costs the next process one load."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            text = json.dumps({"saved_at": loaded_at, "markets": markets}, separators=(",", ":"), default=str)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=f".{name}.", suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                file.write(text)
            os.replace(temporary, self.directory / f"{name}.json")
        except OSError as exc:
            log.warning("could not save the market list %s: %s", name, exc)
