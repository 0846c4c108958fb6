"""Secrets (API secrets, access tokens, passwords) from the OS keyring or the environment.

Safety rule 6: a secret never sits in the config file, the database or a log line. For headless
use an account names the environment variable that holds a secret (``access_token_env =
"KITE_TOKEN"``); otherwise the keyring entry ``position-sync`` / ``ACCOUNT:NAME`` is used.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from position_sync.app.errors import ReadError, ReadErrorKind

KEYRING_SERVICE = "position-sync"


class SecretUnavailable(ReadError):
    """The keyring could not be asked (locked, no Secret Service): the read fails, stale."""

    def __init__(self, message: str) -> None:
        super().__init__(ReadErrorKind.SOURCE, message)


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
        """The keyring's value, None when it holds none; ``SecretUnavailable`` when it cannot say.

        A locked or broken keyring is not a missing secret: reporting it as "no access token,
        log in" would send the trader to a login that cannot help.
        """
        user = keyring_username(owner, name)
        try:
            import keyring

            return keyring.get_password(KEYRING_SERVICE, user)
        except Exception as exc:  # any backend failure (locked, no D-Bus, broken install)
            log.warning("keyring unavailable while reading %s: %s", user, type(exc).__name__)
            raise SecretUnavailable(
                f"the keyring could not be read for '{KEYRING_SERVICE}' / '{user}' "
                f"({type(exc).__name__}); unlock it, or name an environment variable with {name}_env"
            ) from None

    def store(self, owner: str, name: str, value: str) -> None:
        import keyring

        keyring.set_password(KEYRING_SERVICE, keyring_username(owner, name), value)
