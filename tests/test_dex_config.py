"""DEX accounts in the config file: a wallet address is all they take; a secret is refused.

Through the real command line, for every command that reads the file: a private key in a
Pacifica or Hyperliquid account is one sentence and exit 3, before anything connects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from position_sync.app.broker import BrokerSpec
from position_sync.app.config import parse_settings
from position_sync.app.errors import ConfigError
from position_sync.brokers.registry import broker_spec, frozen_imports
from tests.conftest import toml_table, write_book
from tests.dex_helpers import HYPERLIQUID_WALLET, PACIFICA_WALLET
from tests.test_cli import cli

WALLETS = {"pacifica": PACIFICA_WALLET, "hyperliquid": HYPERLIQUID_WALLET}


def write_config(root: Path, broker: str, **extra: Any) -> Path:
    write_book(root / "book.json", [])
    account = {"id": "dex", "broker": broker, "book": "bot", "wallet_address": WALLETS[broker], **extra}
    config = root / "config.toml"
    books = toml_table("[[books]]", {"id": "bot", "kind": "file", "path": "book.json"})
    config.write_text(books + "\n" + toml_table("[[accounts]]", account), encoding="utf-8")
    return config


@pytest.mark.parametrize(
    ("broker", "key"),
    [
        ("pacifica", "private_key"),
        ("hyperliquid", "private_key"),
        ("hyperliquid", "private_key_env"),
        ("pacifica", "api_secret"),
        ("hyperliquid", "secret"),
        ("pacifica", "api_secret_env"),
    ],
)
def test_a_secret_in_a_dex_account_is_refused_by_every_command(tmp_path: Path, broker: str, key: str) -> None:
    config = write_config(tmp_path, broker, **{key: "0x" + "11" * 32})
    for command in (["sync", "--once"], ["status"], ["events"]):
        run = cli("--config", config, "--data-dir", tmp_path / "data", *command)
        assert run.code == 3, (command, run.stderr)
        lines = [line for line in run.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, run.stderr
        assert f"'accounts.dex.{key}' must not be given" in lines[0]
        assert "needs only the public wallet address" in lines[0] and "sign on its own" in lines[0]
        assert "0x1111" not in run.stderr + run.stdout, "the secret itself is never echoed"
        assert "Traceback" not in run.stderr


def test_hyperliquid_names_what_ccxt_would_sign() -> None:
    reason = broker_spec("hyperliquid").refused["private_key"]
    assert "builder fee" in reason
    assert "api_key" in broker_spec("hyperliquid").refused, "an API wallet's key is a private key too"
    assert "api_key" not in broker_spec("pacifica").refused, "Pacifica's API config key signs nothing"


def test_a_broker_declares_its_refused_keys_and_the_parser_obeys(tmp_path: Path) -> None:
    """The mechanism, not a special case: any broker's ``refused`` keys are refused with its reason."""
    spec = broker_spec("pacifica")
    assert isinstance(spec, BrokerSpec) and spec.refused
    raw = {
        "books": [{"id": "bot", "kind": "file", "path": "book.json"}],
        "accounts": [
            {
                "id": "pf",
                "broker": "pacifica",
                "book": "bot",
                "wallet_address": PACIFICA_WALLET,
                "mnemonic": "x",
            }
        ],
    }
    with pytest.raises(ConfigError) as refused:
        parse_settings(raw, tmp_path / "config.toml")
    assert refused.value.field == "accounts.pf.mnemonic"
    assert refused.value.expected == spec.refused["mnemonic"]
    # Another broker without the declaration keeps the general secret rule.
    raw["accounts"] = [{"id": "bb", "broker": "bybit", "book": "bot", "api_key": "k", "api_secret": "s"}]
    with pytest.raises(ConfigError) as general:
        parse_settings(raw, tmp_path / "config.toml")
    assert "store it in the keyring" in str(general.value)


def test_a_wallet_address_is_all_an_account_needs(tmp_path: Path) -> None:
    for broker in WALLETS:
        raw = {
            "books": [{"id": "bot", "kind": "file", "path": "book.json"}],
            "accounts": [{"id": "a", "broker": broker, "book": "bot", "wallet_address": WALLETS[broker]}],
        }
        [account] = parse_settings(raw, tmp_path / "config.toml").accounts
        assert account.options == {"wallet_address": WALLETS[broker]}
        assert account.interval == 10
        del raw["accounts"][0]["wallet_address"]
        with pytest.raises(ConfigError, match="wallet_address' is required"):
            parse_settings(raw, tmp_path / "config.toml")


def test_a_malformed_wallet_is_exit_3(tmp_path: Path) -> None:
    config = write_config(tmp_path, "hyperliquid")
    text = config.read_text(encoding="utf-8").replace(HYPERLIQUID_WALLET, "0x1234")
    config.write_text(text, encoding="utf-8")
    run = cli("--config", config, "--data-dir", tmp_path / "data", "sync", "--once")
    assert run.code == 3 and "must be a Hyperliquid address" in run.stderr


def test_the_frozen_build_carries_both_exchanges() -> None:
    assert {"ccxt.async_support.pacifica", "ccxt.async_support.hyperliquid"} <= set(frozen_imports())
