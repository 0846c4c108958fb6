"""What the DEX adapters' tests share: accounts by wallet address on a fake, and their context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig
from position_sync.app.secrets import Secrets

# A base58 string shaped like a Solana address (no 0, O, I or l), and a 0x address.
PACIFICA_WALLET = "42trU9A5fakeSoLanaAccount1111111111111111"
HYPERLIQUID_WALLET = "0x" + "ab" * 20


def dex_account(
    broker: str, url: str, wallet: str, *, account_id: str = "dex1", **options: Any
) -> AccountConfig:
    return AccountConfig(
        id=account_id,
        broker=broker,
        book="book",
        timeout=5.0,
        options={"wallet_address": wallet, "api_root": url, **options},
    )


def dex_context(data_dir: Path) -> AdapterContext:
    """No secret anywhere: a DEX account is read by its address alone."""
    return AdapterContext(data_dir=data_dir, secrets=Secrets({}))
