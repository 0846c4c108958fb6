"""Starting a broker's login from the window, through the CLI rather than a direct import.

The login flow belongs to each broker's adapter (Kite's request-token dance, for instance) and
is exposed as ``position-sync login BROKER --account ID``. Running that command in a
``QProcess`` keeps the window independent of which login modules exist: when the command (or a
login for that broker) is missing, the button is disabled and its tooltip says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from position_sync.app.config import AccountConfig, Settings
from position_sync.app.paths import cli_command
from position_sync.brokers.registry import broker_spec, supports_login


@dataclass(frozen=True)
class LoginSupport:
    possible: bool
    reason: str = ""
    command: list[str] = field(default_factory=list)


def login_support(settings: Settings, account: AccountConfig) -> LoginSupport:
    if account.broker == "simulated":
        return LoginSupport(False, "The simulated demo broker needs no login.")
    if not supports_login(account.broker):
        return LoginSupport(
            False,
            f"{broker_spec(account.broker).title} reads with an API key and has no login: check the key "
            "and its secret in File → Settings.",
        )
    # The frozen program is its own command: ``sys.executable -m ...`` would not run there.
    command = cli_command()
    if settings.path is not None:
        command += ["--config", str(settings.path)]
    command += ["login", account.broker, "--account", account.id]
    return LoginSupport(True, "", command)
