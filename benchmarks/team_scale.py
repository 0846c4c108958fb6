"""Team mode at scale: 50 accounts of 1,000 positions, two daemons on one PostgreSQL store.

Both daemons run the real ``position-sync daemon`` on a shared store (``[store] shared``), every
account on a 10 s interval, each account's simulated broker ticking the last price of a tenth
of its positions every interval (the benchmark rewrites the scenario files; the simulated
broker re-reads an edited scenario). After every account's first sync (all rows new), it
measures for ``--seconds``:

- the database's CPU (all PostgreSQL server processes, from /proc) and its growth
  (``pg_database_size``), both per hour;
- each daemon's CPU, and how many accounts each holds;

then the lease handover: one daemon killed with SIGKILL (its session ends, its accounts are
free at once), and with ``--hung`` one stopped with SIGSTOP (its leases must expire: the lease
time). Prints figures; asserts nothing.

PostgreSQL: ``POSITION_SYNC_TEST_PG`` (default the server .ci/run starts on 127.0.0.1), the
password in ``POSITION_SYNC_TEST_PG_PASSWORD`` (default "postgres").
Run: ``python benchmarks/team_scale.py [--seconds 120] [--accounts 50] [--positions 1000] [--hung]``.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TICKS = os.sysconf("SC_CLK_TCK")


def admin_url() -> str:
    url = os.environ.get("POSITION_SYNC_TEST_PG", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    password = os.environ.get("POSITION_SYNC_TEST_PG_PASSWORD", "postgres")
    return make_url(url).set(password=password).render_as_string(hide_password=False)


def scenario_text(positions: int, rng: random.Random, prices: list[float]) -> str:
    lines = ["[[steps]]", "positions = ["]
    for i in range(positions):
        lines.append(
            f'  {{ symbol = "NSE:S{i:05d}", quantity = "{i % 50 + 1}", average_price = "{100 + i % 900}", '
            f'last_price = "{prices[i]:.2f}" }},'
        )
    lines.append("]")
    return "\n".join(lines) + "\n"


def write_inputs(root: Path, accounts: int, positions: int, lease: float) -> tuple[Path, list[list[float]]]:
    import json

    rng = random.Random(7)
    prices = [[100.0 + i % 900 for i in range(positions)] for _ in range(accounts)]
    config = [
        "[store]",
        'url_env = "PS_BENCH_STORE"',
        "shared = true",
        f"lease_seconds = {lease}",
        "",
    ]
    for a in range(accounts):
        book = [
            {"symbol": f"NSE:S{i:05d}", "quantity": i % 50 + 1, "average_price": 100 + i % 900}
            for i in range(positions)
        ]
        (root / f"book{a}.json").write_text(json.dumps({"positions": book}), encoding="utf-8")
        (root / f"s{a}.toml").write_text(scenario_text(positions, rng, prices[a]), encoding="utf-8")
        config += [
            "[[books]]",
            f'id = "b{a}"',
            'kind = "file"',
            f'path = "book{a}.json"',
            "",
            "[[accounts]]",
            f'id = "acct{a:02d}"',
            'broker = "simulated"',
            f'scenario = "s{a}.toml"',
            f'book = "b{a}"',
            "interval = 10",
            "settle_seconds = 0",
            "",
        ]
    (root / "config.toml").write_text("\n".join(config), encoding="utf-8")
    return root / "config.toml", prices


def tick(root: Path, prices: list[list[float]], rng: random.Random) -> None:
    """A tenth of each account's positions move by up to 0.5 %."""
    for a, account_prices in enumerate(prices):
        for i in rng.sample(range(len(account_prices)), len(account_prices) // 10):
            account_prices[i] = round(account_prices[i] * (1 + rng.uniform(-0.005, 0.005)), 2)
        path = root / f"s{a}.toml"
        path.write_text(scenario_text(len(account_prices), rng, account_prices), encoding="utf-8")


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL server process alive now (backends come and go: the
    daemons keep theirs open, so the sum over one run is close)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("postgres"):
            total += cpu_seconds(int(entry.name))
    return total


def stop(daemons: list[subprocess.Popen[bytes]]) -> None:
    for daemon in daemons:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGCONT)
            daemon.kill()
        daemon.wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--positions", type=int, default=1000)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--hung", action="store_true", help="also time a SIGSTOPped daemon's leases expiring")
    args = parser.parse_args()

    admin = create_engine(admin_url(), isolation_level="AUTOCOMMIT")
    name = f"ps_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(admin_url()).set(database=name).render_as_string(hide_password=False)
    from position_sync.app.store import Store

    Store(url).close()  # the administrator creates the shared store ('store upgrade') before daemons start
    store_engine = create_engine(url)
    daemons: list[subprocess.Popen[bytes]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="ps-team-bench-") as folder:
            root = Path(folder)
            config, prices = write_inputs(root, args.accounts, args.positions, args.lease)
            env = {**os.environ, "PS_BENCH_STORE": url, "PYTHONPATH": str(ROOT)}
            for n in (1, 2):
                daemons.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "position_sync.cli",
                            "--config",
                            str(config),
                            "--data-dir",
                            str(root / f"data{n}"),
                            "daemon",
                        ],
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=(root / f"daemon{n}.log").open("wb"),
                    )
                )

            def scalar(sql: str) -> int:
                with store_engine.connect() as connection:
                    return int(connection.execute(text(sql)).scalar() or 0)

            started = time.monotonic()
            while scalar("SELECT count(DISTINCT account) FROM sync_runs") < args.accounts:
                if time.monotonic() - started > 600:
                    raise SystemExit("the daemons did not sync every account within 10 minutes")
                time.sleep(0.5)
            warm = time.monotonic() - started
            print(f"{args.accounts} accounts x {args.positions} positions, 2 daemons, 10 s interval")
            print(f"  first sync of every account (all rows new): {warm:.1f} s after start")

            rng = random.Random(11)
            size0 = scalar(f"SELECT pg_database_size('{name}')")
            runs0 = scalar("SELECT count(*) FROM sync_runs")
            pg0 = postgres_cpu()
            cpu0 = [cpu_seconds(d.pid) for d in daemons]
            t0 = time.monotonic()
            next_tick = t0
            while time.monotonic() - t0 < args.seconds:
                if time.monotonic() >= next_tick:
                    tick(root, prices, rng)
                    next_tick += 10
                time.sleep(0.2)
            elapsed = time.monotonic() - t0
            pg_cpu = postgres_cpu() - pg0
            cpu = [cpu_seconds(d.pid) - c for d, c in zip(daemons, cpu0, strict=True)]
            growth = scalar(f"SELECT pg_database_size('{name}')") - size0
            runs = scalar("SELECT count(*) FROM sync_runs") - runs0
            with store_engine.connect() as connection:
                held: dict[str, int] = dict(
                    connection.execute(
                        text("SELECT holder, count(*) FROM account_leases GROUP BY holder")
                    ).all()
                )
            hour = 3600 / elapsed
            print(f"  measured {elapsed:.0f} s: {runs} syncs ({runs / elapsed:.1f}/s)")
            print(
                f"  database CPU: {pg_cpu:.1f} s -> {pg_cpu * hour / 60:.1f} CPU-minutes per hour "
                f"({100 * pg_cpu / elapsed:.1f} % of one core)"
            )
            print(f"  database growth: {growth / 1e6:.2f} MB -> {growth * hour / 1e6:.0f} MB per hour")
            for n, (daemon, seconds) in enumerate(zip(daemons, cpu, strict=True), 1):
                holds = next((c for h, c in held.items() if f"pid {daemon.pid} " in h), 0)
                print(
                    f"  daemon {n}: {holds} accounts, CPU {seconds:.1f} s ({100 * seconds / elapsed:.1f} % of one core)"
                )

            def handover(victim: subprocess.Popen[bytes], how: signal.Signals) -> float:
                with store_engine.connect() as connection:
                    mine = [
                        r[0]
                        for r in connection.execute(
                            text("SELECT account FROM account_leases WHERE holder LIKE :h"),
                            {"h": f"%pid {victim.pid} %"},
                        )
                    ]
                survivor = next(d for d in daemons if d is not victim)
                t = time.monotonic()
                victim.send_signal(how)
                while True:
                    with store_engine.connect() as connection:
                        moved = connection.execute(
                            text(
                                "SELECT count(*) FROM account_leases WHERE account = ANY(:a) AND holder LIKE :h"
                            ),
                            {"a": mine, "h": f"%pid {survivor.pid} %"},
                        ).scalar_one()
                    if moved == len(mine):
                        return time.monotonic() - t
                    if time.monotonic() - t > 10 * args.lease:
                        return float("nan")
                    time.sleep(0.05)

            if args.hung:
                victim = max(daemons, key=lambda d: sum(c for h, c in held.items() if f"pid {d.pid} " in h))
                seconds = handover(victim, signal.SIGSTOP)
                print(f"  handover from a hung daemon (SIGSTOP, lease {args.lease:g} s): {seconds:.1f} s")
                victim.send_signal(signal.SIGCONT)
                time.sleep(args.lease / 5 + 1)
            with store_engine.connect() as connection:
                counts: dict[str, int] = dict(
                    connection.execute(
                        text("SELECT holder, count(*) FROM account_leases GROUP BY holder")
                    ).all()
                )
            victim = max(
                daemons, key=lambda d: next((c for h, c in counts.items() if f"pid {d.pid} " in h), 0)
            )
            seconds = handover(victim, signal.SIGKILL)
            print(f"  handover after SIGKILL (lease {args.lease:g} s): {seconds:.2f} s")
            stop(daemons)
    finally:
        stop(daemons)
        store_engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


if __name__ == "__main__":
    main()
