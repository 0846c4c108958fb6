"""Broker adapters by name: the one place a concrete broker is reached through.

Modules are imported only when an account uses them, so a Kite-only user never loads the IB
client and the config check stays fast. Per-broker defaults live here for the same reason.
"""

from __future__ import annotations

import importlib
import sys
from decimal import Decimal
from typing import Any

from position_sync.app.broker import AdapterContext, BrokerAdapter, LoginFailed, use_brokers
from position_sync.app.config import AccountConfig

_MODULES: dict[str, str] = {
    "simulated": "position_sync.brokers.simulated",
    "kite": "position_sync.brokers.kite",
    "ibkr": "position_sync.brokers.ibkr",
}

_DEFAULTS: dict[str, dict[str, Any]] = {
    "simulated": {},
    # Kite's portfolio endpoints allow a few requests a second; 10 s keeps a trader current.
    "kite": {"interval": 10},
    # IB's avgCost includes commissions, so a book's fill price differs by a few basis points.
    "ibkr": {"interval": 30, "price_tolerance_rel": Decimal("0.005")},
}


def known_brokers() -> list[str]:
    return sorted(_MODULES)


def broker_defaults(name: str) -> dict[str, Any]:
    if name not in _MODULES:
        raise KeyError(f"must be one of {', '.join(known_brokers())}, not '{name}'")
    return dict(_DEFAULTS.get(name, {}))


# Brokers whose sessions expire and need an interactive login (Kite's token expires daily).
_LOGINS: dict[str, str] = {"kite": "position_sync.brokers.kite_login"}


def supports_login(broker: str) -> bool:
    return broker in _LOGINS


def login(account: AccountConfig, context: AdapterContext, **io: Any) -> str:
    """Run the broker's interactive login for ``account``; returns what to tell the user.

    ``ConfigError`` for a setup that cannot work; ``LoginFailed`` for a login that failed.
    """
    if account.broker not in _LOGINS:
        known = ", ".join(sorted(_LOGINS))
        raise KeyError(f"{account.broker} needs no login (brokers with a login: {known})")
    module = importlib.import_module(_LOGINS[account.broker])
    try:
        return str(module.login(account, context, **io))
    except module.LoginError as exc:
        raise LoginFailed(str(exc)) from None


def scripted_steps(account: AccountConfig) -> int | None:
    """How many fetches a scripted broker (the demo's) takes to play its scenario; None for a
    real broker. The window's screenshot waits for that many syncs."""
    steps = getattr(importlib.import_module(_MODULES[account.broker]), "scripted_steps", None)
    return int(steps(account)) if callable(steps) else None


def create_adapter(account: AccountConfig, context: AdapterContext) -> BrokerAdapter:
    """Build the adapter for ``account``; config mistakes surface as ``ConfigError``."""
    module = importlib.import_module(_MODULES[account.broker])
    adapter: BrokerAdapter = module.create(account, context)
    return adapter


# The core reads broker names and defaults through this module (config parsing); handing it over
# here keeps the dependency pointing from the adapters to the core.
use_brokers(sys.modules[__name__])
