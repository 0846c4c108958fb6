"""``--screenshot PATH``: render the window once the demo has shown every status, write a PNG, quit.

The picture is taken at the first moment every status of the design is on screen at once (the
demo gets there on its fifth sync: one account recovered from its outage, the other still in
its own), and auto-sync is paused at that moment so the next sync cannot move on before the
picture settles. A configuration that never shows them all is taken once every account has
walked its steps: known for simulated accounts (their scenario lists the steps; one more sync
confirms the last one); any other account is given two syncs. A time limit makes sure a broker
that never answers still yields a picture (and a non-zero exit code says it came early).
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


def syncs_needed(account: AccountConfig) -> int:
    """A scripted (demo) account's scenario played through, else a first sync and one more."""
    try:
        steps = scripted_steps(account)
    except Exception:  # a broken scenario shows in the window; the picture still gets taken
        log.exception("could not read the scenario of %s", account.id)
        steps = None
    return steps + 1 if steps is not None else 2


class ScreenshotWhenReady(QObject):
    def __init__(self, controller: Controller, path: Path, quit_event: asyncio.Event) -> None:
        super().__init__(controller)
        self.controller = controller
        self.path = path
        self.quit_event = quit_event
        self.exit_code = 1
        self.taken = False
        settings = controller.settings
        self.needed = {a: syncs_needed(settings.account(a)) for a in controller.worker.account_ids}
        self.seen = dict.fromkeys(self.needed, 0)
        self._checks: set[asyncio.Future[None]] = set()
        controller.worker.subscribe(self._on_result)
        self._timeout = QTimer(self)
        self._timeout.setSingleShot(True)
        self._timeout.timeout.connect(lambda: self.capture(early=True))
        self._timeout.start(TIMEOUT_S * 1000)
        self._settle = QTimer(self)
        self._settle.setSingleShot(True)
        self._settle.timeout.connect(self.capture)
        if not self.needed:
            self._settle.start(SETTLE_MS)

    def _on_result(self, result: SyncResult) -> None:
        if result.account in self.seen:
            self.seen[result.account] += 1
        if self._settle.isActive() or self.taken:
            return
        if all(self.seen[a] >= n for a, n in self.needed.items()):
            self._settle.start(SETTLE_MS)
        else:
            # Whether every status shows is known once the result is on screen.
            check = asyncio.ensure_future(self._every_status_shown())
            self._checks.add(check)
            check.add_done_callback(self._checks.discard)

    async def _every_status_shown(self) -> None:
        await self.controller.drain()
        if self._settle.isActive() or self.taken:
            return
        if {row.status for row in self.controller.positions.rows()} >= set(Status):
            self.controller.worker.pause()  # the picture of this moment, not of the next sync
            self._settle.start(SETTLE_MS)

    def capture(self, early: bool = False) -> None:
        if self.taken:
            return
        self.taken = True
        self._timeout.stop()
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
