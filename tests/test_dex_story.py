"""The seed's story, end to end: sixteen positions, one empty answer, no sixteen deletions.

A trading system mirrored its Pacifica positions into its own PostgreSQL database and dashboard
API, saw one empty answer from Pacifica and deleted sixteen positions. Here the same empty answer
reaches the real runtime (the registry's adapter on the real ccxt client, the sync worker, the
store) with the system's own book beside it, read both ways it offers: the dashboard's
``GET /api/v1/positions`` (``side`` ASK/BID, ``amount`` unsigned) and its PostgreSQL table.

Rule 3 must hold the change (16 of 16); a second empty read confirms it (sixteen closes, their
P&L estimated); positions that come back instead leave nothing behind; a failed read in between
is stale and changes nothing. Hyperliquid, which omits closed positions the same way, is held
and confirmed alike.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from position_sync.app.config import parse_settings
from position_sync.app.domain import AccountState, EventKind, Status
from position_sync.app.runtime import Runtime
from position_sync.app.secrets import Secrets
from position_sync.app.sync import SyncResult
from position_sync.wiring import build_runtime
from tests.conftest import PG_PASSWORD_ENV, PG_URL, write_book
from tests.dex_helpers import HYPERLIQUID_WALLET, PACIFICA_WALLET
from tests.exchange_helpers import quick_reads
from tests.fakes import pacifica_server as pf
from tests.fakes.dex_rows import DEX_BASES, price_for
from tests.fakes.http_fake import FakeHttpServer, RecordedRequest, Reply, json_reply
from tests.fakes.hyperliquid_server import FakeHyperliquidServer
from tests.fakes.pacifica_server import FakePacificaServer

__all__ = ["quick_reads"]

ACCOUNT = "pacifica-main"
SIXTEEN = DEX_BASES[:16]
PERPS = {f"{base}/USDC:USDC" for base in SIXTEEN}
FIELDS = {"quantity": "amount", "side": "side", "average_price": "entry_price"}


def dashboard_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trading system's own picture of Pacifica rows: bare bases, ASK/BID, unsigned amounts."""
    return [
        {
            "symbol": row["symbol"],
            "side": row["side"].upper(),
            "amount": float(row["amount"]),
            "entry_price": float(row["entry_price"]),
        }
        for row in rows
    ]


