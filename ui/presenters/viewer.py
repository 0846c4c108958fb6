"""The window as a viewer of a shared store: what it says about its feed, and what it does not offer.

Inert unless the runtime's feed is a ``StoreViewer``. Then it keeps the viewer strip current
(``ui.viewer_banner``: which daemon feeds the picture, how old it is, whether the store can be
read), passes the store's acknowledgement hints on to the acknowledgements presenter, and turns
off what a viewer cannot do, each with the reason in its tips: Pause (the daemons decide when
to sync), the book fixes (the books are the daemon machine's), Settings (the accounts are the
daemons'), and acknowledge, snooze and resync when the database role may only read.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from sqlalchemy.engine import make_url

from position_sync.app.display import ago, clock
from position_sync.app.domain import AccountState
from position_sync.app.feed import Feed
from position_sync.app.team.viewer import StoreViewer, ViewerStatus
from position_sync.ui.actions import describe
from position_sync.ui.presenters.accounts import AccountsPresenter
from position_sync.ui.presenters.context import Context
from position_sync.ui.presenters.fixes import VIEWER_REFUSAL as FIX_OFF
from position_sync.ui.viewer_banner import ViewerBanner
from position_sync.ui.window import MainWindow

PAUSE_OFF = "A viewer does not sync: the daemons decide when each account syncs"
SETTINGS_OFF = (
    "A viewer shows the accounts the daemons sync: their settings are in the daemons' configuration"
)


def store_name(url: str) -> str:
    """The store as a person names it: the database on its server, or the file."""
    try:
        parsed = make_url(url)
    except Exception:
        return "the store"
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or "the store"
    where = f"{parsed.host}:{parsed.port}" if parsed.port else str(parsed.host or "localhost")
    return f"{parsed.database} on {where}"


def feeder_words(status: ViewerStatus) -> str:
    holders = sorted({f.holder for f in status.feeders.values() if f.live})
    if not holders:
        return "no daemon holds a lease now (a single daemon, or none running)"
    if len(holders) == 1:
        return f"fed by {holders[0]}"
    return f"fed by {len(holders)} daemons: {', '.join(holders)}"


def banner_text(viewer: StoreViewer, now: datetime) -> tuple[str, str]:
    """The strip's words and its kind ("info", or "warn" while the store cannot be read)."""
    status = viewer.status()
    where = store_name(viewer.store.url)
    parts = [f"Viewer of {where}", feeder_words(status)]
    if status.written_at is not None:
        parts.append(
            f"last saved {clock(status.written_at, now, seconds=True)} ({ago(status.written_at, now)})"
        )
    if not status.reachable:
        read = status.read_at
        since = f", read at {clock(read, now, seconds=True)} ({ago(read, now)})" if read else ""
        parts = [f"Viewer of {where}: {status.problem}", f"showing the last picture{since}"]
        kind = "warn"
    else:
        parts.append("live" if status.live else f"checked every {viewer.poll_seconds:g} s")
        kind = "info"
    privileges = viewer.privileges
    if not privileges.acknowledge or not privileges.resync:
        parts.append("read-only database role")
    if status.notice:
        parts.append(status.notice)
        kind = "warn"
    return " · ".join(parts), kind


class ViewerPresenter(QObject):
    def __init__(
        self, window: MainWindow, context: Context, badges: AccountsPresenter, parent: QObject
    ) -> None:
        super().__init__(parent)
        self._window = window
        self._context = context
        self._badges = badges
        self.banner: ViewerBanner | None = None

    @property
    def viewer(self) -> StoreViewer | None:
        worker = self._context.worker
        return worker if isinstance(worker, StoreViewer) else None

    @property
    def active(self) -> bool:
        return self.viewer is not None

    def bind(
        self, feed: Feed, reload_acks: Callable[[], object], reload_all: Callable[[], object]
    ) -> Callable[[], None]:
        """Acknowledgements written anywhere, and accounts new to the store, reach this window."""
        if not isinstance(feed, StoreViewer):
            return lambda: None
        off_acks = feed.subscribe_acks(reload_acks)
        off_accounts = feed.subscribe_accounts(reload_all)

        def unbind() -> None:
            off_acks()
            off_accounts()

        return unbind

    def loaded(self) -> None:
        """The store's picture is this session's: nothing waits for a first sync of ours."""
        viewer = self.viewer
        if viewer is None:
            return
        for account, view in self._badges.views.items():
            view.read_this_session = True
            view.ok_this_session = view.state is AccountState.OK
            view.last_attempt_at = view.last_attempt_at or viewer.saved_at(account)
        self._badges.refresh_banner()
        self._turn_off()
        self.tick(self._context.clock())

    def _turn_off(self) -> None:
        window = self._window
        viewer = self.viewer
        assert viewer is not None
        _off(window.act_pause, PAUSE_OFF)
        for action in (*window.fix_actions.values(), window.act_fix_undo):
            _off(action, FIX_OFF)
        window.set_fix_note(FIX_OFF)
        _off(window.act_settings, SETTINGS_OFF)
        privileges = viewer.privileges
        if not privileges.acknowledge:
            reason = privileges.refusal("acknowledging, snoozing and notes")
            for action in (window.act_ack, window.act_snooze, window.act_clear_ack, *window.snooze_actions):
                _off(action, reason)
        if not privileges.resync:
            reason = privileges.refusal("a resync")
            for action in (window.act_resync, window.act_resync_account):
                _off(action, reason)

    def may_resync(self) -> str | None:
        """Why a resync cannot be asked (None when it can)."""
        viewer = self.viewer
        if viewer is None or viewer.privileges.resync:
            return None
        return viewer.privileges.refusal("a resync")

    def fix_refusal(self) -> str | None:
        return FIX_OFF if self.active else None

    def tick(self, now: datetime) -> None:
        viewer = self.viewer
        if viewer is None:
            return
        if self.banner is None:
            self.banner = ViewerBanner(self._window)
        text, kind = banner_text(viewer, now)
        self.banner.show_text(text, kind)


def _off(action: QAction, reason: str) -> None:
    action.setEnabled(False)
    describe(action, action.text(), f"Not in a viewer: {reason}")
