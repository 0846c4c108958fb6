"""No production module over 700 lines (issue 12): past that a module holds more than one idea.

Counted on the source folders themselves; tests, benchmarks and packaging are not production
code. A module that grows past the limit is split by concept, not trimmed of its docstrings.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 700
SOURCES = ("app", "brokers", "ui", "position_sync")


def test_no_production_module_is_over_700_lines() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for folder in SOURCES
        for path in (ROOT / folder).rglob("*.py")
        if not path.is_symlink() and "migrations" not in path.parts
    }
    assert len(sizes) > 100, "the source folders were not found"
    over = {name: lines for name, lines in sizes.items() if lines > LIMIT}
    assert not over, f"split by concept: {over}"
