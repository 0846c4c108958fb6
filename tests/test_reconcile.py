"""Every status and event of reconciliation, and the safety rules 1-4."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from position_sync.app.domain import AccountState, BookSnapshot, EventKind, Status, WorkingOrder
from position_sync.app.errors import LoginRequired, ReadError, ReadErrorKind
from position_sync.app.reconcile import JudgeSettings, Outcome
from tests.reconcile_helpers import Session, book, broker, kinds, pos

NETWORK = ReadError(ReadErrorKind.NETWORK, "connection refused")


def statuses(outcome: Outcome) -> dict[str, Status]:
    return {key: row.status for key, row in outcome.rows.items()}


def test_each_status_on_first_sync() -> None:
    out = Session().sync(
        broker(
            pos("A", 10, 100),
            pos("B", 10, 100),
            pos("C", 10, 100),
            pos("D", 10, 100),
            pos("U", 5, 50),
            pos("Z", 0, 0, realised_pnl=Decimal("12.5")),
        ),
        book(pos("A", 10, 100), pos("B", 7, 100), pos("C", -10, 100), pos("D", 10, 120), pos("P", 3, 10)),
    )
    assert statuses(out) == {
        "A": Status.MATCH,
        "B": Status.QTY_MISMATCH,
        "C": Status.SIDE_MISMATCH,
        "D": Status.PRICE_MISMATCH,
        "U": Status.UNTRACKED,
        "P": Status.PHANTOM,
        "Z": Status.CLOSED,
    }
    assert out.rows["Z"].realised_pnl == Decimal("12.5")
    assert out.rows["B"].difference == Decimal(3)
    assert out.state is AccountState.OK


def test_decimal_lots_sum_exactly() -> None:
    out = Session().sync(
        broker(pos("BTC/USDT:USDT", "0.3", 100)),
        book(pos("BTC/USDT:USDT", "0.1", 100, label="s1"), pos("BTC/USDT:USDT", "0.2", 100, label="s2")),
    )
    row = out.rows["BTC/USDT:USDT"]
    assert row.status is Status.MATCH
    assert row.local_qty == Decimal("0.3")
    assert [p.label for p in row.local_parts] == ["s1", "s2"]


def test_price_tolerance_is_relative_plus_absolute() -> None:
    settings = JudgeSettings(
        price_tolerance_rel=Decimal("0.01"), price_tolerance_abs=Decimal("0.5"), settle_seconds=0
    )
    out = Session(settings).sync(
        broker(pos("IN", 1, 100), pos("EDGE", 1, 100), pos("OUT", 1, 100)),
        book(pos("IN", 1, "101"), pos("EDGE", 1, "101.5"), pos("OUT", 1, "101.51")),
    )
    assert statuses(out) == {"IN": Status.MATCH, "EDGE": Status.MATCH, "OUT": Status.PRICE_MISMATCH}


def test_several_broker_rows_of_one_instrument_are_summed_with_breakdown() -> None:
    out = Session().sync(
        broker(pos("NFO:NIFTY", 50, 100, label="NRML"), pos("NFO:NIFTY", 25, 106, label="MIS")),
        book(pos("NFO:NIFTY", 75, 102)),
    )
    row = out.rows["NFO:NIFTY"]
    assert row.status is Status.MATCH
    assert row.broker_qty == 75
    assert row.broker_avg == Decimal(102)
    assert [(p.label, p.quantity) for p in row.broker_parts] == [("NRML", 50), ("MIS", 25)]


def test_closed_by_omission_estimates_realised_pnl_and_archives() -> None:
    session = Session()
    session.sync(broker(pos("X", 10, 100, last_price=Decimal(110)), pos("K", 1, 1)), book(pos("K", 1, 1)))
    out = session.sync(broker(pos("K", 1, 1)), book(pos("K", 1, 1)))
    row = out.rows["X"]
    assert row.status is Status.CLOSED
    assert row.realised_pnl == Decimal(100)
    assert row.realised_estimated is True
    assert ("X", "closed") in kinds(out)
    assert [(c.instrument, c.quantity, c.realised_pnl, c.estimated) for c in out.closed] == [
        ("X", Decimal(10), Decimal(100), True)
    ]
    # Kept for the rest of the day, gone the next day.
    assert session.sync(broker(pos("K", 1, 1)), book(pos("K", 1, 1))).rows["X"].status is Status.CLOSED
    session.now += timedelta(days=1)
    assert "X" not in session.sync(broker(pos("K", 1, 1)), book(pos("K", 1, 1))).rows


def test_zero_row_uses_broker_realised_pnl() -> None:
    session = Session()
    session.sync(broker(pos("X", 10, 100)), book())
    out = session.sync(broker(pos("X", 0, 0, realised_pnl=Decimal("-42.5"))), book())
    assert out.rows["X"].status is Status.CLOSED
    assert out.rows["X"].realised_pnl == Decimal("-42.5")
    assert out.rows["X"].realised_estimated is False


def test_closed_at_broker_while_book_still_holds_is_phantom_and_closed_event() -> None:
    session = Session()
    session.sync(broker(pos("X", 10, 100)), book(pos("X", 10, 100)))
    out = session.sync(broker(pos("X", 0, 0, realised_pnl=Decimal(7))), book(pos("X", 10, 100)))
    assert out.rows["X"].status is Status.PHANTOM
    assert out.rows["X"].realised_pnl == Decimal(7)
    # The broker itself says zero: no confirmation needed.
    assert set(kinds(out)) == {("X", "closed"), ("X", "phantom_detected")}


def test_failed_read_is_never_an_empty_read() -> None:
    session = Session()
    session.sync(broker(pos("A", 1, 1), pos("B", 2, 2)), book(pos("A", 1, 1), pos("B", 2, 2)))
    for failure in (NETWORK, LoginRequired("token expired")):
        out = session.sync(failure, book(pos("A", 1, 1), pos("B", 2, 2)))
        assert {r.status for r in out.rows.values()} == {Status.STALE}
        assert out.rows["A"].previous_status is Status.MATCH
        assert out.rows["B"].broker_qty == 2
        assert all(e.kind in (EventKind.SYNC_FAILED, EventKind.LOGIN_REQUIRED) for e in out.events)
    book_failure = ReadError(ReadErrorKind.SOURCE, "book 'bot': book.json: file not found")
    out = session.sync(broker(), book_failure)
    assert out.state is AccountState.STALE
    assert "book.json" in (out.memory.error or "")
    assert [e.kind for e in out.events] == [EventKind.SYNC_FAILED]


def test_failure_events_once_per_outage() -> None:
    session = Session()
    session.sync(broker(pos("A", 1, 1)), book(pos("A", 1, 1)))
    assert kinds(session.sync(NETWORK, book())) == [(None, "sync_failed")]
    assert kinds(session.sync(NETWORK, book())) == []
    login = LoginRequired("token expired")
    out = session.sync(login, book())
    assert out.state is AccountState.LOGIN_REQUIRED
    assert kinds(out) == [(None, "login_required")]
    assert kinds(session.sync(login, book())) == []
    recovered = session.sync(broker(pos("A", 1, 1)), book(pos("A", 1, 1)))
    assert recovered.rows["A"].status is Status.MATCH
    assert recovered.state is AccountState.OK
    assert kinds(recovered) == [(None, "sync_recovered")]  # the outage told is closed, once
    assert "token expired" in recovered.events[0].detail
    assert kinds(session.sync(broker(pos("A", 1, 1)), book(pos("A", 1, 1)))) == []


def test_stale_keeps_since_and_recovery_does_not_reopen() -> None:
    session = Session()
    first = session.sync(broker(pos("A", 1, 1)), book(pos("A", 1, 1)))
    session.sync(NETWORK, book())
    after = session.sync(broker(pos("A", 1, 1)), book(pos("A", 1, 1)))
    assert after.rows["A"].since == first.rows["A"].since
    assert kinds(after) == [(None, "sync_recovered")]  # nothing about the rows: none reopened


def test_mass_disappearance_is_held_then_confirmed() -> None:
    session = Session()
    held_positions = [pos(s, 1, 1) for s in "ABCDEF"]
    session.sync(broker(*held_positions), book(*held_positions))
    remaining = broker(pos("E", 1, 1), pos("F", 1, 1))
    held = session.sync(remaining, book(*held_positions))
    assert held.held is True
    assert kinds(held) == [(None, "mass_change_held")]
    assert "4 of 6" in held.events[0].detail
    assert {r.status for r in held.rows.values()} == {Status.MATCH}
    confirmed = session.sync(remaining, book(*held_positions))
    assert confirmed.held is False
    assert {k for k, r in confirmed.rows.items() if r.status is Status.PHANTOM} == set("ABCD")
    assert sorted(str(k) for k, kind in kinds(confirmed) if kind == "closed") == list("ABCD")
    # Held for one sync already: the phantoms are reported on the confirming sync.
    assert sorted(str(k) for k, kind in kinds(confirmed) if kind == "phantom_detected") == list("ABCD")


def test_a_book_that_loses_most_of_its_rows_is_held_then_confirmed() -> None:
    """Rule 3 on the book side: a book truncated to its header is not six untracked positions."""
    session = Session(JudgeSettings(settle_seconds=0, confirm_syncs=1))
    everything = [pos(s, 1, 1) for s in "ABCDEF"]
    session.sync(broker(*everything), book(*everything))
    held = session.sync(broker(*everything), book(fingerprint="truncated"))
    assert held.held is True
    assert kinds(held) == [(None, "mass_change_held")]
    assert "no longer holds 6 of the 6 positions" in held.events[0].detail
    assert held.events[0].data["instruments"] == list("ABCDEF")
    assert {r.status for r in held.rows.values()} == {Status.MATCH}
    # The second consecutive sync that still reads it so confirms it, and reports at once.
    confirmed = session.sync(broker(*everything), book(fingerprint="truncated"))
    assert confirmed.held is False
    assert {r.status for r in confirmed.rows.values()} == {Status.UNTRACKED}
    assert sorted(str(k) for k, kind in kinds(confirmed) if kind == "untracked_detected") == list("ABCDEF")


def test_a_book_restored_before_confirmation_changes_nothing() -> None:
    session = Session()
    everything = [pos(s, 1, 1) for s in "ABCD"]
    session.sync(broker(*everything), book(*everything))
    assert session.sync(broker(*everything), book(fingerprint="truncated")).held is True
    restored = session.sync(broker(*everything), book(*everything))
    assert restored.held is False
    assert kinds(restored) == []
    assert {r.status for r in restored.rows.values()} == {Status.MATCH}


def test_book_lines_set_to_zero_count_as_dropped() -> None:
    session = Session()
    everything = [pos(s, 1, 1) for s in "ABCD"]
    session.sync(broker(*everything), book(*everything))
    zeroed = session.sync(broker(*everything), book(*[pos(s, 0, 1) for s in "ABC"], pos("D", 1, 1)))
    assert zeroed.held is True
    assert "no longer holds 3 of the 4 positions" in zeroed.events[0].detail


def test_a_book_dropping_a_few_rows_or_never_holding_them_is_not_held() -> None:
    session = Session()
    everything = [pos(s, 1, 1) for s in "ABCDEF"]
    session.sync(broker(*everything), book(*everything))
    out = session.sync(broker(*everything), book(*everything[2:]))  # 2 of 6: below the minimum
    assert out.held is False
    assert {k for k, r in out.rows.items() if r.status is Status.UNTRACKED} == {"A", "B"}
    # Rows the book never held (untracked from the start) are not the book's to lose.
    fresh = Session()
    fresh.sync(broker(*everything), book(pos("A", 1, 1)))
    assert fresh.sync(broker(*everything), book(pos("A", 1, 1))).held is False


def test_both_sides_changing_at_once_is_one_hold_naming_both() -> None:
    session = Session()
    everything = [pos(s, 1, 1) for s in "ABCDEF"]
    session.sync(broker(*everything), book(*everything))
    held = session.sync(broker(pos("E", 1, 1), pos("F", 1, 1)), book(pos("A", 1, 1), fingerprint="b"))
    assert held.held is True
    detail = held.events[0].detail
    assert "4 of 6 positions at acct would close or turn phantom" in detail
    assert "no longer holds 5 of the 6 positions" in detail
    assert held.events[0].data["instruments"] == list("ABCDEF")


def test_small_change_is_not_held() -> None:
    settings = JudgeSettings(settle_seconds=0, mass_change_min=3, mass_change_fraction=Decimal("0.5"))
    session = Session(settings)
    everything = [pos(s, 1, 1) for s in "ABCDEF"]
    session.sync(broker(*everything), book())
    out = session.sync(broker(*everything[2:]), book())
    assert out.held is False
    assert {k for k, r in out.rows.items() if r.status is Status.CLOSED} == {"A", "B"}


def test_confirmation_needs_two_good_syncs_and_a_settled_book() -> None:
    settings = JudgeSettings(confirm_syncs=2, settle_seconds=30)
    session = Session(settings)
    session.sync(broker(), book(pos("P", 1, 1), fingerprint="v1"))
    # The book changed 10 s ago: the phantom is shown but not yet reported.
    out = session.sync(broker(), book(pos("P", 1, 1), fingerprint="v2"))
    assert out.rows["P"].status is Status.PHANTOM
    assert kinds(out) == []
    session.now += timedelta(seconds=30)
    out = session.sync(broker(), book(pos("P", 1, 1), fingerprint="v2"))
    assert kinds(out) == [("P", "phantom_detected")]
    assert kinds(session.sync(broker(), book(pos("P", 1, 1), fingerprint="v2"))) == []


def test_unconfirmed_problem_resolves_silently_confirmed_one_reports() -> None:
    session = Session()
    session.sync(broker(pos("U", 1, 1)), book())
    assert kinds(session.sync(broker(), book())) == [("U", "closed")]
    session.sync(broker(pos("V", 1, 1)), book())
    assert kinds(session.sync(broker(pos("V", 1, 1)), book())) == [("V", "untracked_detected")]
    out = session.sync(broker(pos("V", 1, 1)), book(pos("V", 1, 1)))
    assert kinds(out) == [("V", "untracked_resolved")]


def test_mismatch_detected_and_resolved() -> None:
    session = Session(JudgeSettings(confirm_syncs=1, settle_seconds=0))
    session.sync(broker(pos("A", 10, 1)), book(pos("A", 10, 1)))
    out = session.sync(broker(pos("A", 10, 1)), book(pos("A", 4, 1)))
    assert kinds(out) == [("A", "mismatch_detected")]
    assert "broker 10, book 4" in out.events[0].detail
    assert kinds(session.sync(broker(pos("A", 10, 1)), book(pos("A", 10, 1)))) == [("A", "mismatch_resolved")]


def test_position_events_opened_qty_changed_closed() -> None:
    session = Session()
    assert kinds(session.sync(broker(pos("A", 1, 1)), book(pos("A", 1, 1)))) == []  # first picture
    assert kinds(
        session.sync(broker(pos("A", 1, 1), pos("B", 2, 2)), book(pos("A", 1, 1), pos("B", 2, 2)))
    ) == [("B", "opened")]
    out = session.sync(broker(pos("A", 3, 1), pos("B", 2, 2)), book(pos("A", 3, 1), pos("B", 2, 2)))
    assert kinds(out) == [("A", "qty_changed")]
    assert "from 1 to 3" in out.events[0].detail


def test_working_order_explains_the_gap() -> None:
    settings = JudgeSettings(confirm_syncs=1, settle_seconds=0)
    session = Session(settings)
    orders = (WorkingOrder("A", Decimal(-200)),)
    out = session.sync(broker(pos("A", 200, 10), orders=orders), book())
    row = out.rows["A"]
    assert row.status is Status.UNTRACKED
    assert row.explained is True
    assert row.hint == "SELL 200 pending would close the gap"
    assert kinds(out) == []
    # The order is gone and the gap remains: now it is reported.
    assert kinds(session.sync(broker(pos("A", 200, 10)), book())) == [("A", "untracked_detected")]


def test_did_you_mean_hint_for_lookalike_spellings() -> None:
    out = Session().sync(
        broker(pos("NFO:NIFTY25O0725150CE", 75, 10), pos("NFO:OTHER", 5, 1)),
        book(pos("NFO:NIFTY25O07 25150CE", 75, 10), pos("NFO:FAR", 9, 1)),
    )
    phantom = out.rows["NFO:NIFTY25O07 25150CE"]
    assert phantom.status is Status.PHANTOM
    assert phantom.hint is not None and "did you mean NFO:NIFTY25O0725150CE" in phantom.hint
    assert '"NFO:NIFTY25O07 25150CE" = "NFO:NIFTY25O0725150CE"' in phantom.hint
    assert out.rows["NFO:FAR"].hint is None
    assert "NFO:NIFTY25O07 25150CE" in (out.rows["NFO:NIFTY25O0725150CE"].hint or "")


def test_hints_compare_the_symbol_part_of_ib_keys() -> None:
    out = Session().sync(
        broker(pos("STK:AAPL:USD", 100, 150), pos("STK:BRK B:USD", 5, 480)),
        book(pos("AAPL", 100, 150), pos("BRK.B", 5, 480)),
    )
    assert out.rows["AAPL"].status is Status.PHANTOM
    assert (out.rows["AAPL"].hint or "").startswith("did you mean STK:AAPL:USD?")
    assert '"AAPL" = "STK:AAPL:USD"' in (out.rows["AAPL"].hint or "")
    assert (out.rows["BRK.B"].hint or "").startswith("did you mean STK:BRK B:USD?")
    assert "BRK.B" in (out.rows["STK:BRK B:USD"].hint or "")


def test_no_hint_ever_pairs_two_different_contracts() -> None:
    """Look-alikes with equal quantities that are other contracts stay phantom and untracked."""
    pairs = [
        ("NFO:NIFTY25O0725150CE", "NFO:NIFTY25OCT25150CE"),  # weekly in the book, monthly held
        ("NFO:BANKNIFTY24JAN37500CE", "NFO:BANKNIFTY2413137500CE"),  # monthly in the book
        ("MCX:GOLD25DECFUT", "MCX:GOLDM25DECFUT"),
        ("AAPL", "CFD:AAPL:USD"),
    ]
    session = Session()
    for _ in range(2):  # the second sync confirms the problems and sends their events
        out = session.sync(
            broker(*(pos(held, 75, 10) for _, held in pairs)),
            book(*(pos(written, 75, 10) for written, _ in pairs)),
        )
    for written, held in pairs:
        assert out.rows[written].status is Status.PHANTOM and out.rows[written].hint is None, written
        assert out.rows[held].status is Status.UNTRACKED and out.rows[held].hint is None, held
    assert out.events and not any("did you mean" in event.detail for event in out.events)


def test_missing_price_is_said_not_invented() -> None:
    out = Session().sync(
        broker(pos("A", 1, 1, price_missing_reason="no price from IB for U2 (position stream only)")),
        book(pos("A", 1, 1)),
    )
    assert out.rows["A"].last_price is None
    assert out.rows["A"].hint == "no price from IB for U2 (position stream only)"


def test_unchanged_row_is_the_same_object() -> None:
    session = Session()
    first = session.sync(broker(pos("A", 1, 1)), book(pos("A", 1, 1)))
    second = session.sync(broker(pos("A", 1, 1)), book(pos("A", 1, 1)))
    assert second.rows["A"] is first.rows["A"]


def test_a_sale_today_does_not_move_the_average_of_what_is_held() -> None:
    out = Session().sync(
        broker(pos("NSE:INFY", 18, 790, label="CNC holding"), pos("NSE:INFY", -3, 805, label="CNC")),
        book(pos("NSE:INFY", 15, 790)),
    )
    row = out.rows["NSE:INFY"]
    assert (row.status, row.broker_qty, row.broker_avg) == (Status.MATCH, Decimal(15), Decimal(790))


def test_a_new_modification_time_alone_does_not_restart_the_settle_clock() -> None:
    """A book rewritten with the same positions (same fingerprint, newer mtime) has settled."""
    settings = JudgeSettings(confirm_syncs=2, settle_seconds=30)
    session = Session(settings)

    def rewritten(fingerprint: str = "v1") -> BookSnapshot:
        return BookSnapshot((pos("P", 1, 1),), fingerprint, modified_at=session.now)

    # The first sync counts the modification time: the file may be mid-write.
    out = session.sync(broker(), rewritten())
    assert kinds(out) == []
    for _ in range(2):  # 10 s and 20 s after the first sync: not settled yet
        assert kinds(session.sync(broker(), rewritten())) == []
    assert kinds(session.sync(broker(), rewritten())) == [("P", "phantom_detected")]  # 30 s


def test_a_changed_fingerprint_restarts_the_settle_clock_with_its_modification_time() -> None:
    settings = JudgeSettings(confirm_syncs=2, settle_seconds=30)
    session = Session(settings)
    session.sync(broker(), BookSnapshot((pos("P", 1, 1),), "v1", modified_at=session.now))
    session.sync(broker(), BookSnapshot((pos("P", 1, 1),), "v1", modified_at=session.now))
    changed_at = session.now
    out = session.sync(broker(), BookSnapshot((pos("P", 2, 1),), "v2", modified_at=changed_at))
    assert kinds(out) == []  # 20 s after the first sync, but the book changed just now
    session.now = changed_at + timedelta(seconds=29)
    assert kinds(session.sync(broker(), BookSnapshot((pos("P", 2, 1),), "v2", modified_at=changed_at))) == []
    session.now = changed_at + timedelta(seconds=30)
    out = session.sync(broker(), BookSnapshot((pos("P", 2, 1),), "v2", modified_at=changed_at))
    assert kinds(out) == [("P", "phantom_detected")]


def test_legs_that_net_to_zero_are_open_never_closed() -> None:
    """NRML +35 and MIS -35 of one future: two open legs, judged on the net, never ``closed``."""
    fut = "NFO:BANKNIFTY25NOVFUT"
    session = Session(JudgeSettings(settle_seconds=0, confirm_syncs=1))
    session.sync(broker(pos(fut, 35, 51000, label="NFO NRML")), book(pos(fut, 35, 51000)))
    legs = broker(pos(fut, 35, 51000, label="NFO NRML"), pos(fut, -35, 51100, label="NFO MIS"))

    flat_book = session.sync(legs, book())
    row = flat_book.rows[fut]
    assert row.status is Status.MATCH  # the net (0) against a book that holds none
    assert [(p.label, p.quantity) for p in row.broker_parts] == [("NFO NRML", 35), ("NFO MIS", -35)]
    assert flat_book.closed == []
    assert EventKind.CLOSED not in {e.kind for e in flat_book.events}
    changed = [e for e in flat_book.events if e.kind is EventKind.QTY_CHANGED]
    assert changed and "legs still open: NFO NRML 35, NFO MIS -35" in changed[0].detail

    # Judged on the net: a book still holding 35 is phantom-like on the net, yet not closed.
    holding_book = session.sync(legs, book(pos(fut, 35, 51000)))
    assert holding_book.rows[fut].status is Status.PHANTOM
    assert holding_book.closed == []

    # Once both legs are flat the row is closed, as any other.
    done = session.sync(broker(pos(fut, 0, label="NFO NRML"), pos(fut, 0, label="NFO MIS")), book())
    assert done.rows[fut].status is Status.CLOSED


def test_a_leg_of_unknown_average_makes_the_summed_average_unknown() -> None:
    """Kite's 0 average (no buy average) must not leave the other leg's average to be compared."""
    out = Session().sync(
        broker(pos("BSE:SBIN", 16, None, label="BSE CNC holding"), pos("BSE:SBIN", 4, 700, label="NSE CNC")),
        book(pos("BSE:SBIN", 20, 801)),
    )
    row = out.rows["BSE:SBIN"]
    assert (row.status, row.broker_avg) == (Status.MATCH, None)


def test_a_problem_that_gets_worse_is_reported_as_the_new_problem_never_resolved() -> None:
    """A confirmed mismatch whose position then closes at the broker while the book holds it
    is a phantom now: its event comes at once, and no green "resolved" comes first."""
    session = Session(JudgeSettings(confirm_syncs=2, settle_seconds=0))
    session.sync(broker(pos("A", 10, 1)), book(pos("A", 10, 1)))
    session.sync(broker(pos("A", 10, 1)), book(pos("A", 4, 1)))
    assert kinds(session.sync(broker(pos("A", 10, 1)), book(pos("A", 4, 1)))) == [("A", "mismatch_detected")]
    worse = session.sync(broker(), book(pos("A", 4, 1)))
    assert worse.rows["A"].status is Status.PHANTOM
    assert sorted(kinds(worse)) == [("A", "closed"), ("A", "phantom_detected")]
    better = session.sync(broker(pos("A", 2, 1)), book(pos("A", 4, 1)))  # a problem still
    assert sorted(kinds(better)) == [("A", "mismatch_detected"), ("A", "opened")]
    back = session.sync(broker(pos("A", 4, 1)), book(pos("A", 4, 1)))
    assert sorted(kinds(back)) == [("A", "mismatch_resolved"), ("A", "qty_changed")]


def test_a_reported_mismatch_that_closes_on_both_sides_is_closed_not_resolved() -> None:
    session = Session(JudgeSettings(confirm_syncs=1, settle_seconds=0))
    session.sync(broker(pos("A", 10, 1)), book(pos("A", 10, 1)))
    assert kinds(session.sync(broker(pos("A", 10, 1)), book(pos("A", 4, 1)))) == [("A", "mismatch_detected")]
    out = session.sync(broker(pos("A", 0, 0, realised_pnl=Decimal(5))), book())
    assert out.rows["A"].status is Status.CLOSED
    assert kinds(out) == [("A", "closed")]
