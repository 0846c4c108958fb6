"""The program's exit codes, one list for every command: scripts and cron jobs branch on them.

0 to 3 are the design's (everything matches; mismatches; an account could not be read; bad
configuration). The ``fix`` command adds 4 and 5 for what only a write to a book can end in.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    MISMATCH = 1  # every account read, something does not match (or a mass change is held)
    STALE = 2  # an account could not be read; also a login that did not complete
    CONFIG = 3  # bad configuration or input: one sentence names the file and the field
    REFUSED = 4  # fix: the plan was refused (the book changed, or the fix does not apply)
    ROLLED_BACK = 5  # fix: the write failed and was rolled back
    INTERRUPTED = 130  # Ctrl-C

    # Other names for the same codes, where a command's own word reads better.
    LOGIN_FAILED = 2
    SELF_CHECK_FAILED = 1
