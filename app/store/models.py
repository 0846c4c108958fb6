"""The tables, as SQLAlchemy Core metadata (the migrations create them; this names them).

Quantities and prices are stored as text so a ``Decimal`` comes back exactly as it went in on
SQLite and PostgreSQL alike; times are ISO 8601 text in UTC, which sorts as time does.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, Text

metadata = MetaData()

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(100), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("error", Text),
    Column("rows", Integer, nullable=False, default=0),
    Column("problems", Integer, nullable=False, default=0),
    Column("events", Integer, nullable=False, default=0),
    Column("synced_by", String(200)),  # migration 0006: the daemon, on a shared store
)

current_rows = Table(
    "rows",
    metadata,
    Column("account", String(100), primary_key=True),
    Column("instrument", String(200), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("previous_status", String(20)),
    Column("since", String(40), nullable=False),
    Column("broker_qty", String(50)),
    Column("local_qty", String(50)),
    Column("broker_avg", String(50)),
    Column("local_avg", String(50)),
    Column("last_price", String(50)),
    Column("unrealised_pnl", String(50)),
    Column("realised_pnl", String(50)),
    Column("realised_estimated", Boolean, nullable=False, default=False),
    Column("multiplier", String(50), nullable=False, default="1"),
    Column("currency", String(10)),
    Column("hint", Text),
    Column("explained", Boolean, nullable=False, default=False),
    Column("streak", Integer, nullable=False, default=0),
    Column("confirmed", Boolean, nullable=False, default=False),
    Column("broker_parts", Text),
    Column("local_parts", Text),
    Column("updated_at", String(40), nullable=False),
)

row_history = Table(
    "row_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(100), nullable=False),
    Column("instrument", String(200), nullable=False),
    Column("at", String(40), nullable=False),
    Column("sync_run_id", Integer),
    Column("status", String(20), nullable=False),
    Column("broker_qty", String(50)),
    Column("local_qty", String(50)),
    Column("broker_avg", String(50)),
    Column("local_avg", String(50)),
    Column("realised_pnl", String(50)),
    Column("hint", Text),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("account", String(100), nullable=False),
    Column("instrument", String(200)),
    Column("kind", String(30), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("data", Text),
    Column("sync_run_id", Integer),
)

closed_positions = Table(
    "closed_positions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(100), nullable=False),
    Column("instrument", String(200), nullable=False),
    Column("closed_at", String(40), nullable=False),
    Column("quantity", String(50), nullable=False),
    Column("average_price", String(50)),
    Column("realised_pnl", String(50)),
    Column("estimated", Boolean, nullable=False, default=False),
)

account_state = Table(
    "account_state",
    metadata,
    Column("account", String(100), primary_key=True),
    Column("state", String(20), nullable=False),
    Column("error", Text),
    Column("last_success_at", String(40)),
    Column("last_attempt_at", String(40)),
    Column("book_fingerprint", String(100)),
    Column("book_changed_at", String(40)),
    Column("held", Text),
    Column("initialised", Boolean, nullable=False, default=False),
    Column("learned_aliases", Text),
    # migration 0006: grows with every save (what a viewer has seen); the broker, for its label
    Column("revision", Integer, nullable=False, default=0),
    Column("broker", String(40)),
)

# Acknowledgements and snoozes (migration 0003): the user's word on a mismatch, kept so it
# survives restarts and shows in the row's history. ``fingerprint`` is the row's material state
# when acknowledged: the acknowledgement covers the row only while that state holds.
acknowledgements = Table(
    "acknowledgements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(100), nullable=False),
    Column("instrument", String(200), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("at", String(40), nullable=False),
    Column("until", String(40)),
    Column("note", Text, nullable=False, default=""),
    Column("status", String(20)),
    Column("fingerprint", Text),
    Column("by", String(100)),  # migration 0005: the user who wrote the record
)

# Per-sync figures of one account for the history charts (migration 0003): gross exposure and
# unrealised P&L cannot be rebuilt from row_history, which keeps no prices.
sync_metrics = Table(
    "sync_metrics",
    metadata,
    Column("sync_run_id", Integer, primary_key=True),
    Column("account", String(100), nullable=False),
    Column("at", String(40), nullable=False),
    Column("rows", Integer, nullable=False, default=0),
    Column("problems", Integer, nullable=False, default=0),
    Column("gross_exposure", String(50), nullable=False),
    Column("unrealised_pnl", String(50), nullable=False),
)

book_fixes = Table(
    "book_fixes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("account", String(100), nullable=False),
    Column("instrument", String(200), nullable=False),
    Column("book", String(100), nullable=False),
    Column("action", String(20), nullable=False),
    Column("writes", Text, nullable=False),
    Column("undone_at", String(40)),
)

# Team mode (migration 0006). Which daemon syncs an account: taken when free or expired, renewed
# by a heartbeat; ``renewed_at`` and ``expires_at`` are the database's clock (epoch seconds), so
# daemons on machines whose clocks differ agree; ``backend_pid`` is the holder's lease session,
# gone when the holder dies, which frees the lease before it expires.
account_leases = Table(
    "account_leases",
    metadata,
    Column("account", String(100), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("token", String(64), nullable=False),
    Column("backend_pid", Integer),
    Column("since", String(40), nullable=False),
    Column("renewed_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

# A viewer's "resync now": the daemon holding the account takes it (``taken_at``) and syncs.
sync_requests = Table(
    "sync_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(100), nullable=False),
    Column("requested_at", String(40), nullable=False),
    Column("by", String(100)),
    Column("taken_at", String(40)),
    Column("taken_by", String(200)),
)

# Append-only: who did what to a row, with the state before and after (JSON).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("by", String(100)),
    Column("action", String(20), nullable=False),
    Column("account", String(100), nullable=False),
    Column("instrument", String(200)),
    Column("before", Text),
    Column("after", Text),
)
