"""Fault matrix, DEXes: every way a Pacifica or Hyperliquid read can fail is a stale account.

The real ccxt clients talk to the fake Pacifica and Hyperliquid on 127.0.0.1; a good
``sync --once`` stores three positions the book also holds (written as bare bases, ``ZEC``), then
the positions request is made to fail and the next ``sync --once`` must hold the picture (see
``tests/faults/harness.py``). Among the faults are the answers ccxt's own ``fetch_positions``
reads as an empty account without raising: on a DEX that empty answer is the danger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import toml_table, write_book
from tests.dex_helpers import HYPERLIQUID_WALLET, PACIFICA_WALLET
from tests.fakes import hyperliquid_server as hl
from tests.fakes import pacifica_server as pf
from tests.fakes.http_fake import Reply, delayed, dropped, html_page, json_reply
from tests.fakes.hyperliquid_server import FakeHyperliquidServer
from tests.fakes.pacifica_server import FakePacificaServer
from tests.faults.harness import SETTING_IDS, account_settings, assert_fault_held, assert_good, sync_once

TIMEOUT = 2.0
BASES = ("ZEC", "SUI", "WLFI")
HELD = {f"{base}/USDC:USDC" for base in BASES}
NOT_JSON = Reply(200, body=b"<html>maintenance</html>", content_type="text/html")

# Each fault: the reply (from the fake, for the account's wallet) and a fragment of the sentence.
PacificaFault = Callable[[FakePacificaServer], Reply]
PACIFICA_FAULTS: dict[str, tuple[PacificaFault | str, str]] = {
    "connection refused": ("stop", "unavailable"),
    "hang past the timeout": (lambda p: delayed(pf.ok([]), 10), "time"),
    "dropped socket": (lambda p: dropped(), "unavailable"),
    "success false, no code": (
        lambda p: json_reply({"success": False, "data": None, "error": None, "code": None}),
        "success false",
    ),
    "success false, 400": (lambda p: pf.failure("Invalid account", 400), "invalid account"),
    "success false, business code": (lambda p: pf.failure("ACCOUNT_NOT_FOUND", 1), "account_not_found"),
    "success false on a 200": (lambda p: pf.failure("Internal server error", 500, 200), "unavailable"),
    "no data": (lambda p: pf.missing_data(), "no 'data'"),
    "data null": (lambda p: pf.ok(None), "no 'data'"),
    "200 not JSON": (lambda p: NOT_JSON, "not JSON"),
    "500": (lambda p: pf.server_error(500), "unavailable"),
    "503": (lambda p: pf.server_error(503), "unavailable"),
    "429": (lambda p: pf.rate_limited(), "rate limited"),
    "HTML 502": (lambda p: html_page(502), "unavailable"),
    "CDN 403 page": (lambda p: pf.get_with_body_refused(), "unavailable"),
    "an older last_order_id, empty": (
        lambda p: pf.ok([], last_order_id=p.last_order_id(PACIFICA_WALLET) - 1),
        "older than",
    ),
}

HyperliquidFault = Callable[[FakeHyperliquidServer], Reply]
HYPERLIQUID_FAULTS: dict[str, tuple[HyperliquidFault | str, str]] = {
    "connection refused": ("stop", "unavailable"),
    "hang past the timeout": (lambda h: delayed(FakeHyperliquidServer.empty_state(), 10), "time"),
    "dropped socket": (lambda h: dropped(), "unavailable"),
    "null": (lambda h: json_reply(None), "got null"),
    "{}": (lambda h: json_reply({}), "assetPositions"),
    "200 not JSON": (lambda h: NOT_JSON, "not JSON"),
    "500": (lambda h: hl.server_error(500), "unavailable"),
    "HTML 502": (lambda h: html_page(502), "unavailable"),
    "429": (lambda h: hl.rate_limited(), "rate limited"),
    "422 unreadable": (lambda h: hl.unreadable(), "deserialize"),
    "status err": (lambda h: json_reply({"status": "err", "response": "User does not exist"}), "user"),
}


def _config(root: Path, broker: str, url: str, wallet: str, setting: str) -> Path:
    write_book(root / "book.json", [{"symbol": base, "quantity": 1, "average_price": 1} for base in BASES])
    account = {
        "id": "dex",
        "broker": broker,
        "book": "bot",
        "wallet_address": wallet,
        "api_root": url,
        "timeout": TIMEOUT,
        "price_tolerance_rel": 1,  # the book's prices are placeholders: quantities are judged
        **account_settings(setting),
    }
    config = root / "config.toml"
    books = toml_table("[[books]]", {"id": "bot", "kind": "file", "path": "book.json"})
    config.write_text(books + "\n" + toml_table("[[accounts]]", account), encoding="utf-8")
    return config


@pytest.fixture
def pacifica() -> Iterator[FakePacificaServer]:
    with FakePacificaServer(enforce_limit=False) as server:
        yield server


@pytest.fixture
def hyperliquid() -> Iterator[FakeHyperliquidServer]:
    with FakeHyperliquidServer(enforce_limit=False) as server:
        yield server


@pytest.mark.parametrize("setting", SETTING_IDS)
@pytest.mark.parametrize("fault", list(PACIFICA_FAULTS))
def test_a_failed_pacifica_read_holds_the_picture(
    pacifica: FakePacificaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str], fault: str, setting: str
) -> None:
    pacifica.set_positions(PACIFICA_WALLET, [pf.position_row(base, "bid", 1) for base in BASES])
    config, data_dir = (
        _config(tmp_path, "pacifica", pacifica.url, PACIFICA_WALLET, setting),
        tmp_path / "data",
    )
    good = sync_once(config, data_dir, capsys)
    assert_good(good, "dex", HELD)
    reply, words = PACIFICA_FAULTS[fault]
    if reply == "stop":
        pacifica.stop()
    else:
        assert callable(reply)
        pacifica.script_positions(reply(pacifica))
    faulted = sync_once(config, data_dir, capsys)
    assert_fault_held(good, faulted, "dex", config=config, data_dir=data_dir, capsys=capsys, words=words)


@pytest.mark.parametrize("setting", SETTING_IDS)
@pytest.mark.parametrize("fault", list(HYPERLIQUID_FAULTS))
def test_a_failed_hyperliquid_read_holds_the_picture(
    hyperliquid: FakeHyperliquidServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    setting: str,
) -> None:
    hyperliquid.set_positions(HYPERLIQUID_WALLET, [hl.asset_position(base, 1) for base in BASES])
    config = _config(tmp_path, "hyperliquid", hyperliquid.url, HYPERLIQUID_WALLET, setting)
    data_dir = tmp_path / "data"
    good = sync_once(config, data_dir, capsys)
    assert_good(good, "dex", HELD)
    reply, words = HYPERLIQUID_FAULTS[fault]
    if reply == "stop":
        hyperliquid.stop()
    else:
        assert callable(reply)
        hyperliquid.script("clearinghouseState", reply(hyperliquid))
    faulted = sync_once(config, data_dir, capsys)
    assert_fault_held(good, faulted, "dex", config=config, data_dir=data_dir, capsys=capsys, words=words)
