"""The installed version, for ``--version``, the About dialog and the self-check."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    try:
        return metadata.version("position-sync")
    except metadata.PackageNotFoundError:
        return "0+unknown"
