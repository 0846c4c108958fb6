"""The fault matrix's one verdict: a faulted read leaves the account stale and the picture intact.

Every case runs the real command a trader or cron runs, ``position-sync sync --once --json``, in
process: a first run against a healthy broker and book stores a good picture, then the fault is
injected and a second run must hold. Holding means safety rule 1 as a user checks it: exit code 2,
the account ``stale`` with one sentence naming what failed, every stored row still there (marked
stale), and no ``phantom_detected``, ``untracked_detected`` or ``closed`` event, neither in that
run's output nor in the stored history. Each case runs with the shipped defaults and with the
settings under which nothing delays a verdict (``confirm_syncs = 1``, ``settle_seconds = 0``),
since a false phantom that only the confirmation step hides is still a false phantom.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from position_sync.app.exit_codes import ExitCode
from position_sync.cli import main

# The two settings every fault runs under: what ships, and nothing that delays a verdict.
SETTINGS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "eager": {"confirm_syncs": 1, "settle_seconds": 0},
}
SETTING_IDS = list(SETTINGS)

# What a failed read must never produce.
FORBIDDEN = frozenset({"phantom_detected", "untracked_detected", "closed"})


@dataclass(frozen=True)
class CliRun:
    code: int
    payload: dict[str, Any]
    stderr: str

    def account(self, account_id: str) -> dict[str, Any]:
        return next(a for a in self.payload["accounts"] if a["id"] == account_id)

    def rows(self, account_id: str) -> dict[str, dict[str, Any]]:
        return {r["instrument"]: r for r in self.payload["rows"] if r["account"] == account_id}

    def event_kinds(self) -> set[str]:
        return {e["kind"] for e in self.payload["events"]}


def sync_once(config: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> CliRun:
    """``position-sync sync --once --json`` in process; its JSON must parse whatever happened."""
    capsys.readouterr()
    code = main(["--config", str(config), "--data-dir", str(data_dir), "sync", "--once", "--json"])
    out, err = capsys.readouterr()
    try:
        payload = json.loads(out)
    except json.JSONDecodeError:
        pytest.fail(f"sync --once printed no JSON (exit {code}): {out[-500:]!r} {err[-2000:]!r}")
    return CliRun(code, payload, err)


def stored_event_kinds(config: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    code = main(["--config", str(config), "--data-dir", str(data_dir), "events", "--json"])
    out, _ = capsys.readouterr()
    assert code == 0, out
    return [e["kind"] for e in json.loads(out)]


def assert_good(run: CliRun, account_id: str, instruments: set[str] | None = None) -> None:
    """The healthy run before a fault: read, and (when named) exactly these instruments held."""
    assert run.account(account_id)["state"] == "ok", run.account(account_id)
    if instruments is not None:
        assert set(run.rows(account_id)) == instruments


def assert_fault_held(
    good: CliRun,
    faulted: CliRun,
    account_id: str,
    *,
    config: Path,
    data_dir: Path,
    capsys: pytest.CaptureFixture[str],
    words: str | None = None,
) -> None:
    """Safety rule 1 as the user sees it, after ``good`` and then ``faulted`` on one store.

    ``words`` is a fragment the stale sentence must contain (the thing that failed, or where).
    """
    state = faulted.account(account_id)
    assert faulted.code == ExitCode.STALE, (faulted.code, state, faulted.stderr[-2000:])
    assert state["state"] == "stale", state
    assert state["error"], "a stale account names what failed"
    assert "\n" not in state["error"], "one sentence, one line"
    if words is not None:
        assert words.lower() in state["error"].lower(), state["error"]
    before = good.rows(account_id)
    after = faulted.rows(account_id)
    assert set(after) == set(before), "no row may be removed by a failed read"
    assert all(row["status"] == "stale" for row in after.values()), after
    assert not faulted.event_kinds() & FORBIDDEN, faulted.payload["events"]
    stored = stored_event_kinds(config, data_dir, capsys)
    assert not set(stored) & FORBIDDEN, stored


def account_settings(setting: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """An account table's judging keys for one column of the matrix."""
    values = dict(SETTINGS[setting])
    values.update(extra or {})
    return values
