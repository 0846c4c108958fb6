"""``--screenshot PATH``: render the window once the demo has shown every status, write a PNG, quit.

The demo's accounts are scripted (their scenario lists the steps), so the picture does not
wait on timers: auto-sync is paused and the accounts are walked here together, one step of each
per round, paced by their interval, until every status of the design is on screen at once (the
demo gets there at its fifth step: one account recovered from its outage, the other still in its
own) or every step was played and confirmed by one more sync. Left to their own timers, the two
accounts drift apart by the backoff's jitter, and the moment they overlap could be missed. Any
other account is given two syncs on its own timer. A time limit makes sure a broker that never
answers still yields a picture (and a non-zero exit code says it came early).
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from PySide6.QtCore import QObject, QTimer

from position_sync.app.config import AccountConfig
from position_sync.app.domain import Status
from position_sync.app.sync import SyncResult
from position_sync.brokers.registry import scripted_steps
from position_sync.ui.controller import Controller

log = logging.getLogger(__name__)
SETTLE_MS = 900  # let the last result paint and the notification burst flush
TIMEOUT_S = 180
UNSCRIPTED_SYNCS = 2  # a real broker's account: a first sync and one more


def steps_of(account: AccountConfig) -> int | None:
    """A scripted (demo) account's number of steps; None for a real broker's."""
    try:
        return scripted_steps(account)
    except Exception:  # a broken scenario shows in the window; the picture still gets taken
        log.exception("could not read the scenario of %s", account.id)
        return None


class ScreenshotWhenReady(QObject):
    def __init__(self, controller: Controller, path: Path, quit_event: asyncio.Event) -> None:
        super().__init__(controller)
        self.controller = controller
        self.path = path
        self.quit_event = quit_event
        self.exit_code = 1
        self.taken = False
        # A viewer syncs nothing itself: its picture is the store's, on screen once loaded.
        viewing = controller.settings.team.viewer
        accounts = [] if viewing else [controller.settings.account(a) for a in controller.worker.account_ids]
        steps = [steps_of(account) for account in accounts]
        self.seen = {account.id: 0 for account in accounts}
        self._walk: asyncio.Future[None] | None = None
        self._timeout = QTimer(self)
        self._timeout.setSingleShot(True)
        self._timeout.timeout.connect(lambda: self.capture(early=True))
        self._timeout.start(TIMEOUT_S * 1000)
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.timeout.connect(self.capture)
        if not accounts:
            self._settle.start(SETTLE_MS)
        elif all(n is not None for n in steps):
            controller.worker.pause()  # before the worker starts: no sync but the walk's own
            rounds = max(n for n in steps if n is not None) + 1
            pace = min(account.interval for account in accounts)
            self._walk = asyncio.ensure_future(self._walk_together(rounds, pace))
        else:
            controller.worker.subscribe(self._on_result)

    async def _walk_together(self, rounds: int, pace: float) -> None:
        for number in range(rounds):
            if number:
                await asyncio.sleep(pace)
            await self.controller.worker.sync_all("screenshot")
            await self.controller.drain()
            if {row.status for row in self.controller.positions.rows()} >= set(Status):
                break
        self._settle.start(SETTLE_MS)

    def _on_result(self, result: SyncResult) -> None:
        if result.account in self.seen:
            self.seen[result.account] += 1
        if not self._settle.isActive() and all(n >= UNSCRIPTED_SYNCS for n in self.seen.values()):
            self._settle.start(SETTLE_MS)

    def capture(self, early: bool = False) -> None:
        if self.taken:
            return
        self.taken = True
        self._timeout.stop()
        if self._walk is not None:
            self._walk.cancel()  # the time limit ran out mid-walk
        window = self.controller.window
        self.controller.notifier.flush()
        self.controller.positions.clear_selection()
        pixmap = window.grab()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        saved = pixmap.save(str(self.path), "PNG")
        if not saved:
            log.error("could not write the screenshot to %s", self.path)
        elif early:
            log.warning("screenshot written to %s before every account finished its steps", self.path)
        else:
            shown = sorted({row.status.value for row in self.controller.positions.rows()})
            log.info("screenshot written to %s (statuses on screen: %s)", self.path, ", ".join(shown))
        self.exit_code = 0 if saved and not early else 1
        self.quit_event.set()
