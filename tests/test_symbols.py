"""One instrument key whatever the spelling; different instruments never collapse."""

from __future__ import annotations

from decimal import Decimal

from app.domain import Position
from app.symbols import Resolver, normalise


def test_exchange_prefix_case_and_spaces() -> None:
    assert normalise("NIFTY25O0725150CE", "NFO") == "NFO:NIFTY25O0725150CE"
    assert normalise("  nfo:nifty25o0725150ce ", "NFO") == "NFO:NIFTY25O0725150CE"
    assert normalise("NSE:INFY", "NFO") == "NSE:INFY"
    assert normalise("AAPL  251219C00150000") == "AAPL 251219C00150000"


def test_weekly_and_monthly_options_stay_two() -> None:
    assert normalise("NIFTY25O0725150CE", "NFO") != normalise("NIFTY25OCT25150CE", "NFO")


def test_crypto_native_against_unified() -> None:
    assert normalise("BTCUSDT", market="swap") == "BTC/USDT:USDT"
    assert normalise("btc/usdt:usdt", market="swap") == "BTC/USDT:USDT"
    assert normalise("BTCUSDT", market="spot") == "BTC/USDT"
    assert normalise("BTC-USDT", market="spot") == "BTC/USDT"
    assert normalise("BTCUSD_PERP", market="swap") == "BTC/USD:BTC"
    assert normalise("ETHBTC", market="spot") == "ETH/BTC"
    # Spot and perpetual are different instruments.
    assert normalise("BTC/USDT") != normalise("BTC/USDT:USDT")


def test_no_crypto_guessing_for_exchange_accounts() -> None:
    assert normalise("RELIANCEUSD", "NSE") == "NSE:RELIANCEUSD"


def test_alias_table_maps_any_spelling() -> None:
    resolver = Resolver("NFO", aliases={"nifty weekly 25150 ce": "NFO:NIFTY25O0725150CE"})
    assert resolver.key("NIFTY WEEKLY 25150 CE") == "NFO:NIFTY25O0725150CE"
    assert resolver.key("NIFTY25O0725150CE") == "NFO:NIFTY25O0725150CE"


def test_broker_aliases_are_learned_and_kept_after_close() -> None:
    resolver = Resolver()
    stock = Position("STK:AAPL", Decimal(10), aliases=("AAPL", "265598"))
    option = Position("OPT:AAPL 251219C00150000", Decimal(1), aliases=("AAPL  251219C00150000",))
    keyed = resolver.key_broker([stock, option])
    assert [p.instrument for p in keyed] == ["STK:AAPL", "OPT:AAPL 251219C00150000"]
    book = resolver.key_book(
        [
            Position("AAPL", Decimal(10), symbol="AAPL"),
            Position("x", Decimal(1), symbol="AAPL 251219C00150000"),
        ]
    )
    assert [p.instrument for p in book] == ["STK:AAPL", "OPT:AAPL 251219C00150000"]
    # The broker closed AAPL: the book's spelling still lands on the same row.
    resolver.key_broker([])
    assert resolver.key("aapl") == "STK:AAPL"


def test_ambiguous_alias_is_not_guessed() -> None:
    resolver = Resolver()
    resolver.key_broker(
        [Position("A:1", Decimal(1), aliases=("X",)), Position("B:1", Decimal(1), aliases=("X",))]
    )
    assert resolver.key("X") == "X"


def test_a_broker_instrument_is_never_redirected_by_another_ones_alias() -> None:
    """A BSE holding answers to "NSE:X", but not while an NSE leg is held as "NSE:X" itself."""
    resolver = Resolver()
    holding = Position("BSE:SBIN", Decimal(16), symbol="SBIN", aliases=("SBIN", "NSE:SBIN"))
    resolver.key_broker([holding])
    assert resolver.key("NSE:SBIN") == "BSE:SBIN"  # learned, and kept across syncs

    nse_mis = Position("NSE:SBIN", Decimal(10), symbol="SBIN", aliases=("SBIN",), label="NSE MIS")
    bse_mis = Position("BSE:SBIN", Decimal(-5), symbol="SBIN", aliases=("SBIN",), label="BSE MIS")
    keyed = resolver.key_broker([holding, nse_mis, bse_mis])
    assert [p.instrument for p in keyed] == ["BSE:SBIN", "NSE:SBIN", "BSE:SBIN"]
