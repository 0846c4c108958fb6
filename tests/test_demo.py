"""The built-in demo comes to rest: after its walk both accounts stay alive."""

from __future__ import annotations

import asyncio
from pathlib import Path

from position_sync.app.config import load_settings
from position_sync.wiring import build_runtime

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "resources" / "demo" / "config.toml"


def test_the_demo_comes_to_rest_with_both_accounts_alive(tmp_path: Path) -> None:
    """After its walk (one outage on each account) the demo keeps syncing, all accounts ok."""
    runtime = build_runtime(load_settings(DEMO_CONFIG), tmp_path / "data")

    async def walk() -> list[dict[str, str]]:
        await runtime.worker.load()
        states = []
        try:
            for _ in range(9):
                results = await asyncio.gather(*(runtime.worker.sync(a, "test") for a in ("demo", "demo-us")))
                states.append({r.account: r.state.value for r in results})
        finally:
            await runtime.close()
        return states

    states = asyncio.run(walk())
    assert states[3] == {"demo": "stale", "demo-us": "ok"}  # demo's outage
    assert states[4] == {"demo": "ok", "demo-us": "stale"}  # demo-us's, as demo recovers
    assert states[5:] == [{"demo": "ok", "demo-us": "ok"}] * 4  # and then both stay alive
