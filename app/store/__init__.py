"""The local database: every sync, row, event and closed position, for offline viewing."""

from app.store.engine import StoreError
from app.store.repository import AccountStatus, HistoryPoint, Store, StoredEvent

__all__ = ["AccountStatus", "HistoryPoint", "Store", "StoreError", "StoredEvent"]
