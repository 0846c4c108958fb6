"""Desktop bundle figures: size on disk, tar.gz size, and frozen start to ``--self-check`` done.

The size is what ``du -s`` counts for ``dist/position-sync`` (budget: 200 MB); the tar.gz is what
a user downloads. The start time is the wall time of ``position-sync --self-check`` from exec to
exit (it starts Qt offscreen, builds the window, migrates a store and runs one demo sync), the
median of a few runs. Before each run the page cache is dropped when this process may write
``/proc/sys/vm/drop_caches`` (root on a real kernel), which makes it a cold start from disk;
otherwise the runs are warm and the output says so.

Run: ``python benchmarks/packaging.py [DIST_DIR]`` with a folder from ``packaging/build.sh``
(the one holding ``position-sync/`` and the tar.gz), or with no argument to build one first in
a temporary folder. (The file is named after the issue; it imports nothing called
``packaging``.)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "packaging"))

from bundle_tools import disk_usage  # noqa: E402  (the count the build and the test use)

BUDGET_MB = 200.0
DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def drop_page_cache() -> bool:
    """True if the kernel dropped its page cache (needs root and a writable /proc/sys)."""
    try:
        os.sync()
        DROP_CACHES.write_text("3\n")
    except OSError:
        return False
    return True


def timed_run(executable: Path, args: list[str], cold: bool) -> tuple[float, bool]:
    """Seconds from exec to exit, and whether the page cache was dropped just before."""
    dropped = drop_page_cache() if cold else False
    env = {key: value for key, value in os.environ.items() if key != "QT_QPA_PLATFORM"}
    started = time.perf_counter()
    result = subprocess.run(
        [str(executable), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(
            f"{executable} {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return seconds, dropped


def build(into: Path) -> Path:
    """Run packaging/build.sh into ``into``; returns the dist folder."""
    dist, work = into / "dist", into / "work"
    started = time.perf_counter()
    subprocess.run(
        [str(ROOT / "packaging" / "build.sh"), "--dist", str(dist), "--work", str(work)],
        check=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    print(f"build: {time.perf_counter() - started:.0f} s (packaging/build.sh)")
    return dist


def tarball_size(dist: Path, bundle: Path, scratch: Path) -> tuple[int, str]:
    """The tar.gz build.sh made, or one made now the same way when the folder has none."""
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    found = sorted(dist.glob(f"position-sync-{version}-linux-*.tar.gz"))
    if found:
        return found[-1].stat().st_size, found[-1].name
    made = scratch / "position-sync.tar.gz"
    with tarfile.open(made, "w:gz") as tar:
        tar.add(bundle, arcname="position-sync")
    return made.stat().st_size, f"{made.name} (made now: none in {dist})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("dist", nargs="?", type=Path, help="folder from packaging/build.sh; built if omitted")
    parser.add_argument("--runs", type=int, default=5, help="self-check runs for the median (default 5)")
    parser.add_argument("--warm", action="store_true", help="do not drop the page cache between runs")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="position-sync-bench-") as tmp:
        scratch = Path(tmp)
        dist = args.dist.resolve() if args.dist else build(scratch)
        bundle = dist / "position-sync" if (dist / "position-sync").is_dir() else dist
        executable = bundle / "position-sync"
        if not executable.is_file():
            sys.exit(f"no built bundle in {dist}: run packaging/build.sh or omit the argument")

        size = disk_usage(bundle)
        verdict = "within" if size / 1e6 < BUDGET_MB else "OVER"
        print(f"bundle on disk: {size / 1e6:.1f} MB ({verdict} the {BUDGET_MB:.0f} MB budget), {bundle}")
        packed, name = tarball_size(dist, bundle, scratch)
        print(f"tar.gz: {packed / 1e6:.1f} MB, {name}")

        timed_run(executable, ["--version"], cold=False)  # a first run that pays nothing else
        version_times = [timed_run(executable, ["--version"], cold=not args.warm) for _ in range(args.runs)]
        check_times = [timed_run(executable, ["--self-check"], cold=not args.warm) for _ in range(args.runs)]
        cold = all(dropped for _, dropped in version_times + check_times)
        kind = "cold (page cache dropped before each run)" if cold else "warm (page cache not dropped)"
        median_version = statistics.median(t for t, _ in version_times)
        median_check = statistics.median(t for t, _ in check_times)
        spread = ", ".join(f"{t:.2f}" for t, _ in check_times)
        print(f"frozen start to --version done: {median_version:.2f} s median of {args.runs}, {kind}")
        print(
            f"frozen start to --self-check done: {median_check:.2f} s median of {args.runs} ({spread}), {kind}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
