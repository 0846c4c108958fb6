"""What the fake Bybit answers on its read endpoints, as pure functions of its state and the request.

Kept apart from the HTTP plumbing so the rules Bybit applies are in one place: which rows a
query selects (``settleCoin``, ``symbol``, ``status``, the 7-day window of closed P&L), the
defaults and bounds of ``limit`` (20/200 positions, 500/1000 instruments, 50/100 closes), and
the ``nextPageCursor`` each endpoint hands back (positions give one after every non-empty page,
the last included; instruments give "" on the last page; spot has no paging at all).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from tests.fakes.bybit_replies import Reply, ok, params_error

Rows = list[dict[str, Any]]
WEEK_MS = 7 * 86_400_000


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    at: float
    body: bytes = b""
    raw_query: str = ""

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


def _decoded(value: str) -> str:
    """A cursor arrives quoted once or twice (ccxt re-encodes what Bybit gave it); undo both."""
    previous = None
    while previous != value:
        previous, value = value, unquote(value)
    return value


def _page(rows: Rows, start: int, limit: int) -> Rows:
    return [dict(row) for row in rows[start : start + limit]]


def _limit(raw: str | None, default: int, maximum: int) -> int | None:
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= maximum:
        return None
    return int(raw)


def _is_flat(row: Mapping[str, Any]) -> bool:
    return str(row.get("size", "0")).strip("0.") == ""


def _settle_guess(row: Mapping[str, Any]) -> str:
    """For a position whose instrument the fake was not given: USDC perpetuals end in PERP."""
    symbol = str(row.get("symbol", ""))
    return "USDC" if symbol.endswith(("PERP", "USDC")) else "USDT"


def instruments(by_category: Mapping[str, Rows], record: RecordedRequest) -> Reply:
    category = record.param("category") or ""
    if category not in ("spot", "linear", "inverse", "option"):
        return params_error("Illegal category")
    rows = by_category.get(category, [])
    status = record.param("status")
    if status:
        rows = [r for r in rows if r.get("status") == status]
    elif category != "option":  # options answer PreLaunch, Trading and Delivering by default
        rows = [r for r in rows if r.get("status") == "Trading"]
    for name in ("symbol", "baseCoin"):
        wanted = record.param(name)
        if wanted:
            rows = [r for r in rows if r.get(name) == wanted]
    if category == "spot":  # no paging: limit and cursor are ignored
        return ok({"category": category, "list": [dict(r) for r in rows]})
    limit = _limit(record.param("limit"), 500, 1000)
    if limit is None:
        return params_error("limit must be between 1 and 1000")
    start = 0
    cursor = record.param("cursor")
    if cursor:
        fields = dict(part.split("=", 1) for part in _decoded(cursor).split("&") if "=" in part)
        symbols = [r.get("symbol") for r in rows]
        if fields.get("last") not in symbols:
            return params_error("Illegal cursor")
        start = symbols.index(fields["last"]) + 1
    page = _page(rows, start, limit)
    more = start + len(page) < len(rows)
    next_cursor = (
        quote(f"first={page[0]['symbol']}&last={page[-1]['symbol']}", safe="") if page and more else ""
    )
    return ok({"category": category, "list": page, "nextPageCursor": next_cursor})


def positions(
    by_category: Mapping[str, Rows],
    instruments_by_category: Mapping[str, Rows],
    flat_rows_in_lists: bool,
    record: RecordedRequest,
) -> Reply:
    category = record.param("category") or ""
    if category not in ("linear", "inverse", "option"):
        return params_error("Illegal category")
    symbol, settle = record.param("symbol"), record.param("settleCoin")
    if category == "linear" and not symbol and not settle:
        return params_error("Missing some parameters that must be filled in, symbol or settleCoin")
    rows = by_category.get(category, [])
    if symbol:  # with a symbol Bybit answers the row whatever its size
        rows = [r for r in rows if r.get("symbol") == symbol]
    else:
        if settle:
            settles = {i["symbol"]: i.get("settleCoin") for i in instruments_by_category.get(category, [])}
            rows = [r for r in rows if settles.get(r.get("symbol"), _settle_guess(r)) == settle]
        if not flat_rows_in_lists:
            rows = [r for r in rows if not _is_flat(r)]
    limit = _limit(record.param("limit"), 20, 200)
    if limit is None:
        return params_error("limit must be between 1 and 200")
    start = 0
    cursor = record.param("cursor")
    if cursor:
        tail = _decoded(cursor).rsplit(",", 1)[-1]
        if not tail.isdigit():
            return params_error("Illegal cursor")
        start = int(tail)
    page = _page(rows, start, limit)
    next_cursor = ""
    if page:
        last = page[-1]
        next_cursor = quote(f"{last.get('symbol')},{last.get('updatedTime')},{start + len(page)}", safe="")
    return ok({"list": page, "nextPageCursor": next_cursor, "category": category})


def closed_pnl(by_category: Mapping[str, Rows], now_ms: int, record: RecordedRequest) -> Reply:
    category = record.param("category") or ""
    if category not in ("linear", "inverse"):
        return params_error("Illegal category")
    end = int(record.param("endTime") or now_ms)
    start_time = int(record.param("startTime") or end - WEEK_MS)
    if end - start_time > WEEK_MS:
        return params_error("The time range between startTime and endTime cannot exceed 7 days")
    symbol = record.param("symbol")
    rows = [
        r
        for r in by_category.get(category, [])
        if (not symbol or r.get("symbol") == symbol) and start_time <= int(r.get("updatedTime", 0)) <= end
    ]
    rows.sort(key=lambda r: int(r.get("updatedTime", 0)), reverse=True)
    limit = _limit(record.param("limit"), 50, 100)
    if limit is None:
        return params_error("limit must be between 1 and 100")
    start = 0
    cursor = record.param("cursor")
    if cursor:
        order_id = _decoded(cursor).split(",")[0].split(":")[0]
        ids = [r.get("orderId") for r in rows]
        if order_id not in ids:
            return params_error("Illegal cursor")
        start = ids.index(order_id) + 1
    page = _page(rows, start, limit)
    next_cursor = ""
    if page:
        first, last = page[0], page[-1]
        next_cursor = quote(
            f"{last['orderId']}:{last['updatedTime']},{first['orderId']}:{first['updatedTime']}", safe=""
        )
    return ok({"nextPageCursor": next_cursor, "category": category, "list": page})


def wallet_balance(accounts: Iterable[Mapping[str, Any]], record: RecordedRequest) -> Reply:
    account_type = record.param("accountType")
    if not account_type:
        return params_error("accountType is required")
    if account_type != "UNIFIED":
        return params_error("accountType only support UNIFIED.")
    coins = {c for c in (record.param("coin") or "").split(",") if c}
    answered = []
    for account in accounts:
        kept = [dict(c) for c in account.get("coin", []) if not coins or c.get("coin") in coins]
        answered.append({**account, "coin": kept})
    return ok({"list": answered})


def coin_info(rows: Iterable[Mapping[str, Any]], record: RecordedRequest) -> Reply:
    coin = record.param("coin")
    return ok({"rows": [dict(r) for r in rows if not coin or r.get("coin") == coin]}, message="success")
