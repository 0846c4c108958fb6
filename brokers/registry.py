"""Broker adapters by name: the one place a concrete broker is reached through.

``BROKERS`` is the whole list: a new broker is its module (declaring ``SPEC``, a
``app.broker.BrokerSpec``, and ``create(account, context)``) plus one line here. Everything
else that needs to know the brokers (the config parser, the settings dialog, the login command,
the self-check, the frozen build, the README's reference) asks this module, which reads the
module's declaration. A module is imported only when something asks about its broker, so a
Kite-only user never loads the IB client.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

from position_sync.app.broker import AdapterContext, BrokerAdapter, BrokerSpec, LoginFailed, use_brokers
from position_sync.app.declared import declaration

if TYPE_CHECKING:
    from position_sync.app.config import AccountConfig

BROKERS: dict[str, str] = {
    "simulated": "position_sync.brokers.simulated",
    "kite": "position_sync.brokers.kite",
    "ibkr": "position_sync.brokers.ibkr",
    "binance": "position_sync.brokers.binance",
    "bybit": "position_sync.brokers.bybit",
    "kotak": "position_sync.brokers.kotak",
    "pacifica": "position_sync.brokers.pacifica",
    "hyperliquid": "position_sync.brokers.hyperliquid",
}


def known_brokers() -> list[str]:
    return sorted(BROKERS)


def broker_spec(name: str) -> BrokerSpec:
    """The broker's declaration; ``KeyError`` with the sentence for an unknown name."""
    return declaration(BROKERS, name, "SPEC", BrokerSpec)


def broker_defaults(name: str) -> dict[str, Any]:
    return dict(broker_spec(name).defaults)


def check_account_options(account: AccountConfig) -> None:
    from position_sync.app.config import check_broker_options

    check_broker_options(broker_spec(account.broker), account)


def supports_login(broker: str) -> bool:
    """Whether the broker's sessions expire and need ``position-sync login``."""
    return broker in BROKERS and broker_spec(broker).login is not None


def login(account: AccountConfig, context: AdapterContext, **io: Any) -> str:
    """Run the broker's interactive login for ``account``; returns what to tell the user.

    ``ConfigError`` for a setup that cannot work; ``LoginFailed`` for a login that failed.
    """
    name = broker_spec(account.broker).login
    if name is None:
        known = ", ".join(b for b in known_brokers() if supports_login(b))
        raise KeyError(f"{account.broker} needs no login (brokers with a login: {known})")
    check_account_options(account)
    module = importlib.import_module(name)
    try:
        return str(module.login(account, context, **io))
    except module.LoginError as exc:
        raise LoginFailed(str(exc)) from None


def frozen_imports() -> list[str]:
    """Every module the brokers import by name: what the frozen build must bundle and what its
    self-check imports to prove it did."""
    found: list[str] = []
    for name in known_brokers():
        spec = broker_spec(name)
        found.append(BROKERS[name])
        found.extend(m for m in (spec.login, *spec.hidden_imports) if m is not None)
    return list(dict.fromkeys(found))


def scripted_steps(account: AccountConfig) -> int | None:
    """How many fetches a scripted broker (the demo's) takes to play its scenario; None for a
    real broker. The window's screenshot waits for that many syncs."""
    steps = getattr(importlib.import_module(BROKERS[account.broker]), "scripted_steps", None)
    return int(steps(account)) if callable(steps) else None


def create_adapter(account: AccountConfig, context: AdapterContext) -> BrokerAdapter:
    """Build the adapter for ``account``; config mistakes surface as ``ConfigError``."""
    check_account_options(account)
    module = importlib.import_module(BROKERS[account.broker])
    adapter: BrokerAdapter = module.create(account, context)
    return adapter


# The core reads broker names and declarations through this module (config parsing); handing
# it over here keeps the dependency pointing from the adapters to the core.
use_brokers(sys.modules[__name__])
