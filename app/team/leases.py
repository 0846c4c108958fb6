"""Accounts leased, not fought over: which daemon of a shared store syncs which account.

Each account is synced by one daemon at a time, the one holding its row in ``account_leases``.
A lease is taken when it is free, expired, or its holder's lease session is gone from the
server (a daemon killed with ``kill -9`` frees its accounts at once, as its connection drops);
the holder renews it every ``lease_seconds / 5``. A daemon that cannot renew (it lost the
database, it hung) loses its accounts once the lease expires, by the database's clock, which
all daemons share whatever their own clocks say.

Expiry alone would let an old holder finish a save after another took over, so every save of a
daemon is *fenced*: its transaction first locks the account's lease row and checks that it is
still this daemon's and unexpired. A daemon taking the account over has to update that row, so
it waits for such a save to commit and reads the account's memory after it: nothing is
announced twice, no close is missed, nothing is archived twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from position_sync.app.store.codec import iso
from position_sync.app.store.engine import StoreError

log = logging.getLogger(__name__)

# How often a lease is renewed, as a fraction of its length: four renewals may fail in a row.
BEATS_PER_LEASE = 5

_NOW = "extract(epoch from clock_timestamp())"

_TAKE = text(
    f"""
    INSERT INTO account_leases AS l (account, holder, token, backend_pid, since, renewed_at, expires_at)
    VALUES (:account, :holder, :token, pg_backend_pid(), :since, {_NOW}, {_NOW} + :seconds)
    ON CONFLICT (account) DO UPDATE SET
        holder = EXCLUDED.holder, token = EXCLUDED.token, backend_pid = EXCLUDED.backend_pid,
        since = EXCLUDED.since, renewed_at = EXCLUDED.renewed_at, expires_at = EXCLUDED.expires_at
    WHERE l.expires_at < EXCLUDED.renewed_at
       OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.backend_pid)
    RETURNING account
    """
)

_RENEW = text(
    f"""
    UPDATE account_leases SET renewed_at = {_NOW}, expires_at = {_NOW} + :seconds,
        backend_pid = pg_backend_pid()
    WHERE token = :token AND account = ANY(:accounts)
    RETURNING account
    """
)

# Accounts another live holder has: not worth an upsert, which would wait on its save's lock.
_TAKEN_ELSEWHERE = text(
    f"""
    SELECT account FROM account_leases l
    WHERE account = ANY(:accounts) AND token <> :token AND expires_at >= {_NOW}
      AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.backend_pid)
    """
)

_FENCE = text(
    f"SELECT 1 FROM account_leases WHERE account = :account AND token = :token AND expires_at > {_NOW} "
    "FOR UPDATE"
)

_RELEASE = text("DELETE FROM account_leases WHERE token = :token AND account = ANY(:accounts)")


class LeaseLost(StoreError):
    """This daemon no longer holds the account: its save is refused, another daemon took over."""


@dataclass(frozen=True)
class LeaseInfo:
    """Who syncs an account, since when, and for how much longer without a renewal."""

    account: str
    holder: str
    since: str
    expires_in: float


@dataclass(frozen=True)
class Beat:
    """What one heartbeat changed: accounts gained (reload their memory) and lost."""

    gained: frozenset[str]
    lost: frozenset[str]


def holder_name(purpose: str) -> str:
    """How a daemon is named to the others and in ``status``: what, pid and host."""
    return f"{purpose}, pid {os.getpid()} on host {socket.gethostname()}"[:200]


class LeaseKeeper:
    """One process's leases on one shared store; blocking, so it runs on its own thread.

    ``accounts`` are those this process would sync; it takes as many as are free.
    """

    def __init__(self, url: str, accounts: Iterable[str], seconds: float, purpose: str) -> None:
        self.accounts = list(accounts)
        self.seconds = seconds
        self.holder = holder_name(purpose)
        self.token = uuid.uuid4().hex
        self.where = _where(url)
        self._engine: Engine = create_engine(
            url, poolclass=NullPool, connect_args={"application_name": f"position-sync lease {purpose}"[:63]}
        )
        self._connection: Connection | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()

    @property
    def beat_seconds(self) -> float:
        return self.seconds / BEATS_PER_LEASE

    def holds(self, account: str) -> bool:
        with self._lock:
            return account in self._held

    def held(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._held)

    def beat(self) -> Beat:
        """Renew what is held and take what is free; on a lost database, everything held is
        lost (the lease session was what held it)."""
        try:
            return self._beat()
        except SQLAlchemyError as exc:
            self._drop_session()
            with self._lock:
                lost, self._held = frozenset(self._held), set()
            if lost:
                log.warning("leases on %s lost with the database: %s", self.where, _cause(exc))
            return Beat(frozenset(), lost)

    def _beat(self) -> Beat:
        connection = self._session()
        with self._lock:
            held = set(self._held)
        kept = (
            {
                r[0]
                for r in connection.execute(
                    _RENEW, {"seconds": self.seconds, "token": self.token, "accounts": list(held)}
                )
            }
            if held
            else set()
        )
        gained = set()
        since = iso(datetime.now(UTC))
        wanted = [a for a in self.accounts if a not in kept]
        elsewhere = (
            {r[0] for r in connection.execute(_TAKEN_ELSEWHERE, {"accounts": wanted, "token": self.token})}
            if wanted
            else set()
        )
        for account in wanted:
            if account in elsewhere:
                continue
            taken = connection.execute(
                _TAKE,
                {
                    "account": account,
                    "holder": self.holder,
                    "token": self.token,
                    "since": since,
                    "seconds": self.seconds,
                },
            ).first()
            if taken is not None:
                gained.add(account)
        now_held = kept | gained
        with self._lock:
            self._held = now_held
        return Beat(frozenset(gained), frozenset(held - kept))

    def fence(self, connection: Connection, account: str) -> None:
        """First in a save's transaction: the lease row locked, and still this process's."""
        row = connection.execute(_FENCE, {"account": account, "token": self.token}).first()
        if row is None:
            with self._lock:
                self._held.discard(account)
            raise LeaseLost(
                f"{account} is no longer leased to this process ({self.holder}) on {self.where}: "
                "another daemon syncs it now"
            )

    def release(self, accounts: Collection[str] | None = None) -> None:
        """Give leases up (all by default) so another daemon takes them at its next beat."""
        with self._lock:
            letting = set(self._held if accounts is None else set(accounts) & self._held)
            self._held -= letting
        if not letting:
            return
        try:
            self._session().execute(_RELEASE, {"token": self.token, "accounts": sorted(letting)})
        except SQLAlchemyError as exc:  # they expire on their own
            log.warning("releasing leases on %s failed: %s", self.where, _cause(exc))
            self._drop_session()

    def close(self) -> None:
        self.release()
        self._drop_session()
        self._engine.dispose()

    def _session(self) -> Connection:
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    def _drop_session(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except SQLAlchemyError:
                log.debug("closing the lease session failed", exc_info=True)


def leases_of(engine: Engine) -> dict[str, LeaseInfo]:
    """Every account's current lease, for ``status``; empty on a store nobody leases (SQLite)."""
    if engine.dialect.name != "postgresql":
        return {}
    query = text(
        f"SELECT account, holder, since, expires_at - {_NOW} AS left FROM account_leases "
        f"WHERE expires_at > {_NOW} AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = backend_pid)"
    )
    with engine.connect() as connection:
        return {
            r.account: LeaseInfo(r.account, r.holder, r.since, round(float(r.left), 1))
            for r in connection.execute(query)
        }


def _where(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _cause(exc: SQLAlchemyError) -> str:
    cause = getattr(exc, "orig", None) or exc
    return " ".join(str(cause).split("\n", 1)[0].split()) or type(cause).__name__
