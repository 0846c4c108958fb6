"""Saving a 10,000-row picture with ``Store.save``.

Two cases, each the median of several runs in a fresh SQLite file (WAL, synchronous=NORMAL). As
the sync worker does, every save is handed the rows saved before it (``previous``), which the
store compares against:

* nothing changed: the picture just saved is saved again. Goal: under 10 ms. Timed twice: with
  the very same Row objects (what reconcile hands back for an unchanged row) and with equal
  copies (what a reconcile that rebuilds every row would hand back).
* every row changed: each row's quantity changes, so every current row is upserted and every row
  gets a history record. Goal: at most 2x the floor, measured in the same run: plain ``sqlite3``
  doing the same writes (one sync_runs insert, the same upserts of current rows, the same history
  inserts, the account_state upsert, one transaction) into an identical schema, including turning
  the rows into parameter tuples, which any store has to do.

Prints figures; asserts nothing about time.
"""

from __future__ import annotations

import copy
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from position_sync.app.domain import Part, Row, Status
from position_sync.app.reconcile import AccountMemory, Outcome
from position_sync.app.store import Store
from position_sync.app.store.codec import iso
from position_sync.app.store.models import current_rows
from position_sync.app.store.repository import DB_NAME

N = 10_000
ACCOUNT = "bench"
T0 = datetime(2026, 11, 21, 9, 15, tzinfo=UTC)


def picture(n: int, quantity_offset: int = 0) -> dict[str, Row]:
    rows = {}
    for i in range(n):
        key = f"NSE:SYM{i:05d}"
        qty = Decimal(i % 500 + 1 + quantity_offset)
        price = Decimal(f"{100 + i % 997}.{i % 100:02d}")
        rows[key] = Row(
            account=ACCOUNT,
            instrument=key,
            status=Status.MATCH,
            since=T0,
            broker_qty=qty,
            local_qty=qty,
            broker_avg=price,
            local_avg=price,
            last_price=price + 1,
            unrealised_pnl=qty,
            currency="INR",
            broker_parts=(Part("NRML", qty, price),),
            local_parts=(Part("entry 1", qty, price),),
        )
    return rows


