"""A fake TWS / IB Gateway that speaks enough of the TWS API socket protocol for ib_async.

The adapter is tested against the real client library, so this server has to get the wire
details right rather than stand in for the library: the ``API\\0`` handshake with the client's
version range, length-prefixed NUL-separated messages, and the field order of each message at the
negotiated server version (``SERVER_VERSION``, the highest ib_async 2.1.0 offers).

What it answers: startApi (71) with nextValidId (9), managedAccounts (15) and the informational
codes 2104/2106/2158 real TWS sends; reqPositions (61) with position (61) messages and
positionEnd (62); reqAccountUpdates (6) with updateAccountValue (6), updatePortfolio (7),
updateAccountTime (8) and accountDownloadEnd (54); reqAccountUpdatesMulti (76) with
accountUpdateMulti (73) and its end (74); reqExecutions (7) with execDetailsEnd (55);
reqAccountSummary (62) with its end (64); reqCurrentTime (49); reqIds (8); reqManagedAccts (17);
open and completed order requests with their (empty) ends. Order messages (placeOrder 3,
cancelOrder 4, exerciseOptions 21, reqGlobalCancel 58) are recorded and refused with error 321,
as a read-only TWS does. Every incoming message id is recorded in ``received``.

Scripting from a test (all inside the running loop)::

    server = FakeTws(accounts=["U1111111", "U2222222"])
    server.set_position("U1111111", FakeContract("STK", "AAPL", 265598), "100", "150.25",
                        market_price="190.5")
    port = await server.start()
    ...
    await server.update_position("U1111111", contract, "150", "160")   # pushes to clients
    await server.send_error(1100)                                        # connectivity lost
    await server.drop_clients()                                          # TWS went away
    server.client_ids_in_use.add(7)                                      # next client 7 gets 326

Run by hand: ``python -m tests.fakes.tws_server --port 7497 --positions FILE.json``, where the
file looks like::

    {
      "accounts": ["U1111111", "U2222222"],
      "positions": [
        {"account": "U1111111", "secType": "STK", "symbol": "AAPL", "conId": 265598,
         "localSymbol": "AAPL", "exchange": "NASDAQ", "currency": "USD",
         "position": "100", "avgCost": "150.25",
         "marketPrice": "190.5", "marketValue": "19050", "unrealizedPNL": "4025",
         "realizedPNL": "0"},
        {"account": "U2222222", "secType": "OPT", "symbol": "AAPL", "conId": 700001,
         "localSymbol": "AAPL  251219C00150000", "lastTradeDateOrContractMonth": "20251219",
         "strike": "150", "right": "C", "multiplier": "100", "tradingClass": "AAPL",
         "position": "-2", "avgCost": "512.3"}
      ]
    }

Contract fields are IB's names (secType, symbol, conId, localSymbol,
lastTradeDateOrContractMonth, strike, right, multiplier, exchange, primaryExchange, currency,
tradingClass); ``position`` and ``avgCost`` are required decimal strings; ``marketPrice``,
``marketValue``, ``unrealizedPNL`` and ``realizedPNL`` are optional, and a position without
``marketPrice`` gets no portfolio update (as when TWS has no market data for it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

SERVER_VERSION = 178
CONNECTION_TIME = "20250102 09:30:00 US/Eastern"
STARTUP_NOTICES = (
    (2104, "Market data farm connection is OK:usfarm"),
    (2106, "HMDS data farm connection is OK:ushmds"),
    (2158, "Sec-def data farm connection is OK:secdefnj"),
)
ERROR_TEXTS = {
    326: "Unable to connect as the client id is already in use. Retry with a unique client id.",
    1100: "Connectivity between IB and Trader Workstation has been lost.",
    1101: "Connectivity between IB and Trader Workstation has been restored - data lost.",
    1102: "Connectivity between IB and Trader Workstation has been restored - data maintained.",
    2110: "Connectivity between Trader Workstation and server is broken. It will be restored automatically.",
    2104: "Market data farm connection is OK:usfarm",
    2106: "HMDS data farm connection is OK:ushmds",
    2107: "HMDS data farm connection is inactive but should be available upon demand.ushmds",
    2108: "Market data farm connection is inactive but should be available upon demand.usfarm",
    2119: "Market data farm is connecting:usfarm",
    2158: "Sec-def data farm connection is OK:secdefnj",
    321: "Error validating request.-'bN' : cause - The API interface is currently in Read-Only mode.",
}
# Order messages a read-only monitor must never send; the fake refuses them like read-only TWS.
ORDER_MESSAGE_IDS = frozenset({3, 4, 21, 58})
# Requests for orders that ib_async sends only when not read-only (or for client id 0).
ORDER_REQUEST_IDS = frozenset({5, 15, 16, 99})

CONTRACT_FIELDS = {
    "secType": "sec_type",
    "symbol": "symbol",
    "conId": "con_id",
    "localSymbol": "local_symbol",
    "lastTradeDateOrContractMonth": "last_trade",
    "strike": "strike",
    "right": "right",
    "multiplier": "multiplier",
    "exchange": "exchange",
    "primaryExchange": "primary_exchange",
    "currency": "currency",
    "tradingClass": "trading_class",
}
PRICE_FIELDS = {
    "marketPrice": "market_price",
    "marketValue": "market_value",
    "unrealizedPNL": "unrealized_pnl",
    "realizedPNL": "realized_pnl",
}


@dataclass(frozen=True)
class FakeContract:
    """A contract as position and portfolio messages describe it (IB's fields, snake_case)."""

    sec_type: str
    symbol: str
    con_id: int
    local_symbol: str = ""
    last_trade: str = ""
    strike: str = "0"
    right: str = ""
    multiplier: str = ""
    exchange: str = ""
    primary_exchange: str = ""
    currency: str = "USD"
    trading_class: str = ""


@dataclass(frozen=True)
class FakePosition:
    """One account's holding of one contract; quantities and prices are decimal strings."""

    account: str
    contract: FakeContract
    position: str
    avg_cost: str
    market_price: str | None = None
    market_value: str | None = None
    unrealized_pnl: str | None = None
    realized_pnl: str | None = None

    def portfolio_fields(self) -> tuple[str, str, str, str]:
        """marketPrice, marketValue, unrealizedPNL, realizedPNL, filling in what IB would."""
        price = Decimal(self.market_price or "0")
        quantity = Decimal(self.position)
        multiplier = Decimal(self.contract.multiplier or "1")
        value = Decimal(self.market_value) if self.market_value is not None else quantity * price * multiplier
        unrealized = (
            Decimal(self.unrealized_pnl)
            if self.unrealized_pnl is not None
            else value - quantity * Decimal(self.avg_cost)
        )
        realized = Decimal(self.realized_pnl or "0")
        return str(price), str(value), str(unrealized), str(realized)


@dataclass(eq=False)
class _Client:
    writer: asyncio.StreamWriter
    client_id: int | None = None
    positions: bool = False
    account_updates: str | None = None
    received: list[int] = field(default_factory=list)


def _held(quantity: str) -> bool:
    """Whether TWS lists a position: anything but a clean zero (a scripted unreadable quantity
    is sent as it is, which is the point of scripting it)."""
    try:
        return Decimal(quantity) != 0
    except ArithmeticError:
        return True


def encode(fields: Iterable[Any]) -> bytes:
    """One message: 4-byte big-endian length, then NUL-terminated text fields."""
    payload = "".join(f"{'' if value is None else value}\0" for value in fields).encode()
    return struct.pack(">I", len(payload)) + payload


class FakeTws:
    """The scriptable server; see the module docstring."""

    def __init__(self, accounts: Iterable[str] = ("DU1234567",), host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.accounts: list[str] = list(accounts)
        self.positions: dict[tuple[str, int], FakePosition] = {}
        self.client_ids_in_use: set[int] = set()
        self.received: list[int] = []
        self.connections = 0
        self.startup_notices = True
        # Codes sent right after the standard notices of the handshake, as a TWS that starts cut
        # off from IB does (1100 or 2110 among its first messages).
        self.handshake_notices: list[int] = []
        self.hold_position_end = False
        # Close the socket after this many position messages of a download (None: never).
        self.drop_after_positions: int | None = None
        self._held_ends: list[_Client] = []
        self._clients: set[_Client] = set()
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Event()
        self._next_valid_id = 1

    # ----------------------------------------------------------------- scripting

    def set_position(
        self,
        account: str,
        contract: FakeContract,
        position: str,
        avg_cost: str,
        **prices: str | None,
    ) -> FakePosition:
        """Set a holding without telling anyone (before connect, or to script a silent change)."""
        held = FakePosition(account, contract, position, avg_cost, **prices)
        self.positions[(account, contract.con_id)] = held
        return held

    async def update_position(
        self,
        account: str,
        contract: FakeContract,
        position: str,
        avg_cost: str,
        **prices: str | None,
    ) -> FakePosition:
        """Change a holding and push it, as TWS does after a fill: position, then portfolio."""
        previous = self.positions.get((account, contract.con_id))
        if previous is not None and prices.get("market_price") is None:
            prices = {**prices, "market_price": previous.market_price}
        held = self.set_position(account, contract, position, avg_cost, **prices)
        for client in list(self._clients):
            if client.positions:
                self._send(client, self._position_message(held))
            if client.account_updates == account and (
                held.market_price is not None or Decimal(held.position) == 0
            ):
                self._send(client, self._portfolio_message(held))
        await self._drain()
        return held

    async def close_position(self, account: str, con_id: int, realized_pnl: str | None = None) -> None:
        """Take a holding to zero; the portfolio stream then carries its realised P&L."""
        held = self.positions[(account, con_id)]
        await self.update_position(
            account,
            held.contract,
            "0",
            held.avg_cost,
            market_price=held.market_price,
            market_value="0",
            unrealized_pnl="0",
            realized_pnl=realized_pnl,
        )

    async def send_error(self, code: int, message: str | None = None, req_id: int = -1) -> None:
        """An error or notice (message 4) to every connected client."""
        text = message if message is not None else ERROR_TEXTS.get(code, f"error {code}")
        for client in list(self._clients):
            self._send(client, self._error_message(req_id, code, text))
        await self._drain()

    async def release_position_ends(self) -> None:
        """Send the positionEnd held back while ``hold_position_end`` was set."""
        self.hold_position_end = False
        held, self._held_ends = self._held_ends, []
        for client in held:
            if client in self._clients:
                self._send(client, [62, 1])
        await self._drain()

    async def drop_clients(self) -> None:
        """Close every client connection, as a TWS restart or crash does."""
        for client in list(self._clients):
            client.writer.close()
        for client in list(self._clients):
            with contextlib.suppress(ConnectionError, OSError):
                await client.writer.wait_closed()
        await self.wait_for(lambda: not self._clients)

    @property
    def client_count(self) -> int:
        return sum(1 for client in self._clients if client.client_id is not None)

    def count(self, msg_id: int) -> int:
        return Counter(self.received)[msg_id]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        """Until ``predicate()`` holds; re-checked on every message and connection change."""
        async with asyncio.timeout(timeout):
            while True:
                changed = self._changed
                if predicate():
                    return
                await changed.wait()

    # ----------------------------------------------------------------- lifecycle

    async def start(self, port: int = 0) -> int:
        """Listen on ``host``; port 0 lets the OS choose. Returns the port."""
        self._server = await asyncio.start_server(self._serve, self.host, port or self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop_listening(self) -> None:
        """Refuse new connections (TWS not running) while keeping the port for ``start``."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def stop(self) -> None:
        await self.stop_listening()
        await self.drop_clients()

    async def __aenter__(self) -> FakeTws:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----------------------------------------------------------------- protocol

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        client = _Client(writer)
        self._clients.add(client)
        self.connections += 1
        self._notify()
        try:
            if await reader.readexactly(4) != b"API\0":
                return
            versions = (await self._read(reader))[0]
            version = self._negotiate(versions)
            if version is None:
                return
            self._send(client, [version, CONNECTION_TIME])
            while True:
                fields = await self._read(reader)
                if not fields or not fields[0].isdigit():
                    return
                msg_id = int(fields[0])
                self.received.append(msg_id)
                client.received.append(msg_id)
                if not self._handle(client, msg_id, fields):
                    return
                await writer.drain()
                self._notify()
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self._clients.discard(client)
            writer.close()
            self._notify()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> list[str]:
        (size,) = struct.unpack(">I", await reader.readexactly(4))
        text = (await reader.readexactly(size)).decode(errors="backslashreplace")
        fields = text.split("\0")
        if fields and fields[-1] == "":
            fields.pop()
        return fields

    @staticmethod
    def _negotiate(versions: str) -> int | None:
        """``v157..178`` (maybe followed by connect options) -> the version both sides speak."""
        text = versions.split(" ")[0]
        if not text.startswith("v"):
            return None
        low, _, high = text[1:].partition("..")
        try:
            minimum, maximum = int(low), int(high or low)
        except ValueError:
            return None
        version = min(SERVER_VERSION, maximum)
        return version if version >= minimum else None

    def _handle(self, client: _Client, msg_id: int, fields: list[str]) -> bool:
        """Answer one request; False closes the connection."""
        if msg_id == 71:  # startApi: version, clientId, optional capabilities
            client_id = int(fields[2])
            taken = {other.client_id for other in self._clients if other is not client}
            if client_id in self.client_ids_in_use or client_id in taken:
                self._send(client, self._error_message(-1, 326, ERROR_TEXTS[326]))
                return False
            client.client_id = client_id
            self._send(client, [15, 1, ",".join(self.accounts)])
            self._send(client, [9, 1, self._next_valid_id])
            if self.startup_notices:
                for code, text in STARTUP_NOTICES:
                    self._send(client, self._error_message(-1, code, text))
            for code in self.handshake_notices:
                self._send(client, self._error_message(-1, code, ERROR_TEXTS.get(code, f"error {code}")))
        elif msg_id == 61:  # reqPositions
            client.positions = True
            sent = 0
            for held in self.positions.values():
                if _held(held.position):
                    if sent == self.drop_after_positions:
                        return False
                    self._send(client, self._position_message(held))
                    sent += 1
            if self.hold_position_end:
                self._held_ends.append(client)
            else:
                self._send(client, [62, 1])
        elif msg_id == 64:  # cancelPositions
            client.positions = False
        elif msg_id == 6:  # reqAccountUpdates: version, subscribe, account
            subscribe, account = fields[2] == "1", fields[3]
            client.account_updates = account if subscribe else None
            if subscribe:
                self._account_download(client, account)
        elif msg_id == 76:  # reqAccountUpdatesMulti: version, reqId, account, modelCode, ledger
            req_id, account = fields[2], fields[3]
            self._send(client, [73, 1, req_id, account, "", "NetLiquidation", "100000", "USD"])
            self._send(client, [74, 1, req_id])
        elif msg_id == 7:  # reqExecutions: version, reqId, filter...
            self._send(client, [55, 1, fields[2]])
        elif msg_id == 62:  # reqAccountSummary: version, reqId, group, tags
            self._send(client, [64, 1, fields[2]])
        elif msg_id == 49:  # reqCurrentTime
            self._send(client, [49, 1, int(time.time())])
        elif msg_id == 8:  # reqIds
            self._send(client, [9, 1, self._next_valid_id])
        elif msg_id == 17:  # reqManagedAccts
            self._send(client, [15, 1, ",".join(self.accounts)])
        elif msg_id in (5, 15, 16):  # open orders: none
            self._send(client, [53, 1])
        elif msg_id == 99:  # reqCompletedOrders: none
            self._send(client, [102])
        elif msg_id in ORDER_MESSAGE_IDS:
            order_id = int(fields[1]) if msg_id == 3 else (int(fields[2]) if msg_id == 4 else -1)
            self._send(client, self._error_message(order_id, 321, ERROR_TEXTS[321]))
        return True

    def _account_download(self, client: _Client, account: str) -> None:
        self._send(client, [6, 2, "NetLiquidation", "100000", "USD", account])
        for held in self.positions.values():
            if held.account == account and held.market_price is not None:
                self._send(client, self._portfolio_message(held))
        self._send(client, [8, 1, time.strftime("%H:%M")])
        self._send(client, [54, 1, account])

    @staticmethod
    def _contract_fields(contract: FakeContract, exchange: str) -> list[Any]:
        return [
            contract.con_id,
            contract.symbol,
            contract.sec_type,
            contract.last_trade,
            contract.strike,
            contract.right,
            contract.multiplier,
            exchange,
            contract.currency,
            contract.local_symbol,
            contract.trading_class,
        ]

    def _position_message(self, held: FakePosition) -> list[Any]:
        # position (61), version 3: account, contract (with exchange), position, avgCost
        contract = self._contract_fields(held.contract, held.contract.exchange)
        return [61, 3, held.account, *contract, held.position, held.avg_cost]

    def _portfolio_message(self, held: FakePosition) -> list[Any]:
        # updatePortfolio (7), version 8: contract (with primaryExchange), position, prices, account
        contract = self._contract_fields(held.contract, held.contract.primary_exchange)
        price, value, unrealized, realized = held.portfolio_fields()
        return [
            7,
            8,
            *contract,
            held.position,
            price,
            value,
            held.avg_cost,
            unrealized,
            realized,
            held.account,
        ]

    @staticmethod
    def _error_message(req_id: int, code: int, text: str) -> list[Any]:
        # error (4), version 2; from server version 166 on an advancedOrderRejectJson follows
        message: list[Any] = [4, 2, req_id, code, text]
        if SERVER_VERSION >= 166:
            message.append("")
        return message

    def _send(self, client: _Client, fields: list[Any]) -> None:
        if not client.writer.is_closing():
            client.writer.write(encode(fields))

    async def _drain(self) -> None:
        for client in list(self._clients):
            with contextlib.suppress(ConnectionError, OSError):
                await client.writer.drain()


# --------------------------------------------------------------------- by hand


def load_positions(path: Path) -> FakeTws:
    """Build a server from the JSON file described in the module docstring."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    server = FakeTws(accounts=raw.get("accounts") or ["DU1234567"])
    for index, item in enumerate(raw.get("positions", [])):
        try:
            contract_args = {CONTRACT_FIELDS[k]: item[k] for k in CONTRACT_FIELDS if k in item}
            contract_args["con_id"] = int(contract_args["con_id"])
            for name in ("strike", "multiplier"):
                if name in contract_args:
                    contract_args[name] = str(contract_args[name])
            contract = FakeContract(**contract_args)
            prices = {PRICE_FIELDS[k]: str(item[k]) for k in PRICE_FIELDS if item.get(k) is not None}
            account = item.get("account") or server.accounts[0]
            server.set_position(account, contract, str(item["position"]), str(item["avgCost"]), **prices)
        except (KeyError, TypeError, ValueError) as exc:
            raise SystemExit(f"{path}: positions[{index}] is missing or has a bad field: {exc}") from None
    return server


async def _run(args: argparse.Namespace) -> None:
    server = load_positions(args.positions) if args.positions else FakeTws()
    server.client_ids_in_use.update(args.client_id_in_use)
    await server.start(args.port)
    print(
        f"fake TWS (server version {SERVER_VERSION}) on {server.host}:{server.port}, "
        f"accounts {', '.join(server.accounts)}, {len(server.positions)} positions; Ctrl-C stops",
        flush=True,
    )
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A fake TWS for trying the IB adapter by hand.")
    parser.add_argument("--port", type=int, default=7497)
    parser.add_argument("--positions", type=Path, help="JSON file: accounts and positions")
    parser.add_argument(
        "--client-id-in-use",
        type=int,
        action="append",
        default=[],
        help="answer this client id with error 326 (repeatable)",
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "ORDER_MESSAGE_IDS",
    "ORDER_REQUEST_IDS",
    "SERVER_VERSION",
    "FakeContract",
    "FakePosition",
    "FakeTws",
    "encode",
    "load_positions",
]
