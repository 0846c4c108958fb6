"""The first launch without a terminal: what the window needs to guide it, and a window that
cannot open saying so in one sentence (the demo leaving nothing behind)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import tomli_w

from position_sync.app.config import load_settings, parse_settings
from position_sync.app.exit_codes import ExitCode
from position_sync.app.first_run import (
    blank_settings,
    read_tables,
    setup_needed,
    taken_ids,
    unique_id,
    with_account,
)
from position_sync.ui.display_check import missing_display

REPO = Path(__file__).resolve().parents[1]


# -- what the first-run page needs ------------------------------------------------------


def test_setup_is_needed_until_an_account_is_enabled(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert setup_needed(blank_settings(path)) == f"No configuration yet: {path} does not exist."
    path.write_text('[[books]]\nid = "bot"\nkind = "file"\npath = "b.json"\n')
    assert setup_needed(load_settings(path)) == f"{path} has no account yet."
    path.write_text(
        path.read_text() + '\n[[accounts]]\nid = "a"\nbroker = "simulated"\nscenario = "s.toml"\n'
        'book = "bot"\nenabled = false\n'
    )
    assert setup_needed(load_settings(path)) == f"{path} has 1 account, none of them enabled."
    path.write_text(path.read_text().replace("enabled = false", "enabled = true"))
    assert setup_needed(load_settings(path)) is None


def test_a_new_account_is_added_to_what_the_file_holds(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    raw = {"ui": {"theme": "dark"}, "books": [{"id": "bot", "kind": "file", "path": "b.json"}]}
    path.write_text(tomli_w.dumps(raw))
    read = read_tables(path)
    account = {"id": unique_id("kite", taken_ids(read, "accounts")), "broker": "kite", "book": "bot"}
    account["api_key"] = "k"
    added = with_account(read, account, None)
    assert added["ui"] == {"theme": "dark"} and [b["id"] for b in added["books"]] == ["bot"]
    assert read == raw  # the file's tables are copied, never changed in place
    settings = parse_settings(added, path)
    assert [a.id for a in settings.accounts] == ["kite"] and setup_needed(settings) is None
    both = with_account(
        added,
        {**account, "id": unique_id("kite", taken_ids(added, "accounts"))},
        {
            "id": "second",
            "kind": "file",
            "path": "c.json",
        },
    )
    assert [a["id"] for a in both["accounts"]] == ["kite", "kite2"]
    assert [b["id"] for b in both["books"]] == ["bot", "second"]


def test_suggested_ids_are_valid_and_free() -> None:
    assert unique_id("ibkr", set()) == "ibkr"
    assert unique_id("ibkr", {"ibkr", "ibkr2"}) == "ibkr3"
    assert unique_id("  my desk!  ", set()) == "my-desk"
    assert unique_id("...", set(), "book") == "book"


# -- no display -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({}, "no display (DISPLAY is not set)"),
        ({"QT_QPA_PLATFORM": "xcb"}, "no display (DISPLAY is not set)"),
        ({"QT_QPA_PLATFORM": "wayland"}, "no Wayland display (WAYLAND_DISPLAY is not set)"),
        ({"QT_QPA_PLATFORM": "offscreen"}, None),
        ({"QT_QPA_PLATFORM": "vnc:size=800x600"}, None),
        ({"WAYLAND_DISPLAY": "wayland-0"}, None),
    ],
)
def test_a_missing_display_is_named(environ: dict[str, str], problem: str | None) -> None:
    assert missing_display(environ, "linux") == problem
    assert missing_display(environ, "win32") is None and missing_display(environ, "darwin") is None


def test_an_unreachable_x_display_is_named() -> None:
    pytest.importorskip("ctypes")
    try:
        import ctypes

        ctypes.CDLL("libxcb.so.1")
    except OSError:
        pytest.skip("no libxcb here")
    assert missing_display({"DISPLAY": ":987"}, "linux") == "the X display :987 cannot be reached"


@pytest.mark.parametrize("demo", [True, False])
def test_the_window_without_a_display_says_so_and_leaves_nothing_behind(tmp_path: Path, demo: bool) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    environ = {
        k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    }
    environ["TMPDIR"] = str(scratch)  # where the demo would make its throw-away directory
    environ["POSITION_SYNC_LOG_DIR"] = str(tmp_path / "log")
    done = subprocess.run(
        [sys.executable, "-m", "position_sync", *(["--demo"] if demo else [])],
        capture_output=True,
        text=True,
        env=environ,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == ExitCode.CONFIG, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr  # one sentence, no Qt plugin dump, no abort
    assert "no display (DISPLAY is not set)" in lines[0]
    if demo:
        assert "demo" in lines[0] and "sync --once" in lines[0]  # the way it still runs
    assert list(scratch.iterdir()) == []  # no throw-away directory left behind
