"""load_dataset: layouts, image matching, class mapping, runs, per-image values."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detview.io import detect_layout, load_dataset
from detview.io.errors import InputError

from .helpers import make_images


def sparse_coco(tmp_path):
    """COCO GT with sparse category ids 1, 3, 7 and numeric file names."""
    make_images(tmp_path / "images", {"000000000001.jpg": (100, 100),
                                      "000000000002.jpg": (100, 100)})
    obj = {
        "images": [{"id": 101, "file_name": "000000000001.jpg", "width": 100, "height": 100},
                   {"id": 102, "file_name": "000000000002.jpg", "width": 100, "height": 100}],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"},
                       {"id": 7, "name": "train"}],
        "annotations": [
            {"id": 1, "image_id": 101, "category_id": 1, "bbox": [10, 10, 20, 20]},
            {"id": 2, "image_id": 101, "category_id": 3, "bbox": [50, 50, 20, 20]},
            {"id": 3, "image_id": 102, "category_id": 7, "bbox": [5, 5, 50, 50]},
        ],
    }
    (tmp_path / "annotations").mkdir()
    gt = tmp_path / "annotations" / "instances_val.json"
    gt.write_text(json.dumps(obj))
    return gt


def _preds(tmp_path, records, name="p.json"):
    f = tmp_path / name
    f.write_text(json.dumps(records))
    return f


def test_detect_layout_coco(tmp_path):
    gt = sparse_coco(tmp_path)
    lay = detect_layout(tmp_path)
    assert lay.format == "coco" and lay.gt == gt and lay.images == tmp_path / "images"
    assert "COCO" in lay.description


def test_detect_layout_voc_and_yolo(tmp_path):
    v = tmp_path / "voc"
    make_images(v / "JPEGImages", {"a.jpg": (10, 10)})
    (v / "Annotations").mkdir()
    (v / "Annotations" / "a.xml").write_text("<annotation><filename>a.jpg</filename>"
                                             "</annotation>")
    lay = detect_layout(v)
    assert lay.format == "voc" and lay.images == v / "JPEGImages"
    y = tmp_path / "yolo"
    make_images(y / "images", {"a.jpg": (10, 10)})
    (y / "labels").mkdir()
    (y / "data.yaml").write_text("names: [a]\n")
    lay = detect_layout(y)
    assert lay.format == "yolo" and lay.labels == y / "labels" and lay.gt == y / "data.yaml"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no dataset"):
        detect_layout(tmp_path / "empty")


def test_explicit_options_override_layout(tmp_path):
    gt = sparse_coco(tmp_path)
    r = load_dataset(tmp_path / "images", gt, gt_format="coco")
    assert r.dataset.meta["images_root"] == str(tmp_path / "images")
    r2 = load_dataset(tmp_path, None)  # auto
    assert len(r2.dataset.gt) == 3 and "Found: COCO" in r2.summary


def test_class_map_index_auto(tmp_path):
    """YOLO-style 0-based indices beside sparse COCO ids: auto picks 'index'."""
    gt = sparse_coco(tmp_path)
    recs = [{"image_id": 101, "category_id": 0, "bbox": [10, 10, 20, 20], "score": 0.9},
            {"image_id": 101, "category_id": 1, "bbox": [50, 50, 20, 20], "score": 0.8},
            {"image_id": 102, "category_id": 2, "bbox": [5, 5, 50, 50], "score": 0.7}]
    r = load_dataset(None, gt, [(None, _preds(tmp_path, recs))])
    run = r.dataset.runs["p"]
    assert [r.dataset.classes.names[c] for c in run.cls] == ["person", "car", "train"]
    assert "classes matched by index" in r.summary
    assert any("classes matched by index" in p.message for p in r.problems)
    # explicit "ids" keeps the ids: 0 and 2 are unknown, 1 is person -> warned
    r2 = load_dataset(None, gt, [(None, _preds(tmp_path, recs))], pred_class_map="ids")
    assert len(r2.dataset.runs["p"]) == 1
    assert any("unknown to the ground truth" in p.message for p in r2.problems)


def test_class_map_dict_and_names(tmp_path):
    gt = sparse_coco(tmp_path)
    recs = [{"image_id": 101, "category_id": 42, "bbox": [10, 10, 20, 20], "score": 0.9}]
    r = load_dataset(None, gt, [("x", _preds(tmp_path, recs))], pred_class_map={"42": "car"})
    assert r.dataset.classes.names[r.dataset.runs["x"].cls[0]] == "car"
    r = load_dataset(None, gt, [("x", _preds(tmp_path, recs))], pred_class_map={42: 7})
    assert r.dataset.classes.names[r.dataset.runs["x"].cls[0]] == "train"
    d = {"images": [{"id": 0, "file_name": "000000000002.jpg"}],
         "categories": [{"id": 0, "name": "train"}, {"id": 1, "name": "person"}],
         "annotations": [{"id": 0, "image_id": 0, "category_id": 0, "bbox": [5, 5, 50, 50],
                          "score": 0.9}]}
    r = load_dataset(None, gt, [("d", _preds(tmp_path, d, "d.json"))])
    run = r.dataset.runs["d"]
    assert r.dataset.classes.names[run.cls[0]] == "train" and run.image[0] == 1
    assert "names" in r.summary and "through the file's images list" in r.summary


def test_class_mismatch_is_reported_never_silent(tmp_path):
    gt = sparse_coco(tmp_path)
    recs = [{"image_id": 101, "category_id": 500 + k, "bbox": [10, 10, 20, 20], "score": 0.9}
            for k in range(30)]
    with pytest.raises(InputError, match="none of the 30 predictions has a class of the "
                       "ground truth") as ei:
        load_dataset(None, gt, [(None, _preds(tmp_path, recs))])
    assert "500, 501" in str(ei.value) and "p.json" in str(ei.value)


def test_image_match_by_int_stem_and_unknown_images(tmp_path):
    gt = sparse_coco(tmp_path)
    recs = [{"image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9},
            {"image_id": 2, "category_id": 7, "bbox": [5, 5, 50, 50], "score": 0.9},
            {"image_id": 999, "category_id": 7, "bbox": [5, 5, 50, 50], "score": 0.9}]
    r = load_dataset(None, gt, [(None, _preds(tmp_path, recs))])
    run = r.dataset.runs["p"]
    assert run.image.tolist() == [0, 1] and "int(file stem)" in r.summary
    assert any("not in the dataset" in p.message and "999" in p.message for p in r.problems)


def test_run_names_default_and_unique(tmp_path):
    gt = sparse_coco(tmp_path)
    recs = [{"image_id": 101, "category_id": 1, "bbox": [10, 10, 20, 20], "score": 0.9}]
    p = _preds(tmp_path, recs, "model_a.json")
    r = load_dataset(None, gt, [(None, p), (None, p), ("mine", p)])
    assert list(r.dataset.runs) == ["model_a", "model_a_2", "mine"]
    run = r.dataset.runs["mine"]
    assert run.is_prediction and run.score.tolist() == [0.9]


def test_loss_csv(tmp_path):
    gt = sparse_coco(tmp_path)
    loss = tmp_path / "loss.csv"
    loss.write_text("file_name,loss\n000000000002.jpg,1.5\nmissing.jpg,3\n")
    r = load_dataset(None, gt, loss=loss)
    v = r.dataset.meta["image_values"]["loss"]
    assert v.dtype == np.float64 and np.isnan(v[0]) and v[1] == 1.5
    assert any("not in the dataset" in p.message for p in r.problems)


def test_images_only_and_predictions_without_gt(tmp_path):
    make_images(tmp_path / "im", {"a.jpg": (30, 20), "b.jpg": (10, 10)})
    preds = tmp_path / "pr"
    preds.mkdir()
    (preds / "a.txt").write_text("1 0.5 0.5 0.5 0.5 0.9\n")
    r = load_dataset(tmp_path / "im", None, [("y", preds)])
    ds = r.dataset
    assert len(ds.images) == 2 and len(ds.gt) == 0 and ds.images.widths.tolist() == [30, 10]
    run = ds.runs["y"]
    np.testing.assert_allclose(run.xyxy[0], [7.5, 5, 22.5, 15])
    assert ds.classes.names == ("0", "1")


def test_progress_cancel(tmp_path):
    from detview.io.errors import Cancelled

    make_images(tmp_path / "im", {"a.jpg": (30, 20)})
    with pytest.raises(Cancelled):
        load_dataset(tmp_path / "im", None, progress=lambda i, n: False)


def test_coco_without_sizes_reads_headers_and_writes_back_without(tmp_path):
    make_images(tmp_path / "images", {"a.jpg": (30, 20)})
    obj = {"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}]}
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(obj))
    ds = load_dataset(tmp_path / "images", gt).dataset
    assert ds.images.widths.tolist() == [30] and ds.images.heights.tolist() == [20]
    from detview.io.formats.coco import coco_gt_to_obj

    out = coco_gt_to_obj(ds)
    assert out["images"][0]["width"] == 30  # now known: written
    assert out["annotations"] == obj["annotations"]
