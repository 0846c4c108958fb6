"""Safety rule 4 as a small, Qt-free policy: notify once, group bursts, respect the user's word.

The window feeds every sync result in and flushes shortly after; whatever shows the message (a
tray balloon, an in-window area) is someone else's business. Reconciliation already emits a
detected event only once a problem is confirmed; this policy adds what only the notifying side
knows: a key (account, instrument, kind) notified once until it resolves, acknowledged or
snoozed rows kept quiet, and several alerts arriving together folded into one message.

A detection that arrives while its row is muted is not forgotten: reconciliation reports it only
once, so the policy keeps it aside and ``release`` hands it out when the mute ends (a snooze
runs out, an acknowledgement lapses or is cleared) if the row is still that confirmed problem.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from position_sync.app.display import event_detail, event_label, fmt_money, fmt_qty, money
from position_sync.app.domain import ZERO, AccountState, Event, EventKind, Row, Status, optional_decimal

NOTIFIABLE_KINDS: tuple[EventKind, ...] = (
    EventKind.PHANTOM_DETECTED,
    EventKind.CLOSED,
    EventKind.LOGIN_REQUIRED,
    EventKind.UNTRACKED_DETECTED,
    EventKind.MISMATCH_DETECTED,
    EventKind.SYNC_FAILED,
)
# Every kind by default: a manual trade (untracked), a book that drifted (mismatch) and a dropped
# broker connection (sync failed) are exactly what a trader must hear about. Each still notifies
# once per key and bursts fold into one message, so the defaults stay quiet when nothing changes.
DEFAULT_KINDS: frozenset[EventKind] = frozenset(NOTIFIABLE_KINDS)
_SEVERITY = {
    EventKind.PHANTOM_DETECTED: 3,
    EventKind.LOGIN_REQUIRED: 3,
    EventKind.UNTRACKED_DETECTED: 2,
    EventKind.MISMATCH_DETECTED: 2,
    EventKind.SYNC_FAILED: 2,
    EventKind.CLOSED: 1,
}
_LIST_AT_MOST = 4

Key = tuple[str, str | None, EventKind]
Muter = Callable[[str, str], bool]


@dataclass(frozen=True)
class Alert:
    """One thing worth a notification, with what its sentence needs."""

    account: str
    instrument: str | None
    kind: EventKind
    detail: str = ""
    quantity: Decimal | None = None
    realised_pnl: Decimal | None = None
    estimated: bool = False
    currency: str | None = None

    @property
    def key(self) -> Key:
        return (self.account, self.instrument, self.kind)


@dataclass(frozen=True)
class Notification:
    title: str
    body: str
    alerts: tuple[Alert, ...]

    @property
    def severity(self) -> int:
        """3 critical, 2 warning, 1 information: decides the tray icon of the message."""
        return max((_SEVERITY.get(a.kind, 1) for a in self.alerts), default=1)

    @property
    def target(self) -> tuple[str, str | None]:
        """The row a click on the message selects: the first alert's."""
        for alert in self.alerts:
            if alert.instrument is not None:
                return (alert.account, alert.instrument)
        return (self.alerts[0].account, None)


