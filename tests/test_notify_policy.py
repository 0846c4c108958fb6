"""Rule 4 headless: once per (account, instrument, kind), grouped, confirmed only, ack-aware."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from position_sync.app.domain import AccountState, Event, EventKind, Row, Status
from position_sync.app.notify_policy import NotifyPolicy

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)


def phantom(instrument: str, *, confirmed: bool = True, account: str = "kite") -> Row:
    return Row(
        account=account,
        instrument=instrument,
        status=Status.PHANTOM,
        since=NOW,
        broker_qty=None,
        local_qty=Decimal(50),
        confirmed=confirmed,
    )


def detected(instrument: str, account: str = "kite") -> Event:
    return Event(NOW, account, EventKind.PHANTOM_DETECTED, instrument, "phantom: broker none, book 50")


def test_one_notification_per_key_until_it_resolves() -> None:
    policy = NotifyPolicy()
    rows = {"TCS": phantom("TCS")}
    policy.offer("kite", AccountState.OK, rows, [detected("TCS")])
    first = policy.flush()
    assert [n.title for n in first] == ["Phantom position at kite"]
    assert "TCS (50): held by your book, not at the broker" in first[0].body
    policy.offer("kite", AccountState.OK, rows, [detected("TCS")])  # the same key again
    assert policy.flush() == []
    resolved = Event(NOW, "kite", EventKind.PHANTOM_RESOLVED, "TCS", "")
    policy.offer("kite", AccountState.OK, {}, [resolved])
    policy.offer("kite", AccountState.OK, rows, [detected("TCS")])
    assert len(policy.flush()) == 1  # resolved, then back: worth telling again


def test_a_burst_is_grouped_into_one_message() -> None:
    policy = NotifyPolicy()
    names = [f"SYM{i}" for i in range(16)]
    policy.offer(
        "kite:AB1234",
        AccountState.OK,
        {n: phantom(n, account="kite:AB1234") for n in names},
        [detected(n, "kite:AB1234") for n in names],
    )
    messages = policy.flush()
    assert len(messages) == 1
    assert messages[0].title == "16 phantom positions at kite:AB1234"
    assert "and 12 more" in messages[0].body
    assert messages[0].target == ("kite:AB1234", "SYM0")


def test_several_accounts_and_kinds_at_once_become_one_message() -> None:
    policy = NotifyPolicy()
    policy.offer("a", AccountState.OK, {"X": phantom("X", account="a")}, [detected("X", "a")])
    closed = Row(
        account="b",
        instrument="Y",
        status=Status.CLOSED,
        since=NOW,
        broker_qty=Decimal(0),
        local_qty=None,
        realised_pnl=Decimal(450),
        currency="INR",
    )
    policy.offer(
        "b",
        AccountState.OK,
        {"Y": closed},
        [Event(NOW, "b", EventKind.CLOSED, "Y", "closed", {"realised_pnl": "450"})],
    )
    login = Event(NOW, "c", EventKind.LOGIN_REQUIRED, None, "session expired")
    policy.offer("c", AccountState.LOGIN_REQUIRED, {}, [login])
    messages = policy.flush()
    assert len(messages) == 1
    assert messages[0].title == "3 position alerts"
    assert "Phantom position at a" in messages[0].body
    assert "Position closed at b" in messages[0].body
    assert "Login required for c" in messages[0].body


def test_closed_carries_its_realised_pnl() -> None:
    closed = Row(
        account="kite",
        instrument="SBIN",
        status=Status.CLOSED,
        since=NOW,
        broker_qty=Decimal(0),
        local_qty=None,
        realised_pnl=Decimal(450),
    )
    policy = NotifyPolicy(currency_of=lambda _a: "INR")
    policy.offer(
        "kite",
        AccountState.OK,
        {"SBIN": closed},
        [Event(NOW, "kite", EventKind.CLOSED, "SBIN", "closed", {"realised_pnl": "450"})],
    )
    (message,) = policy.flush()
    assert message.body == "SBIN closed at the broker, realised P&L +₹450.00"


def test_only_confirmed_problems_notify() -> None:
    policy = NotifyPolicy()
    policy.offer("kite", AccountState.OK, {"TCS": phantom("TCS", confirmed=False)}, [detected("TCS")])
    assert policy.flush() == []
    policy.offer("kite", AccountState.OK, {"TCS": phantom("TCS", confirmed=True)}, [detected("TCS")])
    assert len(policy.flush()) == 1


def test_kinds_not_chosen_stay_quiet() -> None:
    policy = NotifyPolicy(kinds={EventKind.CLOSED})
    policy.offer("kite", AccountState.OK, {"TCS": phantom("TCS")}, [detected("TCS")])
    assert policy.flush() == []


def test_acknowledged_rows_do_not_notify() -> None:
    muted = {("kite", "TCS")}
    policy = NotifyPolicy(muted=lambda a, i: (a, i) in muted)
    policy.offer("kite", AccountState.OK, {"TCS": phantom("TCS")}, [detected("TCS")])
    assert policy.flush() == []
    muted.clear()
    policy.offer("kite", AccountState.OK, {"TCS": phantom("TCS")}, [detected("TCS")])
    assert len(policy.flush()) == 1


def test_login_required_notifies_once_until_the_account_is_back() -> None:
    policy = NotifyPolicy()
    login = Event(NOW, "kite", EventKind.LOGIN_REQUIRED, None, "session expired; log in again")
    policy.offer("kite", AccountState.LOGIN_REQUIRED, {}, [login])
    policy.offer("kite", AccountState.LOGIN_REQUIRED, {}, [login])
    assert [m.title for m in policy.flush()] == ["Login required for kite"]
    policy.offer("kite", AccountState.OK, {}, [])
    policy.offer("kite", AccountState.LOGIN_REQUIRED, {}, [login])
    assert len(policy.flush()) == 1


def test_a_stale_picture_resolves_nothing() -> None:
    policy = NotifyPolicy()
    policy.offer("kite", AccountState.OK, {"TCS": phantom("TCS")}, [detected("TCS")])
    policy.flush()
    policy.offer("kite", AccountState.STALE, {}, [])  # rows unknown: the phantom is not gone
    policy.offer("kite", AccountState.OK, {"TCS": phantom("TCS")}, [detected("TCS")])
    assert policy.flush() == []


class SnoozeClock:
    """A snooze judged by an injected clock: the policy asks whether the row is muted *now*."""

    def __init__(self, until: datetime) -> None:
        self.now = NOW
        self.until = until

    def muted(self, _account: str, _instrument: str) -> bool:
        return self.now < self.until


def test_a_detection_while_snoozed_notifies_when_the_snooze_ends() -> None:
    clock = SnoozeClock(until=NOW + timedelta(hours=1))
    policy = NotifyPolicy(muted=clock.muted)
    rows = {"TCS": phantom("TCS")}
    policy.offer("kite", AccountState.OK, rows, [detected("TCS")])
    assert policy.flush() == [] and policy.waiting == 1
    clock.now = NOW + timedelta(minutes=59)
    assert policy.release() == []  # still snoozed
    clock.now = NOW + timedelta(hours=1, seconds=1)
    released = policy.release()
    assert [a.key for a in released] == [("kite", "TCS", EventKind.PHANTOM_DETECTED)]
    (message,) = policy.flush()
    assert message.title == "Phantom position at kite"
    assert policy.release() == [] and policy.waiting == 0  # told once
    policy.offer("kite", AccountState.OK, rows, [detected("TCS")])
    assert policy.flush() == []


def test_a_snoozed_problem_that_resolved_meanwhile_stays_quiet() -> None:
    clock = SnoozeClock(until=NOW + timedelta(hours=1))
    policy = NotifyPolicy(muted=clock.muted)
    policy.offer("kite", AccountState.OK, {"TCS": phantom("TCS")}, [detected("TCS")])
    resolved = Event(NOW, "kite", EventKind.PHANTOM_RESOLVED, "TCS", "")
    matched = Row(
        account="kite",
        instrument="TCS",
        status=Status.MATCH,
        since=NOW,
        broker_qty=Decimal(50),
        local_qty=Decimal(50),
    )
    policy.offer("kite", AccountState.OK, {"TCS": matched}, [resolved])
    clock.now = NOW + timedelta(hours=2)
    assert policy.release() == [] and policy.flush() == []
    assert policy.waiting == 0


def test_a_stale_sync_during_the_snooze_keeps_the_detection() -> None:
    clock = SnoozeClock(until=NOW + timedelta(hours=1))
    policy = NotifyPolicy(muted=clock.muted)
    policy.offer("kite", AccountState.OK, {"TCS": phantom("TCS")}, [detected("TCS")])
    policy.offer("kite", AccountState.STALE, {}, [])  # a failed read says nothing about TCS
    clock.now = NOW + timedelta(hours=2)
    assert len(policy.release()) == 1


def test_mismatch_details_read_as_words() -> None:
    policy = NotifyPolicy(kinds={EventKind.MISMATCH_DETECTED})
    row = Row(
        account="kite",
        instrument="INFY",
        status=Status.PRICE_MISMATCH,
        since=NOW,
        broker_qty=Decimal(100),
        local_qty=Decimal(100),
        confirmed=True,
    )
    event = Event(NOW, "kite", EventKind.MISMATCH_DETECTED, "INFY", "price_mismatch: broker 100, book 100")
    policy.offer("kite", AccountState.OK, {"INFY": row}, [event])
    (message,) = policy.flush()
    assert message.title == "Mismatch detected at kite"
    assert message.body == "INFY: Price mismatch — broker 100, book 100"
    assert "price_mismatch" not in message.body


def test_the_defaults_notify_untracked_mismatches_and_sync_failures_grouped_once() -> None:
    policy = NotifyPolicy()
    untracked = Row(
        account="kite",
        instrument="INFY",
        status=Status.UNTRACKED,
        since=NOW,
        broker_qty=Decimal(10),
        confirmed=True,
    )
    mismatch = Row(
        account="kite",
        instrument="SBIN",
        status=Status.QTY_MISMATCH,
        since=NOW,
        broker_qty=Decimal(10),
        local_qty=Decimal(5),
        confirmed=True,
    )
    events = [
        Event(NOW, "kite", EventKind.UNTRACKED_DETECTED, "INFY", "untracked: broker 10, book none"),
        Event(NOW, "kite", EventKind.MISMATCH_DETECTED, "SBIN", "qty_mismatch: broker 10, book 5"),
    ]
    rows = {"INFY": untracked, "SBIN": mismatch}
    policy.offer("kite", AccountState.OK, rows, events)
    failed = Event(NOW, "ib", EventKind.SYNC_FAILED, None, "broker: connection refused")
    policy.offer("ib", AccountState.STALE, {}, [failed])
    (message,) = policy.flush()  # one burst, one message
    assert message.title == "3 position alerts"
    assert {a.kind for a in message.alerts} == {
        EventKind.UNTRACKED_DETECTED,
        EventKind.MISMATCH_DETECTED,
        EventKind.SYNC_FAILED,
    }
    policy.offer("kite", AccountState.OK, rows, events)
    policy.offer("ib", AccountState.STALE, {}, [failed])
    assert policy.flush() == []  # once per key until it resolves
    (alert,) = [a for a in message.alerts if a.kind is EventKind.SYNC_FAILED]
    assert policy.still_open(alert)
    policy.offer("ib", AccountState.OK, {}, [])
    assert not policy.still_open(alert)  # the account reads again
