"""``position-sync login BROKER --account ID``: the daily broker login, headless.

Exit codes: 0 logged in (the token is in the keyring), 2 the login failed, 3 a setup that
cannot work (wrong broker, no API secret): one sentence each.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from position_sync.app.broker import AdapterContext, LoginFailed
from position_sync.app.errors import ConfigError
from position_sync.app.exit_codes import ExitCode
from position_sync.app.secrets import Secrets
from position_sync.app.terminal import echo
from position_sync.brokers.registry import broker_spec, known_brokers, login, supports_login

if TYPE_CHECKING:
    from position_sync.app.config import Settings


def add_login_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "login",
        help="log in to a broker whose session expires (Kite, Kotak: every day); stores the session in the keyring",
    )
    # Every broker name: which ones have a login is asked of the one named (importing each
    # broker here would load every client library for every command line).
    parser.add_argument("broker", choices=known_brokers(), help="the broker (kite, kotak)")
    parser.add_argument("--account", required=True, help="account id from the config")
    parser.add_argument("--no-browser", action="store_true", help="print the login URL instead of opening it")


def _leave_to_the_user(url: str) -> bool:
    """The login prints the address anyway; claiming it was opened skips the browser."""
    return True


def cmd_login(settings: Settings, data_dir: Path, args: argparse.Namespace) -> int:
    account = settings.account(args.account)
    if account.broker != args.broker:
        raise ConfigError(
            settings.path, f"accounts.{account.id}.broker", f"is '{account.broker}', not '{args.broker}'"
        )
    if not supports_login(account.broker):
        raise ConfigError(
            settings.path, f"accounts.{account.id}.broker", f"is '{account.broker}', which needs no login"
        )
    io: dict[str, Any] = {"prompt": input, "tell": echo}
    if args.no_browser:
        io["open_browser"] = _leave_to_the_user
    try:
        echo(login(account, AdapterContext(data_dir, Secrets()), **_used_by(account.broker, io)))
    except LoginFailed as exc:
        echo(f"position-sync: login failed: {exc}", file=sys.stderr)
        return ExitCode.LOGIN_FAILED
    return ExitCode.OK


def _used_by(broker: str, io: dict[str, Any]) -> dict[str, Any]:
    """The terminal hooks the broker's login takes: Kite's opens a browser, Kotak's does not,
    and ``--no-browser`` means nothing to a login that never opens one."""
    name = broker_spec(broker).login
    if name is None:
        return io
    accepted = inspect.signature(importlib.import_module(name).login).parameters
    return {key: value for key, value in io.items() if key in accepted}
