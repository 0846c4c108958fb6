"""The database's roles for a shared store: who may write what is the server's decision.

Three roles, created (or brought up to date) by ``position-sync store init-roles``:

- ``position_sync_daemon``: writes sync results (rows, events, history, archive, account
  state, leases) and takes resync requests;
- ``position_sync_operator``: writes acknowledgements, snoozes, notes, book-fix records, the
  audit trail and resync requests; cannot touch a sync result;
- ``position_sync_viewer``: reads, and nothing else; its sessions are read-only by default too.

All three may log in; the administrator gives each a password (``ALTER ROLE … PASSWORD``) or
grants them to personal logins. The audit trail is append-only for everyone but the tables'
owner: nobody is granted UPDATE or DELETE on it. Granting again after ``store upgrade`` gives
new tables the same rights.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

DAEMON = "position_sync_daemon"
OPERATOR = "position_sync_operator"
VIEWER = "position_sync_viewer"
ROLES = (DAEMON, OPERATOR, VIEWER)

# Table -> the rights beyond SELECT each writing role has on it.
DAEMON_WRITES = {
    "rows": "INSERT, UPDATE, DELETE",
    "row_history": "INSERT",
    "events": "INSERT",
    "closed_positions": "INSERT",
    "account_state": "INSERT, UPDATE",
    "sync_runs": "INSERT",
    "sync_metrics": "INSERT",
    "account_leases": "INSERT, UPDATE, DELETE",
    "sync_requests": "UPDATE",
}
OPERATOR_WRITES = {
    "acknowledgements": "INSERT",
    "audit_log": "INSERT",
    "sync_requests": "INSERT",
    "book_fixes": "INSERT, UPDATE",
    "events": "INSERT",  # a book fix is announced as an event
}


def role_statements(schema: str) -> list[str]:
    """The SQL, in order, that creates the roles if missing and grants exactly their rights."""
    quoted = f'"{schema}"'
    statements = []
    for role in ROLES:
        statements.append(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
            f"CREATE ROLE {role} LOGIN; END IF; END $$"
        )
        statements.append(f"GRANT USAGE ON SCHEMA {quoted} TO {role}")
        statements.append(f"REVOKE ALL ON ALL TABLES IN SCHEMA {quoted} FROM {role}")
        statements.append(f"GRANT SELECT ON ALL TABLES IN SCHEMA {quoted} TO {role}")
    for role, writes in ((DAEMON, DAEMON_WRITES), (OPERATOR, OPERATOR_WRITES)):
        for table, rights in writes.items():
            statements.append(f"GRANT {rights} ON {quoted}.{table} TO {role}")
        statements.append(f"GRANT USAGE ON ALL SEQUENCES IN SCHEMA {quoted} TO {role}")
    statements.append(f"ALTER ROLE {VIEWER} SET default_transaction_read_only = on")
    return statements


def init_roles(connection: Connection) -> list[str]:
    """Create or update the three roles on the store ``connection`` is on; the roles' names."""
    schema = connection.execute(text("SELECT current_schema()")).scalar() or "public"
    for statement in role_statements(schema):
        connection.execute(text(statement))
    return list(ROLES)


def roles_exist(connection: Connection) -> bool:
    found = connection.execute(
        text("SELECT count(*) FROM pg_roles WHERE rolname = ANY(:r)"), {"r": list(ROLES)}
    )
    return int(found.scalar_one()) == len(ROLES)
