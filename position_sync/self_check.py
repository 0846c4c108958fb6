"""``position-sync --self-check``, the part without Qt: the smoke test of a build.

A frozen build can start and still be broken: a module imported only through ``importlib``
left out, the package metadata missing (``--version`` then says ``0+unknown``), the Alembic
scripts not shipped as data, the demo files not found. Each check here exercises one of those
the way the program itself does, in a throw-away data directory (never the trader's), and
prints one ``ok`` or ``FAILED`` line with what it saw. The Qt half lives in ``ui.self_check``
and uses the same ``Report``.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TextIO

from position_sync.app.exit_codes import ExitCode
from position_sync.app.paths import is_frozen, migrations_dir, resource_dir
from position_sync.cli import DEMO_CONFIG, version

SYNC_TIMEOUT = 30.0  # one demo sync takes well under a second; a hang must not hang CI

KEYRING_BACKEND = {"linux": "keyring.backends.SecretService", "darwin": "keyring.backends.macOS"}
KEYRING_BACKEND_WINDOWS = "keyring.backends.Windows"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


class Report:
    """Runs checks one by one and prints each result as soon as it is known.

    Printing as it goes means a check that hangs or crashes the process still leaves the
    earlier lines on screen, which is what the person reading a CI log needs.
    """

    def __init__(self, out: TextIO | None = None) -> None:
        self.out = out or sys.stdout
        self.checks: list[Check] = []
        self._started = time.perf_counter()

    def record(self, name: str, ok: bool, detail: str) -> bool:
        self.checks.append(Check(name, ok, detail))
        print(f"  {'ok' if ok else 'FAILED':<7} {name}: {detail}", file=self.out, flush=True)
        return ok

    def run(self, name: str, check: Callable[[], str]) -> bool:
        """``check`` returns what it saw, or raises with the reason it failed."""
        try:
            return self.record(name, True, check())
        except Exception as exc:
            return self.record(name, False, _reason(exc))

    async def run_async(self, name: str, check: Callable[[], Awaitable[str]]) -> bool:
        try:
            return self.record(name, True, await check())
        except Exception as exc:
            return self.record(name, False, _reason(exc))

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def header(self) -> None:
        where = f"frozen build in {Path(sys.executable).parent}" if is_frozen() else sys.executable
        print(f"position-sync {version()} self-check ({where})", file=self.out, flush=True)

    def finish(self) -> int:
        seconds = time.perf_counter() - self._started
        if self.failed:
            names = ", ".join(c.name for c in self.failed)
            print(
                f"self-check FAILED: {len(self.failed)} of {len(self.checks)} checks ({names})", file=self.out
            )
            return ExitCode.SELF_CHECK_FAILED
        print(f"self-check passed: {len(self.checks)} checks ok in {seconds:.2f} s", file=self.out)
        return ExitCode.OK


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


# -- the checks ------------------------------------------------------------------------------


def check_version() -> str:
    found = version()
    if found == "0+unknown":
        raise RuntimeError("the position-sync package metadata is missing (a frozen build must copy it)")
    return f"position-sync {found} from the package metadata"


def check_resources() -> str:
    folder = resource_dir()
    icons = sorted((folder / "icons").glob("*.svg"))
    demo = [folder / "demo" / name for name in ("config.toml", "scenario.toml", "book.json")]
    missing = [p for p in [folder / "icons" / "app.svg", *demo] if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"missing {', '.join(str(p) for p in missing)}")
    return f"{folder} ({len(icons)} SVG icons, demo config, scenario and book)"


def check_migrations() -> str:
    from position_sync.app.store.engine import head_revision

    folder = migrations_dir()
    scripts = sorted((folder / "versions").glob("*.py"))
    if not (folder / "env.py").is_file() or not scripts:
        raise FileNotFoundError(f"no Alembic env.py or versions/*.py in {folder}")
    return f"{len(scripts)} scripts in {folder}, head {head_revision()}"


def named_imports() -> list[str]:
    """Every module the registries import by name (brokers with their logins and declared hidden
    imports, book kinds), which PyInstaller's import analysis cannot see: the frozen build's
    spec lists these, and ``check_brokers`` imports them in the bundle to prove it did."""
    from position_sync.app.books.kinds import BOOK_KINDS
    from position_sync.brokers.registry import frozen_imports

    return [*frozen_imports(), *BOOK_KINDS.values()]


CCXT_EXCHANGES = "ccxt.async_support."


def ccxt_exchange_ids(modules: list[str]) -> list[str]:
    """``binanceusdm`` for ``ccxt.async_support.binanceusdm``: the exchanges whose classes the
    adapters build through ``ccxt_import`` (and the desktop build ships, and nothing more)."""
    ids = []
    for name in modules:
        rest = name.removeprefix(CCXT_EXCHANGES)
        if rest != name and "." not in rest and rest != "base":
            ids.append(rest)
    return ids


def check_brokers() -> str:
    """Imports every named module but ccxt's own: importing ``ccxt.async_support.<id>`` by
    name runs ccxt's package ``__init__`` files, which import every exchange ccxt has, and the
    desktop build ships only the registered ones. ``check_exchange_clients`` imports those the
    way the adapters do."""
    modules = [name for name in named_imports() if name.split(".")[0] != "ccxt"]
    for name in modules:
        importlib.import_module(name)
    return ", ".join(modules)


def check_exchange_clients() -> str:
    """Each registered exchange's ccxt class, built the way the adapters build it (only that
    exchange's modules imported), made into an instance, and its HTTP session (aiohttp with
    ccxt's CA bundle) opened and closed: what a frozen build that left out a module ccxt needs,
    or the CA file, would fail at on the first sync."""
    ids = ccxt_exchange_ids(named_imports())
    if not ids:
        return "no ccxt exchange is registered"
    from position_sync.brokers.ccxt_import import exchange_class

    instances = [exchange_class(exchange_id)({"enableRateLimit": True}) for exchange_id in ids]

    async def open_and_close() -> None:
        for instance in instances:
            try:
                instance.open()
            finally:
                await instance.close()

    asyncio.run(open_and_close())
    loaded = sum(1 for name in sys.modules if name.startswith("ccxt."))
    built = ", ".join(f"{instance.id} ({type(instance).__module__})" for instance in instances)
    return f"ccxt {_dist_version('ccxt', sys.modules['ccxt'])}: {built}; {loaded} ccxt modules loaded"


def check_broker_clients() -> str:
    kiteconnect = importlib.import_module("kiteconnect")
    ib_async = importlib.import_module("ib_async")
    eventkit = importlib.import_module("eventkit")
    parts = [
        f"kiteconnect {_dist_version('kiteconnect', kiteconnect)}",
        f"ib_async {_dist_version('ib_async', ib_async)}",
        f"eventkit {_dist_version('aeventkit', eventkit)}",
    ]
    return ", ".join(parts)


def _dist_version(distribution: str, module: object) -> str:
    """The distribution's version, or the module's own ``__version__`` string without metadata."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        found = getattr(module, "__version__", None)
        return found if isinstance(found, str) else "(version unknown)"


