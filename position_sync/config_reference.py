"""The README's configuration reference, generated from the declarations.

The tables of account keys, of each broker's keys and of each book kind's keys are rendered
from ``app.config.ACCOUNT_OPTIONS``, the brokers' ``SPEC`` and the book kinds' ``KIND``, and
written between markers in the README (``python -m position_sync.config_reference README.md``).
A test renders them again and fails when the README differs, so the reference cannot drift
from what the parser accepts.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from position_sync.app.books.kinds import book_kind, known_kinds
from position_sync.app.broker import BrokerSpec
from position_sync.app.config import ACCOUNT_OPTIONS
from position_sync.app.options import Option
from position_sync.brokers.registry import broker_spec, known_brokers

MARKER = re.compile(r"(<!-- generated: (\w+) -->\n).*?(<!-- end: \2 -->)", re.DOTALL)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    if isinstance(value, (int, float, Decimal)):
        return str(value)
    return f"`{value}`"


def _default(option: Option, overrides: Mapping[str, Any] | None = None) -> str:
    if option.required:
        return "required"
    text = "none" if option.default is None else _shown(option.default)
    if overrides:
        text += f" ({', '.join(f'{name} {_shown(value)}' for name, value in overrides.items())})"
    return text


def _table(options: Iterable[Option], overrides: Mapping[str, Mapping[str, Any]] | None = None) -> str:
    lines = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    for option in options:
        default = _default(option, (overrides or {}).get(option.key))
        lines.append(f"| `{option.key}` | {option.type_name} | {default} | {option.help} |")
    return "\n".join(lines) + "\n"


def accounts_section() -> str:
    """Every account's keys; a default a broker sets differently is named after it."""
    overrides: dict[str, dict[str, Any]] = {}
    for name in known_brokers():
        for key, value in broker_spec(name).defaults.items():
            overrides.setdefault(key, {})[name] = value
    brokers = ", ".join(f"`{name}`" for name in known_brokers())
    options = [
        Option(o.key, o.type, f"{o.help}: {brokers}", required=True) if o.key == "broker" else o
        for o in ACCOUNT_OPTIONS
    ]
    return _table(options, overrides)


def brokers_section() -> str:
    parts = []
    for name in known_brokers():
        spec = broker_spec(name)
        login = f"; sessions expire: `position-sync login {name} --account ID`" if spec.login else ""
        parts.append(
            f'**`broker = "{name}"`**: {spec.title}{login}.\n\n{_table(spec.options)}{_refused(spec)}'
        )
    return "\n".join(parts)


def _refused(spec: BrokerSpec) -> str:
    """The keys a broker refuses outright, grouped by the reason it gives."""
    by_reason: dict[str, list[str]] = {}
    for key, reason in spec.refused.items():
        by_reason.setdefault(reason, []).append(key)
    return "".join(
        f"\nRefused (exit 3): {', '.join(f'`{k}`' for k in keys)}; each {reason}.\n"
        for reason, keys in by_reason.items()
    )


def books_section() -> str:
    parts = []
    for name in known_kinds():
        kind = book_kind(name)
        secret = f"; its secret: the keyring entry `BOOK:{kind.secret}`" if kind.secret else ""
        parts.append(f'**`kind = "{name}"`**: {kind.label}{secret}.\n\n{_table(kind.options)}')
    return "\n".join(parts)


SECTIONS = {"accounts": accounts_section, "brokers": brokers_section, "books": books_section}


def render(readme: str) -> str:
    """``readme`` with every generated section rendered afresh between its markers."""

    def fill(match: re.Match[str]) -> str:
        return f"{match.group(1)}{SECTIONS[match.group(2)]()}{match.group(3)}"

    return MARKER.sub(fill, readme)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else "README.md")
    text = path.read_text(encoding="utf-8")
    path.write_text(render(text), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
