"""Secrets (API secrets, access tokens, passwords) from the OS keyring or the environment.

Safety rule 6: a secret never sits in the config file, the database or a log line. For headless
use an account names the environment variable that holds a secret (``access_token_env =
"KITE_TOKEN"``); otherwise the keyring entry ``position-sync`` / ``ACCOUNT:NAME`` is used.
"""

from __future__ import annotations

import logging
import os
from typing import Any

KEYRING_SERVICE = "position-sync"

log = logging.getLogger(__name__)


def keyring_username(owner: str, name: str) -> str:
    return f"{owner}:{name}"


class Secrets:
    """Looks a secret up for an account or a book; ``options`` is its table in the config."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        self._environ = environ if environ is not None else os.environ

    def get(self, owner: str, options: dict[str, Any], name: str) -> str | None:
        env_name = options.get(f"{name}_env")
        if isinstance(env_name, str) and env_name:
            value = self._environ.get(env_name)
            return value or None
        return self.from_keyring(owner, name)

    def source(self, owner: str, options: dict[str, Any], name: str) -> str:
        """Where ``get`` looks, for error sentences: never the value itself."""
        env_name = options.get(f"{name}_env")
        if isinstance(env_name, str) and env_name:
            return f"environment variable {env_name}"
        return f"keyring entry '{KEYRING_SERVICE}' / '{keyring_username(owner, name)}'"

    def from_keyring(self, owner: str, name: str) -> str | None:
        try:
            import keyring
            from keyring.errors import KeyringError

            try:
                return keyring.get_password(KEYRING_SERVICE, keyring_username(owner, name))
            except KeyringError as exc:
                log.warning("keyring unavailable while reading %s: %s", keyring_username(owner, name), exc)
                return None
        except Exception as exc:  # a broken keyring backend must not take the sync down
            log.warning("keyring unavailable: %s", exc)
            return None

    def store(self, owner: str, name: str, value: str) -> None:
        import keyring

        keyring.set_password(KEYRING_SERVICE, keyring_username(owner, name), value)
