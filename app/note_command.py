"""``position-sync note`` and ``position-sync audit``: the team's word on rows, and its trail.

A note is for the others on a shared store ("closing it at 15:20, Asha"); it mutes nothing.
The audit trail lists every acknowledgement, snooze, note and book fix with what stood before
and after, oldest first. Both work on the store alone: no broker, no network.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from position_sync.app.ack_command import _find_row, _record_json
from position_sync.app.errors import ConfigError
from position_sync.app.exit_codes import ExitCode
from position_sync.app.terminal import echo, echo_json

if TYPE_CHECKING:
    from position_sync.app.config import Settings


def add_note_parser(sub: Any) -> None:
    note = sub.add_parser("note", help="write a note on a row for everyone on the store (mutes nothing)")
    note.add_argument("account", help="account id")
    note.add_argument("instrument", help="instrument key as shown by `position-sync status`")
    note.add_argument("text", help="the note")
    note.add_argument("--json", action="store_true", help="print the record as JSON")
    audit = sub.add_parser("audit", help="who acknowledged, snoozed, noted or fixed what, before and after")
    audit.add_argument("--account", help="only this account")
    audit.add_argument("--instrument", help="only this instrument (with --account)")
    audit.add_argument("--json", action="store_true", help="print the trail as JSON")


def cmd_note(settings: Settings, data_dir: Path, args: argparse.Namespace) -> int:
    from position_sync.app.store import Store
    from position_sync.app.store import acks as ack_store

    if not args.text.strip():
        raise ConfigError(None, "text", "a note needs some text")
    store = Store.open(data_dir, settings.store_url, user=settings.team.user)
    try:
        settings.account(args.account)
        row = _find_row(store, args.account, args.instrument)
        record = ack_store.note(store, row.account, row.instrument, args.text, datetime.now(UTC))
    finally:
        store.close()
    if args.json:
        echo_json(_record_json(record))
    else:
        echo(f"{row.account} {row.instrument}: note written by {record.by or 'an unknown user'}")
    return ExitCode.OK


def cmd_audit(settings: Settings, data_dir: Path, args: argparse.Namespace) -> int:
    from position_sync.app.store import Store
    from position_sync.app.store.codec import iso
    from position_sync.app.team.audit import trail

    if args.instrument and not args.account:
        raise ConfigError(None, "--instrument", "needs --account too")
    store = Store.open(data_dir, settings.store_url, user=settings.team.user)
    try:
        entries = trail(store.engine, args.account, args.instrument)
    finally:
        store.close()
    if args.json:
        echo_json(
            [
                {
                    "at": iso(e.at),
                    "by": e.by,
                    "action": e.action,
                    "account": e.account,
                    "instrument": e.instrument,
                    "before": e.before,
                    "after": e.after,
                }
                for e in entries
            ]
        )
        return ExitCode.OK
    for e in entries:
        where = f"{e.account} {e.instrument}" if e.instrument else e.account
        echo(f"{iso(e.at)}  {e.by or '?'}  {e.action}  {where}: {_short(e.before)} -> {_short(e.after)}")
    if not entries:
        echo("the audit trail is empty")
    return ExitCode.OK


def _short(value: Any) -> str:
    import json

    text = "none" if value is None else json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 120 else text[:117] + "..."
