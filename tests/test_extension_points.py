"""Adding a broker or a book kind is one module plus one registry line.

A throw-away broker and a throw-away book kind are written as modules of their own, registered
with one line each, and then used end to end (config, did-you-mean, a real ``sync --once``,
the reference, the frozen build's list). The README's reference is checked against the
declarations it is generated from.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
import tomllib
from pathlib import Path

import pytest

from position_sync import config_reference
from position_sync.app.books import open_book
from position_sync.app.books.kinds import BOOK_KINDS, book_kind
from position_sync.app.broker import AdapterContext
from position_sync.app.config import ACCOUNT_OPTIONS, AccountConfig, parse_settings
from position_sync.app.errors import ConfigError
from position_sync.app.options import defaults_of
from position_sync.app.secrets import Secrets
from position_sync.brokers import registry
from position_sync.self_check import named_imports
from tests.faults.harness import sync_once

ROOT = Path(__file__).resolve().parent.parent

THROWAWAY_BROKER = '''
"""A broker holding what its account's ``holding`` option says."""
from decimal import Decimal

from position_sync.app.broker import BrokerSpec
from position_sync.app.domain import BrokerSnapshot, Position
from position_sync.app.options import Option

SPEC = BrokerSpec(
    name="throwaway",
    title="Throw-away broker",
    options=(
        Option("holding", str, "SYMBOL=QUANTITY the broker holds", required=True),
        Option("depth", int, "how deep", default=1, minimum=1),
    ),
    defaults={"interval": 42},
    hidden_imports=("json",),
)


class Adapter:
    def __init__(self, account_id, holding):
        self.account_id = account_id
        self.holding = holding

    async def fetch(self):
        symbol, quantity = self.holding.split("=")
        return BrokerSnapshot((Position(symbol, Decimal(quantity)),))

    def on_push(self, handler):
        return None

    async def close(self):
        return None


def create(account, context):
    return Adapter(account.id, account.options["holding"])
'''

THROWAWAY_BOOK = '''
"""A book kind whose positions are written in its own ``lines`` key."""
from datetime import UTC, datetime
from decimal import Decimal

from position_sync.app.books.kinds import BookKind
from position_sync.app.domain import BookSnapshot, Position
from position_sync.app.options import Option


class LinesBook:
    def __init__(self, config):
        self.id = config.id
        self.lines = config.url

    def read(self, account):
        positions = []
        for line in self.lines.split(","):
            symbol, quantity = line.split("=")
            positions.append(Position(symbol, Decimal(quantity)))
        return BookSnapshot(tuple(positions), self.lines, datetime(2026, 1, 1, tzinfo=UTC))


KIND = BookKind(
    name="lines",
    label="positions written in the config",
    what="a lines book",
    options=(Option("lines", str, "SYMBOL=QUANTITY,...", required=True),),
    location="lines",
    open=lambda config, secrets, path: LinesBook(config),
)
'''


@pytest.fixture
def throwaway(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The two modules on the path, and their one registry line each."""
    folder = tmp_path / "extensions"
    folder.mkdir()
    (folder / "throwaway_broker.py").write_text(textwrap.dedent(THROWAWAY_BROKER), encoding="utf-8")
    (folder / "lines_book.py").write_text(textwrap.dedent(THROWAWAY_BOOK), encoding="utf-8")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setitem(registry.BROKERS, "throwaway", "throwaway_broker")
    monkeypatch.setitem(BOOK_KINDS, "lines", "lines_book")
    return tmp_path


CONFIG = """\
[[books]]
id = "inline"
kind = "lines"
lines = "NSE:TCS=10,NSE:INFY=5"

[[accounts]]
id = "spare"
broker = "throwaway"
book = "inline"
holding = "NSE:TCS=10"
"""


def test_a_registered_broker_and_book_kind_sync_end_to_end(
    throwaway: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = throwaway / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")
    settings = parse_settings(tomllib.loads(CONFIG), config)
    assert settings.account("spare").interval == 42  # the broker's declared default
    run = sync_once(config, throwaway / "data", capsys)
    assert run.code == 1, run.stderr  # 1: a problem found, the phantom the book holds too much
    statuses = {row["instrument"]: row["status"] for row in run.payload["rows"]}
    assert statuses == {"NSE:TCS": "match", "NSE:INFY": "phantom"}


def test_a_registered_broker_is_known_everywhere_the_brokers_are_listed(throwaway: Path) -> None:
    assert "throwaway" in registry.known_brokers()
    assert not registry.supports_login("throwaway")
    assert {"throwaway_broker", "json", "lines_book"} <= set(named_imports())
    readme = config_reference.brokers_section() + config_reference.books_section()
    assert '**`broker = "throwaway"`**' in readme and "| `holding` | text | required |" in readme
    assert '**`kind = "lines"`**' in readme and "| `lines` | text | required |" in readme
    assert "42" in config_reference.accounts_section()  # its interval default is named


def test_a_registered_brokers_keys_are_checked_with_did_you_mean(throwaway: Path, tmp_path: Path) -> None:
    context = AdapterContext(tmp_path, Secrets({}))
    typo = AccountConfig(id="spare", broker="throwaway", book="b", options={"holding": "X=1", "dept": 2})
    with pytest.raises(ConfigError, match=r"'accounts.spare.dept' is not a key of a throwaway account "):
        registry.create_adapter(typo, context)
    with pytest.raises(ConfigError, match="did you mean 'depth'"):
        registry.create_adapter(typo, context)
    wrong = dataclasses.replace(typo, options={"holding": "X=1", "depth": 0})
    with pytest.raises(
        ConfigError, match=re.escape("'accounts.spare.depth' must be a whole number of at least 1")
    ):
        registry.create_adapter(wrong, context)
    missing = dataclasses.replace(typo, options={})
    with pytest.raises(
        ConfigError, match=re.escape("'accounts.spare.holding' is required for a throwaway account")
    ):
        registry.create_adapter(missing, context)


def test_a_registered_book_kind_is_parsed_and_opened_by_its_declaration(throwaway: Path) -> None:
    raw = {"books": [{"id": "b", "kind": "lines", "lines": "A=1", "lnes": "x"}]}
    with pytest.raises(
        ConfigError, match=r"'books.b.lnes' is not a key of a lines book \(did you mean 'lines'\?\)"
    ):
        parse_settings(raw, None)
    raw["books"][0].pop("lnes")
    book = open_book(parse_settings(raw, None).books["b"])
    assert [p.instrument for p in book.read(None).positions] == ["A"]
    assert book_kind("lines").what == "a lines book"


def test_the_readme_reference_is_generated_from_the_declarations() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert config_reference.render(readme) == readme, (
        "the README's configuration reference is out of date: run "
        "`python -m position_sync.config_reference README.md`"
    )
    for section in config_reference.SECTIONS:
        assert f"<!-- generated: {section} -->" in readme


def test_account_option_defaults_are_the_account_configs_own() -> None:
    fields = {f.name: f.default for f in dataclasses.fields(AccountConfig)}
    declared = defaults_of(ACCOUNT_OPTIONS)
    for key, value in declared.items():
        if key != "aliases":  # a default_factory field: compared below
            assert fields[key] == value, key
    assert AccountConfig(id="a", broker="b", book="c").aliases == declared["aliases"]
