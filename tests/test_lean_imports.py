"""Headless commands start lean: no Qt, no charts, no Alembic, no broker client they do not use.

Each check runs in a fresh interpreter (this one has imported everything already) and reads
``sys.modules`` when the command is done. A broker client is loaded when an account's adapter
is built, never for parsing a config that names it; Alembic only for a store behind the code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from position_sync.app.store import Store

REPO = Path(__file__).resolve().parent.parent

# What a headless start must not load: the window's libraries, the brokers' clients (and what
# kiteconnect pulls in), the migration tool and its templates.
HEAVY = ("PySide6", "shiboken6", "pyqtgraph", "numpy", "kiteconnect", "ib_async", "ib_insync", "ccxt",
         "alembic", "mako", "twisted", "autobahn", "requests")  # fmt: skip

CONFIG = """\
[[books]]
id = "bot"
kind = "file"
path = "book.json"

[[accounts]]
id = "kite-main"
broker = "kite"
api_key = "lean_api_key"
book = "bot"

[[accounts]]
id = "ib-main"
broker = "ibkr"
book = "bot"

[[accounts]]
id = "kotak-main"
broker = "kotak"
consumer_key = "lean_consumer_key"
book = "bot"

[[accounts]]
id = "binance-main"
broker = "binance"
api_key = "lean_api_key"
book = "bot"

[[accounts]]
id = "bybit-main"
broker = "bybit"
api_key = "lean_api_key"
book = "bot"

[[accounts]]
id = "pacifica-main"
broker = "pacifica"
wallet_address = "7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU"
book = "bot"

[[accounts]]
id = "hyperliquid-main"
broker = "hyperliquid"
wallet_address = "0x0123456789abcdef0123456789abcdef01234567"
book = "bot"
"""


def loaded_after(code: str, tmp_path: Path) -> tuple[list[str], dict[str, object]]:
    """Run ``code`` in a fresh interpreter on this checkout; the heavy top-level packages it
    left in ``sys.modules``, and what the code put in ``result``."""
    wrapper = (
        "import json, sys\nresult = {}\n"
        + code
        + f"\nheavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))"
        + "\nprint(json.dumps({'heavy': heavy, 'result': result}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    env.pop("POSITION_SYNC_CONFIG", None)
    env.pop("POSITION_SYNC_HOME", None)
    done = subprocess.run(
        [sys.executable, "-c", wrapper], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["heavy"], out["result"]


def two_account_setup(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "config.toml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "book.json").write_text('{"positions": []}', encoding="utf-8")
    data = tmp_path / "data"
    Store.open(data).close()  # the store at the newest revision, made here (with Alembic)
    return tmp_path / "config.toml", data


def test_importing_the_command_line_loads_nothing_heavy(tmp_path: Path) -> None:
    heavy, result = loaded_after(
        "import position_sync.cli\nresult['store'] = 'sqlalchemy' in sys.modules", tmp_path
    )
    assert heavy == []
    assert result == {"store": False}  # the parser needs no database either


def test_version_loads_nothing_heavy(tmp_path: Path) -> None:
    heavy, result = loaded_after(
        "from position_sync.cli import main\n"
        "try:\n    main(['--version'])\nexcept SystemExit as exc:\n    result['code'] = exc.code",
        tmp_path,
    )
    assert heavy == []
    assert result == {"code": 0}


def test_status_with_a_kite_and_an_ib_account_loads_neither_client(tmp_path: Path) -> None:
    config, data = two_account_setup(tmp_path)
    heavy, result = loaded_after(
        "from position_sync.cli import main\n"
        f"result['code'] = main(['--config', {str(config)!r}, '--data-dir', {str(data)!r}, 'status', '--json'])\n"
        "result['kite'] = 'position_sync.brokers.kite' in sys.modules",
        tmp_path,
    )
    assert heavy == []
    assert result == {"code": 2, "kite": True}  # never synced: stale; the config was read


def test_the_clients_load_when_the_adapters_are_built(tmp_path: Path) -> None:
    """The other side of the same promise: the lazy imports do happen, at the adapter."""
    config, data = two_account_setup(tmp_path)
    heavy, _ = loaded_after(
        "from position_sync.app.broker import AdapterContext\n"
        "from position_sync.app.config import load_settings\n"
        "from position_sync.app.secrets import Secrets\n"
        "from position_sync.wiring import build_adapters\n"
        f"settings = load_settings(__import__('pathlib').Path({str(config)!r}))\n"
        f"build_adapters(settings, AdapterContext(__import__('pathlib').Path({str(data)!r}), Secrets()))",
        tmp_path,
    )
    assert {"kiteconnect", "ib_async", "requests"} <= set(heavy)
    # numpy comes with ib_async (its utilities import it), not from us
    assert not {"PySide6", "pyqtgraph", "alembic", "ccxt"} & set(heavy)


def test_a_store_behind_the_code_is_still_migrated(tmp_path: Path) -> None:
    from position_sync.app.store.engine import (
        current_revision,
        head_revision,
        make_engine,
        migrate,
        sqlite_url,
    )

    url = sqlite_url(tmp_path / "old.db")
    engine = make_engine(url)
    migrate(engine, "0001")
    engine.dispose()
    store = Store(url)
    try:
        assert current_revision(store.engine) == head_revision()
    finally:
        store.close()


def test_the_scripts_head_read_without_alembic_is_alembics_head() -> None:
    from position_sync.app.store.engine import head_revision, scripts_head

    assert scripts_head() == head_revision()


def test_the_frozen_build_is_told_about_the_lazily_imported_clients() -> None:
    from position_sync.self_check import named_imports

    assert {"kiteconnect", "ib_async", "position_sync.brokers.kite_client"} <= set(named_imports())
