"""Declared settings: what a key of an account, a broker or a book kind is, in one place.

A broker module and a book kind each declare their keys as ``Option`` values (key, type,
default, help). Everything that used to repeat that knowledge reads the declarations instead:
the parser checks values and refuses unknown keys with a "did you mean", the settings dialog
builds its fields and tooltips, and the README's configuration reference is generated from
them (a test fails when it drifts). A new key is therefore one line, and cannot be half-added.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from position_sync.app.config_values import (
    SECONDS_LIMITS,
    number_value,
    refuse_unknown_keys,
    seconds_value,
)
from position_sync.app.errors import ConfigError

# The value types an option may declare, and how the README names each.
TYPE_NAMES: dict[type, str] = {
    str: "text",
    int: "whole number",
    float: "seconds",
    Decimal: "number",
    bool: "true/false",
    dict: "table",
    Path: "path",
}


# Words a label writes in capitals: ``api_secret`` is "API secret", ``ib_account`` "IB account".
ACRONYMS = frozenset({"api", "id", "ib", "ip", "url", "http", "sql"})


def key_label(key: str) -> str:
    """A key as a form labels it when its declaration gives no label."""
    words = [w.upper() if w in ACRONYMS else w for w in key.split("_")]
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


@dataclass(frozen=True)
class Option:
    """One key a table accepts.

    ``type`` decides both the check and the settings dialog's widget: ``float`` is a number of
    seconds (bounded by ``SECONDS_LIMITS``), ``Decimal`` any other number, ``Path`` a file
    relative to the config file. ``default`` is what the program uses when the key is absent
    (None: nothing, or a default that depends on other keys, said in ``help``).
    """

    key: str
    type: type
    help: str
    default: Any = None
    required: bool = False
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    label: str = ""
    example: str = ""
    multiline: bool = False

    def __post_init__(self) -> None:
        if self.type not in TYPE_NAMES:
            raise TypeError(f"option {self.key}: type {self.type!r} is not one of {list(TYPE_NAMES)}")

    @property
    def title(self) -> str:
        """The settings dialog's label."""
        return self.label or key_label(self.key)

    @property
    def sentence(self) -> str:
        """The help as a tooltip or a check box says it: with a capital."""
        return self.help[:1].upper() + self.help[1:]

    @property
    def type_name(self) -> str:
        if self.choices:
            return " or ".join(f"`{c}`" for c in self.choices)
        return TYPE_NAMES[self.type]

    def check(self, value: Any, where: str, path: Path | None) -> Any:
        """``value`` as the program uses it, or one ``ConfigError`` sentence naming the key."""
        field = f"{where}.{self.key}"
        if self.choices:
            if value not in self.choices:
                quoted = [f"'{c}'" for c in self.choices]
                listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
                raise ConfigError(path, field, f"must be {listed}, not {value!r}")
            return value
        if self.type is bool:
            # ``"no"`` is a non-empty string, true to Python: only a TOML boolean is accepted.
            if not isinstance(value, bool):
                raise ConfigError(path, field, f"must be true or false, not {value!r}")
            return value
        if self.type is int:
            return self._whole_number(value, field, path)
        if self.type is float:
            if self.key in SECONDS_LIMITS:
                return seconds_value({self.key: value}, self.key, where, path)
            return float(number_value({self.key: value}, self.key, where, path, maximum=self.maximum))
        if self.type is Decimal:
            minimum = 0 if self.minimum is None else self.minimum
            return number_value(
                {self.key: value}, self.key, where, path, minimum=minimum, maximum=self.maximum
            )
        if self.type is dict:
            if not isinstance(value, dict):
                raise ConfigError(path, field, f"must be a table ({self.key} = {{ ... }})")
            return value
        if not isinstance(value, str) or not value.strip():
            noun = "a path" if self.type is Path else "a non-empty string"
            raise ConfigError(path, field, f"must be {noun}: {self.help}")
        if "\x00" in value:
            raise ConfigError(path, field, "must not hold a NUL character")
        return value

    def _whole_number(self, value: Any, field: str, path: Path | None) -> int:
        low, high = self.minimum, self.maximum
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(path, field, _whole_number_rule(low, high, value))
        if (low is not None and value < low) or (high is not None and value > high):
            raise ConfigError(path, field, _whole_number_rule(low, high, value))
        return value


def _whole_number_rule(low: float | None, high: float | None, value: Any) -> str:
    if low is not None and high is not None:
        return f"must be a whole number from {low:g} to {high:g}, not {value!r}"
    if low is not None:
        return f"must be a whole number of at least {low:g}, not {value!r}"
    return f"must be a whole number, not {value!r}"


def option_keys(options: Iterable[Option]) -> tuple[str, ...]:
    return tuple(option.key for option in options)


def check_options(
    options: Sequence[Option],
    table: Mapping[str, Any],
    where: str,
    path: Path | None,
    what: str,
    *,
    also: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Every key of ``table`` checked against ``options``: unknown keys (other than ``also``,
    which another part checks) are refused with a "did you mean", required ones demanded,
    present ones checked by type. Returns the checked values of the keys present."""
    refuse_unknown_keys(dict(table), option_keys(options) + also, f"{where}.", what, path)
    values: dict[str, Any] = {}
    for option in options:
        if option.key in table and table[option.key] is not None:
            values[option.key] = option.check(table[option.key], where, path)
        elif option.required:
            raise ConfigError(path, f"{where}.{option.key}", f"is required for {what}")
    return values


def defaults_of(options: Iterable[Option]) -> dict[str, Any]:
    """The declared defaults (keys whose default is None have none)."""
    return {option.key: option.default for option in options if option.default is not None}
