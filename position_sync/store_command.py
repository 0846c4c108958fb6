"""``position-sync store upgrade|init-roles``: what only an administrator does to a shared store.

A shared PostgreSQL store is never migrated behind the backs of the daemons and desktops using
it (``app.store.engine.migrate``): ``store upgrade`` is the one way, run when every process can
follow. ``store init-roles`` creates the daemon, operator and viewer roles (``app.team.roles``).
Both need a connection with the rights to do so (the tables' owner, a superuser).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from position_sync.app.exit_codes import ExitCode
from position_sync.app.terminal import echo

if TYPE_CHECKING:
    from position_sync.app.config import Settings


def add_store_parser(sub: Any) -> None:
    parser = sub.add_parser("store", help="administer a shared store: upgrade its schema, create its roles")
    actions = parser.add_subparsers(dest="store_action", metavar="ACTION", required=True)
    actions.add_parser(
        "upgrade",
        help="migrate the store to this version's schema (a shared store is never migrated otherwise)",
    )
    actions.add_parser(
        "init-roles",
        help="create or update the PostgreSQL roles position_sync_daemon, _operator and _viewer and their rights",
    )


def cmd_store(settings: Settings, data_dir: Path, args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from position_sync.app.store import Store, StoreError
    from position_sync.app.store.engine import stored_revision
    from position_sync.app.team import roles

    store = Store(Store.url_for(data_dir, settings.store_url), upgrade=args.store_action == "upgrade")
    where = store.engine.url.render_as_string(hide_password=True)
    try:
        if store.engine.dialect.name != "postgresql":
            if args.store_action == "init-roles":
                raise StoreError(f"the store at {where} is not PostgreSQL: roles are a database server's")
            echo(f"the store at {where} is at schema revision {stored_revision(store.engine)}")
            return ExitCode.OK
        try:
            with store.engine.begin() as connection:
                if args.store_action == "init-roles" or roles.roles_exist(connection):
                    made = roles.init_roles(connection)
                    echo(f"roles {', '.join(made)} have their rights on {where}")
        except SQLAlchemyError as exc:
            cause = " ".join(str(getattr(exc, "orig", None) or exc).split("\n", 1)[0].split())
            raise StoreError(f"the roles on {where} could not be set up: {cause}") from None
        if args.store_action == "upgrade":
            echo(f"the store at {where} is at schema revision {stored_revision(store.engine)}")
    finally:
        store.close()
    return ExitCode.OK