class NotifyPolicy:
    def __init__(
        self,
        kinds: Iterable[EventKind] = DEFAULT_KINDS,
        muted: Muter | None = None,
        currency_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self.kinds = frozenset(kinds)
        self._muted = muted or (lambda _account, _instrument: False)
        self._currency_of = currency_of or (lambda _account: None)
        self._notified: set[Key] = set()
        self._pending: list[Alert] = []
        # Detections kept aside while their row was muted, with the account's latest rows to
        # judge later whether the problem is still there.
        self._suppressed: dict[Key, Alert] = {}
        self._rows: dict[str, Mapping[str, Row]] = {}

    @property
    def notified(self) -> frozenset[Key]:
        return frozenset(self._notified)

    def still_open(self, alert: Alert) -> bool:
        """Whether what ``alert`` told is still so: notified and not resolved since (a phantom
        gone, an account reading again). A message whose every alert is closed may go away."""
        return alert.key in self._notified

    def offer(
        self, account: str, state: AccountState, rows: Mapping[str, Row], events: Iterable[Event]
    ) -> list[Alert]:
        """Take one sync result; returns the alerts it queued for the next ``flush``."""
        events = list(events)
        self._resolve(account, state, rows, events)
        if state is AccountState.OK:
            self._rows[account] = rows
        queued: list[Alert] = self.release(account)
        for event in events:
            if event.kind not in self.kinds:
                continue
            key: Key = (account, event.instrument, event.kind)
            if key in self._notified:
                continue
            row = rows.get(event.instrument) if event.instrument else None
            if event.kind in (EventKind.PHANTOM_DETECTED, EventKind.UNTRACKED_DETECTED) and (
                row is None or not row.confirmed
            ):
                continue  # only confirmed problems are worth a notification
            alert = self._alert(account, event, row)
            if event.instrument is not None and self._muted(account, event.instrument):
                self._suppressed[key] = alert  # told once the mute ends, if still true then
                continue
            self._suppressed.pop(key, None)
            self._notified.add(key)
            self._pending.append(alert)
            queued.append(alert)
        return queued

    def release(self, account: str | None = None) -> list[Alert]:
        """Queue the kept-aside detections whose mute has ended and whose problem remains.

        Called with every result (for its account) and periodically by whoever owns the clock
        the mutes are judged by (the window's tick), so a snooze that runs out at 03:00 notifies
        at 03:00, not at the next change of the row.
        """
        queued: list[Alert] = []
        for key, alert in list(self._suppressed.items()):
            if account is not None and key[0] != account:
                continue
            _, instrument, kind = key
            assert instrument is not None
            row = self._rows.get(key[0], {}).get(instrument)
            if kind not in self.kinds or not _still_a_problem(kind, row):
                del self._suppressed[key]
                continue
            if key in self._notified or self._muted(key[0], instrument):
                continue
            del self._suppressed[key]
            self._notified.add(key)
            self._pending.append(alert)
            queued.append(alert)
        return queued

    @property
    def waiting(self) -> int:
        """Detections kept aside while muted (cheap to test before calling ``release``)."""
        return len(self._suppressed)

    def _resolve(
        self, account: str, state: AccountState, rows: Mapping[str, Row], events: list[Event]
    ) -> None:
        """A key may notify again once what it was about has gone away."""
        resolved_kind = {
            EventKind.PHANTOM_RESOLVED: EventKind.PHANTOM_DETECTED,
            EventKind.UNTRACKED_RESOLVED: EventKind.UNTRACKED_DETECTED,
            EventKind.MISMATCH_RESOLVED: EventKind.MISMATCH_DETECTED,
            EventKind.OPENED: EventKind.CLOSED,
        }
        for event in events:
            if event.kind in resolved_kind:
                key = (account, event.instrument, resolved_kind[event.kind])
                self._notified.discard(key)
                self._suppressed.pop(key, None)
        if state is not AccountState.OK:
            return  # a stale picture resolves nothing (rule 1)
        for key in [k for k in self._notified if k[0] == account]:
            _, instrument, kind = key
            row = rows.get(instrument) if instrument is not None else None
            if kind in (EventKind.LOGIN_REQUIRED, EventKind.SYNC_FAILED):
                gone = True
            elif kind is EventKind.CLOSED:
                gone = row is None or (row.broker_qty or ZERO) != ZERO
            elif kind is EventKind.PHANTOM_DETECTED:
                gone = row is None or row.effective_status is not Status.PHANTOM
            elif kind is EventKind.UNTRACKED_DETECTED:
                gone = row is None or row.effective_status is not Status.UNTRACKED
            else:
                gone = row is None or not row.effective_status.is_problem
            if gone:
                self._notified.discard(key)
        for key in [k for k in self._suppressed if k[0] == account]:
            instrument = key[1]
            if not _still_a_problem(key[2], rows.get(instrument) if instrument is not None else None):
                del self._suppressed[key]

    def _alert(self, account: str, event: Event, row: Row | None) -> Alert:
        currency = (row.currency if row else None) or self._currency_of(account)
        detail = event_detail(event, currency)
        pnl = optional_decimal(event.data.get("realised_pnl")) if event.data else None
        if pnl is None and row is not None and event.kind is EventKind.CLOSED:
            pnl = row.realised_pnl
        return Alert(
            account=account,
            instrument=event.instrument,
            kind=event.kind,
            detail=detail,
            quantity=row.local_qty if row is not None and event.kind is EventKind.PHANTOM_DETECTED else None,
            realised_pnl=pnl,
            estimated=bool(row and row.realised_estimated and event.kind is EventKind.CLOSED),
            currency=currency,
        )

    def flush(self) -> list[Notification]:
        """Everything queued since the last flush, folded: one message per burst."""
        pending, self._pending = self._pending, []
        groups: dict[tuple[str, EventKind], list[Alert]] = {}
        for alert in pending:
            groups.setdefault((alert.account, alert.kind), []).append(alert)
        messages = [compose(account, kind, alerts) for (account, kind), alerts in groups.items()]
        if len(messages) <= 1:
            return messages
        messages.sort(key=lambda m: -m.severity)
        total = sum(len(m.alerts) for m in messages)
        body = "\n".join(m.title for m in messages)
        return [Notification(f"{total} position alerts", body, tuple(a for m in messages for a in m.alerts))]


def _still_a_problem(kind: EventKind, row: Row | None) -> bool:
    """Whether a kept-aside detection still describes its row (a muted row that resolved is not news)."""
    if row is None:
        return False
    status = row.effective_status
    if kind is EventKind.PHANTOM_DETECTED:
        return status is Status.PHANTOM and row.confirmed
    if kind is EventKind.UNTRACKED_DETECTED:
        return status is Status.UNTRACKED and row.confirmed
    if kind is EventKind.CLOSED:
        return (row.broker_qty or ZERO) == ZERO
    return status.is_problem


def _names(alerts: list[Alert]) -> str:
    names = [a.instrument or "" for a in alerts[:_LIST_AT_MOST]]
    more = len(alerts) - len(names)
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def _pnl(alert: Alert) -> str:
    if alert.realised_pnl is None:
        return "realised P&L unknown"
    text = fmt_money(money(alert.realised_pnl), alert.currency, signed=True)
    return f"realised P&L {text}" + (" (estimated)" if alert.estimated else "")


def compose(account: str, kind: EventKind, alerts: list[Alert]) -> Notification:
    """The sentence of one (account, kind) group."""
    count = len(alerts)
    first = alerts[0]
    if kind is EventKind.PHANTOM_DETECTED:
        if count == 1:
            qty = f" ({fmt_qty(first.quantity)})" if first.quantity is not None else ""
            return Notification(
                f"Phantom position at {account}",
                f"{first.instrument}{qty}: held by your book, not at the broker",
                tuple(alerts),
            )
        return Notification(
            f"{count} phantom positions at {account}",
            f"{_names(alerts)}: held by your book, not at the broker",
            tuple(alerts),
        )
    if kind is EventKind.CLOSED:
        if count == 1:
            return Notification(
                f"Position closed at {account}",
                f"{first.instrument} closed at the broker, {_pnl(first)}",
                tuple(alerts),
            )
        known = [a.realised_pnl for a in alerts if a.realised_pnl is not None]
        total = fmt_money(money(sum(known, ZERO)), first.currency, signed=True) if known else "unknown"
        return Notification(
            f"{count} positions closed at {account}",
            f"{_names(alerts)}; realised P&L {total} in all",
            tuple(alerts),
        )
    if kind is EventKind.LOGIN_REQUIRED:
        return Notification(
            f"Login required for {account}",
            first.detail or "the broker session expired; log in again",
            tuple(alerts),
        )
    label = event_label(kind).lower()
    if count == 1:
        where = f"{first.instrument}: " if first.instrument else ""
        return Notification(f"{label.capitalize()} at {account}", f"{where}{first.detail}", tuple(alerts))
    return Notification(f"{count} × {label} at {account}", _names(alerts), tuple(alerts))
