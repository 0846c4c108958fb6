"""Alembic environment: always handed an open connection by ``app.store.migrate``.

``fileConfig`` is left out on purpose so running migrations never replaces the app's loggers.
"""

from __future__ import annotations

from alembic import context

from position_sync.app.store.models import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
