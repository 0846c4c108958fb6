"""The status bar, the window title and the tray's colour: how the whole picture stands, at a glance.

``summarise`` is the one judgement of the window as a whole (green, amber or red, and the words
for it), kept a pure function of the counts and the accounts so it reads, and changes, in one
place; the rest of this module only puts it and the sync's progress on screen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from position_sync.app.display import ago, clock
from position_sync.app.domain import AccountState, Status
from position_sync.app.feed import Feed
from position_sync.ui import status_style
from position_sync.ui.plain_text import escape
from position_sync.ui.presenters.accounts import AccountView
from position_sync.ui.presenters.positions import Tally
from position_sync.ui.status_style import Health
from position_sync.ui.tray import Tray
from position_sync.ui.window import MainWindow

RED = "#D1362F"
AMBER = "#B07800"
GREEN = "#009E73"


@dataclass(frozen=True)
class Summary:
    text: str  # the counts line, rich text of our own
    health: Health
    words: str  # the tray's tooltip after "Position Sync — "
    title: str = ""  # what needs the trader, before the window's title; "" when nothing does
    short: str = ""  # ``text`` without the quiet parts (totals, acknowledged, closed), for the filter bar


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _coloured(text: str, colour: str, *, bold: bool = False) -> str:
    tag = "b" if bold else "span"
    return f"<{tag} style='color:{colour}'>{escape(text)}</{tag}>"


def unknown_state(view: AccountView) -> str | None:
    """Why an account's picture cannot be trusted (``login required``, ``stale``, ``never read``),
    or None while it reads fine (or has simply not been tried yet this session)."""
    if view.state is AccountState.LOGIN_REQUIRED:
        return "login required"
    if view.state is AccountState.STALE:
        return "stale" if view.last_success_at is not None else "never read"
    return None


def summarise(tally: Tally, accounts: Mapping[str, AccountView]) -> Summary:
    """The worst of what is known, and what is not known counts as loudly as what is wrong.

    An account that could not be read (stale, never read, login required) is a problem: its
    rows are a picture nobody can vouch for, so it turns the summary red and names the account
    in the counts, the tray and the window title. An account with no result yet this session,
    whose last read was fine, is only waiting: amber, never "all matching".
    """
    problems = tally.problems
    loud = tally.loud
    quiet = problems - loud
    unknown = {a: why for a, v in accounts.items() if (why := unknown_state(v)) is not None}
    login = [a for a, why in unknown.items() if why == "login required"]
    unread = [a for a in unknown if a not in login]
    waiting = [a for a, v in accounts.items() if not v.read_this_session and a not in unknown]
    parts = [f"{tally.total} positions"]
    loudest = []  # what the short form keeps
    if problems:
        parts.append(_coloured(_plural(problems, "problem"), RED, bold=True))
        loudest.append(parts[-1])
        if quiet:
            parts.append(f"{quiet} acknowledged or snoozed")
    if unknown:
        rows = sum(tally.by_account.get(account, 0) for account in unknown)
        detail = f": {_plural(rows, 'row')} unverified" if rows else ""
        if len(unknown) == 1:
            ((account, why),) = unknown.items()
            unread_part = f"{account} {why}{detail}"
        else:
            unread_part = f"{len(unknown)} accounts unreadable{detail}"
        parts.append(_coloured(unread_part, RED, bold=True))
        loudest.append(parts[-1])
    if not problems and not unknown:
        if waiting:
            parts.append(_coloured("waiting for the first sync", AMBER))
        else:
            parts.append(_coloured("all matching", GREEN))
        loudest.append(parts[-1])
    closed = tally.counts.get(Status.CLOSED, 0)
    if closed:
        parts.append(f"{closed} closed today")
    if unknown or loud:
        health = Health.BAD
    elif quiet or waiting:
        health = Health.WARN
    else:
        health = Health.GOOD
    said = []
    if login:
        said.append(f"login required for {', '.join(login)}")
    if loud:
        said.append(f"{loud} unacknowledged problem{'s' if loud != 1 else ''}")
    said += [f"{account} {unknown[account]}" for account in unread]
    if not said and waiting:
        said.append(f"waiting for the first sync of {', '.join(waiting)}")
    words = "; ".join(said) or status_style.HEALTH_WORDS[health]
    attention = [_plural(loud, "problem")] if loud else []
    attention += [f"{account} {why}" for account, why in unknown.items()]
    return Summary(" · ".join(parts), health, words, " · ".join(attention), " · ".join(loudest))


def last_sync_text(accounts: Mapping[str, AccountView], now: datetime) -> str:
    """The last *good* sync and how long ago; a failed latest attempt is named apart.

    ``Last sync 14:02:07 (just now)`` while every account reads; otherwise the account that
    failed, when it last read fine and when it last tried: ``demo-us: last good 14:02:07 (3 min
    ago), failed 14:05:10``.
    """
    good = [v.last_success_at for v in accounts.values() if v.state is AccountState.OK and v.last_success_at]
    failing = [(a, v) for a, v in accounts.items() if v.state is not AccountState.OK]
    parts = []
    if good:
        newest = max(good)
        parts.append(f"Last sync {clock(newest, now, seconds=True)} ({ago(newest, now)})")
    for account, view in failing[:2]:
        attempt = view.last_attempt_at
        # Before this session's first attempt, the store's word for it (stale, login required).
        failed = f"failed {clock(attempt, now, seconds=True)}" if attempt else unknown_state(view)
        if view.last_success_at is None:
            parts.append(f"{account}: never read, {failed}")
        else:
            when = clock(view.last_success_at, now, seconds=True)
            parts.append(f"{account}: last good {when} ({ago(view.last_success_at, now)}), {failed}")
    if len(failing) > 2:
        parts.append(f"{len(failing) - 2} more failing")
    return " · ".join(parts) if parts else "Not synced yet"


class StatusPresenter:
    def __init__(self, window: MainWindow, tray: Tray) -> None:
        self._window = window
        self._tray = tray
        self.health = Health.GOOD

    def show_summary(self, summary: Summary) -> None:
        self._window.set_summary(summary.text, summary.short)
        self._window.set_title_status(summary.title)
        self._tray.set_health(summary.health, summary.words)
        self.health = summary.health

    def show_countdown(self, worker: Feed, now: datetime) -> None:
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

    def show_last_sync(self, accounts: Mapping[str, AccountView], now: datetime) -> None:
        self._window.set_last_sync(last_sync_text(accounts, now))

    def show_paused(self, paused: bool) -> None:
        self._window.set_paused(paused)
