"""The ``[store]`` keys of team mode, beside ``url``/``url_env`` which ``app.config`` reads.

Kept apart from the URL parsing so a single-user SQLite setup never meets them: every default
is the single-user behaviour (the store owned whole by one process, the OS user's name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from position_sync.app.config_values import number_value
from position_sync.app.errors import ConfigError

TEAM_KEYS = ("shared", "viewer", "user", "lease_seconds")

# A daemon that dies or loses its connection loses its accounts within this (seconds).
DEFAULT_LEASE_SECONDS = 30.0
LEASE_LIMITS = (2.0, 600.0)


@dataclass(frozen=True)
class TeamSettings:
    """``shared``: daemons lease accounts (PostgreSQL only); ``viewer``: the window only watches
    the store; ``user``: the name written beside acknowledgements, notes and fixes."""

    shared: bool = False
    viewer: bool = False
    user: str | None = None
    lease_seconds: float = DEFAULT_LEASE_SECONDS


def parse_team(store: dict[str, Any], backend: str | None, path: Path | None) -> TeamSettings:
    """The team keys of ``[store]``; ``backend`` is the store URL's database kind (None: default)."""
    values: dict[str, Any] = {}
    for key in ("shared", "viewer"):
        if key in store:
            if not isinstance(store[key], bool):
                raise ConfigError(path, f"store.{key}", "must be true or false")
            values[key] = store[key]
    if values.get("shared") and backend != "postgresql":
        raise ConfigError(
            path,
            "store.shared",
            "needs a PostgreSQL store (url or url_env naming postgresql+psycopg://...): daemons on "
            "several machines share accounts through the database server",
        )
    if "user" in store:
        user = store["user"]
        if not isinstance(user, str) or not user.strip() or len(user.strip()) > 100:
            raise ConfigError(path, "store.user", "must be a name of 1 to 100 characters")
        values["user"] = user.strip()
    if "lease_seconds" in store:
        lowest, highest = LEASE_LIMITS
        values["lease_seconds"] = float(
            number_value(store, "lease_seconds", "store", path, minimum=lowest, maximum=highest)
        )
    return TeamSettings(**values)
