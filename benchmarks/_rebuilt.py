"""Every adapter's answer memo forced to miss, for the benchmarks that time a whole build.

A fake's answer does not change between two timed syncs, so without this an adapter would hand
back its previous positions (``brokers.answer_memo``) and a figure meant as "one sync of N
positions" would time only the read and one comparison. ``broker_at_rest.py`` times both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from position_sync.brokers.answer_memo import AnswerMemo


@contextmanager
def every_memo_missing() -> Iterator[None]:
    """Each answer built anew, as when it changed: what each sync cost before the memo."""
    with mock.patch.object(AnswerMemo, "recall", autospec=True, return_value=None):
        yield
