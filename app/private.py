"""Owner-only files: the data directory holds every position and P&L a trader has, not for other users.

Modes are set explicitly after creation instead of trusting the umask, which commonly leaves new
files readable by everyone (0644). SQLite gives its ``-wal`` and ``-shm`` files the mode of the
database file, so creating the database 0600 before SQLite opens it covers those too; files left
by an older version are tightened when the store opens.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) owner-only; an existing folder is left as it is.

    Only folders made here are tightened: ``--data-dir ~`` must not lock the user's home.
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    for folder in missing:
        os.chmod(folder, DIR_MODE)


def private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only if it is missing; make an existing one owner-only."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, FILE_MODE)
        else:  # Windows: only the read-only bit exists; the profile folder keeps others out
            os.chmod(path, FILE_MODE)
    finally:
        os.close(fd)


def tighten_sqlite_files(database: Path) -> None:
    """The database file and whichever of its side files exist, owner-only."""
    for candidate in (database, *(database.with_name(database.name + s) for s in SQLITE_SIDE_FILES)):
        try:
            os.chmod(candidate, FILE_MODE)
        except FileNotFoundError:
            continue


def write_private_text(path: Path, text: str) -> None:
    """Write ``path`` afresh as an owner-only file (the folders it needs made owner-only too)."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        if hasattr(os, "fchmod"):
            os.fchmod(file.fileno(), FILE_MODE)
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
