"""What the ccxt DEX venues share: accounts read by a public wallet address, never a key.

On a DEX anyone may read any account's positions; only placing orders needs the wallet's
private key. ccxt, handed a private key, signs with it on its own initiative (Hyperliquid's
client approves a builder fee and sets a referrer while merely loading markets; Pacifica's
approves a builder code before its first order). So an account holding any secret is refused
when the file is read, with the reason, rather than accepted and ignored: a user who pasted a
key into the file should learn at once that it was never needed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from position_sync.app.config import AccountConfig
from position_sync.app.errors import ConfigError
from position_sync.app.options import Option
from position_sync.brokers.ccxt_session import Session

#: Keys that would hold a signing secret, in the spellings ccxt and the other brokers use.
SECRET_KEYS = (
    "private_key",
    "private_key_env",
    "privateKey",
    "secret",
    "secret_env",
    "api_secret",
    "api_secret_env",
    "wallet_private_key",
    "agent_private_key",
    "mnemonic",
    "seed_phrase",
)


def refused_secrets(title: str, what_ccxt_signs: str, *also: str) -> Mapping[str, str]:
    """``BrokerSpec.refused`` for a DEX: every secret key (and ``also``), with the one sentence
    saying why."""
    reason = (
        f"must not be given: reading {title} positions needs only the public wallet address "
        f"(wallet_address), and a key would let ccxt sign on its own ({what_ccxt_signs}); "
        "remove it from the file"
    )
    return dict.fromkeys((*SECRET_KEYS, *also), reason)


def wallet_option(what: str, example: str) -> Option:
    return Option("wallet_address", str, f"the account's public {what}", required=True, example=example)


class WalletVenue:
    """What a DEX venue answers the same way whichever DEX: perpetuals only, no key to judge."""

    needs_key = False
    bare_base = True

    def wanted(self, market: Mapping[str, Any]) -> bool:
        return bool(market.get("swap"))

    async def key_can_trade(self, session: Session) -> bool | None:
        """No key is ever given (a secret in the account is refused at config)."""
        del session
        return None


def checked_wallet(account: AccountConfig, pattern: re.Pattern[str], rule: str) -> str:
    """The account's wallet address, or one sentence (exit 3) when it is not one."""
    value = str(account.options.get("wallet_address") or "").strip()
    if not pattern.fullmatch(value):
        raise ConfigError(account.config_path, f"accounts.{account.id}.wallet_address", rule)
    return value
