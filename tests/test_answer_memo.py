"""The one memo every adapter keeps: equal keys hand back what was built, anything else does not."""

from __future__ import annotations

from position_sync.brokers.answer_memo import AnswerMemo, Same


def test_an_equal_key_recalls_what_was_built_and_another_key_does_not() -> None:
    memo: AnswerMemo[tuple[int, ...]] = AnswerMemo()
    assert memo.recall(None) is None  # nothing remembered yet, not even for a None key
    built = memo.remember([{"qty": "1"}], (1,))
    assert memo.recall([{"qty": "1"}]) is built  # decoded again: equal content
    assert memo.recall([{"qty": "2"}]) is None
    assert memo.recall([{"qty": "1"}, {"qty": "1"}]) is None
    memo.forget()
    assert memo.recall([{"qty": "1"}]) is None


def test_a_nan_in_an_answer_never_recalls() -> None:
    memo: AnswerMemo[str] = AnswerMemo()
    memo.remember([float("nan")], "built")
    assert memo.recall([float("nan")]) is None  # rebuilt: never a wrong hit


class Detail:
    """Equal to any other by a partial identity, the way IB's contract compares by conId."""

    def __init__(self, con_id: int, symbol: str) -> None:
        self.con_id, self.symbol = con_id, symbol

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Detail) and other.con_id == self.con_id

    def __hash__(self) -> int:
        return self.con_id


def test_same_is_equal_only_for_the_very_same_objects_in_order() -> None:
    a, b = Detail(1, "AAPL"), Detail(2, "MSFT")
    renamed = Detail(1, "APPLE")
    assert renamed == a  # what plain equality would take for unchanged
    assert Same([a, b]) == Same((a, b))
    assert Same([a, b]) != Same([renamed, b])
    assert Same([a, b]) != Same([b, a])
    assert Same([a]) != Same([a, b])
    assert Same([a]) != [a]
    memo: AnswerMemo[str] = AnswerMemo()
    memo.remember((Same([a, b]), "day"), "built")
    assert memo.recall((Same([a, b]), "day")) == "built"
    assert memo.recall((Same([renamed, b]), "day")) is None
    assert hash(Same([a, b])) == hash(Same([a, b]))
