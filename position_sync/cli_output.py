"""What ``sync --once`` and ``status`` print: the JSON a script reads, or the table a person does.

Both carry the same facts: each account's state (and, when it is stale, since when it was last
read well), every row with its prices and P&L, the acknowledgement or snooze that covers a
problem, and the run's events. The table shows times in local time to the second; the JSON keeps
ISO 8601 with the offset, as scripts parse it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from position_sync.app.collector import collector_paused
from position_sync.app.display import figures, instrument_label, plain_detail
from position_sync.app.domain import AccountState, Event, Row, Status
from position_sync.app.exit_codes import ExitCode
from position_sync.app.store.acks import Acknowledgement, AckState
from position_sync.app.store.codec import iso, since_text
from position_sync.app.terminal import echo, echo_json, echo_lines, terminal_safe

Key = tuple[str, str]


@dataclass(frozen=True)
class Cover:
    """What mutes a problem row: an acknowledgement of its current state, or a snooze."""

    record: Acknowledgement

    @property
    def json(self) -> dict[str, Any]:
        record = self.record
        return {
            "kind": "acknowledged" if record.kind.value == "ack" else "snoozed",
            "by": record.by,
            "note": record.note,
            "at": iso(record.at),
            "until": iso(record.until),
        }

    @property
    def words(self) -> str:
        record = self.record
        by = f" by {record.by}" if record.by else ""
        if record.kind.value == "ack":
            return f"acknowledged{by}"
        assert record.until is not None
        return f"snoozed{by} until {local_time(record.until)}"


def covers(rows: Iterable[Row], acks: Mapping[Key, AckState], now: datetime) -> dict[Key, Cover]:
    """The problem rows an acknowledgement (of the row as it now is) or a snooze covers."""
    found: dict[Key, Cover] = {}
    for row in rows:
        state = acks.get(row.key)
        if state is None or not row.status.is_problem:
            continue
        if state.acknowledged(row) and state.ack is not None:
            found[row.key] = Cover(state.ack)
        elif state.snoozed(now) and state.snooze is not None:
            found[row.key] = Cover(state.snooze)
    return found


def exit_code(
    states: Iterable[AccountState],
    rows: Iterable[Row],
    held: bool = False,
    covered: Mapping[Key, Cover] | None = None,
) -> int:
    """2 when an account could not be read; 1 for a problem nobody acknowledged or snoozed
    (or a held mass change); else 0. Pass no ``covered`` for the strict code."""
    if any(state is not AccountState.OK for state in states):
        return ExitCode.STALE
    open_problems = (r for r in rows if r.status.is_problem and r.key not in (covered or {}))
    if held or any(open_problems):
        return ExitCode.MISMATCH
    return ExitCode.OK


def local_time(moment: datetime | None) -> str:
    """Local time to the second, as a person reads a clock: ``2026-12-04 14:05:03``."""
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def age(since: datetime, now: datetime) -> str:
    """``40 s``, ``5 min``, ``3 h``, ``2 d``: how long a row has been stale."""
    seconds = max(0, int((now - since).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _num(value: Any) -> str | None:
    """A decimal string in plain notation: ``str(Decimal("8.5E-7"))`` would keep the exponent."""
    if value is None:
        return None
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def row_json(row: Row, cover: Cover | None = None) -> dict[str, Any]:
    shown = figures(row)  # computed figures rounded as the window shows them
    return {
        "account": row.account,
        "instrument": row.instrument,
        "broker_qty": _num(row.broker_qty),
        "local_qty": _num(row.local_qty),
        "broker_avg": _num(shown.broker_avg),
        "local_avg": _num(shown.local_avg),
        "last_price": _num(shown.last_price),
        "unrealised_pnl": _num(shown.unrealised_pnl),
        "realised_pnl": _num(shown.realised_pnl),
        "realised_estimated": row.realised_estimated,
        "status": row.status.value,
        "since": since_text(row.since),
        "hint": row.hint,
        "acknowledgement": cover.json if cover is not None else None,
        # The lines behind a summed quantity: Kite's MIS and NRML, a hedge mode's long and short leg.
        "broker_parts": [part.to_json() for part in row.broker_parts],
        "local_parts": [part.to_json() for part in row.local_parts],
    }


def event_json(event: Event) -> dict[str, Any]:
    data = event.to_json()
    data["at"] = iso(event.at)
    data["detail"] = plain_detail(event)
    return data


def account_json(
    account: str, state: AccountState, error: str | None, last_success: datetime | None
) -> dict[str, Any]:
    """``lease``: on a shared store, which daemon syncs the account and since when (``status``
    fills it in); null otherwise."""
    return {
        "id": account,
        "state": state.value,
        "error": error,
        "last_success_at": iso(last_success),
        "lease": None,
    }


def print_picture(
    synced_at: str | None,
    accounts: list[dict[str, Any]],
    rows: list[Row],
    events: list[Event],
    *,
    as_json: bool,
    covered: Mapping[Key, Cover] | None = None,
) -> None:
    """The picture ``sync --once`` and ``status`` print alike: JSON, or the table."""
    covered = covered or {}
    if as_json:
        payload = {
            "synced_at": synced_at,
            "accounts": accounts,
            "rows": [row_json(r, covered.get(r.key)) for r in rows],
            "events": [event_json(e) for e in events],
        }
        echo_json(payload)
    else:
        print_table(accounts, rows, events, covered)


def _account_line(account: Mapping[str, Any]) -> str:
    """``sim: stale — the sentence; last good sync 2026-12-04 14:05:03`` (a dash, not brackets:
    the sentence may carry brackets of its own)."""
    line = f"{account['id']}: {account['state']}"
    if account["error"]:
        line += f" — {account['error']}"
    last = account["last_success_at"]
    if last:
        line += f"; last good sync {local_time(datetime.fromisoformat(last))}"
    lease = account.get("lease")
    if lease:
        line += f"; synced by {lease['holder']} since {local_time(datetime.fromisoformat(lease['since']))}"
    return line


HEADER = (
    "ACCOUNT",
    "INSTRUMENT",
    "BROKER",
    "LOCAL",
    "DIFF",
    "BROKER AVG",
    "LOCAL AVG",
    "LAST",
    "UNREALISED",
    "REALISED",
    "STATUS",
    "HINT",
)
LEFT = {0, 1, 10}  # the text columns; the numbers are right-aligned


def _status(row: Row, cover: Cover | None, now: datetime) -> str:
    text = row.status.value
    if row.status is Status.STALE:
        text += f" {age(row.since, now)}"
        if row.previous_status is not None:
            text += f", was {row.previous_status.value}"
    if cover is not None:
        text += f", {cover.words}"
    return text


def _hint(row: Row, cover: Cover | None) -> str:
    note = f"note: {cover.record.note}" if cover is not None and cover.record.note else ""
    return "; ".join(part for part in (note, row.hint or "") if part)


def print_table(
    accounts: list[dict[str, Any]],
    rows: list[Row],
    events: list[Event],
    covered: Mapping[Key, Cover] | None = None,
    now: datetime | None = None,
) -> None:
    now = now or datetime.now(UTC)
    covered = covered or {}
    for account in accounts:
        echo(_account_line(account))
    if rows:
        echo()
        with collector_paused():  # a million cells, and lists of them: no cycles among them
            lines = _table_lines(rows, covered, now)
        echo_lines(lines)
    if events:
        echo()
        for event in events:
            echo(event_line(event))


def _table_lines(rows: list[Row], covered: Mapping[Key, Cover], now: datetime) -> list[str]:
    """The table's lines, built a column at a time: 100,000 rows print in well under a second.

    Cells are escaped before measuring, so the columns line up with what is printed; numbers
    need no escaping. Only a covered or stale row needs its status worked out one by one.
    """
    shown = [figures(r) for r in rows]
    columns: list[list[str]] = [
        [terminal_safe(r.account) for r in rows],
        [terminal_safe(instrument_label(r.instrument)) for r in rows],
        _plain_column([r.broker_qty for r in rows]),
        _plain_column([r.local_qty for r in rows]),
        [_plain(r.difference) if r.status.is_problem else "" for r in rows],
        *(_plain_column(list(column)) for column in zip(*shown, strict=True)),
    ]
    status: list[str] = []
    hints: list[str] = []
    for row in rows:
        cover = covered.get(row.key) if covered else None
        if cover is None and row.status is not Status.STALE:
            status.append(row.status.value)
            hints.append(terminal_safe(row.hint) if row.hint else "")
        else:
            status.append(terminal_safe(_status(row, cover, now)))
            hints.append(terminal_safe(_hint(row, cover)))
    columns.append(status)
    # One format per table, applied once per line (C-level padding), rather than a call per cell.
    fields = []
    for index, (title, cells) in enumerate(zip(HEADER, columns, strict=False)):
        width = max(len(title), max(map(len, cells)))
        fields.append(f"%-{width}s" if index in LEFT else f"%{width}s")
    line = "  ".join([*fields, "%s"])
    columns.append(hints)
    return [(line % HEADER).rstrip(), *[(line % cells).rstrip() for cells in zip(*columns, strict=True)]]


def _plain(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:,f}" if type(value) is Decimal or hasattr(value, "is_finite") else str(value)


def _plain_column(values: list[Any]) -> list[str]:
    """``_plain`` over a column, inline: a 100,000-row table has 700,000 numbers to write."""
    if all(type(v) is Decimal or v is None for v in values):
        return ["-" if v is None else f"{v:,f}" for v in values]
    return [_plain(v) for v in values]


def event_line(event: Event, *, local: bool = True) -> str:
    """One event as a line: local time for a person (the table, ``events``); ISO for the
    daemon's output, which is read by log collectors as much as by people."""
    where = f" {instrument_label(event.instrument)}" if event.instrument else ""
    at = local_time(event.at) if local else iso(event.at)
    return f"{at} {event.account}{where} {event.kind.value}: {plain_detail(event)}"
