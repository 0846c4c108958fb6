"""Requests sent to Kite while ``fetch`` is called as fast as possible, against Kite's limit.

Models the worst a user can do: several callers pressing resync in a tight loop on two accounts
that share one API key (the budget Kite counts), for ``--seconds`` seconds. The fake Kite
records every request's arrival and, like Kite, answers 429 past 10 requests in a second. The
figures are what Kite would see: the most requests in any 1-second window and in any minute.

Run from the project root: ``python benchmarks/kite_rate.py [--seconds 60] [--callers 4]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig
from position_sync.app.errors import ReadError
from position_sync.app.secrets import Secrets
from position_sync.brokers.kite import RATE_WINDOW_SECONDS, REQUESTS_PER_SECOND, KiteAdapter, create
from tests.fakes.kite_server import FakeKiteServer, position_row

KITE_LIMIT_PER_SECOND = (
    10  # "all other endpoints", https://kite.trade/docs/connect/v3/exceptions/#api-rate-limit
)


async def hammer(adapter: KiteAdapter, until: float, counts: dict[str, int]) -> None:
    while time.monotonic() < until:
        try:
            await adapter.fetch()
            counts["fetched"] += 1
        except ReadError as exc:
            counts["failed"] += 1
            counts["rate_limited"] += exc.kind == "rate_limited"


async def run(seconds: float, callers: int) -> None:
    with FakeKiteServer(api_key="bench_rate_key", rate_limit=KITE_LIMIT_PER_SECOND) as kite:
        kite.set_positions(
            [position_row("NIFTY25O0725150CE", quantity=75, average_price=100, last_price=101)]
        )
        secrets = Secrets({"KITE_TOKEN": kite.access_token})
        adapters = [
            create(
                AccountConfig(
                    id=account_id,
                    broker="kite",
                    book="book",
                    timeout=30,
                    options={"api_key": kite.api_key, "api_root": kite.url, "access_token_env": "KITE_TOKEN"},
                ),
                AdapterContext(Path("."), secrets),
            )
            for account_id in ("AB1234", "CD5678")
        ]
        counts = {"fetched": 0, "failed": 0, "rate_limited": 0}
        started = time.monotonic()
        until = started + seconds
        loops = [hammer(adapters[n % len(adapters)], until, counts) for n in range(callers * len(adapters))]
        try:
            # At the deadline the fetches still queued behind the limiter are cancelled; a
            # cancelled fetch sends nothing, so the count stops with the clock.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*loops), timeout=seconds)
        finally:
            for adapter in adapters:
                await adapter.close()
        elapsed = time.monotonic() - started
        total = kite.count()
        per_second = kite.max_requests_in_window(1.0)
        per_minute = kite.max_requests_in_window(60.0)

    print(
        f"Kite rate benchmark: {callers} callers per account x 2 accounts on one API key, "
        f"fetching as fast as they can for {elapsed:.1f} s"
    )
    print(
        f"  fetches completed: {counts['fetched']}, failed: {counts['failed']} (of them refused with 429: {counts['rate_limited']})"
    )
    print(f"  requests sent: {total} ({total / elapsed:.2f} per second on average)")
    print(
        f"  max requests in any 1 s window: {per_second} "
        f"(Kite allows {KITE_LIMIT_PER_SECOND}; the adapter budgets {REQUESTS_PER_SECOND} per {RATE_WINDOW_SECONDS:g} s)"
    )
    minute_note = "" if elapsed >= 60 else f" (run shorter than a minute: all {elapsed:.0f} s)"
    print(
        f"  max requests in any 60 s window: {per_minute}{minute_note} "
        f"(Kite's ceiling at {KITE_LIMIT_PER_SECOND}/s would be {KITE_LIMIT_PER_SECOND * 60})"
    )
    verdict = "within" if per_second <= KITE_LIMIT_PER_SECOND and not counts["rate_limited"] else "OVER"
    print(f"  verdict: {verdict} Kite's documented limit")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--callers", type=int, default=4, help="concurrent resync loops per account")
    args = parser.parse_args()
    asyncio.run(run(args.seconds, args.callers))


if __name__ == "__main__":
    main()
