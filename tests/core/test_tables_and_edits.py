import json

import numpy as np
import pytest

from detview.core import Boxes, Classes, Dataset, Images
from detview.core.edits import (
    AddBoxes,
    Composite,
    DeleteBoxes,
    DeleteImages,
    MoveBoxes,
    RelabelBoxes,
    SetReviewed,
    SetTags,
    edit_from_json,
)


def make_dataset() -> Dataset:
    images = Images(ids=[1, 2, 3], file_names=["a.jpg", "b.jpg", "c.jpg"],
                    widths=[100] * 3, heights=[80] * 3)
    classes = Classes.from_names(["cat", "dog"])
    gt = Boxes.build(3, image=[2, 0, 0, 2], cls=[0, 1, 0, 1],
                     xyxy=[[0, 0, 10, 10], [5, 5, 20, 20], [30, 30, 40, 40], [1, 1, 2, 2]],
                     box_id=[10, 11, 12, 13])
    return Dataset(images, classes, gt)


def test_build_groups_rows_by_image_stably():
    ds = make_dataset()
    assert ds.gt.offsets.tolist() == [0, 2, 2, 4]
    assert ds.gt.box_id.tolist() == [11, 12, 10, 13]
    assert ds.gt.image_slice(1) == slice(2, 2)
    assert ds.gt.rows_of([13, 11]).tolist() == [3, 0]


def test_build_rejects_out_of_range_image():
    with pytest.raises(ValueError):
        Boxes.build(1, image=[1], cls=[0], xyxy=[[0, 0, 1, 1]])


def test_every_edit_round_trips_through_apply_and_inverse():
    ds = make_dataset()
    before = ds.gt.copy()
    new_id = ds.new_box_ids(1)[0]
    edits = [
        DeleteBoxes((11,), (0,)),
        RelabelBoxes((10, 13), (2, 2), (0, 1), (1, 1)),
        MoveBoxes((12,), (0,), ((30.0, 30.0, 40.0, 40.0),), ((31.0, 30.0, 45.0, 41.0),)),
        AddBoxes((new_id,), (1,), (0,), ((1.0, 2.0, 3.0, 4.0),), ("drawn",)),
        DeleteImages((2,)),
        SetReviewed((0,), (False,), (True,)),
        SetTags((1,), ((),), (("blurry",),)),
    ]
    for e in edits:
        ds.apply(e)
    assert not ds.gt.alive[ds.gt.rows_of([11])[0]]
    assert ds.gt.cls[ds.gt.rows_of([10, 13])].tolist() == [1, 1]
    assert ds.gt.xyxy[ds.gt.rows_of([12])[0]].tolist() == [31, 30, 45, 41]
    assert ds.gt.offsets.tolist() == [0, 2, 3, 5]
    assert ds.images.deleted.tolist() == [False, False, True]
    assert ds.images.reviewed[0] and ds.images.tags[1] == {"blurry"}
    assert ds.revision == len(edits)
    for e in reversed(edits):
        ds.apply(e.inverse())
    for col in ("box_id", "image", "cls", "xyxy", "alive", "offsets"):
        assert np.array_equal(getattr(ds.gt, col), getattr(before, col)), col
    assert not ds.images.deleted.any() and not ds.images.reviewed.any()
    for e in edits:
        ds.apply(e)
    assert ds.gt.offsets.tolist() == [0, 2, 3, 5]


def test_edit_json_round_trip_including_composite():
    e = Composite("Replace", (
        MoveBoxes((1,), (0,), ((0.0, 0.0, 1.0, 1.0),), ((0.5, 0.0, 1.0, 2.0),)),
        RelabelBoxes((1,), (0,), (0,), (1,)),
    ))
    text = json.dumps(e.to_json())
    assert edit_from_json(json.loads(text)) == e
    assert edit_from_json(json.loads(text)).inverse().inverse() == e


def test_edit_from_json_rejects_bad_records():
    with pytest.raises(ValueError):
        edit_from_json({"kind": "nope"})
    with pytest.raises(ValueError):
        edit_from_json({"kind": "delete_boxes", "box_ids": [1]})


def test_apply_validates_stale_records():
    ds = make_dataset()
    with pytest.raises(ValueError):
        ds.apply(RelabelBoxes((10,), (2,), (1,), (0,)))  # old class is 0, not 1
    with pytest.raises(ValueError):
        ds.apply(DeleteBoxes((10,), (0,)))  # box 10 is on image 2
    with pytest.raises(ValueError):
        ds.apply(AddBoxes((10,), (0,), (0,), ((0.0, 0.0, 1.0, 1.0),)))  # id in use


