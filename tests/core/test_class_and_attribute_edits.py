"""Class rename and merge across the dataset and per-box attributes, as edit records:
applied atomically by ``Dataset.apply``, exact inverses, JSON round trips, refusals
that change nothing. Expected states come from plain-Python oracles over the box lists."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detview.core.dataset import Dataset
from detview.core.edits import (
    Composite,
    DeleteBoxes,
    EditRefused,
    MergeClasses,
    RelabelBoxes,
    RenameClass,
    SetBoxAttribute,
    edit_from_json,
)
from detview.core.tables import Boxes, Classes, Images

NAMES = ["cat", "dog", "person", "car"]


def make(cls: list[int] | None = None, n_images: int = 3) -> Dataset:
    cls = cls if cls is not None else [0, 1, 2, 3, 3, 1]
    n = len(cls)
    images = Images(np.arange(n_images), [f"{k}.png" for k in range(n_images)],
                    [100] * n_images, [100] * n_images)
    img = [k % n_images for k in range(n)]
    xy = [[k, k, k + 10, k + 10] for k in range(n)]
    gt = Boxes.build(n_images, img, cls, xy, box_id=list(range(10, 10 + n)),
                     extras={10: {"difficult": 1, "pose": "Left"}})
    pred = Boxes.build(n_images, [0], [1], [[0, 0, 5, 5]], score=[0.9], box_id=[500])
    return Dataset(images, Classes.from_names(NAMES), gt, {"m": pred})


def snapshot(ds: Dataset) -> str:
    g = ds.gt
    return json.dumps({"names": list(ds.classes.names), "cls": g.cls.tolist(),
                       "alive": g.alive.tolist(), "crowd": g.iscrowd.tolist(),
                       "extras": {str(k): v for k, v in sorted(g.extras.items())}})


def by_id(ds: Dataset, column: str = "cls") -> list[int]:
    """A column in box-id order (the table keeps its rows grouped by image)."""
    g = ds.gt
    order = np.argsort(g.box_id)
    return [int(v) for v in getattr(g, column)[order]]


def merge_record(ds: Dataset, src: list[int], dst: int) -> MergeClasses:
    g = ds.gt
    rows = [r for r in range(len(g)) if int(g.cls[r]) in src]  # a plain loop: the oracle
    return MergeClasses(tuple(src), dst, tuple(int(g.box_id[r]) for r in rows),
                        tuple(int(g.image[r]) for r in rows),
                        tuple(int(g.cls[r]) for r in rows))


# ---------------------------------------------------------------------- rename
def test_rename_changes_the_name_everywhere_and_undoes_exactly() -> None:
    ds = make()
    copy = ds.copy()
    before = snapshot(ds)
    e = RenameClass(1, "dog", "hound")
    touched = ds.apply(e)
    assert touched == frozenset() and ds.revision == 1
    assert ds.classes.names == ("cat", "hound", "person", "car")
    assert copy.classes.names == tuple(NAMES)  # the original is a different dataset
    assert list(ds.classes.source_ids) == [0, 1, 2, 3]
    ds.apply(e.inverse())
    assert snapshot(ds) == before


@pytest.mark.parametrize("edit, why", [
    (RenameClass(1, "dog", "cat"), "merge them instead"),
    (RenameClass(1, "wolf", "hound"), "not 'wolf'"),
    (RenameClass(9, "x", "y"), "unknown class index 9"),
    (RenameClass(1, "dog", "  "), "non-empty"),
    (RenameClass(1, "dog", " hound"), "non-empty"),
])
def test_rename_refusals_change_nothing(edit: RenameClass, why: str) -> None:
    ds = make()
    before = snapshot(ds)
    with pytest.raises(EditRefused, match=why):
        ds.apply(edit)
    assert snapshot(ds) == before and ds.revision == 0


# ---------------------------------------------------------------------- merge
def test_merge_relabels_every_box_deleted_ones_too_and_undoes() -> None:
    ds = make()
    ds.apply(DeleteBoxes((13,), (0,)))  # a car box, deleted
    before = snapshot(ds)
    e = merge_record(ds, [3], 0)
    touched = ds.apply(e)
    want = [0 if c == 3 else c for c in [0, 1, 2, 3, 3, 1]]
    assert by_id(ds) == want
    assert touched == frozenset(int(i) for i in e.images)
    assert ds.classes.names == tuple(NAMES)  # the source class stays, empty
    assert ds.runs["m"].cls.tolist() == [1]  # predictions are the model's
    ds.apply(e.inverse())
    assert snapshot(ds) == before
    ds.apply(e.inverse().inverse())
    assert by_id(ds) == want


def test_merge_refused_when_a_source_box_is_missing_from_the_record() -> None:
    ds = make()
    e = merge_record(ds, [1], 2)
    ds.apply(RelabelBoxes((10,), (0,), (0,), (1,)))  # one more dog since the record
    before = snapshot(ds)
    with pytest.raises(EditRefused, match="not in the record"):
        ds.apply(e)
    assert snapshot(ds) == before


def test_merge_refusals() -> None:
    ds = make()
    with pytest.raises(EditRefused, match="distinct and not the target"):
        ds.apply(MergeClasses((1,), 1, (), (), ()))
    with pytest.raises(EditRefused, match="unknown class index"):
        ds.apply(MergeClasses((7,), 1, (), (), ()))
    with pytest.raises(EditRefused, match="do not match"):
        ds.apply(MergeClasses((1,), 2, (11,), (1,), (1,), undo=True))


def test_a_refused_composite_rolls_the_rename_back() -> None:
    ds = make()
    before = snapshot(ds)
    bad = Composite("rename then nonsense", (RenameClass(0, "cat", "kitty"),
                                             RenameClass(1, "dog", "kitty")))
    with pytest.raises(EditRefused, match="part 2"):
        ds.apply(bad)
    assert snapshot(ds) == before


# ---------------------------------------------------------------------- attributes
def test_attributes_set_columns_and_extras_without_touching_copies() -> None:
    ds = make()
    original = ds.copy()
    e = SetBoxAttribute((10, 11), (0, 1), "difficult", (1, None), (0, 1))
    assert ds.apply(e) == frozenset({0, 1})
    assert ds.gt.extras[10] == {"difficult": 0, "pose": "Left"}
    assert ds.gt.extras[11] == {"difficult": 1}
    assert original.gt.extras[10] == {"difficult": 1, "pose": "Left"}
    assert 11 not in original.gt.extras
    ds.apply(e.inverse())
    assert snapshot(ds) == snapshot(original)
    crowd = SetBoxAttribute((12,), (2,), "iscrowd", (0,), (1,))
    ds.apply(crowd)
    assert by_id(ds, "iscrowd") == [0, 0, 1, 0, 0, 0]
    ds.apply(crowd.inverse())
    assert not ds.gt.iscrowd.any()


@pytest.mark.parametrize("edit, why", [
    (SetBoxAttribute((10,), (0,), "colour", (None,), (1,)), "unknown attribute"),
    (SetBoxAttribute((10,), (0,), "difficult", (0,), (1,)), "has difficult=1, not 0"),
    (SetBoxAttribute((10,), (0,), "difficult", (1,), (2,)), "0, 1 or null"),
    (SetBoxAttribute((10,), (0,), "iscrowd", (0,), (None,)), "every box has an iscrowd"),
    (SetBoxAttribute((10,), (1,), "occluded", (None,), (1,)), "other images"),
])
def test_attribute_refusals_change_nothing(edit: SetBoxAttribute, why: str) -> None:
    ds = make()
    before = snapshot(ds)
    with pytest.raises(EditRefused, match=why):
        ds.apply(edit)
    assert snapshot(ds) == before


# ---------------------------------------------------------------------- json
@pytest.mark.parametrize("edit", [
    RenameClass(1, "dog", "hound"),
    MergeClasses((1, 3), 0, (11, 13, 14, 15), (1, 0, 1, 2), (1, 3, 3, 1)),
    MergeClasses((1,), 0, (11,), (1,), (1,), undo=True),
    SetBoxAttribute((10, 11), (0, 1), "occluded", (None, 0), (1, 1)),
])
def test_records_round_trip_through_json(edit: object) -> None:
    d = json.loads(json.dumps(edit.to_json()))  # type: ignore[attr-defined]
    assert edit_from_json(d) == edit


@pytest.mark.parametrize("record, why", [
    ({"kind": "rename_class", "cls": -1, "old_name": "a", "new_name": "b"}, "non-negative"),
    ({"kind": "rename_class", "cls": 1, "old_name": 3, "new_name": "b"}, "must be text"),
    ({"kind": "merge_classes", "src": [1], "dst": 0, "box_ids": [1, 2], "images": [0],
      "old_cls": [1, 1]}, "different lengths"),
    ({"kind": "merge_classes", "src": [1], "dst": 0, "box_ids": [], "images": [],
      "old_cls": [], "undo": "yes"}, "true or false"),
    ({"kind": "set_box_attribute", "box_ids": [1], "images": [0], "name": "difficult",
      "old": [None], "new": [2]}, "0, 1 or null"),
])
def test_malformed_records_are_clean_errors(record: dict, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        edit_from_json(record)


@settings(max_examples=60, deadline=None)
@given(cls=st.lists(st.integers(0, 3), min_size=1, max_size=12),
       src=st.sets(st.integers(0, 3), min_size=1, max_size=3), dst=st.integers(0, 3))
def test_merge_matches_a_plain_python_relabel(cls: list[int], src: set[int], dst: int) -> None:
    src.discard(dst)
    if not src:
        return
    ds = make(cls)
    before = snapshot(ds)
    e = merge_record(ds, sorted(src), dst)
    ds.apply(e)
    assert by_id(ds) == [dst if c in src else c for c in cls]
    ds.apply(e.inverse())
    assert snapshot(ds) == before
