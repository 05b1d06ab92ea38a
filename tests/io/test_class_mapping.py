"""Issue 9, item 5: prediction classes that are shifted or permuted are detected (by
names when there are names, else by which ground-truth boxes the predictions overlap),
used, and reported; AP is then what it would be with the right ids."""

from __future__ import annotations

import json

import pytest

from detview.core.cocoeval import evaluate_run
from detview.io import load_dataset

from .helpers import make_images

N_CLS = 4


def _gt(tmp_path, ids=(0, 1, 2, 3)):
    """30 images, two boxes each, classes cycling; COCO category ids ``ids``."""
    names = {f"{i:03d}.jpg": (100, 100) for i in range(30)}
    make_images(tmp_path / "images", names)
    images, anns = [], []
    for i, fn in enumerate(names):
        images.append({"id": i + 1, "file_name": fn, "width": 100, "height": 100})
        for j, box in enumerate(([10, 10, 30, 30], [50, 50, 40, 30])):
            anns.append({"id": len(anns) + 1, "image_id": i + 1,
                         "category_id": ids[(i + j) % N_CLS], "bbox": box, "area": 900,
                         "iscrowd": 0})
    cats = [{"id": ids[k], "name": n} for k, n in enumerate(["cat", "dog", "bus", "car"])]
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return gt, anns


def _preds(tmp_path, anns, remap, name="p.json", extra=None):
    recs = [{"image_id": a["image_id"], "category_id": remap(a["category_id"]),
             "bbox": [v + 0.5 for v in a["bbox"]], "score": 0.5 + (a["id"] % 7) / 20}
            for a in anns]
    obj = recs if extra is None else {**extra, "annotations": recs}
    p = tmp_path / name
    p.write_text(json.dumps(obj))
    return p


def _ap(r, run="p"):
    return evaluate_run(r.dataset, run).AP


def test_ids_shifted_by_one_are_detected_and_used(tmp_path):
    """Reproducer: class ids shifted by one were accepted with AP 0.000 and only
    unrelated warnings."""
    gt, anns = _gt(tmp_path)
    right = load_dataset(tmp_path / "images", gt, [("p", _preds(tmp_path, anns, lambda c: c))])
    shifted = load_dataset(tmp_path / "images", gt,
                           [("p", _preds(tmp_path, anns, lambda c: c + 1, "p.json"))])
    choice = shifted.class_maps["p"]
    assert choice.method == "offset:-1" and choice.automatic and choice.agreement > 0.9
    assert "shifted" in choice.explanation and "offset:-1" in shifted.summary
    assert any("shifted" in p.message for p in shifted.problems)  # said out loud
    assert _ap(shifted) == pytest.approx(_ap(right)) and _ap(right) > 0.8
    # ids 1..4 where 0..3 were expected: the shifted class 4 has no counterpart
    assert choice.mapping == {1: "cat", 2: "dog", 3: "bus", 4: "car"}
    # the user can insist
    kept = load_dataset(tmp_path / "images", gt, [("p", tmp_path / "p.json")],
                        pred_class_map="ids")
    assert kept.class_maps["p"].method == "ids" and not kept.class_maps["p"].automatic
    assert _ap(kept) < 0.1
    forced = load_dataset(tmp_path / "images", gt, [("p", tmp_path / "p.json")],
                          pred_class_map="offset:-1")
    assert _ap(forced) == pytest.approx(_ap(right))


def test_permuted_ids_are_detected_by_box_co_occurrence(tmp_path):
    gt, anns = _gt(tmp_path)
    perm = {0: 2, 1: 3, 2: 0, 3: 1}
    right = load_dataset(tmp_path / "images", gt, [("p", _preds(tmp_path, anns, lambda c: c))])
    r = load_dataset(tmp_path / "images", gt,
                     [("p", _preds(tmp_path, anns, lambda c: perm[c], "q.json"))])
    choice = r.class_maps["p"]
    assert choice.method == "permutation" and choice.agreement > 0.9
    assert choice.mapping == {2: "cat", 3: "dog", 0: "bus", 1: "car"}
    assert "permuted" in choice.explanation
    assert _ap(r) == pytest.approx(_ap(right))


def test_names_are_used_when_the_file_has_them(tmp_path):
    gt, anns = _gt(tmp_path)
    # the prediction file numbers the classes its own way but names them
    own = {"cat": 7, "dog": 5, "bus": 9, "car": 6}
    by_gt = {0: "cat", 1: "dog", 2: "bus", 3: "car"}
    cats = {"categories": [{"id": v, "name": k} for k, v in own.items()]}
    r = load_dataset(tmp_path / "images", gt,
                     [("p", _preds(tmp_path, anns, lambda c: own[by_gt[c]], extra=cats))])
    assert r.class_maps["p"].method == "names"
    assert r.class_maps["p"].agreement == pytest.approx(1.0)
    assert not any("classes matched" in p.message for p in r.problems)  # nothing to warn


def test_plain_ids_win_when_they_fit(tmp_path):
    gt, anns = _gt(tmp_path, ids=(1, 2, 3, 4))
    r = load_dataset(tmp_path / "images", gt, [("p", _preds(tmp_path, anns, lambda c: c))])
    assert r.class_maps["p"].method == "ids" and r.class_maps["p"].agreement == 1.0


def test_coco128_shifted_predictions(realdata, tmp_path):
    pred = realdata / "coco128_yolov5s_predictions" / "yolov5s_predictions.json"
    recs = json.loads(pred.read_text())
    for r in recs:
        r["category_id"] += 1
    p = tmp_path / "shifted.json"
    p.write_text(json.dumps(recs))
    right = load_dataset(None, realdata / "coco128", [("p", pred)])
    shifted = load_dataset(None, realdata / "coco128", [("p", p)])
    assert shifted.class_maps["p"].method == "offset:-1"
    assert evaluate_run(shifted.dataset, "p").AP == pytest.approx(
        evaluate_run(right.dataset, "p").AP, abs=1e-3)
