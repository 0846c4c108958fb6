"""``python -m position_sync``: the same entry point as the ``position-sync`` command."""

from __future__ import annotations

from position_sync.cli import run

if __name__ == "__main__":
    run()
