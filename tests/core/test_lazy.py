"""Lazy extras: edits and copies without reading the source; one read shared."""

from __future__ import annotations

import numpy as np
import pytest

from detview.core.lazy import LazyExtras, LazyRows, copy_extras, copy_rows
from detview.core.tables import Boxes, Images


def source(calls: list[int]):
    def load() -> dict[int, dict]:
        calls.append(1)
        return {1: {"segmentation": [[1, 2, 3]]}, 2: {"attributes": {"a": 1}}}

    return load


def test_edits_and_copies_do_not_read_the_source():
    calls: list[int] = []
    e = LazyExtras(source(calls))
    e[10] = {"added": True}
    assert e.pop(10) == {"added": True}
    assert e.pop(11, None) is None  # a box that had none
    c = copy_extras(e)
    r = e.restrict([1, 10])
    assert calls == [] and not e.loaded
    assert dict(e) == {1: {"segmentation": [[1, 2, 3]]}, 2: {"attributes": {"a": 1}}}
    assert calls == [1] and c.loaded and r.loaded  # one read, shared
    assert dict(r) == {1: {"segmentation": [[1, 2, 3]]}}
    assert calls == [1]


def test_copies_keep_their_own_changes():
    e = LazyExtras(source([]))
    c = e.lazy_copy()
    c[5] = {"x": 1}
    del c[1]
    assert 5 not in e and 1 in e
    assert set(c) == {5, 2}
    with pytest.raises(KeyError):
        del c[1]
    with pytest.raises(KeyError):
        c[99]


def test_boxes_copy_and_select_keep_extras_lazy():
    calls: list[int] = []
    b = Boxes.build(2, [0, 1, 1], [0, 0, 0], np.zeros((3, 4)), box_id=[1, 2, 3],
                    extras=LazyExtras(source(calls)))
    assert isinstance(b.extras, LazyExtras)
    c = b.copy()
    s = b.select(np.array([True, False, True]))
    assert calls == []
    assert dict(s.extras) == {1: {"segmentation": [[1, 2, 3]]}}
    assert dict(c.extras) == dict(b.extras)


def test_image_rows_know_their_length_without_reading():
    calls: list[int] = []

    def load() -> list[dict]:
        calls.append(1)
        return [{"license": 1}, {}]

    rows = LazyRows(2, load)
    im = Images(np.arange(2), ["a", "b"], [1, 1], [1, 1], extras=rows)  # type: ignore[arg-type]
    im2 = im.copy()
    assert len(im.extras) == 2 and bool(im.extras) and calls == []
    assert im2.extras[0] == {"license": 1} and calls == [1]
    assert copy_rows([{"a": 1}]) == [{"a": 1}]
