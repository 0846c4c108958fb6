"""Starting a broker's login from the window, through the CLI rather than a direct import.

The login flow belongs to each broker's adapter (Kite's request-token dance, for instance) and
is exposed as ``position-sync login BROKER --account ID``. Running that command in a
``QProcess`` keeps the window independent of which login modules exist: when the command (or a
login for that broker) is missing, the button is disabled and its tooltip says why.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from functools import cache

from position_sync.app.config import AccountConfig, Settings


@dataclass(frozen=True)
class LoginSupport:
    possible: bool
    reason: str = ""
    command: list[str] = field(default_factory=list)


@cache
def _login_brokers() -> tuple[bool, frozenset[str] | None]:
    """Whether the CLI has ``login``, and which brokers it names (None: it takes any)."""
    from position_sync.app.cli import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and "login" in action.choices:
            login = action.choices["login"]
            for inner in login._actions:
                if inner.dest == "broker" and inner.choices:
                    return True, frozenset(str(c) for c in inner.choices)
            return True, None
    return False, None


def login_support(settings: Settings, account: AccountConfig) -> LoginSupport:
    if account.broker == "simulated":
        return LoginSupport(False, "The simulated demo broker needs no login.")
    exists, brokers = _login_brokers()
    if not exists:
        return LoginSupport(
            False, "This Position Sync has no `position-sync login` command to start a login with."
        )
    if brokers is not None and account.broker not in brokers:
        return LoginSupport(False, f"`position-sync login` does not support the {account.broker} broker.")
    command = [sys.executable, "-m", "position_sync.app.cli"]
    if settings.path is not None:
        command += ["--config", str(settings.path)]
    command += ["login", account.broker, "--account", account.id]
    return LoginSupport(True, "", command)