def test_listeners_get_touched_images():
    ds = make_dataset()
    seen = []
    ds.add_listener(lambda e, imgs: seen.append(sorted(imgs)))
    ds.apply(Composite("x", (DeleteBoxes((11,), (0,)), DeleteImages((2,)))))
    assert seen == [[0, 2]]
    assert ds.image_revisions.tolist() == [1, 0, 1]


def _state(ds: Dataset) -> dict:
    g = ds.gt
    return {
        **{c: getattr(g, c).copy() for c in ("box_id", "image", "cls", "xyxy", "score",
                                              "iscrowd", "area", "alive", "offsets")},
        "extras": {k: dict(v) for k, v in g.extras.items()},
        "deleted": ds.images.deleted.copy(), "reviewed": ds.images.reviewed.copy(),
        "tags": list(ds.images.tags), "revision": ds.revision,
        "image_revisions": ds.image_revisions.copy(),
    }


def _same(a: dict, b: dict) -> bool:
    for k in a:
        x, y = a[k], b[k]
        if isinstance(x, np.ndarray):
            if x.dtype != y.dtype or not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                return False
        elif x != y:
            return False
    return True


def test_a_refused_composite_changes_nothing_whichever_part_is_bad():
    from detview.core.edits import EditRefused, RemoveBoxes, RestoreImages

    ds = make_dataset()
    ds.gt.area[:] = [11.0, 12.0, np.nan, 14.0]  # areas from the source format
    ds.gt.extras[12] = {"segmentation": [[1, 2, 3]]}
    new = ds.new_box_ids(2)
    good = [
        DeleteBoxes((11,), (0,)),
        MoveBoxes((12,), (0,), ((30.0, 30.0, 40.0, 40.0),), ((0.0, 0.0, 5.0, 5.0),)),
        AddBoxes(new, (1, 1), (0, 1), ((1.0, 2.0, 3.0, 4.0), (5.0, 5.0, 9.0, 9.0))),
        RemoveBoxes((new[0],), (1,), (0,), ((1.0, 2.0, 3.0, 4.0),)),
        RelabelBoxes((13,), (2,), (1,), (0,)),
        DeleteImages((2,)),
        SetReviewed((0, 1), (False, False), (True, True)),
        SetTags((1,), ((),), (("x",),)),
        RestoreImages((2,)),
    ]
    bad = [
        RelabelBoxes((10,), (2,), (1,), (0,)),  # old class is 0
        DeleteBoxes((999,), (0,)),  # no such box
        AddBoxes((10,), (0,), (0,), ((0.0, 0.0, 1.0, 1.0),)),  # id in use
        MoveBoxes((10,), (2,), ((0.0, 0.0, 10.0, 10.0),), ((5.0, 5.0, 1.0, 1.0),)),  # x2 < x1
        SetReviewed((2,), (True,), (False,)),  # old value wrong
        DeleteImages((7,)),  # no image 7
        RelabelBoxes((10,), (2,), (0,), (9,)),  # unknown class
    ]
    seen: list = []
    ds.add_listener(lambda e, t: seen.append(e))
    for k in range(1, len(good) + 1):
        for b in bad:
            before = _state(ds)
            edit = Composite("gesture", (*good[:k], b, *good[k:]))
            assert ds.refusal(edit) is not None
            with pytest.raises(EditRefused) as err:
                ds.apply(edit)
            assert err.value.part == k + 1 and f"part {k + 1} of" in str(err.value)
            assert _same(before, _state(ds)), (k, b.kind)
            assert ds.gt.rows_of([12]).tolist() == [1] and seen == []
    # the good parts alone apply, and undo brings every column back (areas included)
    before = _state(ds)
    edit = Composite("gesture", tuple(good))
    assert ds.refusal(edit) is None and _same(before, _state(ds))
    ds.apply(edit)
    assert np.isnan(ds.gt.area[ds.gt.rows_of([12])[0]])  # a moved box loses the COCO area
    ds.apply(edit.inverse())
    after = _state(ds)
    assert after["revision"] == before["revision"] + 2
    for k in ("revision", "image_revisions"):
        after.pop(k), before.pop(k)
    assert _same(before, after)


def test_refused_single_records_say_why():
    from detview.core.edits import EditRefused

    ds = make_dataset()
    with pytest.raises(EditRefused, match="no ground-truth box with id 999"):
        ds.apply(DeleteBoxes((999,), (0,)))
    with pytest.raises(EditRefused, match="old boxes do not match"):
        ds.apply(MoveBoxes((10,), (2,), ((1.0, 1.0, 2.0, 2.0),), ((0.0, 0.0, 1.0, 1.0),)))
    with pytest.raises(EditRefused, match="image index 5 out of range"):
        ds.apply(SetTags((5,), ((),), (("a",),)))
    assert ds.revision == 0
