"""The local database: every sync, row, event and closed position, for offline viewing."""

from position_sync.app.store.engine import StoreError
from position_sync.app.store.repository import AccountStatus, HistoryPoint, Store, StoredEvent

__all__ = ["AccountStatus", "HistoryPoint", "Store", "StoreError", "StoredEvent"]
