"""Fault matrix, book side: a file book that cannot be read as a whole is never an empty book.

Each fault replaces a healthy JSON book after a good sync; the broker stays healthy, so a book read
taken as empty would turn every broker position untracked.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.faults.harness import SETTING_IDS, account_settings, assert_fault_held, assert_good, sync_once

POSITIONS = [
    {"symbol": "NIFTY25NOVFUT", "quantity": 75, "average_price": 24000},
    {"symbol": "BANKNIFTY25NOVFUT", "quantity": -35, "average_price": 51000},
    {"symbol": "FINNIFTY25NOVFUT", "quantity": 40, "average_price": 23000},
]


def _write(text: str) -> Callable[[Path], None]:
    def fault(book: Path) -> None:
        book.write_text(text, encoding="utf-8")

    return fault


def _write_bytes(data: bytes) -> Callable[[Path], None]:
    def fault(book: Path) -> None:
        book.write_bytes(data)

    return fault


def _remove(book: Path) -> None:
    book.unlink()


def _directory(book: Path) -> None:
    book.unlink()
    book.mkdir()


FAULTS: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing file": (_remove, "book"),
    "a directory": (_directory, "book"),
    "invalid JSON": (_write("{not json"), "book"),
    "truncated JSON": (_write('{"positions": [{"symbol": "NIFTY25NOVFUT", "quan'), "book"),
    "wrong shape": (_write('{"positions": {"symbol": "NIFTY25NOVFUT"}}'), "book"),
    "not UTF-8": (_write_bytes(b'{"positions": [\xff\xfe]}'), "book"),
    "unreadable quantity": (
        _write('{"positions": [{"symbol": "NIFTY25NOVFUT", "quantity": "abc", "average_price": 1}]}'),
        "book",
    ),
}


@pytest.mark.parametrize("setting", SETTING_IDS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_broken_book_holds_the_picture(
    project: Project, capsys: pytest.CaptureFixture[str], fault: str, setting: str
) -> None:
    project.write(broker_steps=[{"positions": POSITIONS}], book=POSITIONS, account=account_settings(setting))
    good = sync_once(project.config, project.data_dir, capsys)
    assert_good(good, "sim", {f"NFO:{p['symbol']}" for p in POSITIONS})
    damage, words = FAULTS[fault]
    damage(project.book)
    faulted = sync_once(project.config, project.data_dir, capsys)
    assert_fault_held(
        good, faulted, "sim", config=project.config, data_dir=project.data_dir, capsys=capsys, words=words
    )
