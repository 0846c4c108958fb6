"""``position-sync``: the window with no subcommand, headless subcommands otherwise.

Exit codes are an interface scripts rely on: 0 every account read and everything matches,
1 mismatches found, 2 an account could not be read (stale or login required), 3 bad
configuration. A user mistake prints one sentence, never a traceback.

This module is the parser and the dispatch, and imports little: ``--version`` and ``--help``
answer before the store, SQLAlchemy, a broker or Qt is imported, and each command imports what
it needs once it is known (``cli_commands`` for the headless ones, ``ui.main`` for the window).
A test (``tests/test_lean_imports.py``) keeps the headless path free of Qt, pyqtgraph, numpy,
Alembic and the brokers' client libraries.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from position_sync.app.exit_codes import ExitCode
from position_sync.app.paths import resource_dir
from position_sync.app.terminal import echo, terminal_safe
from position_sync.app.version import version

if TYPE_CHECKING:
    from position_sync.app.config import Settings

# ``sync --once`` from cron waits this long for another one-shot sync (or a daemon shutting down)
# to give the store up; a daemon or a window claims it at once or refuses.
SYNC_ONCE_WAIT = 10.0

STRICT_HELP = (
    "exit 1 for every problem, acknowledged or snoozed ones too (by default they exit 0 "
    "once every problem is acknowledged or snoozed)"
)

DEMO_CONFIG = resource_dir() / "demo" / "config.toml"

log = logging.getLogger("position_sync")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes exit 3 with one sentence, like every other bad input.

    argparse's own exit code 2 would tell a script "an account could not be read".
    """

    def error(self, message: str) -> NoReturn:
        self.exit(ExitCode.CONFIG, terminal_safe(f"{self.prog}: {message} (see {self.prog} --help)") + "\n")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"must be between 0 and 3600 seconds, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="position-sync",
        description="Broker positions next to your trading system's book, every mismatch highlighted.",
    )
    parser.add_argument("--config", type=Path, help="config file (env POSITION_SYNC_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="where the database lives (env POSITION_SYNC_HOME)")
    parser.add_argument(
        "--demo", action="store_true", help="use the built-in demo in a throw-away data directory"
    )
    parser.add_argument(
        "--viewer",
        action="store_true",
        help="open the window on the (shared) store only: what the daemons saved, live; no broker, "
        "book or credential on this machine (also [store] viewer = true)",
    )
    parser.add_argument(
        "--screenshot",
        type=Path,
        metavar="PATH",
        help="window only: write a PNG of the window once the demo has shown every status, then quit",
    )
    parser.add_argument("--version", action="version", version=f"position-sync {version()}")
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="check this install or desktop build (Qt plugins, icons, migrations, brokers, a demo sync "
        "in a throw-away directory), print one line per check, exit 0 when all pass",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sync = sub.add_parser("sync", help="sync every account (with --once: one sync, then exit)")
    sync.add_argument("--once", action="store_true", help="one sync of every account, then exit")
    sync.add_argument("--json", action="store_true", help="print the result as JSON")
    sync.add_argument("--account", action="append", help="only this account (repeatable)")
    sync.add_argument("--strict", action="store_true", help=STRICT_HELP)
    sync.add_argument(
        "--wait",
        type=_seconds,
        default=SYNC_ONCE_WAIT,
        metavar="SECONDS",
        help=f"with --once: how long to wait for another process syncing the same store to finish "
        f"before giving up with exit 3 (default {SYNC_ONCE_WAIT:g})",
    )

    status = sub.add_parser("status", help="the cached picture from the store; no network")
    status.add_argument("--json", action="store_true")
    status.add_argument("--strict", action="store_true", help=STRICT_HELP)

    events = sub.add_parser("events", help="stored events, oldest first")
    events.add_argument("--since", help="only events at or after this ISO 8601 time")
    events.add_argument("--account", help="only this account")
    events.add_argument("--kind", action="append", help="only this event kind (repeatable)")
    events.add_argument("--json", action="store_true")

    sub.add_parser("daemon", help="sync on every account's interval until stopped (SIGINT/SIGTERM)")
    from position_sync.app.ack_command import add_ack_parser

    add_ack_parser(sub)
    from position_sync.app.fix_command import add_fix_parser

    add_fix_parser(sub)
    from position_sync.login_command import add_login_parser

    add_login_parser(sub)
    from position_sync.app.note_command import add_note_parser

    add_note_parser(sub)
    from position_sync.store_command import add_store_parser

    add_store_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, end_process: bool = False) -> int:
    """Run one command and give its exit code.

    ``end_process`` is for the program's own entry (``run``): a one-shot command then ends the
    process itself once its output is out (``_end_now``), while a caller in the same process
    (tests, the frozen build's self-check) gets the collector back and the code returned.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not _one_shot(args):
        return _main(args, parser)
    # A one-shot command makes next to no cyclic garbage (a 100,000-position sync: a few hundred
    # objects), while the collector's passes walk every row and position it holds: at 100,000 a
    # side they cost 0.8 s of a 7 s run. The process ends soon; reference counting frees the rest.
    from position_sync.app.collector import collector_paused

    with collector_paused():
        code = _main(args, parser)
        if end_process:
            _end_now(code)
        return code


def run() -> NoReturn:
    """The program's entry: the ``position-sync`` command, ``python -m``, the frozen build."""
    sys.exit(main(end_process=True))


