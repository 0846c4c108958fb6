"""Pacifica perpetuals by wallet address, through ccxt's ``pacifica`` client.

Positions come from ``GET /api/v1/positions?account=WALLET`` read raw: ``amount`` is unsigned and
``side`` gives its sign (``bid`` long, ``ask`` short); a closed position is simply absent. Mark
prices come from ``GET /api/v1/info/prices`` and the unrealised P&L is computed from them; the
row's ``funding`` and ``liquidation_price`` go into the line's breakdown label.

ccxt's unified ``fetch_positions`` returns an empty list for an envelope with ``success: false``
and no code, for one without ``data`` or with ``data: null``, and for a 200 that is not JSON: each
would read as an account with nothing open, the very answer that once made a trading system
delete sixteen positions. So the envelope is checked here: only ``success: true`` with a list in
``data`` is an answer, and ``last_order_id`` orders the answers: one older than the newest seen
(a lagging replica, a cache) is a failed read, never newer truth. The newest id is kept on disk,
so a ``sync --once`` from cron compares with the last run's.

Only the three GETs in ``READS`` ever leave; none carries a body (Pacifica's CDN refuses a GET
with one). Credits: Pacifica allows 100 a rolling minute per IP without an API config key and
300 with one (sent as ``PF-API-KEY``; it raises the limit and signs nothing). ccxt's throttle is
set to the same rolling minute at 80 % of that, the prices are asked at most every few seconds,
so resync pressed as fast as the one-read-a-second floor allows stays inside, and the
``ratelimit`` header's remaining credits, or a 429, hold every request back until the window
refreshes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from position_sync.app.broker import AdapterContext, BrokerSpec
from position_sync.app.config import AccountConfig
from position_sync.app.domain import ZERO, Position, normal
from position_sync.app.errors import ReadError, ReadErrorKind
from position_sync.app.options import Option
from position_sync.brokers.answer_memo import AnswerMemo
from position_sync.brokers.ccxt_adapter import CcxtAdapter, root_option
from position_sync.brokers.ccxt_session import Session
from position_sync.brokers.ccxt_wallet import WalletVenue, checked_wallet, refused_secrets, wallet_option
from position_sync.brokers.raw_fields import RawRow, RawRows

log = logging.getLogger(__name__)

SPEC = BrokerSpec(
    name="pacifica",
    title="Pacifica",
    options=(
        wallet_option("Solana address (the account whose positions are read)", "42trU9A5..."),
        Option(
            "api_key",
            str,
            "a Pacifica API config key, sent as PF-API-KEY: it raises the rate limit from 100 to "
            "300 credits a minute and signs nothing",
        ),
        root_option("Pacifica"),
    ),
    defaults={"interval": 10},
    hidden_imports=("ccxt.async_support.pacifica",),
    refused=refused_secrets("Pacifica", "orders, and a builder-code approval it sends unasked"),
)

API = "/api/v1"
READS = frozenset({f"{API}/info", f"{API}/info/prices", f"{API}/positions"})
#: Credits a rolling minute: without and with an API config key (Pacifica's rate-limit page).
QUOTA = 100
KEYED_QUOTA = 300
#: The share of the quota ccxt's throttle may spend; the rest is left to the trading system on
#: the same IP.
SPEND_SHARE = 0.8
#: Remaining credits (a share of the quota) at which the rest of the window is waited out.
HOLD_BACK_SHARE = 0.2
#: Mark prices are asked again only after this many seconds: each read costs a credit.
PRICES_MAX_AGE = 5.0
WINDOW_SECONDS = 60.0

_SOLANA_ADDRESS = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")
_SIGNS = {"bid": Decimal(1), "ask": Decimal(-1)}
_HEADER_FIELD = re.compile(r"([a-z]+)=(\d+(?:\.\d+)?)")


def create(account: AccountConfig, context: AdapterContext) -> CcxtAdapter:
    wallet = checked_wallet(account, _SOLANA_ADDRESS, "must be a Solana address (32 to 44 base58 characters)")
    root = str(account.options.get("api_root") or "")
    api_key = str(account.options.get("api_key") or "").strip() or None
    digest = hashlib.sha256(f"{wallet}|{root}".encode()).hexdigest()[:16]
    marker = OrderMarker(Path(context.data_dir) / "dex" / f"pacifica-{digest}.json")
    return CcxtAdapter(account, context, PacificaVenue(wallet, api_key, marker))


def _header_fields(value: str | None) -> dict[str, float]:
    """``"credits";r=1200;t=32`` -> ``{"r": 1200.0, "t": 32.0}``."""
    return {name: float(number) for name, number in _HEADER_FIELD.findall(value or "")}


def pacifica_pacer(status: int | None, headers: Mapping[str, str], now: float) -> float:
    """After a 429, or with few credits left, wait for the window to refresh (``t``)."""
    del now
    limit = _header_fields(headers.get("ratelimit"))
    policy = _header_fields(headers.get("ratelimit-policy"))
    refresh = limit.get("t") or WINDOW_SECONDS
    if status == 429:
        return float(headers.get("retry-after") or refresh) + 0.5
    remaining, quota = limit.get("r"), policy.get("q")  # both sent as ten times the credits
    if remaining is not None and quota and remaining / 10 < max(HOLD_BACK_SHARE * quota / 10, 2.0):
        return refresh + 0.5
    return 0.0


class OrderMarker:
    """The newest ``last_order_id`` seen for one wallet, in this process and on disk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._newest: int | None = None
        self._loaded = False

    def newest(self) -> int | None:
        if not self._loaded:
            self._loaded = True
            try:
                value = json.loads(self.path.read_text(encoding="utf-8")).get("last_order_id")
                self._newest = value if isinstance(value, int) else None
            except (OSError, ValueError, AttributeError):
                self._newest = None
        return self._newest

    def advance(self, order_id: int) -> None:
        if order_id == self.newest():
            return
        self._newest = order_id
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump({"last_order_id": order_id}, file)
            os.replace(temporary, self.path)
        except OSError as exc:  # the order still holds in this process
            log.warning("could not keep Pacifica's last order id in %s: %s", self.path, exc)


