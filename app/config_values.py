"""The checks every config value goes through: numbers, durations, key sets, SQL statements.

They are shared by the parser (``app.config``) and the option declarations of brokers and book
kinds (``app.options``), so a duration or an unknown key is judged with the same sentence
wherever it is written.
"""

from __future__ import annotations

import difflib
import math
from decimal import Decimal
from pathlib import Path
from typing import Any

from position_sync.app.domain import to_decimal
from position_sync.app.errors import ConfigError


def single_statement(sql: str) -> str | None:
    """``sql`` without its one trailing ``;`` (and spaces), or None when it holds a second one.

    A book's ``query``, ``where`` and ``change_probe`` run on every read, and drivers such as
    psycopg2 send a whole string at once: ``SELECT 1; COMMIT; DELETE FROM t`` would end the
    read-only transaction and delete. Any other ``;`` is refused, even one inside a string
    literal, rather than parsed: a refusal is safe, a wrong parse is not (write ``chr(59)`` for
    a literal semicolon).
    """
    text = sql.strip()
    if text.endswith(";"):
        text = text[:-1].rstrip()
    return None if ";" in text else text


SINGLE_STATEMENT_REFUSED = (
    "must be one SQL statement: a ';' may only end it, since a second statement could end the "
    "read-only transaction and write to the book"
)


def refuse_unknown_keys(
    table: dict[str, Any], accepted: tuple[str, ...], field_prefix: str, what: str, path: Path | None
) -> None:
    """One sentence for the first key outside ``accepted``, with a "did you mean" when one is close."""
    unknown = sorted(key for key in table if key not in accepted)
    if not unknown:
        return
    key = unknown[0]
    close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(
        path,
        f"{field_prefix}{key}",
        f"is not a key of {what}{hint}; it accepts {', '.join(sorted(accepted))}",
    )


# Upper bounds of the tuning numbers. Beyond them a value is a typo or a test of the program,
# never a setting: ``interval = 1e30`` overflowed the event loop's timer and ``inf`` the decimal
# arithmetic; a bound turns each into one sentence at load time.
MAX_INTERVAL_SECONDS = 86_400  # a day between syncs (and between book polls or probes)
MAX_TIMEOUT_SECONDS = 3_600  # an hour for one read
MAX_SETTLE_SECONDS = 86_400
MAX_TOLERANCE_REL = 1  # 100 %: a wider relative tolerance accepts any price
MAX_TOLERANCE_ABS = 1_000_000_000
SECONDS_LIMITS: dict[str, tuple[float, float, bool]] = {
    # key: (lowest, highest, whether the lowest itself is allowed)
    "interval": (0, MAX_INTERVAL_SECONDS, False),
    "timeout": (0, MAX_TIMEOUT_SECONDS, False),
    "settle_seconds": (0, MAX_SETTLE_SECONDS, True),
    "poll_interval": (0, MAX_INTERVAL_SECONDS, False),
    "probe_interval": (0, MAX_INTERVAL_SECONDS, False),
    "full_read_seconds": (0, MAX_INTERVAL_SECONDS, True),  # 0: a SQL book never trusts its probe
}


def number_value(
    entry: dict[str, Any],
    key: str,
    where: str,
    path: Path | None,
    *,
    minimum: float | None = 0,
    maximum: float | None = None,
) -> Any:
    """A finite decimal within ``[minimum, maximum]``; NaN, infinities and overflow are refused.

    A TOML float is checked as a float first: ``1e30`` cannot become an exact Decimal integer in
    the default context, and ``inf``/``nan`` are no numbers of seconds or prices.
    """
    value = entry[key]
    field_name = f"{where}.{key}"
    # Decimal too: broker defaults from the registry are Decimals (IB's price tolerance).
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ConfigError(path, field_name, "must be a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(path, field_name, f"must be a finite number, not {value}")
    if maximum is not None and isinstance(value, (int, float)) and value > maximum:
        raise ConfigError(path, field_name, f"must be at most {maximum:g}, not {value:g}")
    try:
        number = to_decimal(value)
    except (ValueError, ArithmeticError):
        raise ConfigError(path, field_name, f"must be a number, not {value!r}") from None
    if minimum is not None and number < Decimal(str(minimum)):
        raise ConfigError(path, field_name, f"must be at least {minimum:g}, not {value}")
    if maximum is not None and number > Decimal(str(maximum)):
        raise ConfigError(path, field_name, f"must be at most {maximum:g}, not {value}")
    return number


def seconds_value(entry: dict[str, Any], key: str, where: str, path: Path | None) -> float:
    """A number of seconds from ``entry[key]``, within ``SECONDS_LIMITS[key]``.

    The one check of every duration, accounts' (``interval``, ``timeout``, ``settle_seconds``)
    and books' (``timeout``, ``poll_interval``, ``probe_interval``) alike, so ``nan`` (which no
    ``<= 0`` test catches) and ``1e30`` are refused everywhere the same way.
    """
    lowest, highest, lowest_allowed = SECONDS_LIMITS[key]
    seconds = number_value(entry, key, where, path, minimum=None, maximum=highest)
    if seconds < lowest or (seconds == lowest and not lowest_allowed):
        expected = f"{lowest:g} seconds or more" if lowest_allowed else f"greater than {lowest:g} seconds"
        raise ConfigError(path, f"{where}.{key}", f"must be {expected}, not {entry[key]}")
    return float(seconds)