class Dashboard(FakeHttpServer):
    """The trading system's dashboard API: ``GET /api/v1/positions`` -> ``{"positions": [...]}``."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__("dashboard", self._answer)
        self.rows = rows

    def _answer(self, request: RecordedRequest) -> Reply:
        if request.method != "GET" or request.path != "/api/v1/positions":
            return json_reply({"error": "not found"}, 404)
        return json_reply({"positions": self.rows, "generated_at": request.at})


@dataclass
class Story:
    runtime: Runtime
    pacifica: FakePacificaServer

    async def sync(self) -> SyncResult:
        return await self.runtime.worker.sync(ACCOUNT)

    def closes(self) -> list[str]:
        stored = self.runtime.store.events(account=ACCOUNT, kinds=[EventKind.CLOSED.value])
        return sorted(str(e.event.instrument) for e in stored)


def _runtime(tmp_path: Path, pacifica: FakePacificaServer, book: dict[str, Any]) -> Runtime:
    raw = {
        "books": [{"id": "bot", "fields": FIELDS, **book}],
        "accounts": [
            {
                "id": ACCOUNT,
                "broker": "pacifica",
                "book": "bot",
                "wallet_address": PACIFICA_WALLET,
                "api_root": pacifica.url,
                "timeout": 5,
                "settle_seconds": 0,
            }
        ],
    }
    settings = parse_settings(raw, tmp_path / "config.toml")
    # No secret for the exchange; the PostgreSQL book's password, as its config names it.
    secrets = Secrets(environ={PG_PASSWORD_ENV: os.environ.get(PG_PASSWORD_ENV, "postgres")})
    return build_runtime(settings, tmp_path / "data", secrets=secrets)


@pytest.fixture
def pacifica() -> Iterator[FakePacificaServer]:
    with FakePacificaServer(enforce_limit=False) as server:
        yield server


@pytest.fixture(params=["dashboard", "postgres"])
async def story(
    request: pytest.FixtureRequest, pacifica: FakePacificaServer, tmp_path: Path, quick_reads: None
) -> AsyncIterator[Story]:
    rows = pacifica.open_positions(PACIFICA_WALLET, 16)
    mirrored = dashboard_rows(rows)
    dashboard: Dashboard | None = None
    schema = ""
    admin: Engine | None = None
    if request.param == "dashboard":
        dashboard = Dashboard(mirrored)
        dashboard.start()
        book: dict[str, Any] = {"kind": "http", "url": f"{dashboard.url}/api/v1/positions"}
    else:
        admin = request.getfixturevalue("pg_admin")
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with admin.begin() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
            connection.execute(
                text(
                    f"CREATE TABLE {schema}.positions (id SERIAL PRIMARY KEY, symbol VARCHAR(20), "
                    "side VARCHAR(3), amount NUMERIC(18, 8), entry_price NUMERIC(18, 8))"
                )
            )
            for row in mirrored:
                connection.execute(
                    text(
                        f"INSERT INTO {schema}.positions (symbol, side, amount, entry_price) "
                        "VALUES (:symbol, :side, :amount, :entry_price)"
                    ),
                    row,
                )
        book = {"kind": "sql", "url": PG_URL, "table": f"{schema}.positions", "password_env": PG_PASSWORD_ENV}
    runtime = _runtime(tmp_path, pacifica, book)
    await runtime.worker.load()
    try:
        yield Story(runtime, pacifica)
    finally:
        await runtime.close()
        if dashboard is not None:
            dashboard.stop()
        if admin is not None:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def statuses(result: SyncResult) -> set[Status]:
    return {row.status for row in result.rows.values()}


def kinds(result: SyncResult) -> list[EventKind]:
    return [event.kind for event in result.events]


async def _sixteen_matched_then_held(story: Story) -> SyncResult:
    first = await story.sync()
    assert first.state is AccountState.OK, first.error
    assert set(first.rows) == PERPS, "the book's bare bases are the perpetuals, with no alias"
    assert statuses(first) == {Status.MATCH}
    story.pacifica.script_positions(story.pacifica.empty_positions(PACIFICA_WALLET))
    held = await story.sync()
    assert held.state is AccountState.OK and held.held is True
    assert kinds(held) == [EventKind.MASS_CHANGE_HELD]
    assert "16 of 16 positions" in held.events[0].detail
    assert statuses(held) == {Status.MATCH}, "nothing closed or turned phantom yet"
    assert story.closes() == []
    return first


async def test_one_empty_answer_is_held_and_a_second_confirms_sixteen_closes(story: Story) -> None:
    first = await _sixteen_matched_then_held(story)
    confirmed = await story.sync()
    assert confirmed.held is False
    closed = [e for e in confirmed.events if e.kind is EventKind.CLOSED]
    assert sorted(str(e.instrument) for e in closed) == sorted(PERPS)
    assert all("(estimated)" in e.detail for e in closed)
    assert statuses(confirmed) == {Status.PHANTOM}, "the book still holds them"
    for key, row in confirmed.rows.items():
        assert not row.broker_qty and row.realised_estimated is True
        before = first.rows[key]
        assert before.last_price is not None and before.broker_avg is not None
        expected = (before.last_price - before.broker_avg) * before.broker_qty  # type: ignore[operator]
        assert row.realised_pnl == expected
    assert story.closes() == sorted(PERPS), "the closes are in the store's history"


async def test_positions_back_at_the_next_read_leave_nothing_behind(story: Story) -> None:
    await _sixteen_matched_then_held(story)
    story.pacifica.script_positions(story.pacifica.positions_reply(PACIFICA_WALLET))
    back = await story.sync()
    assert back.state is AccountState.OK and back.held is False
    assert statuses(back) == {Status.MATCH}
    assert EventKind.CLOSED not in kinds(back) and EventKind.PHANTOM_DETECTED not in kinds(back)
    assert story.closes() == []


@pytest.mark.parametrize(
    "failure",
    [pf.failure("Internal server error", 500, 200), pf.server_error(503), pf.failure("Invalid account", 400)],
    ids=["success false", "503", "400"],
)
async def test_a_failed_read_in_between_is_stale_and_changes_nothing(story: Story, failure: Reply) -> None:
    await _sixteen_matched_then_held(story)
    story.pacifica.script_positions(failure)
    stale = await story.sync()
    assert stale.state is AccountState.STALE and "Pacifica" in (stale.error or "")
    assert statuses(stale) == {Status.STALE}
    assert kinds(stale) == [EventKind.SYNC_FAILED]
    story.pacifica.script_positions(story.pacifica.positions_reply(PACIFICA_WALLET))
    back = await story.sync()
    assert back.state is AccountState.OK and statuses(back) == {Status.MATCH}
    assert EventKind.CLOSED not in kinds(back)
    assert story.closes() == []


async def test_an_older_empty_answer_is_stale_not_a_mass_change(story: Story) -> None:
    first = await story.sync()
    assert statuses(first) == {Status.MATCH}
    older = story.pacifica.last_order_id(PACIFICA_WALLET) - 1
    story.pacifica.script_positions(pf.ok([], last_order_id=older))
    stale = await story.sync()
    assert stale.state is AccountState.STALE and "older than" in (stale.error or "")
    assert EventKind.MASS_CHANGE_HELD not in kinds(stale)


async def test_hyperliquid_omissions_are_held_then_confirmed(tmp_path: Path, quick_reads: None) -> None:
    with FakeHyperliquidServer(enforce_limit=False) as hyperliquid:
        rows = hyperliquid.open_positions(HYPERLIQUID_WALLET, 16)
        book = [
            {
                "symbol": row["position"]["coin"],
                "quantity": row["position"]["szi"],
                "average_price": price_for(row["position"]["coin"]),
            }
            for row in rows
        ]
        write_book(tmp_path / "book.json", book)
        raw = {
            "books": [{"id": "bot", "kind": "file", "path": "book.json"}],
            "accounts": [
                {
                    "id": "hl",
                    "broker": "hyperliquid",
                    "book": "bot",
                    "wallet_address": HYPERLIQUID_WALLET,
                    "api_root": hyperliquid.url,
                    "settle_seconds": 0,
                }
            ],
        }
        runtime = build_runtime(
            parse_settings(raw, tmp_path / "config.toml"), tmp_path / "data", secrets=Secrets({})
        )
        await runtime.worker.load()
        try:
            first = await runtime.worker.sync("hl")
            assert set(first.rows) == PERPS and statuses(first) == {Status.MATCH}
            hyperliquid.set_positions(HYPERLIQUID_WALLET, [])
            held = await runtime.worker.sync("hl")
            assert held.held is True and "16 of 16" in held.events[0].detail
            confirmed = await runtime.worker.sync("hl")
            closed = [e for e in confirmed.events if e.kind is EventKind.CLOSED]
            assert len(closed) == 16 and all("(estimated)" in e.detail for e in closed)
            assert {row.realised_pnl for row in confirmed.rows.values()} == {Decimal(0)}, (
                "the fake's marks equal the entries: an estimated P&L of zero"
            )
            assert hyperliquid.exchange_requests == []
        finally:
            await runtime.close()
