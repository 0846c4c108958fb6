"""A scripted broker for the demo and the tests.

A scenario file (TOML) lists ``[[steps]]``; each fetch advances one step and the last one
repeats. The step reached is kept in the data directory, so successive ``position-sync sync
--once`` runs walk the scenario just as a long-running window does.

A scenario edited while the program runs is read again at the next fetch, so a test (or a
curious user) can change what the "broker" holds under a running daemon: several daemons sharing
one scenario file see one broker, as they would a real one.
"""

from __future__ import annotations

import asyncio
import json
import os
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from position_sync.app.broker import AdapterContext, BrokerSpec, PushHandler
from position_sync.app.collector import collector_paused
from position_sync.app.config import AccountConfig
from position_sync.app.domain import BrokerSnapshot, Position, WorkingOrder, optional_decimal, to_decimal
from position_sync.app.errors import ConfigError, LoginRequired, ReadError, ReadErrorKind
from position_sync.app.options import Option
from position_sync.app.paths import id_file_stem
from position_sync.app.private import write_private_text

FAILURES: dict[str, tuple[ReadErrorKind, str]] = {
    "network": (ReadErrorKind.NETWORK, "the simulated broker is unreachable (connection refused)"),
    "timeout": (ReadErrorKind.TIMEOUT, "the simulated broker did not answer in time"),
    "login_expired": (ReadErrorKind.LOGIN_EXPIRED, "the simulated broker session expired; log in again"),
    "malformed": (ReadErrorKind.MALFORMED, "the simulated broker answered with a malformed payload"),
}
POSITION_KEYS = frozenset(
    {
        "symbol",
        "quantity",
        "average_price",
        "last_price",
        "realised_pnl",
        "unrealised_pnl",
        "product",
        "multiplier",
        "currency",
        "aliases",
    }
)


@dataclass(frozen=True)
class Step:
    positions: tuple[Position, ...] = ()
    orders: tuple[WorkingOrder, ...] = ()
    fail: str | None = None


class Scenario:
    """A scenario's steps, each built into positions when first reached.

    A process reads one step (``sync --once`` reads the step it is at): building the positions of
    every step up front cost a 100,000-position scenario of two steps 0.2 s and as many objects
    again, for a step this process never shows. A mistake in a step is found when that step is
    built: at start for the step the account is at, at the fetch that reaches it for a later one.
    """

    def __init__(self, path: Path, entries: list[dict[str, Any]]) -> None:
        self.path = path
        self._entries: list[dict[str, Any] | None] = list(entries)
        self._built: dict[int, Step] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def step(self, index: int) -> Step:
        """Step ``index`` (``ConfigError`` naming the file, the step and the field if it is wrong).

        Steps move forward (the last one repeats), so once ``index`` is built, the parsed TOML
        of it and of the steps before it is let go: at 100,000 positions a side the parsed TOML
        of a step is 75 MB. A step let go unbuilt (the step file set back by hand) is read again.
        """
        built = self._built.get(index)
        if built is None:
            entry = self._entries[index]
            if entry is None:
                again = load_scenario(self.path)._entries
                if index >= len(again) or (entry := again[index]) is None:
                    raise ConfigError(self.path, f"steps[{index}]", "is gone: the scenario was edited")
            with collector_paused():  # a large step is hundreds of thousands of young objects
                built = self._built[index] = _parse_step(entry, index, self.path)
            self._entries[: index + 1] = [None] * (index + 1)
        return built


def load_scenario(path: Path) -> Scenario:
    """Parse a scenario and check its shape; each step is checked as it is built (``Scenario``)."""
    with collector_paused():  # the parsed TOML of a large scenario is as many young objects
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(path, "", "scenario file does not exist") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(path, "", f"is not valid TOML: {exc}") from None
    steps_raw = raw.get("steps")
    if not isinstance(steps_raw, list) or not steps_raw or not all(isinstance(s, dict) for s in steps_raw):
        raise ConfigError(path, "steps", "must be a non-empty array of tables ([[steps]])")
    return Scenario(path, steps_raw)


def _parse_step(entry: dict[str, Any], index: int, path: Path) -> Step:
    where = f"steps[{index}]"
    if "fail" in entry:
        if entry["fail"] not in FAILURES:
            raise ConfigError(path, f"{where}.fail", f"must be one of {', '.join(FAILURES)}")
        return Step(fail=entry["fail"])
    positions_raw = entry.get("positions", [])
    if not isinstance(positions_raw, list) or not all(isinstance(p, dict) for p in positions_raw):
        raise ConfigError(path, f"{where}.positions", "must be an array of inline tables")
    positions = _positions_at_once(positions_raw)
    if positions is None:
        positions = _positions_one_by_one(positions_raw, where, path)
    orders_raw = entry.get("orders", [])
    orders = []
    for number, item in enumerate(orders_raw if isinstance(orders_raw, list) else []):
        try:
            orders.append(
                WorkingOrder(
                    str(item["symbol"]), to_decimal(item["quantity"]), str(item.get("description", ""))
                )
            )
        except (KeyError, ValueError, TypeError):
            raise ConfigError(
                path, f"{where}.orders[{number}]", "needs a symbol and a signed quantity (BUY positive)"
            ) from None
    return Step(tuple(positions), tuple(orders))


