"""The first launch: a window with nothing to sync says what is missing and helps write it.

Started from the desktop menu with no config file, the program used to exit 3 with a sentence
on a standard error nobody sees. The window now opens on a first-run page instead (``ui``);
what that page needs to know and to write is here, without Qt: whether setup is needed and why,
and the config with one more account (and its book) added to whatever the file already holds.
The headless commands keep refusing such a file (``config.require_enabled_accounts``): a cron
job cannot answer a form.
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path
from typing import Any

from position_sync.app.config import Settings, parse_settings
from position_sync.app.errors import ConfigError

Table = dict[str, Any]
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def blank_settings(path: Path) -> Settings:
    """The settings of a config file that does not exist yet: no book, no account."""
    return parse_settings({}, path)


def setup_needed(settings: Settings) -> str | None:
    """None when an account will sync; else what is missing, as the page's first sentence.

    A viewer needs no account of its own: it shows those the daemons sync."""
    if settings.team.viewer or any(account.enabled for account in settings.accounts):
        return None
    where = settings.path
    if where is None:
        return "This configuration has no account yet."
    if not where.exists():
        return f"No configuration yet: {where} does not exist."
    if not settings.accounts:
        return f"{where} has no account yet."
    count = len(settings.accounts)
    return f"{where} has {count} account{'s' if count > 1 else ''}, none of them enabled."


def read_tables(path: Path | None) -> Table:
    """The file's tables as written (or none for a missing file), to add to."""
    if path is None or not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(path, "", f"cannot be read: {exc}") from None


def unique_id(wanted: str, taken: set[str], fallback: str = "account") -> str:
    """``wanted`` made a valid id not among ``taken`` (``kite``, ``kite2``, ...)."""
    base = _ID_UNSAFE.sub("-", wanted.strip()).strip("-.") or fallback
    candidate, number = base, 1
    while candidate in taken:
        number += 1
        candidate = f"{base}{number}"
    return candidate


def taken_ids(raw: Table, table: str) -> set[str]:
    entries = raw.get(table, [])
    if not isinstance(entries, list):
        return set()
    return {str(entry.get("id")) for entry in entries if isinstance(entry, dict) and "id" in entry}


def with_account(raw: Table, account: Table, book: Table | None) -> Table:
    """``raw`` with ``book`` (a new ``[[books]]`` table, or None to use one already there) and
    ``account`` appended; the file's other tables stay as they are. Check the result with
    ``parse_settings`` before writing it."""
    new = copy.deepcopy(raw)
    if book is not None:
        new["books"] = [*new.get("books", []), dict(book)]
    new["accounts"] = [*new.get("accounts", []), dict(account)]
    return new
