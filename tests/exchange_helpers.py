"""What the exchange adapters' tests share: an account on a fake exchange, its context, a read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig
from position_sync.app.secrets import Secrets
from position_sync.brokers import ccxt_session

SECRET_VARIABLE = "EXCHANGE_TEST_SECRET"


def exchange_account(
    broker: str, url: str, api_key: str, *, account_id: str = "ex1", market: str | None = None, **options: Any
) -> AccountConfig:
    return AccountConfig(
        id=account_id,
        broker=broker,
        book="book",
        timeout=5.0,
        market=market,
        options={"api_key": api_key, "api_secret_env": SECRET_VARIABLE, "api_root": url, **options},
    )


def exchange_context(data_dir: Path, secret: str) -> AdapterContext:
    return AdapterContext(data_dir=data_dir, secrets=Secrets({SECRET_VARIABLE: secret}))


@pytest.fixture
def quick_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Reads back to back: the one-a-second spacing for a pressed resync is tested on its own."""
    monkeypatch.setattr(ccxt_session, "MIN_SECONDS_BETWEEN_READS", 0.0)
    yield
