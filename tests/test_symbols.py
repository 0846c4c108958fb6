"""One instrument key whatever the spelling; different instruments never collapse."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from position_sync.app.domain import Position
from position_sync.app.lookalike import can_be_same, read
from position_sync.app.symbols import Resolver, compact, normalise, symbol_part


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


@pytest.mark.parametrize(
    ("key", "symbol"),
    [
        ("STK:AAPL:USD", "AAPL"),
        ("STK:BRK B:USD", "BRK B"),
        ("STK:SHOP:USD@2", "SHOP"),
        ("CFD:AAPL:USD", "AAPL"),
        ("OPT:SPX 200117P03205000", "SPX 200117P03205000"),
        ("CASH:EUR.USD", "EUR.USD"),
        ("NFO:NIFTY25OCTFUT", "NIFTY25OCTFUT"),
        ("BRK.B", "BRK.B"),
        ("BTC/USDT:USDT", "BTC/USDT:USDT"),
    ],
)
def test_the_symbol_part_leaves_out_exchange_type_currency_and_conid(key: str, symbol: str) -> None:
    assert symbol_part(key) == symbol


def test_ib_stock_keys_and_book_tickers_compare_on_the_symbol() -> None:
    assert compact("STK:AAPL:USD") == compact("AAPL")
    assert compact("STK:BRK B:USD") == compact("BRK.B")


def test_kite_and_occ_symbols_are_read() -> None:
    weekly = read("NFO:NIFTY25O0725150CE")
    assert (weekly.underlying, weekly.expiry, weekly.strike, weekly.right) == (
        "NIFTY",
        date(2025, 10, 7),
        Decimal(25150),
        "C",
    )
    assert read("NIFTY2510725150CE").expiry == date(2025, 1, 7)
    monthly = read("NFO:NIFTY25OCT25150CE")
    assert (monthly.underlying, monthly.expiry, monthly.derivative) == ("NIFTY", (2025, 10), "option")
    assert read("MCX:GOLD25DECFUT").underlying == "GOLD" and read("MCX:GOLDM25DECFUT").underlying == "GOLDM"
    assert read("NFO:NIFTYNXT5025OCTFUT").underlying == "NIFTYNXT50"
    spx = read("OPT:SPX 200117P03205000")
    assert (spx.kind, spx.underlying, spx.expiry, spx.strike, spx.right) == (
        "OPT",
        "SPX",
        date(2020, 1, 17),
        Decimal(3205),
        "P",
    )
    assert read("NSE:RELIANCE").derivative is None and read("STK:AAPL:USD").kind == "STK"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("NFO:NIFTY25O07 25150CE", "NFO:NIFTY25O0725150CE"),  # a space is not another contract
        ("NSE:BAJAJ_AUTO", "NSE:BAJAJ-AUTO"),
        ("AAPL", "STK:AAPL:USD"),
        ("BRK.B", "STK:BRK B:USD"),
        ("SPX200117P03205000", "OPT:SPX 200117P03205000"),
        ("NIFTY25OCTFUT", "NFO:NIFTY25OCTFUT"),
    ],
)
def test_spellings_of_one_instrument_can_be_the_same(a: str, b: str) -> None:
    assert can_be_same(a, b) and can_be_same(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("NFO:NIFTY25O0725150CE", "NFO:NIFTY25OCT25150CE"),  # weekly and monthly
        # January 2024: the weekly of the 31st and the monthly of the 25th, both in the last week
        ("NFO:BANKNIFTY24JAN37500CE", "NFO:BANKNIFTY2413137500CE"),
        ("MCX:GOLD25DECFUT", "MCX:GOLDM25DECFUT"),  # another contract size
        ("NFO:NIFTY25OCT25150CE", "NFO:NIFTY25OCT25150PE"),
        ("NFO:NIFTY25OCT25150CE", "NFO:NIFTY25OCT25200CE"),
        ("NFO:NIFTY25OCTFUT", "NFO:NIFTY25NOVFUT"),
        ("NFO:NIFTY25OCTFUT", "NFO:NIFTY25OCT25150CE"),
        ("AAPL", "CFD:AAPL:USD"),  # a book's AAPL is the shares
        ("STK:AAPL:USD", "CFD:AAPL:USD"),
        ("AAPL", "OPT:AAPL 251219C00150000"),
        ("SPX200116P03205000", "OPT:SPX 200117P03205000"),  # the last trade date, not the expiry
        ("SPXW 200117P03205000", "OPT:SPX 200117P03205000"),  # PM-settled weekly class
    ],
)
def test_different_contracts_can_never_be_the_same(a: str, b: str) -> None:
    assert not can_be_same(a, b) and not can_be_same(b, a)


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


def test_the_brokers_own_spellings_key_the_book_without_an_alias() -> None:
    """A crypto account with no ``market`` setting: ``HIGHUSDT`` lands on the exchange's market."""
    spellings = {"HIGHUSDT": "HIGH/USDT:USDT", "HIGH-USDT": "HIGH/USDT:USDT", "ZEC": "ZEC/USDC:USDC"}
    resolver = Resolver(aliases={"HIGH_OLD": "BTC/USDT:USDT"})
    assert resolver.key("HIGHUSDT") == "HIGHUSDT"  # nothing known yet: no guess
    resolver.know(spellings)
    assert resolver.key("highusdt") == "HIGH/USDT:USDT"
    assert resolver.key("HIGH-USDT") == "HIGH/USDT:USDT"
    assert resolver.key("zec") == "ZEC/USDC:USDC"
    assert resolver.key("HIGH_OLD") == "BTC/USDT:USDT"  # the configured alias still wins
    resolver.know({})  # an adapter without a list keeps what was known
    assert resolver.key("HIGHUSDT") == "HIGH/USDT:USDT"
    resolver.know({"OTHERUSDT": "OTHER/USDT:USDT"})  # a new list replaces the old one
    assert resolver.key("HIGHUSDT") == "HIGHUSDT"
