"""``position-sync fix``: the "fix my book" actions headless, with the same plan and confirmation.

Exit codes: 0 written (or undone), 1 declined (nothing written), 3 refused (read-only book, wrong
status, a book that changed meanwhile): one sentence, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.config import Settings
from app.errors import ConfigError
from app.fix import ACTIONS, DEFAULT_REASON, BookFixer, FixError
from app.store import Store

EXIT_OK = 0
EXIT_DECLINED = 1
EXIT_REFUSED = 3


def add_fix_parser(sub: Any) -> None:
    fix = sub.add_parser(
        "fix",
        help="fix a writable SQL book: close a phantom, adopt an untracked position, take the broker's figures",
        description=(
            "Writes to the book only when asked: shows exactly what will be written and asks for "
            "confirmation (--yes to skip). --undo reverts the last fix."
        ),
    )
    fix.add_argument("--account", help="account id")
    fix.add_argument("--instrument", help="instrument key as shown by `position-sync status`")
    fix.add_argument("--action", choices=ACTIONS)
    fix.add_argument(
        "--reason", default=DEFAULT_REASON, help=f"close reason to record (default {DEFAULT_REASON})"
    )
    fix.add_argument("--undo", action="store_true", help="revert the last fix")
    fix.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def cmd_fix(
    settings: Settings, data_dir: Path, args: argparse.Namespace, ask: Callable[[str], str] = input
) -> int:
    if not args.undo and not (args.account and args.instrument and args.action):
        raise ConfigError(None, "fix", "needs --account, --instrument and --action (or --undo)")
    store = Store.open(data_dir, settings.store_url)
    try:
        fixer = BookFixer(settings, store)
        try:
            plan = (
                fixer.plan_undo()
                if args.undo
                else fixer.plan(args.account, args.instrument, args.action, reason=args.reason)
            )
        except FixError as exc:
            print(f"position-sync: fix refused: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        for line in plan.describe():
            print(line)
        if not args.yes:
            if not sys.stdin.isatty() and ask is input:
                print("position-sync: not confirmed (no terminal); pass --yes to write", file=sys.stderr)
                return EXIT_DECLINED
            if ask("Write this to the book? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing written")
                return EXIT_DECLINED
        try:
            event = fixer.apply(plan)
        except FixError as exc:
            print(f"position-sync: fix failed: {exc}", file=sys.stderr)
            return EXIT_REFUSED
        print(f"done: {event.detail}")
        return EXIT_OK
    finally:
        store.close()
