"""What ``position-sync fix`` can do to a book, and the close reason it records by default.

Apart from ``app.fix`` so that the command line's parser lists the actions without importing
the books, the store and SQLAlchemy (``--help`` and ``--version`` answer in a blink).
"""

from __future__ import annotations

ACTIONS = ("close-phantom", "adopt", "take-broker")
DEFAULT_REASON = "closed_at_broker"
