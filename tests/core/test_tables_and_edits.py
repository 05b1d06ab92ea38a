import json

import numpy as np
import pytest

from detview.core import Boxes, Classes, Dataset, EditHistory, Images
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
    h = EditHistory(ds)
    for e in edits:
        h.push(e)
    assert not ds.gt.alive[ds.gt.rows_of([11])[0]]
    assert ds.gt.cls[ds.gt.rows_of([10, 13])].tolist() == [1, 1]
    assert ds.gt.xyxy[ds.gt.rows_of([12])[0]].tolist() == [31, 30, 45, 41]
    assert ds.gt.offsets.tolist() == [0, 2, 3, 5]
    assert ds.images.deleted.tolist() == [False, False, True]
    assert ds.images.reviewed[0] and ds.images.tags[1] == {"blurry"}
    assert ds.revision == len(edits)
    while h.undo():
        pass
    for col in ("box_id", "image", "cls", "xyxy", "alive", "offsets"):
        assert np.array_equal(getattr(ds.gt, col), getattr(before, col)), col
    assert not ds.images.deleted.any() and not ds.images.reviewed.any()
    while h.redo():
        pass
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
