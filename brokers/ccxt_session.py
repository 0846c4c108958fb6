"""One ccxt exchange instance of one account, narrowed to reading and paced by the exchange.

Everything an adapter sends goes through here: ``call`` for the exchange's own endpoints (read
as raw strings, never ccxt's unified floats) and ``markets`` for the market list. The instance
is made read-only at ccxt's lowest level (``fetch``, the one method every HTTP request passes
through): a request to a path its venue did not list is refused before a byte is sent, so no
code path here, nor any ccxt helper it calls, can place or cancel an order or change leverage.

Pacing has three layers. ccxt's own throttle (``enableRateLimit``) spaces requests by each
endpoint's cost. On top, the exchange's answers steer us: a ``Retry-After`` on a 429, or used
weight close to the limit in the weight headers, holds every request of this account back
until the exchange said; a fetch arriving before then fails at once as rate limited, without
a request. And resync pressed as fast as a hand can press costs at most one read a second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.brokers.ccxt_errors import ReadOnlyRefused, read_error
from position_sync.brokers.ccxt_markets import MarketFilter, MarketList, MarketStore, market_list

log = logging.getLogger(__name__)

#: Resync pressed repeatedly: reads of one account start at least this far apart.
MIN_SECONDS_BETWEEN_READS = 1.0
#: A hold-back longer than this is reported (stale, rate limited) instead of waited out.
LONGEST_WAIT_SECONDS = 5.0


class Pacer(Protocol):
    """How long an exchange asks us to wait, read from the headers of one answer (0 for none)."""

    def __call__(self, status: int | None, headers: Mapping[str, str], now: float) -> float: ...


class Session:
    """The account's exchange instance, its markets and its pacing."""

    def __init__(
        self,
        exchange: Any,
        *,
        title: str,
        allowed: Callable[[str, str], bool],
        pacer: Pacer,
        store: MarketStore,
        store_name: str,
        wanted: MarketFilter,
        bare_base: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.exchange = exchange
        self.title = title
        self._allowed = allowed
        self._pacer = pacer
        self._store = store
        self._store_name = store_name
        self._wanted = wanted
        self._bare_base = bare_base
        self._clock = clock
        self._markets: MarketList | None = None
        self._markets_refreshed = 0.0
        self._not_before = 0.0
        self._last_read = -MIN_SECONDS_BETWEEN_READS
        self.requests: list[tuple[str, str]] = []
        self._guard(exchange)

    # --- the guard and the pacing --------------------------------------------------------

    def _guard(self, exchange: Any) -> None:
        """Wrap ccxt's ``fetch`` (every request is checked and counted) and its response hook
        (every answer's status and headers steer the pacing, errors included: ccxt calls the
        hook before it raises)."""
        send: Callable[..., Awaitable[Any]] = exchange.fetch
        answered: Callable[..., Any] = exchange.on_rest_response

        async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
            path = urlsplit(url).path
            if not self._allowed(method.upper(), path):
                raise ReadOnlyRefused(
                    f"Position Sync is read-only towards {self.title} and never sends {method} {path}"
                )
            self.requests.append((method.upper(), path))
            return await send(url, method, headers, body)

        def on_rest_response(code: Any, reason: Any, url: str, method: str, headers: Any, *rest: Any) -> Any:
            self._note_answer(code, headers or {})
            return answered(code, reason, url, method, headers, *rest)

        exchange.fetch = fetch
        exchange.on_rest_response = on_rest_response

    def _note_answer(self, status: Any, headers: Mapping[str, Any]) -> None:
        now = self._clock()
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        try:
            wait = self._pacer(int(status) if status is not None else None, lowered, time.time())
        except (ValueError, TypeError):
            wait = 0.0
        if wait > 0:
            self._not_before = max(self._not_before, now + wait)
            log.info("%s asked to hold back %.1f s", self.title, wait)

    async def paced(self) -> None:
        """Wait for this read's turn, or fail as rate limited when the exchange said to wait long."""
        now = self._clock()
        start = max(self._not_before, self._last_read + MIN_SECONDS_BETWEEN_READS)
        if start - now > LONGEST_WAIT_SECONDS:
            raise ReadError(
                ReadErrorKind.RATE_LIMITED,
                f"{self.title}: holding back {start - now:.0f} s more as the exchange's rate limit "
                "asked; nothing was sent",
            )
        if start > now:
            await asyncio.sleep(start - now)
        self._last_read = self._clock()

    # --- reading ---------------------------------------------------------------------------

    async def call(self, method: str, params: Mapping[str, Any], what: str) -> Any:
        """One of the exchange's own endpoints by ccxt's name for it; the raw answer."""
        try:
            return await getattr(self.exchange, method)(dict(params))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise read_error(exc, self.title, what) from exc

    async def markets(self) -> MarketList:
        """The market list, from this process or the disk when young enough, else loaded."""
        if self._markets is not None:
            return self._markets
        kept = await asyncio.to_thread(self._store.kept, self._store_name)
        if kept is not None:
            markets, loaded_at = kept
            try:
                self.exchange.set_markets(dict(markets))
            except Exception as exc:  # a saved list ccxt cannot take: load it afresh
                log.info("%s: the saved market list was not usable (%s)", self.title, type(exc).__name__)
                kept = None
        if kept is None:
            try:
                markets = await self.exchange.load_markets(True)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                raise read_error(exc, self.title, "the market list") from exc
            if not markets:
                raise ReadError(ReadErrorKind.MALFORMED, f"{self.title} listed no markets")
            loaded_at = await asyncio.to_thread(self._store.keep, self._store_name, markets)
        self._markets = market_list(self.exchange.markets, loaded_at, self._wanted, self._bare_base)
        return self._markets

    async def refresh_markets(self, min_age: float = 600.0) -> bool:
        """Load the list again (an unknown instrument turned up); at most once per ``min_age``."""
        now = self._clock()
        if now - self._markets_refreshed < min_age:
            return False
        self._markets_refreshed = now
        await asyncio.to_thread(self._store.forget, self._store_name)
        self._markets = None
        await self.markets()
        return True

    async def close(self) -> None:
        await self.exchange.close()
