"""TIDE error types: parity with the tidecv package (counts exact, AP/dAP to 1e-12)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detview.core.tables import Boxes
from detview.core.tide import BKG, CLS, DUPE, LOC, MISS, NOT_EVALUATED, OK, tide_errors

from ._coco_helpers import synthetic_coco, tables_from_coco

tidecv = pytest.importorskip("tidecv")


def _tidecv(gt: dict[str, Any], dets: list[dict[str, Any]]) -> tuple[float, dict, dict]:
    from tidecv import TIDE, Data
    from tidecv.errors.main_errors import (
        BackgroundError,
        BoxError,
        ClassError,
        DuplicateError,
        MissedError,
        OtherError,
    )

    names = {ClassError: "Cls", BoxError: "Loc", OtherError: "Both", DuplicateError: "Dupe",
             BackgroundError: "Bkg", MissedError: "Miss"}  # fmt: skip
    g, p = Data("gt"), Data("pred")
    for im in gt["images"]:
        g.add_image(im["id"], str(im["id"]))
    for a in gt["annotations"]:
        if a.get("iscrowd", 0):
            g.add_ignore_region(a["image_id"], a["category_id"], a["bbox"])
        else:
            g.add_ground_truth(a["image_id"], a["category_id"], a["bbox"])
    for d in dets:
        p.add_detection(d["image_id"], d["category_id"], d["score"], d["bbox"])
    run = TIDE().evaluate(g, p, mode=TIDE.BOX)
    dap = {names[k]: v / 100 for k, v in run.fix_main_errors().items()}
    counts = {names[k]: v for k, v in run.count_errors().items()}
    return run.ap / 100, dap, counts


def _check(gt: dict[str, Any], dets: list[dict[str, Any]]) -> Any:
    cats = {c["id"] for c in gt["categories"]}
    dets = [d for d in dets if d["category_id"] in cats]  # detview drops unknown classes
    g, d, k, _, _ = tables_from_coco(gt, dets)
    r = tide_errors(g, d, k)
    ap, dap, counts = _tidecv(gt, dets)
    assert r.ap == pytest.approx(ap, rel=1e-12, abs=1e-14)
    assert r.counts == counts
    for name, v in dap.items():
        assert r.dap[name] == pytest.approx(v, rel=1e-12, abs=1e-14), name
    return r, g, d


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"integer_coords": True, "score_levels": 4},
        {"crowd_frac": 0.3},
        {"max_gt": 40, "dets_per_image": (20, 160)},
    ],  # fmt: skip
    ids=["default", "ties", "crowd", "crowded"],
)
def test_tide_parity_synthetic(kw: dict[str, Any], seed: int) -> None:
    _check(*synthetic_coco(seed, **kw))


def test_tide_tables_are_consistent() -> None:
    r, g, d = _check(*synthetic_coco(11))
    assert r.pred_error.shape == (len(d),) and r.gt_error.shape == (len(g),)
    per = r.per_image.sum()
    for name, n in r.counts.items():
        assert per[name] == n
    assert np.count_nonzero(r.gt_error == MISS) == r.counts["Miss"]
    # blamed boxes exist for CLS/LOC/DUPE and matched ones for OK
    for code in (OK, CLS, LOC, DUPE):
        assert (r.pred_gt[r.pred_error == code] >= 0).all()
    assert (r.pred_gt[r.pred_error == BKG] == -1).all()
    assert (r.gt_error[g.iscrowd] == NOT_EVALUATED).all()


def test_tide_hand_case() -> None:
    """One image: a TP, a duplicate, a class error, a localisation error, background."""
    gt = Boxes.build(1, [0, 0, 0], [0, 1, 0], [[0, 0, 10, 10], [20, 0, 30, 10], [50, 50, 60, 60]])
    dets = Boxes.build(
        1,
        [0] * 5,
        [0, 0, 0, 0, 0],
        [[0, 0, 10, 10], [0, 0, 10, 9], [20, 0, 30, 10], [50, 50, 57, 57], [100, 100, 110, 110]],
        score=[0.9, 0.8, 0.7, 0.6, 0.5],
    )
    r = tide_errors(gt, dets, 2)
    assert r.pred_error.tolist() == [OK, DUPE, CLS, LOC, BKG]
    assert r.pred_gt.tolist() == [0, 0, 1, 2, -1]
    assert r.gt_error.tolist() == [OK, OK, OK]  # box 1 and 2 are blamed, not missed


def test_tide_cocoapi_val2014_100(realdata: Path) -> None:
    base = realdata / "cocoapi_val2014_100"
    gt = json.loads((base / "instances_val2014_100.json").read_text())
    dets = json.loads((base / "instances_val2014_fakebbox100_results.json").read_text())
    _check(gt, dets)


def test_tide_coco128_yolov5s(realdata: Path) -> None:
    from .test_cocoeval import _coco128_gt

    gt = _coco128_gt(realdata / "coco128")
    dets = json.loads(
        (realdata / "coco128_yolov5s_predictions" / "yolov5s_predictions.json").read_text()
    )
    _check(gt, dets)


def test_confusion_matrix_hand_case() -> None:
    from detview.core.tide import confusion_matrix

    gt = Boxes.build(
        2,
        [0, 0, 0, 1],
        [0, 1, 0, 1],
        [[0, 0, 10, 10], [20, 0, 30, 10], [50, 50, 60, 60], [0, 0, 100, 100]],
        iscrowd=[False, False, False, True],
    )
    dets = Boxes.build(
        2,
        [0, 0, 0, 0, 0, 1],
        [0, 0, 1, 0, 1, 0],
        [
            [0, 0, 10, 10],
            [0, 0, 10, 9],
            [20, 0, 30, 10],
            [100, 100, 110, 110],
            [0, 0, 9, 9],
            [10, 10, 20, 20],
        ],  # fmt: skip
        score=[0.9, 0.8, 0.7, 0.6, 0.1, 0.9],
    )
    m = confusion_matrix(gt, dets, 2)
    # gt0 (cls 0) <- pred 0; gt1 (cls 1) <- pred 2 (cls 1); gt2 missed;
    # pred 1 (cls 0) duplicate -> background; pred 3 background; pred 4 below score;
    # pred 5 inside the crowd region of image 1 -> left out
    assert m.tolist() == [[1, 0, 1], [0, 1, 0], [2, 0, 0]]


def test_confusion_matrix_sums() -> None:
    from detview.core.tide import confusion_matrix

    gt, dets = synthetic_coco(12, crowd_frac=0.0)
    g, d, k, _, _ = tables_from_coco(gt, dets)
    m = confusion_matrix(g, d, k, score_thresh=0.3)
    assert m[:k].sum() == len(g)
    assert m[:, :k].sum() == int((d.score >= 0.3).sum())
    # at IoU 0.5 a same-class one-to-one match is a TP: the diagonal bounds AP50 recall
    assert np.trace(m[:k, :k]) > 0


def test_confusion_matrix_equals_plain_greedy() -> None:
    """The vectorised matching equals a plain greedy loop (also on crowded images)."""
    from detview.core.geometry import iou
    from detview.core.tide import confusion_matrix

    gt, dets = synthetic_coco(13, max_gt=40, dets_per_image=(20, 160), crowd_frac=0.0)
    g, d, k, _, _ = tables_from_coco(gt, dets)
    m = confusion_matrix(g, d, k, score_thresh=0.2)
    ref = np.zeros((k + 1, k + 1), dtype=np.int64)
    for i in range(g.n_images):
        gs, ds = g.image_slice(i), d.image_slice(i)
        keep = d.score[ds] >= 0.2
        dxy, dcl, dsc = d.xyxy[ds][keep], d.cls[ds][keep], d.score[ds][keep]
        ious = iou(dxy, g.xyxy[gs])
        pairs = [(-ious[a, b], -dsc[a], a, b) for a in range(len(dxy))
                 for b in range(ious.shape[1]) if ious[a, b] >= 0.5]  # fmt: skip
        used_d, used_g = set(), set()
        for _, _, a, b in sorted(pairs):
            if a not in used_d and b not in used_g:
                used_d.add(a)
                used_g.add(b)
                ref[g.cls[gs][b], dcl[a]] += 1
        for b in range(ious.shape[1]):
            if b not in used_g:
                ref[g.cls[gs][b], k] += 1
        for a in range(len(dxy)):
            if a not in used_d:
                ref[k, dcl[a]] += 1
    np.testing.assert_array_equal(m, ref)


def test_tide_chunks_equal_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    import detview.core.tide as er

    g, d, k, _, _ = tables_from_coco(*synthetic_coco(14, crowd_frac=0.2))
    ref = tide_errors(g, d, k)
    monkeypatch.setattr(er, "_TIDE_CHUNK", 100)
    got = tide_errors(g, d, k)
    assert got.counts == ref.counts and got.ap == ref.ap and got.dap == ref.dap
    np.testing.assert_array_equal(got.pred_error, ref.pred_error)
    np.testing.assert_array_equal(got.pred_gt, ref.pred_gt)
    np.testing.assert_array_equal(got.gt_error, ref.gt_error)