def envelope_data(answer: Any, what: str) -> Any:
    """``data`` of an envelope that says ``success: true``; anything else is a failed read."""
    if not isinstance(answer, Mapping):
        shown = "a page that is not JSON" if isinstance(answer, str) else type(answer).__name__
        raise ReadError(ReadErrorKind.MALFORMED, f"{what}: expected Pacifica's JSON envelope, got {shown}")
    success, code, error = answer.get("success"), answer.get("code"), answer.get("error")
    if success is not True or (code is not None and str(code) != "200") or error:
        raise ReadError(
            ReadErrorKind.HTTP,
            f"{what}: Pacifica answered success {json.dumps(success)}, code {json.dumps(code)} "
            f"({error or 'no error given'}); a failed answer is not an empty account",
        )
    if answer.get("data") is None:
        raise ReadError(ReadErrorKind.MALFORMED, f"{what}: the envelope has no 'data'")
    return answer["data"]


def order_id_of(answer: Mapping[str, Any], what: str) -> int | None:
    """The envelope's ``last_order_id`` (an integer, or digits in a string as ccxt recorded it)."""
    value = answer.get("last_order_id")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise ReadError(ReadErrorKind.MALFORMED, f"{what}: last_order_id {value!r} is not a whole number")


class PacificaVenue(WalletVenue):
    title = "Pacifica"
    exchange_id = "pacifica"
    kind = "swap"

    def __init__(
        self,
        wallet: str,
        api_key: str | None,
        marker: OrderMarker,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.wallet = wallet
        self.api_key = api_key
        self.marker = marker
        self._clock = clock
        self._marks: dict[str, Decimal] = {}
        self._marks_at = -PRICES_MAX_AGE
        self._memo: AnswerMemo[tuple[Position, ...]] = AnswerMemo()

    def client_config(self) -> dict[str, Any]:
        quota = KEYED_QUOTA if self.api_key else QUOTA
        return {
            # ccxt's throttle as Pacifica counts: credits in a rolling minute.
            "rateLimiterAlgorithm": "rollingWindow",
            "rollingWindowSize": WINDOW_SECONDS * 1000,
            "rateLimit": WINDOW_SECONDS * 1000 / (quota * SPEND_SHARE),
            "options": {"apiKey": self.api_key, "builderFee": False, "defaultType": "swap"},
        }

    def allowed(self, method: str, path: str) -> bool:
        return method == "GET" and path in READS

    def pacer(self, status: int | None, headers: Mapping[str, str], now: float) -> float:
        return pacifica_pacer(status, headers, now)

    async def read(self, session: Session) -> tuple[Position, ...]:
        what = "Pacifica positions (/api/v1/positions)"
        answer = await session.call("publicGetPositions", {"account": self.wallet}, "positions")
        rows = RawRows(envelope_data(answer, what), what)
        order_id = order_id_of(answer, what)
        newest = self.marker.newest()
        if newest is not None and (order_id is None or order_id < newest):
            said = "no last_order_id" if order_id is None else f"last_order_id {order_id}"
            raise ReadError(
                ReadErrorKind.SOURCE,
                f"{what}: the answer carries {said}, older than the {newest} already seen; an "
                "out-of-date answer is not the account's state",
            )
        marks = await self._mark_prices(session) if rows.rows else {}
        # The marks value the rows and the market list names them: both are part of the key.
        key = (rows.rows, marks, await session.markets())
        positions = self._memo.recall(key)
        if positions is None:
            positions = tuple(await self._positions(session, rows.each(), marks))
            self._memo.remember((rows.rows, marks, await session.markets()), positions)
        if order_id is not None:
            self.marker.advance(order_id)
        return positions

    async def _positions(
        self, session: Session, rows: list[RawRow], marks: Mapping[str, Decimal]
    ) -> list[Position]:
        markets = await session.markets()
        positions: list[Position] = []
        seen: set[str] = set()
        for row in rows:
            native = row.text("symbol")
            if native in seen:
                raise row.owner.malformed(f"{native} is listed twice")
            seen.add(native)
            amount = row.number("amount")
            if amount == ZERO:
                continue  # closed (rule 2); Pacifica leaves closed positions out anyway
            if amount < ZERO:
                raise row.owner.malformed(f"{native} has amount {amount}; Pacifica's amount is unsigned")
            side = str(row.get("side") or "").lower()
            if side not in _SIGNS:
                raise row.owner.malformed(
                    f"{native} holds {amount} with side {row.get('side')!r}, not bid or ask"
                )
            symbol = markets.symbol_of(native)
            if symbol is None and await session.refresh_markets():
                markets = await session.markets()
                symbol = markets.symbol_of(native)
            if symbol is None:
                raise row.owner.malformed(f"{native} is not in Pacifica's market list")
            quantity = amount * _SIGNS[side]
            entry = row.optional_number("entry_price")
            mark = marks.get(native)
            unrealised = normal((mark - entry) * quantity) if mark is not None and entry else None
            positions.append(
                Position(
                    instrument=symbol,
                    quantity=quantity,
                    average_price=entry if entry else None,
                    last_price=mark,
                    unrealised_pnl=unrealised,
                    label=_label(row),
                    symbol=native,
                    currency=markets.settle_of(symbol) or "USDC",
                )
            )
        return positions

    async def _mark_prices(self, session: Session) -> dict[str, Decimal]:
        """Marks by symbol, asked again after ``PRICES_MAX_AGE``; a failed ask keeps the last
        ones (positions are the truth, the marks only value them)."""
        if self._clock() - self._marks_at < PRICES_MAX_AGE:
            return self._marks
        what = "Pacifica prices (/api/v1/info/prices)"
        try:
            data = envelope_data(await session.call("publicGetInfoPrices", {}, "prices"), what)
            self._marks = {row.text("symbol"): row.number("mark") for row in RawRows(data, what).each()}
            self._marks_at = self._clock()
        except ReadError as exc:
            log.info("%s not read; unrealised P&L left as last known: %s", what, exc)
        return self._marks


def _label(row: RawRow) -> str | None:
    funding = row.optional_number("funding")
    liquidation = row.optional_number("liquidation_price")
    parts = [
        f"funding {funding}" if funding is not None else "",
        f"liquidation {liquidation}" if liquidation is not None else "",
        "isolated" if row.get("isolated") is True else "",
    ]
    return " · ".join(p for p in parts if p) or None