def _optional(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


def _positions_at_once(items: list[dict[str, Any]]) -> list[Position] | None:
    """Every position of a step in one comprehension, or None if any is unusual or wrong.

    A 100,000-position scenario is read in every ``sync --once`` process: checking and building
    each position with a call per field cost as much as parsing the TOML. Unknown fields, a
    missing or blank symbol, a number that is not one, an odd ``aliases``: None, and
    ``_positions_one_by_one`` reads the step again to say what is wrong where.
    """
    one = Decimal(1)
    try:
        positions = [
            Position(
                symbol,
                to_decimal(item["quantity"]),
                _optional(item.get("average_price")),
                _optional(item.get("last_price")),
                _optional(item.get("unrealised_pnl")),
                _optional(item.get("realised_pnl")),
                item.get("product"),
                symbol,
                one if (multiplier := item.get("multiplier")) is None else to_decimal(multiplier),
                item.get("currency"),
                tuple(item.get("aliases", ())),
            )
            for item in items
            if item.keys() <= POSITION_KEYS and type(symbol := item.get("symbol")) is str and symbol.strip()
        ]
    except (KeyError, TypeError, ValueError):
        return None
    return positions if len(positions) == len(items) else None


def _positions_one_by_one(items: list[dict[str, Any]], where: str, path: Path) -> list[Position]:
    """The positions of a step checked one by one: the first mistake names its field."""
    positions = []
    for number, item in enumerate(items):
        field = f"{where}.positions[{number}]"
        unknown = sorted(set(item) - POSITION_KEYS)
        if unknown:
            raise ConfigError(
                path, f"{field}.{unknown[0]}", f"is not a position field ({', '.join(sorted(POSITION_KEYS))})"
            )
        if not isinstance(item.get("symbol"), str) or not item["symbol"].strip():
            raise ConfigError(path, f"{field}.symbol", "is required")
        try:
            positions.append(
                Position(
                    instrument=item["symbol"],
                    symbol=item["symbol"],
                    quantity=to_decimal(item.get("quantity", "")),
                    average_price=optional_decimal(item.get("average_price")),
                    last_price=optional_decimal(item.get("last_price")),
                    realised_pnl=optional_decimal(item.get("realised_pnl")),
                    unrealised_pnl=optional_decimal(item.get("unrealised_pnl")),
                    label=item.get("product"),
                    multiplier=to_decimal(item.get("multiplier", 1)),
                    currency=item.get("currency"),
                    aliases=tuple(item.get("aliases", ())),
                )
            )
        except ValueError as exc:
            raise ConfigError(path, field, f"has a value that is not a number ({exc})") from None
    return positions


class SimulatedBroker:
    def __init__(self, account_id: str, scenario: Path, steps: Scenario, state_file: Path) -> None:
        self.account_id = account_id
        self.scenario = scenario
        self.steps = steps
        self.state_file = state_file
        self._push: PushHandler | None = None
        self._stamp = _stamp(scenario)

    def _step_index(self) -> int:
        try:
            return int(json.loads(self.state_file.read_text(encoding="utf-8"))["step"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0

    def _save_step(self, index: int) -> None:
        temporary = self.state_file.with_suffix(".tmp")
        write_private_text(temporary, json.dumps({"step": index, "scenario": str(self.scenario)}))
        os.replace(temporary, self.state_file)

    @property
    def step(self) -> int:
        return min(self._step_index(), len(self.steps) - 1)

    def _reload_if_edited(self) -> None:
        stamp = _stamp(self.scenario)
        if stamp == self._stamp:
            return
        try:
            steps = load_scenario(self.scenario)
        except (ConfigError, OSError) as exc:
            raise ReadError(
                ReadErrorKind.MALFORMED,
                f"the scenario of {self.account_id} was edited and cannot be read: {exc}",
            ) from None
        self.steps, self._stamp = steps, stamp

    async def fetch(self) -> BrokerSnapshot:
        self._reload_if_edited()
        index = self.step
        self._save_step(min(index + 1, len(self.steps) - 1))
        try:
            # Off the event loop: building a large step is the window's frame time several times over.
            step = await asyncio.to_thread(self.steps.step, index)
        except ConfigError as exc:
            raise ReadError(
                ReadErrorKind.MALFORMED, f"the scenario of {self.account_id} cannot be read: {exc}"
            ) from None
        if step.fail is not None:
            kind, message = FAILURES[step.fail]
            text = f"{message} (account {self.account_id}, scenario step {index + 1})"
            if kind is ReadErrorKind.LOGIN_EXPIRED:
                raise LoginRequired(text)
            raise ReadError(kind, text)
        return BrokerSnapshot(step.positions, step.orders)

    def on_push(self, handler: PushHandler) -> None:
        self._push = handler

    async def close(self) -> None:
        self._push = None


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


SPEC = BrokerSpec(
    name="simulated",
    title="Simulated broker (demo and tests)",
    options=(
        Option(
            "scenario",
            Path,
            "a TOML file of steps, each the broker's whole picture at one sync",
            required=True,
            example="scenario.toml",
        ),
    ),
)


def scripted_steps(account: AccountConfig) -> int | None:
    """The number of steps of the account's scenario (the registry's ``scripted_steps``)."""
    scenario = account.path_option("scenario")
    return len(load_scenario(scenario)) if scenario is not None else None


def create(account: AccountConfig, context: AdapterContext) -> SimulatedBroker:
    scenario = account.path_option("scenario")
    if scenario is None:
        raise ConfigError(
            account.config_path, f"accounts.{account.id}.scenario", "is required for a simulated broker"
        )
    if not scenario.is_file():
        # Named from the config's side: the user fixes the 'scenario' field of that file.
        raise ConfigError(
            account.config_path,
            f"accounts.{account.id}.scenario",
            f"names {scenario}, which does not exist",
        )
    steps = load_scenario(scenario)
    # The id is part of a file name only through ``id_file_stem``: ``../../x`` stays inside.
    state = context.data_dir / "simulated" / f"{id_file_stem(account.id)}.json"
    broker = SimulatedBroker(account.id, scenario, steps, state)
    steps.step(broker.step)  # a mistake in the step the account is at is a config error, as ever
    return broker
