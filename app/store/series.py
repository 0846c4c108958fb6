"""Time series for the history charts, read from the store so they work offline.

Problem counts come from ``sync_runs`` (every sync, headless ones included). Gross exposure and
unrealised P&L need prices, which ``row_history`` does not keep: ``Store.save`` records them in
``sync_metrics`` in the sync's own transaction whenever they changed (see ``app.store.metrics``),
so a headless daemon records them too and a point holds until the next one. A row's broker and
local quantities over time come from ``row_history``. Times are epoch seconds (UTC), as
pyqtgraph's date axis expects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from position_sync.app.domain import Event, EventKind
from position_sync.app.store.codec import from_iso, iso
from position_sync.app.store.metrics import Metrics, metrics_of
from position_sync.app.store.models import events, row_history, sync_metrics, sync_runs
from position_sync.app.store.repository import Store

__all__ = [
    "AccountSeries",
    "Metrics",
    "QuantitySeries",
    "Series",
    "account_series",
    "metrics_of",
    "quantity_series",
    "row_events",
    "steps",
]


@dataclass(frozen=True)
class Series:
    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.times)


@dataclass(frozen=True)
class AccountSeries:
    account: str
    problems: Series
    gross_exposure: Series
    unrealised_pnl: Series


@dataclass(frozen=True)
class QuantitySeries:
    account: str
    instrument: str
    times: list[float]
    broker: list[float]
    local: list[float]
    statuses: list[str]


def _epoch(text: str | None) -> float:
    moment = from_iso(text)
    return moment.timestamp() if moment else 0.0


def account_series(
    store: Store, account: str, since: datetime | None = None, limit: int = 50_000
) -> AccountSeries:
    """The newest ``limit`` points of each series, oldest first."""
    runs = (
        select(sync_runs.c.finished_at, sync_runs.c.problems)
        .where(sync_runs.c.account == account)
        .order_by(sync_runs.c.id.desc())
        .limit(limit)
    )
    metrics = (
        select(sync_metrics.c.at, sync_metrics.c.gross_exposure, sync_metrics.c.unrealised_pnl)
        .where(sync_metrics.c.account == account)
        .order_by(sync_metrics.c.sync_run_id.desc())
        .limit(limit)
    )
    if since is not None:
        runs = runs.where(sync_runs.c.finished_at >= iso(since))
        metrics = metrics.where(sync_metrics.c.at >= iso(since))
    with store.engine.connect() as connection:
        run_rows = list(connection.execute(runs))[::-1]
        metric_rows = list(connection.execute(metrics))[::-1]
    problems = Series([_epoch(r.finished_at) for r in run_rows], [float(r.problems) for r in run_rows])
    times = [_epoch(r.at) for r in metric_rows]
    exposure = Series(times, [float(Decimal(r.gross_exposure)) for r in metric_rows])
    unrealised = Series(list(times), [float(Decimal(r.unrealised_pnl)) for r in metric_rows])
    return AccountSeries(account, problems, exposure, unrealised)


def quantity_series(store: Store, account: str, instrument: str) -> QuantitySeries:
    """Broker and local quantity at every material change of one row (absent side: 0)."""
    query = (
        select(row_history.c.at, row_history.c.status, row_history.c.broker_qty, row_history.c.local_qty)
        .where(row_history.c.account == account, row_history.c.instrument == instrument)
        .order_by(row_history.c.id)
    )
    with store.engine.connect() as connection:
        records = list(connection.execute(query))
    return QuantitySeries(
        account,
        instrument,
        [_epoch(r.at) for r in records],
        [float(Decimal(r.broker_qty)) if r.broker_qty is not None else 0.0 for r in records],
        [float(Decimal(r.local_qty)) if r.local_qty is not None else 0.0 for r in records],
        [r.status for r in records],
    )


def steps(
    times: list[float], values: list[float], until: float | None = None
) -> tuple[list[float], list[float]]:
    """A step line's vertices: each value holds until the next change (and up to ``until``)."""
    xs: list[float] = []
    ys: list[float] = []
    for index, (time, value) in enumerate(zip(times, values, strict=True)):
        if index:
            xs.append(time)
            ys.append(ys[-1])
        xs.append(time)
        ys.append(value)
    if xs and until is not None and until > xs[-1]:
        xs.append(until)
        ys.append(ys[-1])
    return xs, ys


def row_events(store: Store, account: str, instrument: str, limit: int = 500) -> list[Event]:
    """The newest ``limit`` events of one row, oldest first: the row's side of the event log."""
    query = (
        select(events)
        .where(events.c.account == account, events.c.instrument == instrument)
        .order_by(events.c.id.desc())
        .limit(limit)
    )
    with store.engine.connect() as connection:
        records = list(connection.execute(query))[::-1]
    result = []
    for record in records:
        at = from_iso(record.at)
        assert at is not None
        data = json.loads(record.data) if record.data else {}
        result.append(
            Event(at, record.account, EventKind(record.kind), record.instrument, record.detail, data)
        )
    return result
