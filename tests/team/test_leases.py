"""Account leases on a shared PostgreSQL store: one holder per account, fenced saves, takeover."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from position_sync.app.domain import AccountState
from position_sync.app.reconcile import AccountMemory, Outcome
from position_sync.app.store import Store
from position_sync.app.team.leases import LeaseKeeper, LeaseLost, leases_of
from tests.conftest import T0, make_row

pytestmark = pytest.mark.postgres

ACCOUNTS = ["a1", "a2", "a3"]


@pytest.fixture
def keepers(shared_url: str) -> Iterator[list[LeaseKeeper]]:
    made: list[LeaseKeeper] = []

    for name in ("daemon 1", "daemon 2"):
        made.append(LeaseKeeper(shared_url, ACCOUNTS, 2.0, name))
    yield made
    for keeper in made:
        keeper.close()


def outcome_for(account: str) -> Outcome:
    rows = {"NFO:X": make_row("NFO:X", account=account)}
    return Outcome(rows, [], AccountMemory(account, rows, AccountState.OK, last_success_at=T0))


def test_each_account_is_held_by_exactly_one_daemon(keepers: list[LeaseKeeper], shared_url: str) -> None:
    first, second = keepers
    assert first.beat().gained == frozenset(ACCOUNTS)
    beat = second.beat()
    assert beat.gained == frozenset() and second.held() == frozenset()
    # Renewing keeps them, and gains nothing new.
    again = first.beat()
    assert again.gained == frozenset() and again.lost == frozenset() and first.held() == frozenset(ACCOUNTS)
    store = Store(shared_url)
    try:
        held = leases_of(store.engine)
    finally:
        store.close()
    assert set(held) == set(ACCOUNTS)
    assert {info.holder for info in held.values()} == {first.holder}
    assert all(0 < info.expires_in <= 2.0 for info in held.values())


def test_a_daemon_whose_session_dies_loses_its_accounts_at_once(
    keepers: list[LeaseKeeper], shared_url: str
) -> None:
    """kill -9 closes the holder's connection: the server ends its session, which frees the lease
    before it expires (the lease here lasts 2 s; the takeover is checked well before)."""
    first, second = keepers
    first.beat()
    admin = create_engine(shared_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            pids = [r[0] for r in connection.execute(text("SELECT DISTINCT backend_pid FROM account_leases"))]
            assert len(pids) == 1
            connection.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pids[0]})
        deadline = time.monotonic() + 1.0
        while not second.held() and time.monotonic() < deadline:
            second.beat()
        assert second.held() == frozenset(ACCOUNTS)
        # The old holder finds out at its next beat, and saves nothing meanwhile.
        assert first.beat().lost == frozenset(ACCOUNTS)
        assert first.held() == frozenset()
    finally:
        admin.dispose()


def test_an_expired_lease_is_taken_over_and_its_old_holders_save_is_refused(
    keepers: list[LeaseKeeper], shared_url: str
) -> None:
    first, second = keepers
    first.beat()
    time.sleep(2.2)  # first misses its renewals (a hung process): the lease expires
    assert second.beat().gained == frozenset(ACCOUNTS)
    store = Store(shared_url)
    try:
        with pytest.raises(LeaseLost, match="another daemon syncs it now"):
            store.save("a1", outcome_for("a1"), T0, T0, fence=first)
        assert store.rows() == []  # nothing of the refused save was written
        store.save("a1", outcome_for("a1"), T0, T0, fence=second)
        assert [r.instrument for r in store.rows()] == ["NFO:X"]
        with store.engine.connect() as connection:
            synced_by = connection.execute(text("SELECT synced_by FROM sync_runs")).scalars().all()
        assert synced_by == [second.holder]
    finally:
        store.close()


def test_a_takeover_waits_for_the_old_holders_save_to_commit(
    keepers: list[LeaseKeeper], shared_url: str
) -> None:
    """The fence locks the lease row for the whole save: the taker's update waits for the
    commit, so the memory it then reads includes that save."""
    first, second = keepers
    first.beat()
    store = Store(shared_url)
    saving = threading.Event()
    release = threading.Event()
    taken: list[float] = []
    try:
        with store.engine.begin() as connection:
            first.fence(connection, "a1")
            saving.set()

            def take() -> None:
                time.sleep(2.2)  # past the lease: only the row lock holds the taker back now
                second.beat()
                taken.append(time.monotonic())

            taker = threading.Thread(target=take)
            taker.start()
            time.sleep(2.6)
            committed = time.monotonic()
            release.set()
        taker.join(timeout=10)
        assert saving.is_set() and taken and taken[0] >= committed
        assert "a1" in second.held()
    finally:
        store.close()


def test_a_clean_shutdown_hands_the_accounts_over_at_the_next_beat(keepers: list[LeaseKeeper]) -> None:
    first, second = keepers
    first.beat()
    first.close()
    assert second.beat().gained == frozenset(ACCOUNTS)