def outcome(rows: dict[str, Row], at: datetime) -> Outcome:
    memory = AccountMemory(ACCOUNT, rows=rows, last_success_at=at, book_fingerprint="fp", initialised=True)
    return Outcome(rows, [], memory)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def time_once(function: Callable[[], Any]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def bench_unchanged(directory: Path, repeat: int) -> tuple[list[float], list[float]]:
    store = Store.open(directory)
    a = picture(N)
    at = T0
    store.save(ACCOUNT, outcome(a, at), at, at, previous={})
    history = store.count_history()
    same: list[float] = []
    equal: list[float] = []
    for _ in range(repeat):
        at += timedelta(seconds=1)
        same.append(time_once(partial(store.save, ACCOUNT, outcome(a, at), at, at, previous=a)))
        copies = {k: copy.copy(r) for k, r in a.items()}
        at += timedelta(seconds=1)
        equal.append(time_once(partial(store.save, ACCOUNT, outcome(copies, at), at, at, previous=a)))
    assert store.count_history() == history  # nothing changed: no history written
    store.close()
    return same, equal


# -- the floor: plain sqlite3 ------------------------------------------------------------

ROW_COLUMNS = [c.name for c in current_rows.columns]
UPSERT = (
    f"INSERT INTO rows ({', '.join(ROW_COLUMNS)}) VALUES ({', '.join('?' for _ in ROW_COLUMNS)}) "
    "ON CONFLICT (account, instrument) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in ROW_COLUMNS if c not in ("account", "instrument"))
)
HISTORY = (
    "INSERT INTO row_history (account, instrument, at, sync_run_id, status, broker_qty, local_qty, "
    "broker_avg, local_avg, realised_pnl, hint) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
RUN = (
    "INSERT INTO sync_runs (account, started_at, finished_at, outcome, error, rows, problems, events) "
    "VALUES (?, ?, ?, 'ok', NULL, ?, 0, 0)"
)
STATE = (
    "INSERT INTO account_state (account, state, error, last_success_at, last_attempt_at, book_fingerprint, "
    "book_changed_at, held, initialised) VALUES (?, 'ok', NULL, ?, ?, 'fp', NULL, NULL, 1) "
    "ON CONFLICT (account) DO UPDATE SET state = excluded.state, error = excluded.error, "
    "last_success_at = excluded.last_success_at, last_attempt_at = excluded.last_attempt_at, "
    "book_fingerprint = excluded.book_fingerprint, book_changed_at = excluded.book_changed_at, "
    "held = excluded.held, initialised = excluded.initialised"
)


def _s(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _parts(parts: tuple[Part, ...]) -> str:
    return (
        "["
        + ",".join(f'{{"label":"{p[0]}","quantity":"{p[1]}","average_price":"{p[2]}"}}' for p in parts)
        + "]"
    )


def plain_save(connection: sqlite3.Connection, rows: dict[str, Row], at: datetime) -> None:
    stamp = iso(at)
    with connection:
        run_id = connection.execute(RUN, (ACCOUNT, stamp, stamp, len(rows))).lastrowid
        current = []
        history = []
        for r in rows.values():
            bq, lq, ba, la = _s(r.broker_qty), _s(r.local_qty), _s(r.broker_avg), _s(r.local_avg)
            current.append(
                (
                    r.account,
                    r.instrument,
                    r.status.value,
                    None,
                    iso(r.since),
                    bq,
                    lq,
                    ba,
                    la,
                    _s(r.last_price),
                    _s(r.unrealised_pnl),
                    _s(r.realised_pnl),
                    r.realised_estimated,
                    str(r.multiplier),
                    r.currency,
                    r.hint,
                    r.explained,
                    r.streak,
                    r.confirmed,
                    _parts(r.broker_parts),
                    _parts(r.local_parts),
                    stamp,
                )
            )
            history.append(
                (r.account, r.instrument, stamp, run_id, r.status.value, bq, lq, ba, la, None, None)
            )
        connection.executemany(UPSERT, current)
        connection.executemany(HISTORY, history)
        connection.execute(STATE, (ACCOUNT, stamp, stamp))


def open_plain(directory: Path) -> sqlite3.Connection:
    Store.open(directory).close()  # the identical schema, made by the same migrations
    connection = sqlite3.connect(directory / DB_NAME)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def bench_changed(root: Path, repeat: int) -> tuple[list[float], list[float]]:
    """Store.save and the plain floor in turns, so both see the same machine load."""
    store = Store.open(root / "changed-store")
    plain = open_plain(root / "changed-plain")
    pictures = [picture(N), picture(N, quantity_offset=1)]
    at = T0
    store.save(ACCOUNT, outcome(pictures[0], at), at, at, previous={})
    plain_save(plain, pictures[0], at)
    history = store.count_history()
    saved: list[float] = []
    floor: list[float] = []
    for i in range(1, repeat + 1):
        at += timedelta(seconds=1)
        rows, before = pictures[i % 2], pictures[(i - 1) % 2]
        saved.append(time_once(partial(store.save, ACCOUNT, outcome(rows, at), at, at, previous=before)))
        floor.append(time_once(partial(plain_save, plain, rows, at)))
    assert store.count_history() - history == repeat * N  # every row did get a history record
    store.close()
    plain.close()
    return saved, floor


def main(repeat: int = 15) -> None:
    with tempfile.TemporaryDirectory(prefix="position-sync-bench-") as temporary:
        root = Path(temporary)
        same, equal = bench_unchanged(root / "unchanged", repeat)
        saved, floor = bench_changed(root, repeat)
    print(f"rows per picture:                         {N:,}")
    print(f"runs per case (median):                   {repeat}")
    print(f"nothing changed, same Row objects:        {median_ms(same):8.2f} ms   goal < 10 ms")
    print(f"nothing changed, equal Row copies:        {median_ms(equal):8.2f} ms   goal < 10 ms")
    print(f"every row changed, Store.save:            {median_ms(saved):8.2f} ms")
    print(f"every row changed, plain sqlite3 floor:   {median_ms(floor):8.2f} ms")
    ratios = [a / b for a, b in zip(saved, floor, strict=True)]
    print(
        f"ratio Store.save / floor:                 {median_ms(saved) / median_ms(floor):8.2f}x   goal <= 2x"
        f"   (per-pair ratios {min(ratios):.2f}-{max(ratios):.2f}x)"
    )


if __name__ == "__main__":
    main()
