"""The wiring: settings in, a runtime out, with the adapters the registry builds.

It sits above the core, the adapters and the window, because it is the one place that needs
all of them by name: the command line and the window are handed ``build_runtime`` from here,
so the window never reaches past the registry and the core never reaches an adapter.
"""

from __future__ import annotations

from pathlib import Path

from position_sync.app.broker import AdapterContext, BrokerAdapter
from position_sync.app.config import Settings
from position_sync.app.runtime import Runtime, build_books, open_claimed_store
from position_sync.app.secrets import Secrets
from position_sync.app.store import Store
from position_sync.app.store.identity import refuse_store_on_book
from position_sync.app.sync import Clock, SyncWorker, utcnow
from position_sync.app.team.leases import LeaseKeeper
from position_sync.brokers.registry import create_adapter


def build_adapters(settings: Settings, context: AdapterContext) -> dict[str, BrokerAdapter]:
    """The enabled accounts' adapters, all on ``context``: one runtime's, sharing what it holds."""
    return {a.id: create_adapter(a, context) for a in settings.accounts if a.enabled}


def build_runtime(
    settings: Settings,
    data_dir: Path,
    *,
    secrets: Secrets | None = None,
    clock: Clock = utcnow,
    purpose: str = "position-sync",
    wait: float = 0.0,
) -> Runtime:
    """Raises ``ConfigError`` or ``StoreError`` with one sentence; nothing is fetched yet.

    The runtime syncs, so it owns its store first (on a shared store: the accounts it leases) (``StoreBusy`` when another process does,
    after waiting up to ``wait`` seconds); ``purpose`` ("daemon", "window") names this process
    in the sentence a second one gets. The store's memory is loaded only after that.
    """
    url = Store.url_for(data_dir, settings.store_url)
    if settings.store_url is None:
        refuse_store_on_book(url, settings.books, settings.path, field=None)
    secrets = secrets or Secrets()
    books = build_books(settings, secrets)
    context = AdapterContext(data_dir=data_dir, secrets=secrets)
    adapters = build_adapters(settings, context)
    store, claim = open_claimed_store(settings, url, purpose, wait)
    leases = (
        LeaseKeeper(url, [a.id for a in settings.accounts if a.enabled], settings.team.lease_seconds, purpose)
        if settings.team.shared
        else None
    )
    worker = SyncWorker(settings, store, adapters, books, clock=clock, leases=leases)
    return Runtime(settings, data_dir, store, worker, books, claim, adapter_context=context)
