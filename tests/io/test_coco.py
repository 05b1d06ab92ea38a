from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from detview.core.edits import AddBoxes, DeleteBoxes, DeleteImages, MoveBoxes, RelabelBoxes
from detview.io.errors import InputError
from detview.io.formats.coco import (
    coco_gt_to_obj,
    coco_results_to_obj,
    parse_coco_gt,
    parse_coco_results,
)


def small_coco() -> dict:
    return {
        "info": {"description": "tiny", "year": 2024},
        "licenses": [{"id": 1, "name": "CC"}],
        "custom_top": [1, 2],
        "images": [
            {"id": 10, "file_name": "a.jpg", "width": 100, "height": 80, "license": 1},
            {"id": 20, "file_name": "sub/b.jpg", "width": 50, "height": 50},
            {"id": 30, "file_name": "c.jpg", "width": 64, "height": 64},
        ],
        "annotations": [
            {"id": 7, "image_id": 20, "category_id": 3, "bbox": [0.1, 0.2, 10.3, 20.7],
             "area": 150.5, "iscrowd": 0, "segmentation": [[1, 2, 3, 4, 5, 6]]},
            {"id": 5, "image_id": 10, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 12,
             "iscrowd": 1, "segmentation": {"counts": "abc", "size": [80, 100]}, "extra": "x"},
            {"id": 9, "image_id": 10, "category_id": 3, "bbox": [10.123456789, 20, 30.5, 40.25],
             "area": 1000.0, "iscrowd": 0, "segmentation": []},
        ],
        "categories": [
            {"id": 1, "name": "cat", "supercategory": "animal"},
            {"id": 3, "name": "dog", "supercategory": "animal"},
        ],
    }


def test_parse_columns_ids_and_passthrough():
    obj = small_coco()
    before = copy.deepcopy(obj)
    res = parse_coco_gt(obj, "x.json")
    assert obj == before  # inputs are never mutated
    ds = res.dataset
    assert res.problems == []
    assert ds.meta["format"] == "coco"
    assert list(ds.images.ids) == [10, 20, 30]
    assert ds.classes.names == ("cat", "dog")
    assert list(ds.classes.source_ids) == [1, 3]
    assert ds.classes.extras[0] == {"supercategory": "animal"}
    g = ds.gt
    assert sorted(g.box_id.tolist()) == [5, 7, 9]
    r = int(g.rows_of([7])[0])
    assert g.image[r] == 1 and ds.classes.names[g.cls[r]] == "dog"
    np.testing.assert_array_equal(g.xyxy[r], [0.1, 0.2, 0.1 + 10.3, 0.2 + 20.7])
    assert g.area[r] == 150.5 and not g.iscrowd[r]
    r5 = int(g.rows_of([5])[0])
    assert g.iscrowd[r5]
    assert g.extras[5]["extra"] == "x" and g.extras[5]["segmentation"]["counts"] == "abc"
    assert ds.images.extras[0]["license"] == 1
    assert ds.meta["coco"]["top"]["custom_top"] == [1, 2]
    assert list(np.diff(g.offsets)) == [2, 1, 0]


def test_round_trip_is_exact():
    obj = small_coco()
    ds = parse_coco_gt(obj, "x.json").dataset
    out = coco_gt_to_obj(ds)
    assert out == obj
    assert list(out.keys()) == list(obj.keys())
    assert [a["id"] for a in out["annotations"]] == [7, 5, 9]  # annotation order kept
    assert list(out["annotations"][0].keys()) == list(obj["annotations"][0].keys())
    # bit-exact floats through a JSON text round trip
    assert json.loads(json.dumps(out)) == obj


def test_round_trip_inexact_float_sum():
    obj = small_coco()
    obj["annotations"][0]["bbox"] = [0.1, 0.7, 0.2, 0.1]  # 0.1 + 0.2 - 0.1 != 0.2
    ds = parse_coco_gt(obj, "x.json").dataset
    assert coco_gt_to_obj(ds)["annotations"][0]["bbox"] == [0.1, 0.7, 0.2, 0.1]


