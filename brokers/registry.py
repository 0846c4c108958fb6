"""Broker adapters by name: the one place the core reaches a concrete broker through.

Modules are imported only when an account uses them, so a Kite-only user never loads the IB
client and the config check stays fast. Per-broker defaults live here for the same reason.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from app.config import AccountConfig
from app.secrets import Secrets
from brokers.base import BrokerAdapter

_MODULES: dict[str, str] = {
    "simulated": "brokers.simulated",
    "kite": "brokers.kite",
    "ibkr": "brokers.ibkr",
}

_DEFAULTS: dict[str, dict[str, Any]] = {
    "simulated": {},
    # Kite's portfolio endpoints allow a few requests a second; 10 s keeps a trader current.
    "kite": {"interval": 10},
    # IB's avgCost includes commissions, so a book's fill price differs by a few basis points.
    "ibkr": {"interval": 30, "price_tolerance_rel": Decimal("0.005")},
}


@dataclass(frozen=True)
class AdapterContext:
    data_dir: Path
    secrets: Secrets


def known_brokers() -> list[str]:
    return sorted(_MODULES)


def broker_defaults(name: str) -> dict[str, Any]:
    if name not in _MODULES:
        raise KeyError(f"must be one of {', '.join(known_brokers())}, not '{name}'")
    return dict(_DEFAULTS.get(name, {}))


def create_adapter(account: AccountConfig, context: AdapterContext) -> BrokerAdapter:
    """Build the adapter for ``account``; config mistakes surface as ``ConfigError``."""
    module = importlib.import_module(_MODULES[account.broker])
    adapter: BrokerAdapter = module.create(account, context)
    return adapter
