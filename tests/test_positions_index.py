"""The positions table's sorted index, without Qt: pictures in, row steps out, order always right.

A ``Mirror`` stands where the Qt model and its view stand: it learns the rows only from the
steps the index announces, so whenever it differs from the index a view would show wrong rows.
"""

from __future__ import annotations

import random
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from position_sync.app.domain import Row, Status
from position_sync.app.store.acks import AckKind, Acknowledgement, AckState, fingerprint
from position_sync.ui.positions_columns import Col
from position_sync.ui.positions_index import Key, PositionsIndex, snapshot
from position_sync.ui.positions_order import FilterSpec

NOW = datetime(2026, 11, 21, 9, 30, tzinfo=UTC)
D = Decimal


class Mirror:
    """The rows a view would show, kept only from the index's announcements."""

    def __init__(self) -> None:
        self.index: PositionsIndex | None = None
        self.keys: list[Key] = []
        self.steps: list[tuple[Any, ...]] = []
        self._open: tuple[Any, ...] | None = None

    def _begin(self, step: tuple[Any, ...]) -> None:
        assert self._open is None, f"{step} inside {self._open}"
        self._open = step
        self.steps.append(step)

    def _end(self, kind: str) -> tuple[Any, ...]:
        step, self._open = self._open, None
        assert step is not None and step[0] == kind, (kind, step)
        return step

    def inserting(self, first: int, last: int) -> None:
        assert 0 <= first <= len(self.keys) and last >= first
        self._begin(("insert", first, last))

    def inserted(self) -> None:
        _, first, last = self._end("insert")
        assert self.index is not None
        self.keys[first:first] = [self.index.key_at(p) for p in range(first, last + 1)]

    def removing(self, first: int, last: int) -> None:
        assert 0 <= first <= last < len(self.keys)
        self._begin(("remove", first, last))

    def removed(self) -> None:
        _, first, last = self._end("remove")
        del self.keys[first : last + 1]

    def moving(self, source: int, destination: int) -> None:
        assert 0 <= source < len(self.keys) and 0 <= destination <= len(self.keys)
        assert destination not in (source, source + 1), "a move that goes nowhere is not announced"
        self._begin(("move", source, destination))

    def moved(self) -> None:
        _, source, destination = self._end("move")
        key = self.keys.pop(source)
        self.keys.insert(destination - 1 if destination > source else destination, key)

    def reordering(self) -> None:
        self._begin(("reorder",))
        assert self.index is not None
        assert self.keys == [self.index.key_at(p) for p in range(len(self.index))]

    def reordered(self) -> None:
        self._end("reorder")
        assert self.index is not None
        order = [self.index.key_at(p) for p in range(len(self.index))]
        assert sorted(order) == sorted(self.keys), "a re-sort neither adds nor drops rows"
        self.keys = order

    def changed(self, first: int, last: int) -> None:
        assert self._open is None
        assert 0 <= first <= last < len(self.keys)
        self.steps.append(("change", first, last))

    def take(self) -> list[tuple[Any, ...]]:
        steps, self.steps = self.steps, []
        return steps


def make_index() -> tuple[PositionsIndex, Mirror]:
    mirror = Mirror()
    index = PositionsIndex(mirror, NOW)
    mirror.index = index
    return index, mirror


def shown(index: PositionsIndex) -> list[str]:
    return [index.row_at(p).instrument for p in range(len(index))]


def check(index: PositionsIndex, mirror: Mirror) -> None:
    """The mirror shows what the index holds, and the order is a plain sort of the visible rows."""
    order = [index.key_at(p) for p in range(len(index))]
    assert mirror.keys == order
    visible = [index.entry(r.key) for r in index.rows() if index.filter.accepts(r)]
    assert order == [e.key for e in sorted(visible, key=index.sort_key)]


def row(instrument: str, status: Status = Status.MATCH, account: str = "a", **values: Any) -> Row:
    defaults: dict[str, Any] = {"broker_qty": D(10), "local_qty": D(10), "last_price": D(100)}
    defaults.update(values)
    return Row(
        account=account, instrument=instrument, status=status, since=NOW - timedelta(minutes=5), **defaults
    )


def flipped(of: Row) -> Row:
    """The row at a price that turns its place in a price order upside down."""
    assert of.last_price is not None
    return replace(of, last_price=D(1000) - of.last_price)


def ack(of: Row) -> AckState:
    note = Acknowledgement(
        1, of.account, of.instrument, AckKind.ACK, NOW, "known", status=of.effective_status.value,
        fingerprint=fingerprint(of),
    )  # fmt: skip
    return AckState(note, None)


# -- snapshots -------------------------------------------------------------------------------


