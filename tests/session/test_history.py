"""The one history: undo/redo, the merge rule, the clean mark, refused edits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from detview.core.edits import DeleteBoxes, EditRefused, MoveBoxes, RelabelBoxes, SetReviewed
from detview.session import History, Session

from ._data import make_dataset


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _history(tmp_path: Path) -> tuple[History, Clock, object]:
    ds = make_dataset(tmp_path / "images")
    mono = Clock()
    h = History(ds.apply, user="alice", clock=lambda: 1.7e9, monotonic=mono)
    return h, mono, ds


def _move(ds: object, box: int, dx: float) -> MoveBoxes:
    gt = ds.gt  # type: ignore[attr-defined]
    r = gt.rows_of([box])[0]
    old = tuple(float(v) for v in gt.xyxy[r])
    new = (old[0] + dx, old[1], old[2] + dx, old[3])
    return MoveBoxes((box,), (int(gt.image[r]),), (old,), (new,))


def test_undo_redo_go_to_and_the_redo_list(tmp_path: Path) -> None:
    h, _, ds = _history(tmp_path)
    events: list[str] = []
    h.subscribe(lambda e: events.append(e.op))
    h.push(DeleteBoxes((0,), (0,)))
    h.push(RelabelBoxes((2,), (1,), (2,), (0,)))
    h.push(SetReviewed((2,), (False,), (True,)))
    assert (h.index, len(h), h.can_undo, h.can_redo) == (3, 3, True, False)
    assert h.undo() is not None and h.undo() is not None
    assert (h.index, len(h)) == (1, 3)
    assert [s.edit.kind for s in h.undone] == ["relabel_boxes", "set_reviewed"]
    assert ds.gt.cls[ds.gt.rows_of([2])[0]] == 2 and not ds.images.reviewed[2]
    h.go_to(3)
    assert ds.gt.cls[ds.gt.rows_of([2])[0]] == 0 and ds.images.reviewed[2]
    h.go_to(0)
    assert ds.gt.alive.all() and h.undo() is None
    # a new step after undo drops the redo list
    h.redo()
    h.push(DeleteBoxes((1,), (0,)))
    assert len(h) == 2 and not h.can_redo
    assert events == ["do", "do", "do", "undo", "undo", "redo", "redo", "undo", "undo", "undo",
                      "redo", "do"]
    assert h.steps[0].meta() == {"time": 1.7e9, "user": "alice"}


def test_one_nudge_gesture_is_one_step(tmp_path: Path) -> None:
    h, mono, ds = _history(tmp_path)
    key = ("nudge", (0,))
    for _ in range(3):
        h.push(_move(ds, 0, 1.0), merge_key=key)
        mono.t += 0.5
    assert len(h) == 1
    e = h.steps[0].edit
    assert isinstance(e, MoveBoxes) and e.old_xyxy[0][0] == 10.0 and e.new_xyxy[0][0] == 13.0
    # a pause longer than the merge window starts a new step
    mono.t += History.merge_window_s + 0.1
    h.push(_move(ds, 0, 1.0), merge_key=key)
    assert len(h) == 2
    # another key (other boxes), or no key, never merges
    h.push(_move(ds, 2, 1.0), merge_key=("nudge", (2,)))
    h.push(_move(ds, 2, 1.0))
    assert len(h) == 4
    h.go_to(0)
    np.testing.assert_array_equal(ds.gt.xyxy[ds.gt.rows_of([0, 2])],
                                  [[10, 10, 50, 50], [20, 20, 60, 70]])


def test_never_merged_into_the_exported_step(tmp_path: Path) -> None:
    h, mono, ds = _history(tmp_path)
    key = ("nudge", (0,))
    h.push(_move(ds, 0, 1.0), merge_key=key)
    h.mark_clean()
    assert h.is_clean and h.clean_index == 1
    h.push(_move(ds, 0, 1.0), merge_key=key)
    assert len(h) == 2 and not h.is_clean
    h.undo()
    assert h.is_clean


def test_clean_mark_is_lost_when_its_state_can_no_longer_be_reached(tmp_path: Path) -> None:
    h, _, ds = _history(tmp_path)
    h.push(DeleteBoxes((0,), (0,)))
    h.push(DeleteBoxes((1,), (0,)))
    h.mark_clean()
    h.undo()
    h.undo()
    assert h.clean_index == 2 and not h.is_clean
    h.push(DeleteBoxes((2,), (1,)))  # the exported steps are gone
    assert h.clean_index is None
    h.mark_clean(0)
    assert h.clean_index == 0 and not h.is_clean
    with pytest.raises(ValueError):
        h.mark_clean(5)


def test_a_refused_push_changes_neither_data_nor_history(tmp_path: Path) -> None:
    s = Session(make_dataset(tmp_path / "images"))
    s.delete_boxes([0])
    messages: list[str] = []
    s.subscribe(lambda e: messages.append(e.text) if e.kind == "message" else None)
    before = (s.dataset.revision, s.history.steps, s.dataset.gt.cls.copy())
    assert not s.push(RelabelBoxes((2,), (1,), (3,), (0,)))  # old class is 2, not 3
    assert (s.dataset.revision, s.history.steps) == before[:2]
    np.testing.assert_array_equal(s.dataset.gt.cls, before[2])
    assert len(messages) == 1 and "old classes do not match" in messages[0]
    with pytest.raises(EditRefused):
        s.history.push(DeleteBoxes((99,), (0,)))
    assert s.history.steps == before[1]
