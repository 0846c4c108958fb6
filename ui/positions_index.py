"""The positions table's rows in display order, without Qt: a picture in, the row steps out.

A sync of 10,000 rows must reach the screen without a reset and without stalling the window, and
the trader's selection and scroll position must survive it. A ``QSortFilterProxyModel`` would ask
Python for every comparison (hundreds of thousands of calls per sort), so the visible rows are
kept here in display order with a parallel list of precomputed sort keys: finding a row is a
bisection, a changed row is one change, a row whose key changed is one move, and only large
bursts fall back to one re-sort. Each step is told to a ``Changes`` listener while it happens, so
the Qt model (``ui.positions_model``) can wrap it in Qt's begin/end calls; everything else about
the table, including whether it is right, can be tested here without a ``QApplication``.

The worker's pictures are diffed as snapshots (``snapshot``): a copy taken on arrival, on the
thread the worker hands it over on, so the diff thread never walks a dict the worker still owns.
"""

from __future__ import annotations

import bisect
import gc
import operator
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Protocol

from position_sync.app.domain import PROBLEM_STATUSES, Row, Status
from position_sync.app.store.acks import AckState
from position_sync.ui.positions_columns import Col
from position_sync.ui.positions_order import FilterSpec, sort_key

Key = tuple[str, str]

_SKEY = operator.attrgetter("skey")
_EKEY = operator.attrgetter("key")
_SMALL_BURST = 48  # structural changes handled one by one below this; one re-sort above
_WHOLE_TABLE = 256  # above this many changed rows (and an eighth of the table), one change for all


def snapshot(rows: Mapping[str, Row]) -> Mapping[str, Row]:
    """A picture nobody can change any more: a read-only view of a private copy.

    Taken where a picture arrives (the worker publishes on the loop thread), so a diff on
    another thread never iterates the worker's own dict while a later sync rebuilds it.
    """
    return MappingProxyType(dict(rows))


@dataclass(frozen=True)
class Plan:
    """One account's diff: rows to add, (old, new) pairs that changed, keys to remove."""

    account: str
    added: list[Row]
    changed: list[tuple[Row, Row]]
    removed: list[Key]
    exposures: dict[str, float] = field(default_factory=dict)  # by instrument, worked out with the diff

    def split(self, size: int) -> list[Plan]:
        """Pieces of at most ``size`` rows, each a valid step towards the same picture."""
        items: list[tuple[str, Any]] = (
            [("r", key) for key in self.removed]
            + [("c", pair) for pair in self.changed]
            + [("a", row) for row in self.added]
        )
        pieces = []
        for start in range(0, len(items), size):
            chunk = items[start : start + size]
            pieces.append(
                Plan(
                    self.account,
                    [v for t, v in chunk if t == "a"],
                    [v for t, v in chunk if t == "c"],
                    [v for t, v in chunk if t == "r"],
                    self.exposures,
                )
            )
        return pieces or [self]

    @property
    def size(self) -> int:
        return len(self.added) + len(self.changed) + len(self.removed)


class Changes(Protocol):
    """Told each step while the index takes it: the positions are those of Qt's begin calls.

    ``moving`` uses Qt's convention for the destination (the row's place in the list before it
    is taken out); ``reordering`` and ``reordered`` bracket a re-sort of every visible row, so
    a listener can note its rows by key before and find them again after.
    """

    def inserting(self, first: int, last: int) -> None: ...
    def inserted(self) -> None: ...
    def removing(self, first: int, last: int) -> None: ...
    def removed(self) -> None: ...
    def moving(self, source: int, destination: int) -> None: ...
    def moved(self) -> None: ...
    def reordering(self) -> None: ...
    def reordered(self) -> None: ...
    def changed(self, first: int, last: int) -> None: ...


