"""The frozen build's entry script: what the ``position-sync`` console script runs, nothing more.

PyInstaller needs a script file rather than an ``position_sync.cli:run`` entry point. Running
``position_sync/cli.py`` itself as the script would load it twice (once as ``__main__``, once as
``position_sync.cli`` when the self-check imports it), so this stays a one-line shim.
"""

from __future__ import annotations

import multiprocessing

from position_sync.cli import run

if __name__ == "__main__":
    # A no-op until something starts a process pool; then, in a frozen build, it stops a child
    # process from running the whole CLI again instead of the pool's worker.
    multiprocessing.freeze_support()
    run()
