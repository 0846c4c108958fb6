"""What both DEX fakes need to invent rows that agree with each other: bare bases and prices.

A DEX book writes bare bases (``ZEC``, ``2Z``); the fakes list the same names as perpetuals and
price each one the same way on every call, so a position's entry price, the market's mark and a
test's expectation can be computed from the base alone.
"""

from __future__ import annotations

# The first sixteen are the seed's story (sixteen open positions deleted on one empty answer).
DEX_BASES: tuple[str, ...] = (
    "ZEC",
    "SUI",
    "WLFI",
    "2Z",
    "PENGU",
    "BTC",
    "ETH",
    "SOL",
    "HYPE",
    "XRP",
    "DOGE",
    "AAVE",
    "ENA",
    "LINK",
    "FARTCOIN",
    "PUMP",
)

_KNOWN_PRICES = {"BTC": 89114.0, "ETH": 3021.5, "SOL": 131.42, "ZEC": 402.7, "AAVE": 279.28, "HYPE": 33.2}


def bases(count: int) -> list[str]:
    """``count`` distinct bare bases: the named ones first, then ``T0016``-style fillers."""
    named = list(DEX_BASES[:count])
    return named + [f"T{i:04d}" for i in range(len(named), count)]


def price_for(base: str) -> float:
    """A stable, plausible price per base, so rows and prices agree across calls and fakes."""
    if base in _KNOWN_PRICES:
        return _KNOWN_PRICES[base]
    return round(0.05 + (sum(ord(c) * (i + 1) for i, c in enumerate(base)) % 9000) / 100.0, 4)


def decimal_text(value: float, places: int = 6) -> str:
    """A number as the exchanges send it: a decimal string without trailing zeros."""
    text = f"{value:.{places}f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
