"""``python -m position_sync``: the same entry point as the ``position-sync`` command."""

from __future__ import annotations

import sys

from position_sync.cli import main

if __name__ == "__main__":
    sys.exit(main())