def test_a_snapshot_is_a_read_only_copy_the_worker_can_no_longer_change() -> None:
    live = {"X": row("X")}
    picture = snapshot(live)
    live["Y"] = row("Y")
    del live["X"]
    assert list(picture) == ["X"]
    with pytest.raises(TypeError):
        picture["Z"] = row("Z")  # type: ignore[index]


def test_the_index_imports_no_qt() -> None:
    code = (
        "import sys, position_sync.ui.positions_index; "
        "sys.exit(any(m.split('.')[0] in ('PySide6', 'shiboken6') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# -- a picture in, the steps out -------------------------------------------------------------


def test_a_first_picture_goes_in_as_insertions_in_the_default_order() -> None:
    index, mirror = make_index()
    picture = {
        "A": row("A", broker_qty=D(1000), local_qty=D(1000)),
        "B": row("B", Status.PHANTOM, broker_qty=None, local_qty=D(1)),
        "C": row("C", Status.QTY_MISMATCH, broker_qty=D(50), local_qty=D(10)),
        "D": row("D", Status.CLOSED, broker_qty=D(0), local_qty=None),
    }
    assert index.apply_account("a", snapshot(picture)) == (4, 0, 0)
    assert {step[0] for step in mirror.take()} == {"insert"}
    assert shown(index) == ["C", "B", "A", "D"]  # problems first, larger exposure first, closed last
    check(index, mirror)
    assert index.counts() == {Status.MATCH: 1, Status.PHANTOM: 1, Status.QTY_MISMATCH: 1, Status.CLOSED: 1}
    assert index.unmuted_problems() == 2


def test_a_changed_figure_is_one_change_in_place_and_nothing_else() -> None:
    index, mirror = make_index()
    picture = {f"I{i}": row(f"I{i}", broker_qty=D(i + 1), local_qty=D(i + 1)) for i in range(10)}
    index.apply_account("a", snapshot(picture))
    mirror.take()
    before = shown(index)
    picture["I4"] = replace(picture["I4"], unrealised_pnl=D(5))  # not a sort key: stays put
    assert index.apply_account("a", snapshot(picture)) == (0, 1, 0)
    position = before.index("I4")
    assert mirror.take() == [("change", position, position)]
    assert shown(index) == before


def test_equal_rows_in_new_objects_are_no_change() -> None:
    index, mirror = make_index()
    picture = {f"I{i}": row(f"I{i}") for i in range(5)}
    index.apply_account("a", snapshot(picture))
    mirror.take()
    assert index.apply_account("a", snapshot({k: replace(r) for k, r in picture.items()})) == (0, 0, 0)
    assert mirror.take() == []


def test_a_row_that_turns_into_a_problem_moves_to_the_top_in_one_move() -> None:
    index, mirror = make_index()
    picture = {f"I{i}": row(f"I{i}", broker_qty=D(i + 1), local_qty=D(i + 1)) for i in range(10)}
    index.apply_account("a", snapshot(picture))
    mirror.take()
    source = shown(index).index("I2")
    picture["I2"] = replace(picture["I2"], status=Status.PHANTOM, broker_qty=None)
    index.apply_account("a", snapshot(picture))
    assert mirror.take() == [("move", source, 0), ("change", 0, 0)]
    assert shown(index)[0] == "I2"
    check(index, mirror)
    assert index.counts()[Status.PHANTOM] == 1


def test_removed_and_added_rows_are_removals_and_insertions() -> None:
    index, mirror = make_index()
    picture = {f"I{i}": row(f"I{i}") for i in range(6)}
    index.apply_account("a", snapshot(picture))
    mirror.take()
    del picture["I3"]
    picture["J"] = row("J", Status.UNTRACKED, local_qty=None)
    assert index.apply_account("a", snapshot(picture)) == (1, 0, 1)
    assert [step[0] for step in mirror.take()] == ["remove", "insert"]
    check(index, mirror)
    assert index.row_for(("a", "I3")) is None and shown(index)[0] == "J"


def test_a_burst_of_moves_is_one_re_sort() -> None:
    index, mirror = make_index()
    picture = {f"I{i:03}": row(f"I{i:03}", last_price=D(i + 1)) for i in range(200)}
    index.apply_account("a", snapshot(picture))
    mirror.take()
    index.apply_account("a", snapshot({k: flipped(r) for k, r in picture.items()}))
    steps = mirror.take()
    assert [s for s in steps if s[0] != "change"] == [("reorder",)]
    check(index, mirror)


def test_a_plan_made_before_the_index_changed_is_checked_again_when_applied() -> None:
    """The diff thread plans while the UI thread goes on applying other pictures."""
    index, mirror = make_index()
    first = {f"I{i}": row(f"I{i}") for i in range(6)}
    index.apply_account("a", snapshot(first))
    late = index.plan("a", snapshot({**first, "I0": replace(first["I0"], last_price=D(7)), "N": row("N")}))
    second = {k: v for k, v in first.items() if k != "I1"}
    second["N"] = row("N", last_price=D(9))
    index.apply_account("a", snapshot(second))  # meanwhile, on the UI thread
    index.apply_plan(late)
    check(index, mirror)
    assert index.row_for(("a", "I0")).last_price == D(7)  # type: ignore[union-attr]
    assert index.row_for(("a", "N")).last_price == D(100)  # type: ignore[union-attr]
    assert index.row_for(("a", "I1")) is None  # not in the late plan: it stays removed


def test_a_large_diff_in_pieces_keeps_its_moves_until_settled() -> None:
    index, mirror = make_index()
    picture = {f"I{i:03}": row(f"I{i:03}", last_price=D(i + 1)) for i in range(100)}
    index.apply_account("a", snapshot(picture))
    index.sort(Col.LAST, descending=False)
    mirror.take()
    before = shown(index)
    for piece in index.plan("a", snapshot({k: flipped(r) for k, r in picture.items()})).split(30):
        index.apply_plan(piece, defer_moves=True)
        assert shown(index) == before  # repainted in place, not moved yet
    assert {s[0] for s in mirror.take()} == {"change"}
    index.settle_moves()
    assert mirror.take() == [("reorder",)]
    assert shown(index) == before[::-1]
    check(index, mirror)


# -- filter, sort, acknowledgements, the clock ------------------------------------------------


def test_a_filter_change_is_removals_and_insertions_never_a_re_sort() -> None:
    index, mirror = make_index()
    picture = {f"I{i}": row(f"I{i}", Status.PHANTOM if i % 3 == 0 else Status.MATCH) for i in range(9)}
    index.apply_account("a", snapshot(picture))
    mirror.take()
    index.set_filter(FilterSpec(only_problems=True))
    assert shown(index) == ["I0", "I3", "I6"]
    index.set_filter(FilterSpec(text="i4"))
    assert shown(index) == ["I4"]
    index.set_filter(FilterSpec())
    assert {s[0] for s in mirror.take()} <= {"insert", "remove"}
    check(index, mirror)
    index.set_filter(FilterSpec())
    assert mirror.take() == []  # the same filter again: nothing


def test_sorting_by_a_column_either_way() -> None:
    index, mirror = make_index()
    index.apply_account(
        "a", snapshot({n: row(n, last_price=D(p)) for n, p in (("X", 3), ("Y", 1), ("Z", 2))})
    )
    index.sort(Col.LAST, descending=False)
    assert shown(index) == ["Y", "Z", "X"]
    index.sort(Col.LAST, descending=True)
    assert shown(index) == ["X", "Z", "Y"]
    index.sort(Col.INSTRUMENT, descending=True)
    assert shown(index) == ["Z", "Y", "X"]
    check(index, mirror)


def test_an_acknowledged_problem_sorts_after_the_loud_ones_until_it_changes() -> None:
    index, mirror = make_index()
    big = row("BIG", Status.PHANTOM, broker_qty=None, local_qty=D(100))
    small = row("SMALL", Status.PHANTOM, broker_qty=None, local_qty=D(1))
    index.apply_account("a", snapshot({"BIG": big, "SMALL": small}))
    assert shown(index) == ["BIG", "SMALL"]
    index.set_ack(big.key, ack(big))
    assert shown(index) == ["SMALL", "BIG"] and index.muted("a", "BIG") and index.unmuted_problems() == 1
    changed = replace(big, local_qty=D(60))
    index.apply_account("a", snapshot({"BIG": changed, "SMALL": small}))
    assert shown(index) == ["BIG", "SMALL"] and not index.muted("a", "BIG")
    check(index, mirror)


def test_a_snooze_running_out_moves_its_row_back_among_the_loud() -> None:
    index, mirror = make_index()
    big = row("BIG", Status.PHANTOM, broker_qty=None, local_qty=D(100))
    small = row("SMALL", Status.PHANTOM, broker_qty=None, local_qty=D(1))
    index.apply_account("a", snapshot({"BIG": big, "SMALL": small}))
    until = NOW + timedelta(minutes=15)
    snooze = Acknowledgement(2, "a", "BIG", AckKind.SNOOZE, NOW, "", until=until)
    assert index.update_acks({big.key: AckState(None, snooze)}) == 1
    assert shown(index) == ["SMALL", "BIG"]
    assert index.update_acks({big.key: AckState(None, snooze)}) == 0  # equal again: no row touched
    mirror.take()
    assert [e.key for e in index.set_now(until + timedelta(seconds=1))] == [big.key]
    assert mirror.take()[0] == ("move", 1, 0)
    assert shown(index) == ["BIG", "SMALL"]
    check(index, mirror)


def test_an_account_removed_leaves_no_trace() -> None:
    index, mirror = make_index()
    index.apply_account("a", snapshot({"X": row("X")}))
    index.apply_account("b", snapshot({"Y": row("Y", Status.PHANTOM, account="b", broker_qty=None)}))
    assert index.accounts() == ["a", "b"]
    index.apply_account("b", snapshot({}))
    assert index.accounts() == ["a"] and index.total() == 1 and index.keys_of("b") == []
    assert index.counts() == {Status.MATCH: 1} and index.unmuted_problems() == 0
    check(index, mirror)


# -- random walks ----------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_random_pictures_keep_the_mirror_and_the_order_right(seed: int) -> None:
    rng = random.Random(seed)
    index, mirror = make_index()
    statuses = list(Status)

    def make(account: str, i: int) -> Row:
        status = rng.choice(statuses)
        return Row(
            account=account,
            instrument=f"I{i}",
            status=status,
            since=NOW,
            broker_qty=D(rng.randint(-5, 5)),
            local_qty=D(rng.randint(-5, 5)),
            last_price=D(rng.randint(1, 99)),
            previous_status=Status.MATCH if status is Status.STALE else None,
        )

    for step in range(40):
        account = rng.choice(["a", "b"])
        current = {k[1]: index.row_for(k) for k in index.keys_of(account)}
        picture: dict[str, Row] = {}
        for i in range(rng.choice([0, 5, 20, 70])):
            old = current.get(f"I{i}")
            picture[f"I{i}"] = old if old is not None and rng.random() < 0.6 else make(account, i)
        if step % 3 == 0:
            for piece in index.plan(account, snapshot(picture)).split(7):
                index.apply_plan(piece, defer_moves=True)
            index.settle_moves()
        else:
            index.apply_account(account, snapshot(picture))
        if rng.random() < 0.15:
            index.sort(rng.choice(list(Col)), rng.random() < 0.5)
        if rng.random() < 0.15:
            index.set_filter(FilterSpec(only_problems=rng.random() < 0.5))
        check(index, mirror)
        expected = {r.effective_status for r in index.rows()}
        assert set(index.counts()) == expected
        assert sum(index.counts().values()) == index.total()


# -- a hold: no row changes its place while the trader holds a key or has a menu open ----------


def test_while_held_no_row_moves_and_the_moves_come_on_release() -> None:
    index, mirror = make_index()
    rows = {
        f"I{i}": row(f"I{i}", Status.PHANTOM, broker_qty=None, local_qty=D(10 * (5 - i))) for i in range(5)
    }
    index.apply_account("a", snapshot(rows))
    assert shown(index) == ["I0", "I1", "I2", "I3", "I4"]  # largest exposure first
    mirror.take()
    index.hold(True)
    index.set_ack(("a", "I1"), ack(rows["I1"]))  # an acknowledged row sorts after the loud ones
    bigger = replace(rows["I3"], local_qty=D(100))
    index.apply_account("a", snapshot({**rows, "I3": bigger}))  # and I3 would jump to the top
    assert shown(index) == ["I0", "I1", "I2", "I3", "I4"]
    assert {step[0] for step in mirror.take()} == {"change"}  # repainted where they stand
    index.apply_account("a", snapshot({**rows, "I3": bigger, "NEW": row("NEW", Status.UNTRACKED)}))
    assert "NEW" in shown(index)  # rows still come and go
    index.hold(False)
    assert shown(index)[:2] == ["I3", "I0"] and shown(index)[-1] == "I1"
    check(index, mirror)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_random_pictures_with_holds_keep_the_mirror_right_and_settle_in_order(seed: int) -> None:
    rng = random.Random(seed)
    index, mirror = make_index()
    statuses = list(Status)
    for _ in range(30):
        if rng.random() < 0.3:
            index.hold(not index.held)
        account = rng.choice(["a", "b"])
        picture = {
            f"I{i}": row(f"I{i}", rng.choice(statuses), account=account, local_qty=D(rng.randint(0, 9)))
            for i in range(rng.choice([0, 3, 10, 60]))
        }
        index.apply_account(account, snapshot(picture))
        if rng.random() < 0.2:
            key = (account, f"I{rng.randint(0, 9)}")
            target = index.row_for(key)
            index.set_ack(key, ack(target) if target is not None else None)
        if rng.random() < 0.1:
            index.set_filter(FilterSpec(only_problems=rng.random() < 0.5))
        assert mirror.keys == [index.key_at(p) for p in range(len(index))]
        if not index.held:
            check(index, mirror)
    index.hold(False)
    check(index, mirror)
