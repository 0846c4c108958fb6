"""``position-sync ack``: acknowledge or snooze a mismatch headless, as the window does.

Works on the stored picture only (no network), so it can run next to a daemon or a window that
holds the same store. Mistakes (unknown account, no such row, a row that is not a problem, a
bad duration) are one sentence and exit code 3, like every other configuration mistake.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from position_sync.app.display import clock, parse_duration, status_label
from position_sync.app.errors import ConfigError
from position_sync.app.exit_codes import ExitCode
from position_sync.app.terminal import echo, echo_json

# The store (and SQLAlchemy) is imported by the command, not with this module: the parser below
# is built on every start, ``--version`` included.
if TYPE_CHECKING:
    from position_sync.app.config import Settings
    from position_sync.app.domain import Row
    from position_sync.app.store import Store
    from position_sync.app.store.acks import Acknowledgement


def add_ack_parser(sub: Any) -> None:
    """Register the subcommand on the CLI's subparsers (kept here so cli.py stays short)."""
    ack = sub.add_parser(
        "ack",
        help="acknowledge or snooze a mismatch (stops its notifications); --list shows them",
        description=(
            "Acknowledge a mismatch with a note (it stays visible, marked, and stops notifying until "
            "it changes), snooze it for a while, or clear both."
        ),
    )
    ack.add_argument("account", nargs="?", help="account id")
    ack.add_argument("instrument", nargs="?", help="instrument key as shown by `position-sync status`")
    ack.add_argument("--note", default="", help="why this mismatch is fine for now")
    ack.add_argument("--snooze", metavar="DURATION", help="snooze instead, e.g. 30m, 2h, 1d")
    ack.add_argument("--clear", action="store_true", help="withdraw the acknowledgement and snooze")
    ack.add_argument("--list", action="store_true", help="list standing acknowledgements and snoozes")
    ack.add_argument("--json", action="store_true", help="print the result as JSON")


def _find_row(store: Store, account: str, instrument: str) -> Row:
    rows = [r for r in store.rows() if r.account == account]
    for row in rows:
        if row.instrument == instrument:
            return row
    folded = [r for r in rows if r.instrument.casefold() == instrument.casefold()]
    if len(folded) == 1:
        return folded[0]
    close = [r.instrument for r in rows if instrument.casefold() in r.instrument.casefold()]
    hint = f" (did you mean {', '.join(close[:3])}?)" if close else ""
    raise ConfigError(
        None,
        "instrument",
        f"'{instrument}' has no row at account '{account}' in the store{hint}; "
        "run `position-sync status` to see the rows",
    )


def _record_json(record: Acknowledgement) -> dict[str, Any]:
    from position_sync.app.store.codec import iso

    return {
        "account": record.account,
        "instrument": record.instrument,
        "kind": record.kind.value,
        "at": iso(record.at),
        "until": iso(record.until),
        "note": record.note,
        "status": record.status,
        "by": record.by,
    }


def cmd_ack(settings: Settings, data_dir: Path, args: argparse.Namespace) -> int:
    from position_sync.app.store import Store
    from position_sync.app.store import acks as ack_store

    now = datetime.now(UTC)
    store = Store.open(data_dir, settings.store_url, user=settings.team.user)
    try:
        if args.list:
            return _list(store, settings, now, as_json=args.json)
        if not args.account or not args.instrument:
            raise ConfigError(None, "ack", "needs an ACCOUNT and an INSTRUMENT (or --list)")
        settings.account(args.account)  # one sentence naming the known accounts
        row = _find_row(store, args.account, args.instrument)
        if args.clear:
            record = ack_store.clear(store, row.account, row.instrument, now)
            message = f"{row.account} {row.instrument}: acknowledgement and snooze withdrawn"
        elif args.snooze:
            try:
                until = now + parse_duration(args.snooze)
            except ValueError as exc:
                raise ConfigError(None, "--snooze", str(exc)) from None
            record = ack_store.snooze(store, row.account, row.instrument, until, now, args.note)
            message = f"{row.account} {row.instrument}: snoozed until {clock(until)}"
        else:
            if not row.effective_status.is_problem:
                raise ConfigError(
                    None,
                    "instrument",
                    f"'{row.instrument}' at '{row.account}' is {status_label(row.effective_status).lower()}, "
                    "not a mismatch; only mismatches can be acknowledged",
                )
            record = ack_store.acknowledge(store, row, args.note, now)
            message = f"{row.account} {row.instrument}: acknowledged ({status_label(row.effective_status)})"
    finally:
        store.close()
    if args.json:
        echo_json(_record_json(record))
    else:
        echo(message)
    return ExitCode.OK


def _list(store: Store, settings: Settings, now: datetime, *, as_json: bool) -> int:
    from position_sync.app.store import acks as ack_store

    configured = {a.id for a in settings.accounts}
    rows = {r.key: r for r in store.rows()}
    standing = []
    for key, state in sorted(ack_store.current(store, configured).items()):
        row = rows.get(key)
        entry: dict[str, Any] = {"account": key[0], "instrument": key[1]}
        if state.ack is not None:
            entry["acknowledged"] = {
                **_record_json(state.ack),
                "applies": state.acknowledged(row),
            }
        if state.snoozed(now) and state.snooze is not None:
            entry["snoozed"] = _record_json(state.snooze)
        if len(entry) > 2:
            standing.append(entry)
    if as_json:
        echo_json(standing)
        return ExitCode.OK
    for entry in standing:
        parts = []
        if "acknowledged" in entry:
            ack = entry["acknowledged"]
            lapsed = "" if ack["applies"] else " (lapsed: the row changed since)"
            note = f": {ack['note']}" if ack["note"] else ""
            parts.append(f"acknowledged{lapsed}{note}")
        if "snoozed" in entry:
            until = datetime.fromisoformat(entry["snoozed"]["until"])
            parts.append(f"snoozed until {clock(until)}")
        echo(f"{entry['account']} {entry['instrument']}: {'; '.join(parts)}")
    return ExitCode.OK
