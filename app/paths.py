"""Where the program's own files are: ``resources/`` and the Alembic migrations, frozen or not.

From a checkout or a pip install, ``resources/`` sits next to the ``app`` package. In a
PyInstaller build the packages live inside the archive and the data files are unpacked under
``sys._MEIPASS`` (the ``_internal`` folder of a one-folder build), so every lookup goes through
here instead of each module guessing from its own ``__file__``. No Qt: the CLI and the
self-check use it too.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def is_frozen() -> bool:
    """True in a PyInstaller build (it sets ``sys.frozen`` and ``sys._MEIPASS``)."""
    return bool(getattr(sys, "frozen", False)) and hasattr(sys, "_MEIPASS")


def bundle_root() -> Path:
    """The folder holding ``app/``, ``resources/`` and the other bundled data files."""
    if is_frozen():
        return Path(sys._MEIPASS)  # type: ignore[attr-defined]
    return _SOURCE_ROOT


def resource_dir() -> Path:
    """``resources/``: icons, style sheets and the demo scenario."""
    return bundle_root() / "resources"


def migrations_dir() -> Path:
    """The Alembic scripts; a frozen build ships them as data files under ``app/store/migrations``."""
    return bundle_root() / "app" / "store" / "migrations"


def cli_command() -> list[str]:
    """The argv prefix that runs ``position-sync`` again in a child process.

    ``python -m position_sync`` from a checkout or an install; the executable itself when frozen,
    where there is no interpreter that understands ``-m``.
    """
    if is_frozen():
        return [sys.executable]
    return [sys.executable, "-m", "position_sync"]


def id_file_stem(identifier: str) -> str:
    """A file name stem made from an account or book id: never a path of its own.

    Config ids are limited to a safe character set (``app.config``), but an id can also reach
    here from a config built in code or an older file, so every place an id becomes part of a
    file name goes through this (defence in depth): ``../../x`` must not name a file outside
    the data directory. Characters outside ``A-Za-z0-9._-`` become ``_``, leading dots go, and an
    id that had to change gets a short hash so two ids never share a file.
    """
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", identifier).lstrip(".")[:64] or "id"
    if safe != identifier:
        safe += "-" + hashlib.sha1(identifier.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return safe
