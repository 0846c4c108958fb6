"""One account's figures at one good sync, for the history charts: exposure and unrealised P&L.

``row_history`` keeps quantities but no prices, so these two series are recorded as figures of
their own. The store records them inside the sync's own transaction (``Store.save``), on the
worker's store thread, so a headless daemon fills the charts just as the window does and the
store has a single writer. A point is written only when a figure changed since the account's
last point: a quiet night of syncs every minute adds nothing, and a chart draws each point as
holding until the next one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, select

from position_sync.app.domain import ZERO, Row, Status
from position_sync.app.store.codec import iso
from position_sync.app.store.models import sync_metrics


@dataclass(frozen=True)
class Metrics:
    rows: int
    problems: int
    gross_exposure: Decimal
    unrealised_pnl: Decimal

    @property
    def point(self) -> tuple[Decimal, Decimal]:
        """What a chart draws: a new point is written only when this changed."""
        return (self.gross_exposure, self.unrealised_pnl)


def metrics_of(rows: Iterable[Row]) -> Metrics:
    """One account's figures at one sync: open rows' exposure, summed unrealised P&L."""
    count = problems = 0
    exposure = unrealised = ZERO
    for row in rows:
        count += 1
        status = row.effective_status
        if status.is_problem:
            problems += 1
        if status is not Status.CLOSED:
            exposure += row.exposure
        if row.unrealised_pnl is not None:
            unrealised += row.unrealised_pnl
    return Metrics(count, problems, exposure, unrealised)


def last_point(connection: Connection, account: str) -> tuple[Decimal, Decimal] | None:
    """The account's newest recorded point (the first save after a start has no cached one)."""
    record = connection.execute(
        select(sync_metrics.c.gross_exposure, sync_metrics.c.unrealised_pnl)
        .where(sync_metrics.c.account == account)
        .order_by(sync_metrics.c.at.desc(), sync_metrics.c.sync_run_id.desc())
        .limit(1)
    ).first()
    if record is None:
        return None
    return (Decimal(record.gross_exposure), Decimal(record.unrealised_pnl))


def metrics_record(account: str, run_id: int, at: datetime, metrics: Metrics) -> dict[str, Any]:
    return {
        "sync_run_id": run_id,
        "account": account,
        "at": iso(at),
        "rows": metrics.rows,
        "problems": metrics.problems,
        "gross_exposure": str(metrics.gross_exposure),
        "unrealised_pnl": str(metrics.unrealised_pnl),
    }
