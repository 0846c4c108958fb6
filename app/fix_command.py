"""``position-sync fix``: the "fix my book" actions headless, with the same plan and confirmation.

Exit codes (documented in the README's "Fix my book" section), chosen so that a script can tell
"done" from "nothing to do here" from "go and edit the config", and never mistakes a fix for the
sync's "1 mismatches found" or "2 an account could not be read":

- 0: written (or undone); also when the user answered no at the prompt: nothing was written, as
  they asked, and that is not a failure;
- 3: configuration or usage: the book is not writable or its ``[books.write]`` mapping is wrong,
  an unknown account, missing options, or no terminal to confirm on without ``--yes``;
- 4: refused: the action does not apply (no such row, a row of another status, a stale account,
  nothing to undo, the book no longer holds the line); nothing was written;
- 5: the writes were attempted and rolled back (the book changed since the plan, a database
  error); nothing was written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from position_sync.app.errors import ConfigError
from position_sync.app.exit_codes import ExitCode
from position_sync.app.fix_actions import ACTIONS, DEFAULT_REASON
from position_sync.app.terminal import echo

if TYPE_CHECKING:
    from position_sync.app.config import Settings
    from position_sync.app.fix import FixError


def add_fix_parser(sub: Any) -> None:
    fix = sub.add_parser(
        "fix",
        help="fix a writable SQL book: close a phantom, adopt an untracked position, take the broker's figures",
        description=(
            "Writes to the book only when asked: shows exactly what will be written and asks for "
            "confirmation (--yes to skip). --undo reverts the last fix. Exit codes: 0 written or "
            "declined at the prompt, 3 configuration or usage, 4 refused, 5 rolled back."
        ),
    )
    fix.add_argument("--account", help="account id")
    fix.add_argument(
        "--instrument",
        help="instrument as shown by `position-sync status`, or as the book spells it (tcs -> NSE:TCS)",
    )
    fix.add_argument("--action", choices=ACTIONS)
    fix.add_argument(
        "--reason", default=DEFAULT_REASON, help=f"close reason to record (default {DEFAULT_REASON})"
    )
    fix.add_argument("--undo", action="store_true", help="revert the last fix")
    fix.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def _exit_for(exc: FixError) -> int:
    from position_sync.app.fix import FixFailed, FixNotAllowed

    if isinstance(exc, FixNotAllowed):
        return ExitCode.CONFIG
    if isinstance(exc, FixFailed):
        return ExitCode.ROLLED_BACK
    return ExitCode.REFUSED


def cmd_fix(
    settings: Settings, data_dir: Path, args: argparse.Namespace, ask: Callable[[str], str] = input
) -> int:
    if not args.undo and not (args.account and args.instrument and args.action):
        raise ConfigError(None, "fix", "needs --account, --instrument and --action (or --undo)")
    # Imported here, not at the top: the parser above is built on every start.
    from position_sync.app.fix import BookFixer, FixError
    from position_sync.app.store import Store
    from position_sync.app.store.acks import local_user
    from position_sync.app.team.requests import request_sync

    store = Store.open(data_dir, settings.store_url, user=settings.team.user)
    try:
        fixer = BookFixer(settings, store)
        try:
            plan = (
                fixer.plan_undo()
                if args.undo
                else fixer.plan(args.account, args.instrument, args.action, reason=args.reason)
            )
        except FixError as exc:
            echo(f"position-sync: fix refused: {exc}", file=sys.stderr)
            return _exit_for(exc)
        for line in plan.describe():
            echo(line)
        if not args.yes:
            if not sys.stdin.isatty() and ask is input:
                echo(
                    "position-sync: not confirmed (no terminal to ask on): nothing written; "
                    "pass --yes to write",
                    file=sys.stderr,
                )
                return ExitCode.CONFIG
            if ask("Write this to the book? [y/N] ").strip().lower() not in ("y", "yes"):
                echo("declined: nothing written")
                return ExitCode.OK
        try:
            event = fixer.apply(plan)
        except FixError as exc:
            echo(f"position-sync: fix failed: {exc}", file=sys.stderr)
            return _exit_for(exc)
        echo(f"done: {event.detail}")
        # The process syncing the account (a daemon, a window) syncs it now, reading the book in
        # full: a change probe the fix did not move would otherwise hold the old lines a while.
        request_sync(store.engine, plan.account, store.user or local_user(), datetime.now(UTC))
        return ExitCode.OK
    finally:
        store.close()