def test_edits_are_written_cleaned():
    ds = parse_coco_gt(small_coco(), "x.json").dataset
    g = ds.gt
    r9 = int(g.rows_of([9])[0])
    ds.apply(DeleteBoxes((5,), (0,)))
    ds.apply(MoveBoxes((9,), (0,), (tuple(g.xyxy[r9]),), ((1.0, 2.0, 11.0, 22.0),)))
    ds.apply(RelabelBoxes((7,), (1,), (1,), (0,)))
    (new_id,) = ds.new_box_ids(1)
    ds.apply(AddBoxes((new_id,), (2,), (1,), ((5.0, 5.0, 15.0, 25.0),)))
    ds.apply(DeleteImages((1,)))
    out = coco_gt_to_obj(ds)
    assert [im["id"] for im in out["images"]] == [10, 30]
    anns = {a["id"]: a for a in out["annotations"]}
    assert set(anns) == {9, new_id}
    assert new_id > 9
    assert anns[9]["bbox"] == [1.0, 2.0, 10.0, 20.0] and anns[9]["area"] == 200.0
    assert anns[9]["segmentation"] == []  # passthrough kept
    assert anns[new_id]["image_id"] == 30 and anns[new_id]["category_id"] == 3
    assert anns[new_id]["area"] == 200.0 and anns[new_id]["bbox"] == [5.0, 5.0, 10.0, 20.0]
    assert out["info"] == small_coco()["info"]


def test_non_unique_annotation_ids_are_kept():
    obj = small_coco()
    obj["annotations"][1]["id"] = 7
    res = parse_coco_gt(obj, "x.json")
    assert any("not unique" in p.message for p in res.problems)
    ds = res.dataset
    assert sorted(ds.gt.box_id.tolist()) == [0, 1, 2]
    assert coco_gt_to_obj(ds) == obj


def test_missing_area_and_iscrowd_stay_missing():
    obj = small_coco()
    for a in obj["annotations"]:
        del a["area"]
        del a["iscrowd"]
    ds = parse_coco_gt(obj, "x.json").dataset
    assert np.isnan(ds.gt.area).all()
    assert coco_gt_to_obj(ds) == obj


def test_results_fast_and_dataset_dict():
    res = [{"image_id": 10, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9},
           {"image_id": 30, "category_id": 3, "bbox": [1.5, 2, 3, 4], "score": 0.5}]
    pd = parse_coco_results(res, "r.json")
    assert len(pd) == 2 and pd.image_ids.tolist() == [10, 30]
    np.testing.assert_array_equal(pd.xyxy[1], [1.5, 2, 4.5, 6])
    d = {"images": [{"id": 0, "file_name": "a.jpg"}], "categories": [{"id": 0, "name": "cat"}],
         "annotations": [{"id": 1, "image_id": 0, "category_id": 0, "bbox": [1, 2, 3, 4],
                          "score": 0.3}]}
    pd2 = parse_coco_results(d, "d.json")
    assert pd2.vocab == {0: "cat"} and pd2.image_vocab == {0: "a.jpg"}


def test_results_with_extra_keys_keep_them():
    res = [{"image_id": 10, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.9,
            "segmentation": {"counts": "x"}}]
    pd = parse_coco_results(res, "r.json")
    assert pd.extras == {0: {"segmentation": {"counts": "x"}}}


def test_gt_given_as_predictions_is_refused():
    with pytest.raises(InputError, match="ground-truth"):
        parse_coco_results(small_coco(), "gt.json")


def test_results_given_as_gt_is_refused():
    with pytest.raises(InputError, match="results"):
        parse_coco_gt([{"image_id": 1}], "r.json")


def test_results_to_obj():
    ds = parse_coco_gt(small_coco(), "x.json").dataset
    from detview.core.tables import Boxes

    ds.runs["r"] = Boxes.build(3, [0], [1], [[1, 2, 4, 6]], [0.5])
    out = coco_results_to_obj(ds, "r")
    assert out == [{"image_id": 10, "category_id": 3, "bbox": [1.0, 2.0, 3.0, 4.0],
                    "score": 0.5}]


def test_realdata_cocoapi_round_trip(realdata):
    import orjson

    p = realdata / "cocoapi_val2014_100" / "instances_val2014_100.json"
    obj = orjson.loads(p.read_bytes())
    res = parse_coco_gt(obj, str(p))
    assert len(res.dataset.gt) == 839
    assert int(res.dataset.gt.iscrowd.sum()) == 9
    assert coco_gt_to_obj(res.dataset) == obj
    r = realdata / "cocoapi_val2014_100" / "instances_val2014_fakebbox100_results.json"
    pd = parse_coco_results(orjson.loads(r.read_bytes()), str(r))
    assert len(pd) == 734 and not math.isnan(float(pd.score.mean()))