def _end_now(code: int) -> NoReturn:
    """End a one-shot process without handing its heap back object by object.

    Re-enabling the collector and shutting the interpreter down would walk and free every row,
    position and parsed line the command built: 0.4 s after a 100,000-position first sync had
    printed everything. What a normal exit does that matters is kept, in its order: the exit
    handlers run (the demo's throwaway data directory, the log's last lines), then the output
    is flushed, and a flush that fails exits 120 as Python does. Unlike a normal exit, threads
    still running are not waited for: every one-shot command closes its store and runtime
    first, and its reader threads are daemon threads.
    """
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
            pass
        except (OSError, ValueError):  # a full disk, a closed stream: the output is incomplete
            code = 120
    os._exit(code)


def _one_shot(args: argparse.Namespace) -> bool:
    """Every command that ends by itself: its cyclic garbage can wait for the end (not the
    window, not a daemon, ``sync`` without ``--once``, which run for days)."""
    return args.command not in (None, "daemon") and not (args.command == "sync" and not args.once)


def _main(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.viewer and (args.command is not None or args.demo):
        parser.error("--viewer opens the window on the store alone; it takes neither a command nor --demo")
    from position_sync.app.config import require_enabled_accounts
    from position_sync.app.errors import ConfigError
    from position_sync.app.log_file import RedactingFormatter
    from position_sync.app.redact import redact_logging
    from position_sync.app.secrets import SecretUnavailable
    from position_sync.app.store import StoreError

    handler = logging.StreamHandler()
    # Tracebacks too are redacted (an exception's text quotes the URL it failed on).
    handler.setFormatter(RedactingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), handlers=[handler])
    # urllib3 logs request lines with their query (a book's ?token=...) at debug level (-vv).
    redact_logging()
    if args.self_check:
        return _self_check()
    try:
        if args.command is None:
            return _window(args, parser)
        settings, data_dir = _settings_and_data_dir(args)
        import asyncio

        from position_sync import cli_commands as commands

        if args.command in ("sync", "status", "daemon"):
            # Only the headless commands: the window opens on such a file so an account can be added.
            require_enabled_accounts(settings)
        if args.command == "status":
            return commands.cmd_status(settings, data_dir, as_json=args.json, strict=args.strict)
        if args.command == "events":
            return commands.cmd_events(settings, data_dir, args)
        if args.command == "ack":
            from position_sync.app.ack_command import cmd_ack

            return cmd_ack(settings, data_dir, args)
        if args.command == "login":
            from position_sync.login_command import cmd_login

            return cmd_login(settings, data_dir, args)
        if args.command in ("note", "audit"):
            from position_sync.app import note_command

            return (
                note_command.cmd_note(settings, data_dir, args)
                if args.command == "note"
                else (note_command.cmd_audit(settings, data_dir, args))
            )
        if args.command == "store":
            from position_sync.store_command import cmd_store

            return cmd_store(settings, data_dir, args)
        if args.command == "fix":
            from position_sync.app.fix_command import cmd_fix

            return cmd_fix(settings, data_dir, args)
        if args.command == "sync" and args.once:
            return asyncio.run(
                commands.cmd_sync_once(
                    settings,
                    data_dir,
                    as_json=args.json,
                    only=args.account,
                    wait=args.wait,
                    strict=args.strict,
                )
            )
        if args.command in ("sync", "daemon"):
            return asyncio.run(commands.cmd_daemon(settings, data_dir, command=args.command))
    except ConfigError as exc:
        echo(f"position-sync: configuration error: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    except StoreError as exc:
        echo(f"position-sync: store error: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    except SecretUnavailable as exc:
        echo(f"position-sync: {exc}", file=sys.stderr)
        return ExitCode.STALE
    except KeyboardInterrupt:
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`position-sync status | head`): not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    parser.error(f"unknown command {args.command}")
    return ExitCode.CONFIG


def _settings_and_data_dir(args: argparse.Namespace, *, first_run: bool = False) -> tuple[Settings, Path]:
    """``first_run``: the window opens on a missing config file (its first-run page writes it)."""
    from position_sync.app.config import default_config_path, default_data_dir, load_settings
    from position_sync.app.first_run import blank_settings
    from position_sync.app.store.engine import sqlite_url
    from position_sync.app.store.identity import refuse_store_on_book
    from position_sync.app.store.repository import DB_NAME

    if args.demo:
        config = args.config or DEMO_CONFIG
        data_dir = args.data_dir or _throwaway_demo_dir()
    else:
        config = args.config or default_config_path()
        data_dir = args.data_dir or default_data_dir()
    if first_run and not args.demo and not config.expanduser().exists():
        settings = blank_settings(config.expanduser())
    else:
        settings = load_settings(config.expanduser())
    data_dir = data_dir.expanduser()
    if settings.store_url is None:
        # The default store's file, compared before any command opens (and migrates) it.
        refuse_store_on_book(sqlite_url(data_dir / DB_NAME), settings.books, settings.path, field=None)
    return settings, data_dir


def _throwaway_demo_dir() -> Path:
    """The demo's own data directory, removed when the program exits (only one it made)."""
    import atexit
    import shutil

    folder = Path(tempfile.mkdtemp(prefix="position-sync-demo-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def _self_check() -> int:
    """The smoke test of an install or a frozen build, with Qt when Qt is there.

    The Qt half (plugins, icons, the window) is what most often breaks in a frozen build, so it
    runs whenever PySide6 imports; an install without PySide6 still gets the core checks.
    """
    try:
        import PySide6  # noqa: F401
    except ImportError:
        from position_sync.self_check import run_self_check
    else:
        from position_sync.self_check_window import run_self_check  # type: ignore[import-not-found,unused-ignore,no-redef]
    result: int = run_self_check()
    return result


def _window(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    try:
        from position_sync.ui.display_check import missing_display
        from position_sync.ui.main import application, run_window  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        parser.print_help()
        return ExitCode.OK
    problem = missing_display()
    if problem is not None:
        echo(f"position-sync: {_no_window(args, problem)}", file=sys.stderr)
        return ExitCode.CONFIG
    from position_sync.app.log_file import install_log_file
    from position_sync.wiring import build_runtime

    install_log_file()
    application()  # before the demo's throw-away directory: a Qt that aborts leaves nothing behind
    settings, data_dir = _settings_and_data_dir(args, first_run=True)
    if args.viewer or settings.team.viewer:
        from position_sync.app.team.viewer import as_viewer, viewer_runtime

        # A viewer builds no broker, book or adapter, and claims nothing: the daemons sync.
        viewer: int = run_window(
            as_viewer(settings), data_dir, args, lambda new: viewer_runtime(new, data_dir)
        )
        return viewer
    # The same store is claimed again when the window rebuilds: the claim is shared, not refused.
    result: int = run_window(
        settings, data_dir, args, lambda new: build_runtime(new, data_dir, purpose="window")
    )
    return result


def _no_window(args: argparse.Namespace, problem: str) -> str:
    """The one sentence for a window that cannot open (exit 3, like any setup that cannot work)."""
    if args.demo:
        return (
            f"the demo's window cannot open: {problem}; the demo also runs headless, a step per "
            f"run: position-sync --config {DEMO_CONFIG} --data-dir /tmp/position-sync-demo sync --once"
        )
    return (
        f"the window cannot open: {problem}; without a display use sync --once, status or daemon (see --help)"
    )


if __name__ == "__main__":
    run()
