"""The fake TWS on its own, over a raw socket: the wire details the adapter tests rely on."""

from __future__ import annotations

import asyncio
import json
import struct
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.tws_server import SERVER_VERSION, FakeContract, FakeTws, encode, load_positions


async def read_message(reader: asyncio.StreamReader) -> list[str]:
    (size,) = struct.unpack(">I", await asyncio.wait_for(reader.readexactly(4), 2))
    fields = (await reader.readexactly(size)).decode().split("\0")
    return fields[:-1]


async def read_until(reader: asyncio.StreamReader, msg_id: str) -> list[list[str]]:
    seen = []
    while True:
        fields = await read_message(reader)
        seen.append(fields)
        if fields[0] == msg_id:
            return seen


@pytest.fixture
async def server() -> AsyncIterator[FakeTws]:
    fake = FakeTws(accounts=["U1", "U2"])
    fake.set_position("U1", FakeContract("STK", "AAPL", 265598, "AAPL"), "0.5", "150.25", market_price="190")
    await fake.start()
    yield fake
    await fake.stop()


async def handshake(
    server: FakeTws, versions: bytes = b"v157..178", client_id: int = 3
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, list[str]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"API\0" + struct.pack(">I", len(versions)) + versions)
    answer = await read_message(reader)
    writer.write(encode([71, 2, client_id, ""]))
    return reader, writer, answer


async def test_handshake_negotiates_the_version_and_starts_the_api(server: FakeTws) -> None:
    reader, writer, answer = await handshake(server)
    assert answer[0] == str(SERVER_VERSION) and len(answer) == 2
    start = await read_until(reader, "9")
    assert ["15", "1", "U1,U2"] in start
    writer.close()


async def test_a_client_older_than_the_server_gets_its_own_top_version(server: FakeTws) -> None:
    _reader, writer, answer = await handshake(server, b"v100..170")
    assert answer[0] == "170"
    writer.close()


async def test_position_stream_sends_exact_strings_then_the_end(server: FakeTws) -> None:
    reader, writer, _ = await handshake(server)
    await read_until(reader, "9")
    writer.write(encode([61, 1]))
    messages = await read_until(reader, "62")
    position = next(m for m in messages if m[0] == "61")
    assert position[2] == "U1" and position[3] == "265598" and position[-2:] == ["0.5", "150.25"]
    assert len(position) == 16  # the layout ib_async's decoder unpacks
    writer.close()


async def test_order_messages_are_recorded_and_refused(server: FakeTws) -> None:
    reader, writer, _ = await handshake(server)
    await read_until(reader, "9")
    writer.write(encode([58, 1]))
    writer.write(encode([49, 1]))
    messages = await read_until(reader, "49")
    assert any(m[0] == "4" and m[3] == "321" for m in messages)
    assert server.count(58) == 1
    writer.close()


async def test_a_client_id_in_use_gets_326_and_is_closed(server: FakeTws) -> None:
    server.client_ids_in_use.add(7)
    reader, writer, _ = await handshake(server, client_id=7)
    error = await read_message(reader)
    assert error[:4] == ["4", "2", "-1", "326"]
    assert await asyncio.wait_for(reader.read(), 2) == b""
    writer.close()


def test_positions_file(tmp_path: Path) -> None:
    path = tmp_path / "positions.json"
    path.write_text(
        json.dumps(
            {
                "accounts": ["U9"],
                "positions": [
                    {
                        "secType": "FUT",
                        "symbol": "ES",
                        "conId": 1,
                        "localSymbol": "ESZ5",
                        "multiplier": 50,
                        "position": "2",
                        "avgCost": "250012.5",
                        "marketPrice": 5010.25,
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    server = load_positions(path)
    held = server.positions[("U9", 1)]
    assert held.contract.multiplier == "50" and held.market_price == "5010.25"
    path.write_text(json.dumps({"positions": [{"secType": "STK"}]}), encoding="utf-8")
    with pytest.raises(SystemExit, match="positions\\[0\\]"):
        load_positions(path)