def check_databases() -> str:
    """SQLite for the store; PostgreSQL through psycopg2 when the build included it (optional)."""
    from sqlalchemy import create_engine, text

    engine = create_engine("sqlite://")
    with engine.connect() as connection:
        sqlite_version = connection.execute(text("select sqlite_version()")).scalar_one()
    engine.dispose()
    try:
        importlib.import_module("psycopg2")
    except ImportError:
        return f"sqlite {sqlite_version}; postgresql not bundled (psycopg2 not installed at build time)"
    # Creating an engine loads the dialect and its DBAPI without connecting anywhere.
    create_engine("postgresql+psycopg2://self-check@127.0.0.1/none").dispose()
    return f"sqlite {sqlite_version}; postgresql+psycopg2 dialect loads"


def check_keyring() -> str:
    import keyring

    expected = KEYRING_BACKEND_WINDOWS if sys.platform == "win32" else KEYRING_BACKEND.get(sys.platform)
    if expected:
        importlib.import_module(expected)
    # Which backend is *viable* depends on the desktop session (Secret Service over D-Bus), not
    # on the build, so only the platform backend's presence is checked; the one in use is shown.
    backend = keyring.get_keyring()
    in_use = f"{type(backend).__module__.removeprefix('keyring.backends.')}.{type(backend).__name__}"
    return f"{expected or 'no platform backend expected'} imports; in use here: {in_use}"


def check_demo_config() -> str:
    from position_sync.app.config import load_settings

    settings = load_settings(DEMO_CONFIG)
    return f"{DEMO_CONFIG}: {len(settings.accounts)} account(s), {len(settings.books)} book(s)"


def check_store(data_dir: Path) -> str:
    from position_sync.app.store import Store
    from position_sync.app.store.engine import current_revision, head_revision

    store = Store.open(data_dir)
    try:
        revision = current_revision(store.engine)
        store.rows()
    finally:
        store.close()
    if revision != head_revision():
        raise RuntimeError(f"migrated to {revision}, expected {head_revision()}")
    return f"opened, migrated to {revision} and closed in {data_dir}"


async def check_demo_sync(data_dir: Path) -> str:
    """One sync of every demo account through the same runtime and worker the window uses."""
    from position_sync.app.config import load_settings
    from position_sync.app.domain import AccountState
    from position_sync.wiring import build_runtime

    runtime = build_runtime(load_settings(DEMO_CONFIG), data_dir)
    try:
        await runtime.worker.load()
        results = await asyncio.wait_for(runtime.worker.sync_all("self-check"), SYNC_TIMEOUT)
    finally:
        await runtime.close()
    if not results:
        raise RuntimeError("the demo has no account to sync")
    bad = [f"{r.account} is {r.state.value} ({r.error})" for r in results if r.state is not AccountState.OK]
    if bad:
        raise RuntimeError("; ".join(bad))
    rows = [row for r in results for row in r.rows.values()]
    if not rows:
        raise RuntimeError("the demo sync produced no rows")
    statuses = Counter(row.status.value for row in rows)
    summary = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    took = sum(r.duration for r in results)
    return f"{len(results)} account(s), {len(rows)} rows ({summary}) in {took * 1000:.0f} ms"


def core_checks(report: Report, data_dir: Path) -> None:
    """Every check that needs no event loop and no Qt, in the order a start-up needs them."""
    report.run("version", check_version)
    report.run("resources", check_resources)
    report.run("migrations", check_migrations)
    report.run("brokers", check_brokers)
    report.run("broker clients", check_broker_clients)
    report.run("exchange clients", check_exchange_clients)
    report.run("database drivers", check_databases)
    report.run("keyring", check_keyring)
    report.run("demo config", check_demo_config)
    report.run("store", lambda: check_store(data_dir / "store-check"))


def run_self_check(out: TextIO | None = None) -> int:
    """The Qt-free self-check (for an install without the window); 0 when every check passed."""
    report = Report(out)
    report.header()
    with tempfile.TemporaryDirectory(prefix="position-sync-self-check-") as tmp:
        data_dir = Path(tmp)
        core_checks(report, data_dir)
        asyncio.run(report.run_async("demo sync", lambda: check_demo_sync(data_dir / "demo")))
    return report.finish()
