"""The simulated broker builds a scenario's steps as they are reached, and a wrong one still says so.

A ``sync --once`` process shows one step; building every step up front doubled the broker's
share of a 100,000-position sync. The mistake of a step must not be lost on the way: the step
the account is at is a config error at start, a later one makes the account stale when reached.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from position_sync.app.broker import AdapterContext
from position_sync.app.config import AccountConfig
from position_sync.app.errors import ConfigError, ReadError, ReadErrorKind
from position_sync.app.secrets import Secrets
from position_sync.brokers.registry import create_adapter
from position_sync.brokers.simulated import Scenario, load_scenario
from tests.conftest import write_scenario

GOOD = {"positions": [{"symbol": "INFY", "quantity": "10", "average_price": "1500"}]}
BAD = {"positions": [{"symbol": "TCS", "quantity": "ten", "average_price": "3500"}]}


def _account(scenario: Path) -> AccountConfig:
    return AccountConfig(
        id="sim",
        broker="simulated",
        book="bot",
        options={"scenario": str(scenario)},
        base_dir=scenario.parent,
    )


def test_only_the_steps_reached_are_built(tmp_path: Path) -> None:
    scenario = load_scenario(write_scenario(tmp_path / "s.toml", [GOOD, BAD, GOOD]))
    assert isinstance(scenario, Scenario) and len(scenario) == 3
    first = scenario.step(0)
    assert [p.instrument for p in first.positions] == ["INFY"]
    assert scenario.step(0) is first  # built once: an unchanged step is the very same answer
    with pytest.raises(ConfigError) as caught:
        scenario.step(1)
    assert "steps[1].positions[0]" in str(caught.value) and "not a number" in str(caught.value)


async def test_a_wrong_later_step_makes_the_account_stale_when_reached(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "s.toml", [GOOD, BAD])
    adapter = create_adapter(_account(scenario), AdapterContext(tmp_path / "data", Secrets()))
    try:
        snapshot = await adapter.fetch()
        assert [p.instrument for p in snapshot.positions] == ["INFY"]
        with pytest.raises(ReadError) as caught:
            await adapter.fetch()
        assert caught.value.kind is ReadErrorKind.MALFORMED
        assert "scenario of sim" in str(caught.value) and "steps[1].positions[0]" in str(caught.value)
    finally:
        await adapter.close()


def test_a_wrong_step_the_account_is_at_is_a_config_error_at_start(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "s.toml", [BAD, GOOD])
    with pytest.raises(ConfigError) as caught:
        create_adapter(_account(scenario), AdapterContext(tmp_path / "data", Secrets()))
    assert "steps[0].positions[0]" in str(caught.value)


def test_a_step_set_back_after_its_toml_was_let_go_is_read_again(tmp_path: Path) -> None:
    later = {"positions": [{"symbol": "TCS", "quantity": "5", "average_price": "3500"}]}
    scenario = load_scenario(write_scenario(tmp_path / "s.toml", [GOOD, later]))
    assert [p.instrument for p in scenario.step(1).positions] == ["TCS"]
    assert [p.instrument for p in scenario.step(0).positions] == ["INFY"]
