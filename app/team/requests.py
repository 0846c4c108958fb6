"""Resync requests: how a viewer, which never talks to a broker, gets an account synced now.

A viewer writes a row in ``sync_requests`` (and, on PostgreSQL, a hint on the requests channel);
the process syncing the account (the daemon holding its lease, or the one owning a single-user
store) takes it, marking it taken with its name, and syncs. The result reaches the viewer like
any other, through the account's revision. A read-only look comes first, so a process at rest
asks for no write lock on a SQLite store.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine, select, update

from position_sync.app.store import Store
from position_sync.app.store.codec import iso
from position_sync.app.store.models import sync_requests
from position_sync.app.store.revisions import REQUESTS, notify, revision_in

if TYPE_CHECKING:
    from position_sync.app.team.listener import HintListener

log = logging.getLogger(__name__)

# How often requests are looked for: on SQLite (nothing wakes the process), and on PostgreSQL
# besides the requests channel (a hint lost with a connection).
POLL_SECONDS = 2.0
LISTENED_POLL_SECONDS = 30.0


def take_requests(engine: Engine, accounts: Collection[str], holder: str, at: datetime) -> set[str]:
    """Mark the open requests for ``accounts`` taken by ``holder``; the accounts they asked for."""
    if not accounts:
        return set()
    open_for = sync_requests.c.taken_at.is_(None) & sync_requests.c.account.in_(list(accounts))
    with engine.connect() as connection:
        if connection.execute(select(sync_requests.c.id).where(open_for).limit(1)).first() is None:
            return set()
    with engine.begin() as connection:
        taken = connection.execute(
            update(sync_requests)
            .where(open_for)
            .values(taken_at=iso(at), taken_by=holder)
            .returning(sync_requests.c.account)
        )
        return {r[0] for r in taken}


async def serve_requests(
    store: Store,
    ours: Callable[[], list[str]],
    trigger: Callable[[str], None],
    in_db: Callable[[Callable[[], set[str]]], Awaitable[set[str]]],
    holder: str,
    clock: Callable[[], datetime],
) -> None:
    """Until cancelled: take the requests for the accounts this process syncs (``ours()``) and
    ``trigger`` their syncs. Woken by the requests channel on PostgreSQL, polled on SQLite."""
    loop = asyncio.get_running_loop()
    due = asyncio.Event()
    listener = _listener(store, lambda *_: loop.call_soon_threadsafe(due.set))
    try:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS if listener is None else LISTENED_POLL_SECONDS):
                    await due.wait()
            due.clear()
            taken = await in_db(functools.partial(take_requests, store.engine, ours(), holder, clock()))
            for account_id in sorted(taken):
                trigger(account_id)
    finally:
        if listener is not None:
            await asyncio.to_thread(listener.close)


def _listener(store: Store, wake: Callable[..., object]) -> HintListener | None:
    """The requests channel's listener on PostgreSQL; None on SQLite, or when psycopg 3 (the
    listening driver) is not installed beside a psycopg2 store URL: then requests are polled."""
    if store.engine.dialect.name != "postgresql":
        return None
    try:
        from position_sync.app.team.listener import HintListener

        listener = HintListener(
            store.url,
            [REQUESTS],
            wake,
            on_reconnect=wake,
            application_name=f"position-sync requests pid {os.getpid()}",
        )
    except ImportError:
        log.warning(
            "psycopg 3 is not installed, so resync requests are looked for every %g s instead of at once "
            "(pip install 'psycopg[binary]')",
            POLL_SECONDS,
        )
        return None
    listener.start()
    return listener


def request_sync(engine: Engine, account: str, by: str | None, at: datetime) -> tuple[int, int]:
    """Ask the daemon holding ``account`` to sync it: a request row and a hint, in one transaction.

    Returns the request's id and the account's revision when asked: the answer has come once the
    revision passed it.
    """
    with engine.begin() as connection:
        revision = revision_in(connection, account)
        inserted = connection.execute(
            sync_requests.insert().values(account=account, requested_at=iso(at), by=by)
        ).inserted_primary_key
        assert inserted is not None
        request = int(inserted[0])
        notify(connection, REQUESTS, account, "request", request)
    return request, revision
