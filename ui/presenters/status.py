"""The status bar and the tray's colour: how the whole picture stands, at a glance.

``summarise`` is the one judgement of the window as a whole (green, amber or red, and the words
for it), kept a pure function of the counts and the accounts so it reads, and changes, in one
place; the rest of this module only puts it and the sync's progress on screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from position_sync.app.domain import AccountState, Status
from position_sync.app.sync import SyncWorker
from position_sync.ui import status_style
from position_sync.ui.presenters.accounts import AccountView
from position_sync.ui.presenters.positions import Tally
from position_sync.ui.status_style import Health
from position_sync.ui.tray import Tray
from position_sync.ui.window import MainWindow


@dataclass(frozen=True)
class Summary:
    text: str  # the counts line, rich text of our own
    health: Health
    words: str  # the tray's tooltip after "Position Sync — "


def summarise(tally: Tally, accounts: Mapping[str, AccountView]) -> Summary:
    """The worst of what is known.

    An account with no result yet this session is unknown, not good: its cached picture (or its
    absence) has not been confirmed by a read, so it makes the summary amber.
    """
    problems = tally.problems
    loud = tally.loud
    quiet = problems - loud
    stale_accounts = [a for a, v in accounts.items() if v.state is AccountState.STALE]
    login = [a for a, v in accounts.items() if v.state is AccountState.LOGIN_REQUIRED]
    waiting = [a for a, v in accounts.items() if not v.read_this_session]
    parts = [f"{tally.total} positions"]
    if problems:
        parts.append(f"<b style='color:#D1362F'>{problems} problem{'s' if problems != 1 else ''}</b>")
        if quiet:
            parts.append(f"{quiet} acknowledged or snoozed")
    elif waiting:
        parts.append("<span style='color:#B07800'>waiting for the first sync</span>")
    else:
        parts.append("<span style='color:#009E73'>all matching</span>")
    closed = tally.counts.get(Status.CLOSED, 0)
    if closed:
        parts.append(f"{closed} closed today")
    if login or loud:
        health = Health.BAD
    elif stale_accounts or quiet or waiting:
        health = Health.WARN
    else:
        health = Health.GOOD
    if login:
        words = f"login required for {', '.join(login)}"
    elif loud:
        words = f"{loud} unacknowledged problem{'s' if loud != 1 else ''}"
    elif stale_accounts:
        words = f"{', '.join(stale_accounts)} stale"
    elif waiting:
        words = f"waiting for the first sync of {', '.join(waiting)}"
    else:
        words = status_style.HEALTH_WORDS[health]
    return Summary(" · ".join(parts), health, words)


class StatusPresenter:
    def __init__(self, window: MainWindow, tray: Tray) -> None:
        self._window = window
        self._tray = tray
        self.health = Health.GOOD

    def show_summary(self, summary: Summary) -> None:
        self._window.set_summary(summary.text)
        self._tray.set_health(summary.health, summary.words)
        self.health = summary.health

    def show_countdown(self, worker: SyncWorker, now: datetime) -> None:
        """Seconds to the next interval sync of any account; nothing while paused."""
        if worker.paused:
            self._window.set_countdown("")
            return
        dues = [d for d in (worker.next_due(a) for a in worker.account_ids) if d is not None]
        if dues:
            seconds = max(0, int((min(dues) - now).total_seconds() + 0.999))
            self._window.set_countdown(f"· next sync in {seconds} s" if seconds else "· syncing…")

    def show_progress(self, resync: tuple[int, int] | None, syncing: bool) -> None:
        """``resync``: (done, total) of a "Resync now"; else a busy bar while any account syncs."""
        if resync is not None:
            self._window.show_progress(*resync)
        elif syncing:
            self._window.show_busy()
        else:
            self._window.hide_progress()

    def show_last_sync(self, finished_at: datetime) -> None:
        self._window.set_last_sync(f"Last sync {finished_at.astimezone():%H:%M:%S}")

    def show_paused(self, paused: bool) -> None:
        self._window.set_paused(paused)
