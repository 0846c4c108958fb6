"""Long-lived tasks that cannot die silently: a book watcher, an account's sync loop.

An asyncio task that raises ends, and nothing notices until someone awaits it; in the window
that was a book watcher dead after its second change (qasync's timers differ from asyncio's),
and every later edit of the book waited for the account's interval. A supervised task logs the
exception with its traceback and is started again after a backoff, for as long as the program
runs; only cancellation ends it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from position_sync.app.backoff import Backoff

log = logging.getLogger(__name__)

# A task that ran this long before it failed starts again quickly; one that keeps failing at
# once backs off to a minute, so a broken dependency does not fill the log.
RESTART = Backoff(initial=1.0, cap=60.0)
HEALTHY_SECONDS = 60.0


async def supervised(name: str, run: Callable[[], Awaitable[None]], restart: Backoff = RESTART) -> None:
    """Run ``run()`` for good, logging and restarting it whenever it fails or ends."""
    loop = asyncio.get_running_loop()
    attempt = 0
    while True:
        started = loop.time()
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            failure = "failed"
            log.exception("%s failed; it is started again", name)
        else:
            failure = "ended"
            log.error("%s ended although it should run until stopped; it is started again", name)
        attempt = 1 if loop.time() - started >= HEALTHY_SECONDS else attempt + 1
        wait = restart.delay(attempt)
        log.info("%s %s: restarting in %.1f s (attempt %d)", name, failure, wait, attempt)
        await asyncio.sleep(wait)