class Entry:
    """One row as the index holds it: the row, its acknowledgement, and its place in the order."""

    __slots__ = ("ack", "exposure", "key", "pending", "row", "skey")

    def __init__(self, row: Row, exposure: float | None = None) -> None:
        self.row = row
        self.key: Key = row.key
        self.exposure = exposure_of(row) if exposure is None else exposure
        self.ack: AckState | None = None
        self.skey: Any = None  # the sort key while visible, None while filtered out
        self.pending: Any = None  # a new sort key not applied yet (see ``settle_moves``)


def exposure_of(row: Row) -> float:
    """``Row.exposure`` in floats: the same order, a quarter of the cost, for sorting 10,000 rows."""
    price = row.last_price or row.broker_avg or row.local_avg
    if price is None:
        return 0.0
    broker_qty, local_qty = row.broker_qty, row.local_qty
    broker = abs(float(broker_qty)) if broker_qty is not None else 0.0
    local = abs(float(local_qty)) if local_qty is not None else 0.0
    return abs((broker if broker >= local else local) * float(price) * float(row.multiplier))


class PositionsIndex:
    """Every row the window knows, the visible ones in display order, and the counts behind the summary."""

    def __init__(self, changes: Changes, now: datetime | None = None) -> None:
        self._changes = changes
        self._entries: dict[Key, Entry] = {}
        self._by_account: dict[str, set[Key]] = {}
        self._order: list[Key] = []  # visible keys in display order
        self._skeys: list[Any] = []  # their sort keys, ascending
        self._filter = FilterSpec()
        self._sort_column = Col.STATUS
        self._descending = False
        self._acks: dict[Key, AckState] = {}
        self._counts: Counter[Status] = Counter()
        self._problems: set[Key] = set()  # keys whose effective status is a problem
        self._deferred: list[Entry] = []
        self._held = False  # rows keep their places (see ``hold``)
        self._now = now or datetime.now(UTC)

    # -- reading ---------------------------------------------------------------------------

    def __len__(self) -> int:
        """How many rows are visible (pass the filter)."""
        return len(self._order)

    def entry_at(self, position: int) -> Entry:
        return self._entries[self._order[position]]

    def entry(self, key: Key) -> Entry:
        return self._entries[key]

    def key_at(self, position: int) -> Key:
        return self._order[position]

    def position_of(self, key: Key) -> int | None:
        """Where a row shows, or None when it is unknown or filtered out."""
        entry = self._entries.get(key)
        if entry is None or entry.skey is None:
            return None
        return self._position(entry.skey)

    def row_at(self, position: int) -> Row:
        return self._entries[self._order[position]].row

    def row_for(self, key: Key) -> Row | None:
        entry = self._entries.get(key)
        return entry.row if entry else None

    def ack_for(self, key: Key) -> AckState | None:
        return self._acks.get(key)

    def rows(self) -> Iterable[Row]:
        return (entry.row for entry in self._entries.values())

    def keys_of(self, account: str) -> list[Key]:
        return list(self._by_account.get(account, ()))

    def accounts(self) -> list[str]:
        return sorted(self._by_account)

    def count_of(self, account: str) -> int:
        return len(self._by_account.get(account, ()))

    def total(self) -> int:
        return len(self._entries)

    def counts(self) -> Counter[Status]:
        """Rows per (effective) status, kept up to date by every change: no pass over 10,000 rows."""
        return +self._counts

    def quiet(self, entry: Entry) -> bool:
        """Acknowledged (and unchanged since) or snoozed, by the index's clock."""
        return entry.ack is not None and entry.ack.mutes(entry.row, self._now)

    def unmuted_problems(self) -> int:
        entries = self._entries
        return sum(1 for key in self._problems if not self.quiet(entries[key]))

    def muted(self, account: str, instrument: str, now: datetime | None = None) -> bool:
        """Acknowledged (and unchanged since) or snoozed: the notifier keeps quiet about it.

        ``now`` judges a snooze by the caller's clock (the controller's, to the second) rather
        than the index's, which only advances with the half-minute repaint of ages.
        """
        state = self._acks.get((account, instrument))
        return state is not None and state.mutes(self.row_for((account, instrument)), now or self._now)

    @property
    def filter(self) -> FilterSpec:
        return self._filter

    @property
    def sort_column(self) -> Col:
        return self._sort_column

    @property
    def descending(self) -> bool:
        return self._descending

    def sort_key(self, entry: Entry) -> Any:
        """The key ``entry`` sorts by under the current column and order."""
        column = self._sort_column
        quiet = column is Col.STATUS and entry.ack is not None and self.quiet(entry)
        return sort_key(entry.row, column, self._descending, entry.exposure, quiet)

    # -- diffing ---------------------------------------------------------------------------

    def plan(self, account: str, rows: Mapping[str, Row]) -> Plan:
        """The diff of one account's complete new picture against what the index holds.

        Only reads, so a worker thread may run it: comparing 10,000 rows costs about 10 ms of
        Python, which the window runs off the UI thread for large pictures, one plan at a time,
        applying plans in the order they were made. ``rows`` must be a ``snapshot``.

        The UI thread may change the index meanwhile (``load_cached`` after new settings, or a
        small result shown inline), so this never iterates a live container of the index: the
        account's key set is copied first (``set.copy`` runs in C, under the GIL, so it cannot
        see a set half-changed), and single lookups in ``_entries`` are atomic. ``apply_plan``
        re-checks every row against the index as it is by then.
        """
        entries = self._entries
        added: list[Row] = []
        changed: list[tuple[Row, Row]] = []
        for instrument, row in rows.items():
            entry = entries.get((account, instrument))
            if entry is None:
                added.append(row)
                continue
            old = entry.row
            if old is not row and old != row:
                changed.append((old, row))
        live = self._by_account.get(account)
        known = live.copy() if live is not None else set()
        # Judged key by key against the copy (a count comparison could be fooled by a key added
        # and another removed between the lookups above and the copy).
        removed = [key for key in known if key[1] not in rows]
        exposures = {row.instrument: exposure_of(row) for row in added}
        exposures.update((new.instrument, exposure_of(new)) for _, new in changed)
        return Plan(account, added, changed, removed, exposures)

    def apply_plan(self, plan: Plan, *, defer_moves: bool = False) -> tuple[int, int, int]:
        """Apply a diff on the UI thread; rows that moved on since it was made are re-checked.

        ``defer_moves`` (a large diff applied in pieces): rows whose place in the order changed
        are repainted but keep their place until ``settle_moves``, so the order is worked out
        once for the whole diff instead of once per piece. Returns (added, changed, removed).
        """
        entries = self._entries
        exposures = plan.exposures
        removed = [entries[key] for key in plan.removed if key in entries]
        added: list[Entry] = []
        changed: list[tuple[Entry, Row]] = []
        for old, new in plan.changed:
            entry = entries.get(new.key)
            if entry is None:
                added.append(Entry(new, exposures.get(new.instrument)))
            elif entry.row is old or entry.row != new:
                entry.exposure = (
                    exposures[new.instrument] if new.instrument in exposures else exposure_of(new)
                )
                changed.append((entry, new))
        for row in plan.added:
            entry = entries.get(row.key)
            if entry is None:
                added.append(Entry(row, exposures.get(row.instrument)))
            elif entry.row != row:
                entry.exposure = exposure_of(row)
                changed.append((entry, row))
        if removed or added or changed:
            self._apply(removed, added, changed, defer_moves=defer_moves or self._held)
        return len(added), len(changed), len(removed)

    def apply_account(self, account: str, rows: Mapping[str, Row]) -> tuple[int, int, int]:
        """Bring one account to its complete new picture; returns (added, changed, removed).

        An account the index does not hold yet (the stored picture at start) has nothing to
        diff against: its rows go in at once, without a plan.
        """
        if account in self._by_account or not rows:
            return self.apply_plan(self.plan(account, rows))
        return self._load(account, rows.values()), 0, 0

    def _load(self, account: str, rows: Iterable[Row]) -> int:
        """A new account's rows in one pass: counted, keyed and inserted in one sorted run
        where the table was empty (the stored picture at start: 50,000 rows in a blink)."""
        entries, acks, problems = self._entries, self._acks, self._problems
        accepts = None if self._filter == FilterSpec() else self._filter.accepts
        keys = self._by_account.setdefault(account, set())
        tally: Counter[Status] = Counter()
        entering: list[Entry] = []
        for row in rows:
            entry = Entry(row)
            key = entry.key
            status = row.effective_status
            tally[status] += 1
            if status in PROBLEM_STATUSES:
                problems.add(key)
            entry.ack = acks.get(key)
            entries[key] = entry
            keys.add(key)
            if accepts is None or accepts(row):
                entering.append(entry)
        self._counts.update(tally)
        self._restructure([], entering, [])
        return len(keys)

    def hold(self, held: bool) -> None:
        """While held, no row changes its place for a new picture, an acknowledgement or the
        clock: such rows are repainted where they are, and move when the hold ends. The trader
        holds a key or has a menu open on a row, which must not slide away from under it.
        Rows still come and go (a removal cannot wait), and the user's own sort and filter apply."""
        self._held = held
        if not held:
            self.settle_moves()

    @property
    def held(self) -> bool:
        return self._held

    def settle_moves(self) -> None:
        """Put the rows deferred by ``apply_plan(defer_moves=True)`` in their places, in one go."""
        if self._held:
            return
        deferred, self._deferred = self._deferred, []
        moved = False
        for entry in deferred:
            if entry.pending is not None and entry.skey is not None:
                entry.skey = entry.pending
                moved = True
            entry.pending = None
        if moved:
            self._reorder(recompute=False)

    # -- what else moves rows --------------------------------------------------------------

    def sort(self, column: Col, descending: bool) -> None:
        self._sort_column = column
        self._descending = descending
        self._reorder()

    def set_filter(self, spec: FilterSpec) -> None:
        """A filter change: rows leave and enter as removals and insertions, never a re-sort."""
        if spec == self._filter:
            return
        self._filter = spec
        accepts = spec.accepts
        leaving = [e for e in self._entries.values() if e.skey is not None and not accepts(e.row)]
        entering = [e for e in self._entries.values() if e.skey is None and accepts(e.row)]
        self._restructure(leaving, entering, [])

    def set_now(self, now: datetime) -> list[Entry]:
        """Advance the clock snoozes are judged by; returns the visible rows it may change
        (stale or snoozed), repainted and, where a snooze ran out, moved back among the loud."""
        self._now = now
        touched = [
            entry
            for entry in self._entries.values()
            if entry.skey is not None
            and (entry.row.status is Status.STALE or (entry.ack and entry.ack.snooze))
        ]
        self._reposition(touched)
        return touched

    def set_acks(self, states: Mapping[Key, AckState]) -> None:
        """Replace every acknowledgement at once (start-up, or after another process wrote some)."""
        self._acks = dict(states)
        touched = []
        for key, entry in self._entries.items():
            state = states.get(key)
            if state is not entry.ack:
                entry.ack = state
                touched.append(entry)
        self._reposition(touched)

    def update_acks(self, states: Mapping[Key, AckState]) -> int:
        """Bring the acknowledgements to a fresh read, touching only rows whose state differs.

        A periodic re-read returns new but equal objects for every row; comparing by value
        keeps it to the rows someone actually acknowledged, snoozed or cleared meanwhile.
        Returns how many keys changed.
        """
        changed = [key for key in self._acks.keys() | states.keys() if self._acks.get(key) != states.get(key)]
        for key in changed:
            self.set_ack(key, states.get(key))
        return len(changed)

    def set_ack(self, key: Key, state: AckState | None) -> None:
        if state is None:
            self._acks.pop(key, None)
        else:
            self._acks[key] = state
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.ack = state
        self._reposition([entry])

    def repaint(self, entries: list[Entry]) -> None:
        """Say that these rows look different (their account, the clock, the palette changed)."""
        self._emit_changed([e for e in entries if e.skey is not None])

    def repaint_all(self) -> None:
        if self._order:
            self._changes.changed(0, len(self._order) - 1)

    def entries_of(self, account: str) -> list[Entry]:
        return [self._entries[key] for key in self._by_account.get(account, ())]

    # -- internals: the incremental machinery ---------------------------------------------------

    def _count(self, row: Row, delta: int) -> None:
        status = row.effective_status
        self._counts[status] += delta
        if status.is_problem:
            if delta > 0:
                self._problems.add(row.key)
            else:
                self._problems.discard(row.key)

    def _position(self, skey: Any) -> int:
        return bisect.bisect_left(self._skeys, skey)

    def _apply(
        self,
        removed: list[Entry],
        added: list[Entry],
        changed: list[tuple[Entry, Row]],
        *,
        defer_moves: bool = False,
    ) -> None:
        leaving: list[Entry] = []
        entering: list[Entry] = []
        moving: list[tuple[Entry, Any]] = []  # (entry, old sort key)
        repaint: list[Entry] = []
        accepts = self._filter.accepts
        count = self._count
        for entry in removed:
            count(entry.row, -1)
            if entry.skey is not None:
                leaving.append(entry)
        for entry, row in changed:
            if entry.row.effective_status is not row.effective_status:
                count(entry.row, -1)
                count(row, 1)
            entry.row = row
            visible = accepts(row)
            if entry.skey is None:
                if visible:
                    entering.append(entry)
                continue
            if not visible:
                leaving.append(entry)
                continue
            new_key = self.sort_key(entry)
            if new_key == entry.skey:
                entry.pending = None
                repaint.append(entry)
            elif defer_moves:
                entry.pending = new_key
                self._deferred.append(entry)
                repaint.append(entry)
            else:
                entry.pending = None
                moving.append((entry, entry.skey))
                entry.skey = new_key
        for entry in added:
            key = entry.key  # one tuple per row, shared by every structure that names the row
            count(entry.row, 1)
            entry.ack = self._acks.get(key)
            self._entries[key] = entry
            self._by_account.setdefault(key[0], set()).add(key)
            if accepts(entry.row):
                entering.append(entry)
        self._restructure(leaving, entering, moving)
        for entry in removed:  # only now: views may read a row until its removal is announced
            key = entry.key
            del self._entries[key]
            keys = self._by_account.get(key[0])
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_account[key[0]]
        self._emit_changed(repaint + [entry for entry, _ in moving])

    def _restructure(
        self, leaving: list[Entry], entering: list[Entry], moving: list[tuple[Entry, Any]]
    ) -> None:
        for entry in entering:
            entry.skey = self.sort_key(entry)
            entry.pending = None
        if len(leaving) + len(entering) + len(moving) <= _SMALL_BURST:
            for entry in leaving:
                self._remove_one(entry)
            for entry, old in moving:
                self._move_one(entry, old)
            for entry in entering:
                self._insert_one(entry)
            return
        self._remove_many(leaving)
        if moving:
            self._reorder(recompute=False)
        self._insert_many(entering)

    def _remove_one(self, entry: Entry) -> None:
        position = self._position(entry.skey)
        self._changes.removing(position, position)
        del self._order[position]
        del self._skeys[position]
        self._changes.removed()
        entry.skey = entry.pending = None

    def _insert_one(self, entry: Entry) -> None:
        position = self._position(entry.skey)
        self._changes.inserting(position, position)
        self._order.insert(position, entry.key)
        self._skeys.insert(position, entry.skey)
        self._changes.inserted()

    def _move_one(self, entry: Entry, old: Any) -> None:
        source = self._position(old)
        del self._skeys[source]
        key = self._order.pop(source)
        target = self._position(entry.skey)  # in the list without the row
        destination = target + 1 if target >= source else target
        self._skeys.insert(source, old)
        self._order.insert(source, key)
        if destination in (source, source + 1):
            self._skeys[source] = entry.skey
            return
        self._changes.moving(source, destination)
        del self._skeys[source]
        del self._order[source]
        self._skeys.insert(target, entry.skey)
        self._order.insert(target, key)
        self._changes.moved()

    def _remove_many(self, leaving: list[Entry]) -> None:
        positions = sorted((self._position(e.skey) for e in leaving), reverse=True)
        for entry in leaving:
            entry.skey = entry.pending = None
        for start, end in _runs_descending(positions):
            self._changes.removing(start, end)
            del self._order[start : end + 1]
            del self._skeys[start : end + 1]
            self._changes.removed()

    def _insert_many(self, entering: list[Entry]) -> None:
        if not entering:
            return
        entering.sort(key=_SKEY)
        # Final positions of the newcomers in the merged list; inserted run by run, ascending,
        # so each run's final position is already right when it goes in.
        final = [bisect.bisect_left(self._skeys, e.skey) + offset for offset, e in enumerate(entering)]
        index = 0
        while index < len(entering):
            start = index
            while index + 1 < len(entering) and final[index + 1] == final[index] + 1:
                index += 1
            first, last = final[start], final[index]
            run = entering[start : index + 1]
            self._changes.inserting(first, last)
            self._order[first:first] = [e.key for e in run]
            self._skeys[first:first] = [e.skey for e in run]
            self._changes.inserted()
            index += 1

    def _reorder(self, *, recompute: bool = True) -> None:
        """Re-sort the visible rows in one step; the listener finds its rows again by key."""
        self._changes.reordering()
        entries = self._entries
        if recompute:
            for key in self._order:
                entry = entries[key]
                entry.skey = self.sort_key(entry)
                entry.pending = None
            self._deferred = []
        collecting = gc.isenabled()
        gc.disable()  # 10,000 fresh list slots must not set off a collection in the middle
        try:
            visible = list(map(entries.__getitem__, self._order))
            visible.sort(key=_SKEY)
            self._skeys = list(map(_SKEY, visible))
            self._order = list(map(_EKEY, visible))
        finally:
            if collecting:
                gc.enable()
        self._changes.reordered()

    def _reposition(self, touched: list[Entry]) -> None:
        """Rows whose sort key may have changed (an acknowledgement moves a row down)."""
        moving = []
        repaint = []
        for entry in touched:
            if entry.skey is None:
                continue
            new_key = self.sort_key(entry)
            entry.pending = None
            if new_key == entry.skey:
                repaint.append(entry)
            elif self._held:
                entry.pending = new_key  # moves when the hold ends
                self._deferred.append(entry)
                repaint.append(entry)
            else:
                moving.append((entry, entry.skey))
                entry.skey = new_key
        self._restructure([], [], moving)
        self._emit_changed(repaint + [e for e, _ in moving])

    def _emit_changed(self, entries: list[Entry]) -> None:
        if not entries:
            return
        if len(entries) > _WHOLE_TABLE and len(entries) * 8 > len(self._order):
            # Most rows changed: one change for all is cheaper than finding each (views repaint
            # only what is on screen either way).
            self._changes.changed(0, len(self._order) - 1)
            return
        positions = sorted(self._position(e.skey) for e in entries if e.skey is not None)
        for start, end in _runs_ascending(positions):
            self._changes.changed(start, end)


def _runs_ascending(positions: list[int]) -> Iterable[tuple[int, int]]:
    if not positions:
        return
    start = end = positions[0]
    for position in positions[1:]:
        if position == end + 1:
            end = position
        elif position != end:
            yield start, end
            start = end = position
    yield start, end


def _runs_descending(positions: list[int]) -> Iterable[tuple[int, int]]:
    """Runs of a descending list, yielded from the bottom up so earlier removals keep later indexes valid."""
    if not positions:
        return
    high = low = positions[0]
    for position in positions[1:]:
        if position == low - 1:
            low = position
        else:
            yield low, high
            high = low = position
    yield low, high
