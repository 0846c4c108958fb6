"""The headless commands behind ``position-sync``: ``sync``, ``status``, ``events``, ``daemon``.

Apart from ``position_sync.cli`` so that the command line starts in a blink: the parser (and
``--version``, ``--help``) never imports the store, the sync worker or SQLAlchemy; ``main``
imports this module once it knows a command needs them.
"""

from __future__ import annotations

import argparse
import asyncio
import difflib
import logging
import os
import signal
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from pathlib import Path

from position_sync.app.config import Settings
from position_sync.app.domain import AccountState, EventKind, Row
from position_sync.app.errors import ConfigError
from position_sync.app.exit_codes import ExitCode
from position_sync.app.store import Store, acks
from position_sync.app.store.codec import iso
from position_sync.app.sync import SyncResult, SyncWorker
from position_sync.app.team.leases import leases_of
from position_sync.app.terminal import echo, echo_json
from position_sync.cli_output import account_json, covers, event_json, event_line, exit_code, print_picture
from position_sync.wiring import build_runtime

log = logging.getLogger("position_sync")


def _sort_rows(rows: Iterable[Row]) -> list[Row]:
    """By account, then instrument: two stable sorts on one attribute each, no key tuple per
    row (100,000 rows of one account sort in two thirds of the time)."""
    ordered = sorted(rows, key=_INSTRUMENT)
    ordered.sort(key=_ACCOUNT)
    return ordered


_INSTRUMENT = attrgetter("instrument")
_ACCOUNT = attrgetter("account")


async def cmd_sync_once(
    settings: Settings,
    data_dir: Path,
    *,
    as_json: bool,
    only: list[str] | None = None,
    wait: float,
    strict: bool = False,
) -> int:
    runtime = build_runtime(settings, data_dir, purpose="sync --once", wait=wait)
    try:
        runtime.check_books()
        await runtime.worker.load()
        ids = runtime.worker.account_ids
        if only:
            for account_id in only:
                settings.account(account_id)  # a ConfigError names the unknown id
            ids = [a for a in ids if a in only]
        assert isinstance(runtime.worker, SyncWorker)  # what build_runtime makes: it syncs
        await runtime.worker.claim_accounts(ids, wait)
        results = list(await asyncio.gather(*(runtime.worker.sync(a, "once") for a in ids)))
        rows = _sort_rows(row for result in results for row in result.rows.values())
        covered = covers(rows, await asyncio.to_thread(acks.current, runtime.store, ids), datetime.now(UTC))
    finally:
        await runtime.close()
    events = [e for result in results for e in result.events]
    accounts = [account_json(r.account, r.state, r.error, r.last_success_at) for r in results]
    synced_at = iso(max((r.finished_at for r in results), default=datetime.now(UTC)))
    print_picture(synced_at, accounts, rows, events, as_json=as_json, covered=covered)
    return exit_code(
        (r.state for r in results), rows, any(r.held for r in results), None if strict else covered
    )


def cmd_status(settings: Settings, data_dir: Path, *, as_json: bool, strict: bool = False) -> int:
    store = Store.open(data_dir, settings.store_url)
    try:
        configured = [a.id for a in settings.accounts if a.enabled]
        statuses = store.account_statuses()
        leases = leases_of(store.engine)
        rows = _sort_rows(r for r in store.rows() if r.account in configured)
        latest = store.latest_runs()
        events = [s.event for s in store.events(run_ids=[latest[a] for a in configured if a in latest])]
        covered = covers(rows, acks.current(store, configured), datetime.now(UTC))
    finally:
        store.close()
    accounts = []
    states = []
    for account_id in configured:
        status = statuses.get(account_id)
        if status is None:
            accounts.append(
                account_json(
                    account_id, AccountState.STALE, "never synced: run position-sync sync --once", None
                )
            )
            states.append(AccountState.STALE)
            continue
        entry = account_json(account_id, status.state, status.error, status.last_success_at)
        lease = leases.get(account_id)
        # Which daemon syncs the account on a shared store, and since when (null: none does).
        entry["lease"] = (
            None
            if lease is None
            else {"holder": lease.holder, "since": lease.since, "expires_in": lease.expires_in}
        )
        accounts.append(entry)
        states.append(status.state)
    attempts = [s.last_attempt_at for s in statuses.values() if s.last_attempt_at and s.account in configured]
    synced_at = iso(max(attempts)) if attempts else None
    print_picture(synced_at, accounts, rows, events, as_json=as_json, covered=covered)
    # A held mass change is a finding even though the rows still show the previous picture, as
    # in ``sync --once`` right before.
    held = any(s.held for s in statuses.values() if s.account in configured)
    return exit_code(states, rows, held, None if strict else covered)


def cmd_events(settings: Settings, data_dir: Path, args: argparse.Namespace) -> int:
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise ConfigError(
                None,
                "--since",
                f"must be an ISO 8601 time such as 2026-11-21T09:15:00+05:30, not {args.since!r}",
            ) from None
        if since.tzinfo is None:
            since = since.astimezone()
    _refuse_unknown(args.kind, [kind.value for kind in EventKind], "--kind", "event kinds")
    store = Store.open(data_dir, settings.store_url)
    try:
        if args.account is not None:
            # Accounts of the config, and those the store still holds events of (a removed one).
            known = {a.id for a in settings.accounts} | set(store.account_statuses())
            _refuse_unknown([args.account], sorted(known), "--account", "accounts")
        stored = store.events(since=since, account=args.account, kinds=args.kind)
    finally:
        store.close()
    if args.json:
        echo_json([event_json(s.event) for s in stored])
    else:
        for s in stored:
            echo(event_line(s.event))
    return ExitCode.OK


def _refuse_unknown(values: Iterable[str] | None, known: Sequence[str], option: str, what: str) -> None:
    """A filter naming nothing that exists would print nothing, which reads as "no events": one
    sentence instead, with what there is (exit 3)."""
    for value in values or ():
        if value not in known:
            close = difflib.get_close_matches(value, known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            listed = ", ".join(known) or "none"
            raise ConfigError(
                None, option, f"names '{value}', which is not one of the {what}: {listed}{hint}"
            )


async def cmd_daemon(settings: Settings, data_dir: Path, *, command: str = "daemon") -> int:
    runtime = build_runtime(settings, data_dir, purpose="daemon")
    try:
        runtime.check_books()
    except ConfigError:
        await runtime.close()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # Windows has no add_signal_handler
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))

    def report(result: SyncResult) -> None:
        for event in result.events:
            echo(event_line(event, local=False), flush=True)
        if result.state is not AccountState.OK:
            log.warning("%s is %s: %s", result.account, result.state.value, result.error)

    runtime.worker.subscribe(report)
    await runtime.worker.start()
    # ``sync`` without ``--once`` is the daemon: said at once, so nobody waits for it to end.
    once = "; sync --once syncs once and exits" if command == "sync" else ""
    echo(
        f"position-sync {command}: {len(runtime.worker.account_ids)} account(s), data in {data_dir} "
        f"(pid {os.getpid()}); syncing until stopped with Ctrl+C or SIGTERM{once}",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        await runtime.close()
    return ExitCode.OK
