"""Parity of detview.core.cocoeval with pycocotools: the 12 numbers, every per-class AP
and the precision/recall arrays bit for bit, on a search over many seeded sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from detview.core.cocoeval import COCOEvaluator, COCOParams, evaluate, match_columns
from detview.core.matching import match_image
from detview.core.tables import Boxes

from ._coco_helpers import STATS, pycocotools_eval, synthetic_coco, tables_from_coco

pytest.importorskip("pycocotools")

TOL = 1e-12


def _check(gt: dict[str, Any], dets: list[dict[str, Any]], det_area: bool = False) -> Any:
    """detview equals pycocotools exactly: 12 numbers, per-class AP/AP50/AR100, arrays."""
    g, d, k, ids, _ = tables_from_coco(gt, dets, det_area=det_area)
    r = evaluate(g, d, k, image_ids=ids)
    if any("area" not in a for a in gt["annotations"]):
        # pycocotools needs the field; detview uses the box area when it is absent
        anns = [{**a, "area": a["bbox"][2] * a["bbox"][3]} for a in gt["annotations"]]
        gt = {**gt, "annotations": anns}
    o = pycocotools_eval(gt, dets)
    for s in STATS:
        assert getattr(r, s) == o["stats"][s], s
    np.testing.assert_array_equal(r.precision, o["precision"])
    np.testing.assert_array_equal(r.recall, o["recall"])
    for kk, (ap, ap50, ar) in o["per_class"].items():
        row = r.per_class.loc[kk]
        assert (row["AP"], row["AP50"], row["AR100"]) == (ap, ap50, ar), kk
    return r, o


SYNTH_CASES = {
    "default": {},
    "integer_coords_ties": {"integer_coords": True, "score_levels": 4},
    "score_ties": {"score_levels": 3},
    "many_crowd": {"crowd_frac": 0.3},
    "no_area_field": {"with_area": False, "integer_coords": True},
    "crowded": {"max_gt": 40, "dets_per_image": (20, 160)},
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("case", sorted(SYNTH_CASES))
def test_synthetic_parity(case: str, seed: int) -> None:
    gt, dets = synthetic_coco(seed, **SYNTH_CASES[case])
    _check(gt, dets)


# The parity search: two-decimal boxes as COCO files have them (IoUs land exactly on
# thresholds), rounded scores (ties across images), a dominant class, many crowd regions,
# crowded images; every combination meets a different seed.
_KNOBS = [
    {"decimals": 2, "score_decimals": 3},
    {"decimals": 1, "score_decimals": 2, "skew": True},
    {"decimals": 2, "score_decimals": 4, "crowd_frac": 0.2},
    {"decimals": 1, "score_decimals": 3, "max_gt": 30, "dets_per_image": (10, 120)},
    {"decimals": 2, "skew": True, "max_gt": 20, "dets_per_image": (5, 90)},
]
SEARCH = [(seed, i) for seed in range(4) for i in range(len(_KNOBS))]


@pytest.mark.parametrize("seed,knob", SEARCH, ids=[f"s{s}-k{k}" for s, k in SEARCH])
def test_parity_search(seed: int, knob: int) -> None:
    _check(*synthetic_coco(100 + seed, **_KNOBS[knob]))


def test_source_box_sizes_are_what_parity_needs() -> None:
    """The cause of the ~1e-9 AP differences: pycocotools computes IoU and areas from
    the file's ``[x, y, w, h]``; from ``xyxy`` alone, ``x2 - x1`` can differ from ``w``
    in the last bit, and an IoU that lands exactly on a threshold goes the other way.
    With the source sizes (``Boxes.wh``) the arrays are identical; without, not."""
    from dataclasses import replace

    gt, dets = synthetic_coco(10, decimals=1, score_decimals=3, max_gt=20,
                              dets_per_image=(10, 80), crowd_frac=0.1)
    r, o = _check(gt, dets)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    g0, d0 = replace(g, wh=np.full_like(g.wh, np.nan)), replace(d, wh=np.full_like(d.wh, np.nan))
    r0 = evaluate(g0, d0, k, image_ids=ids)
    assert not np.array_equal(r0.precision, o["precision"])


def test_synthetic_covers_the_awkward_cases() -> None:
    gt, dets = synthetic_coco(0)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    assert g.iscrowd.any()
    area = g.box_area()
    assert (area < 32**2).any() and ((area > 32**2) & (area < 96**2)).any() and (area > 96**2).any()
    per_img = np.bincount(d.image, minlength=d.n_images)
    assert per_img.max() > 100 and (per_img == 0).any()
    assert (np.diff(g.offsets) == 0).any()
    r, o = _check(gt, dets)
    assert r.per_class.loc[k - 1, "AP"] == -1  # a category without ground truth


def test_summary_text_matches_pycocotools() -> None:
    gt, dets = synthetic_coco(3)
    r, o = _check(gt, dets)
    lines = [ln for ln in o["text"].splitlines() if ln.startswith(" Average")]
    assert r.summary_text().splitlines() == lines


def test_fails_when_one_detection_moves() -> None:
    """The parity check is sharp: nudging one score changes the numbers."""
    gt, dets = synthetic_coco(4)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    base = evaluate(g, d, k, image_ids=ids)
    d2 = d.copy()
    tp_like = int(np.argmax(d2.score))
    d2.xyxy[tp_like] += 1000.0
    moved = evaluate(g, d2, k, image_ids=ids)
    assert any(getattr(base, s) != getattr(moved, s) for s in STATS)


def test_image_mask_and_dead_boxes_equal_removed_data() -> None:
    gt, dets = synthetic_coco(5)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    mask = np.ones(g.n_images, bool)
    mask[[6, 9, 13]] = False
    g.alive[::11] = False
    r = evaluate(g, d, k, image_mask=mask, image_ids=ids)
    keep_ids = set(ids[mask].tolist())
    anns = [a for j, a in enumerate(gt["annotations"]) if j % 11 != 0]
    # gt rows keep file order here (annotations are generated image by image)
    gt2 = {
        "images": [im for im in gt["images"] if im["id"] in keep_ids],
        "categories": gt["categories"],
        "annotations": [a for a in anns if a["image_id"] in keep_ids],
    }
    dets2 = [x for x in dets if x["image_id"] in keep_ids]
    o = pycocotools_eval(gt2, dets2)
    for s in STATS:
        assert getattr(r, s) == pytest.approx(o["stats"][s], abs=TOL, rel=0), s


def test_custom_params_reach_accumulate() -> None:
    p = COCOParams(max_dets=(1, 5, 20))
    gt, dets = synthetic_coco(6)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    r = evaluate(g, d, k, params=p, image_ids=ids)
    assert r.precision.shape == (10, 101, k, 4, 3)
    assert "maxDets= 20" in r.summary_text()


def test_batched_matcher_agrees_with_match_image() -> None:
    """At area 'all', match_columns and the lead's match_image give the same matches."""
    rng = np.random.default_rng(7)
    params = COCOParams()
    for _ in range(40):
        n_g, n_d = int(rng.integers(0, 8)), int(rng.integers(0, 15))
        gxy = rng.integers(0, 40, (n_g, 2)).astype(float)
        gt_xyxy = np.hstack([gxy, gxy + rng.integers(5, 30, (n_g, 2))])
        gt_cls = rng.integers(0, 2, n_g)
        crowd = rng.random(n_g) < 0.2
        src = rng.integers(0, max(n_g, 1), n_d)
        pred = gt_xyxy[src] + rng.integers(-3, 4, (n_d, 4)) if n_g else np.zeros((n_d, 4))
        pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
        pcls = rng.integers(0, 2, n_d)
        score = rng.integers(1, 4, n_d) / 4.0
        order = np.lexsort((np.arange(n_d), -score, pcls))
        rank = np.zeros(n_d, np.int64)
        for c in (0, 1):
            sel = order[pcls[order] == c]
            rank[sel] = np.arange(sel.size)
        rec = match_columns(
            pcls[order], rank[order], pred[order], np.full(n_d, 500.0),
            gt_cls, gt_xyxy, np.full(n_g, 500.0), crowd, params,
        )  # fmt: skip
        for ti, t in enumerate(params.iou_thrs):
            ref = match_image(pred, score, pcls, gt_xyxy, gt_cls, crowd, t)
            got = np.full(n_d, -1)
            got[order] = rec.gt[:, 0, ti]
            if n_g:
                assert got.tolist() == ref.pred_gt.tolist()


# --------------------------------------------------------------------------- incremental
def _rebuild_equal(ev: COCOEvaluator, g: Boxes, d: Boxes, k: int, ids: np.ndarray) -> None:
    """The incremental state equals a fresh evaluation bit for bit: every array, the 12
    numbers, the per-class table."""
    ref = evaluate(g, d, k, image_mask=ev.image_mask, image_ids=ids)
    got = ev.result()
    np.testing.assert_array_equal(got.precision, ref.precision)
    np.testing.assert_array_equal(got.recall, ref.recall)
    np.testing.assert_array_equal(got.scores, ref.scores)
    for s in STATS:
        assert getattr(got, s) == getattr(ref, s), s
    pd.testing.assert_frame_equal(got.per_class.drop(columns="name"),
                                  ref.per_class.drop(columns="name"))


def _random_edit(ds: Any, rng: np.random.Generator, step: int, k: int) -> Any:
    from detview.core.edits import AddBoxes, DeleteBoxes, MoveBoxes, RelabelBoxes

    i = int(rng.choice(np.flatnonzero(np.diff(ds.gt.offsets) > 0)))
    rows = np.arange(ds.gt.offsets[i], ds.gt.offsets[i + 1])
    row = int(rng.choice(rows))
    bid = int(ds.gt.box_id[row])
    kind = step % 4
    if kind == 0:
        return DeleteBoxes((bid,), (i,))
    if kind == 1:
        old = int(ds.gt.cls[row])
        return RelabelBoxes((bid,), (i,), (old,), ((old + 1) % k,))
    if kind == 2:
        old_xy = tuple(ds.gt.xyxy[row].tolist())
        dx = float(rng.choice([0.5, 2.0, 7.0, 40.0]))
        return MoveBoxes((bid,), (i,), (old_xy,), tuple([tuple(v + dx for v in old_xy)]))
    new = ds.new_box_ids(1)
    return AddBoxes(new, (i,), (int(rng.integers(0, k)),), (tuple(ds.gt.xyxy[row].tolist()),))


def test_incremental_updates_equal_full_evaluation() -> None:
    from detview.core.dataset import Dataset
    from detview.core.edits import AddBoxes, DeleteBoxes, MoveBoxes, RelabelBoxes
    from detview.core.tables import Classes, Images

    gt, dets = synthetic_coco(8)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    n = g.n_images
    images = Images(ids, [f"{i}.jpg" for i in ids], np.full(n, 640), np.full(n, 480))
    ds = Dataset(images, Classes.from_names([f"c{i}" for i in range(k)]), g, {"run": d})
    ev = COCOEvaluator.from_dataset(ds, "run")
    rng = np.random.default_rng(0)
    for step in range(12):
        i = int(rng.choice(np.flatnonzero(np.diff(ds.gt.offsets) > 0)))
        rows = np.arange(ds.gt.offsets[i], ds.gt.offsets[i + 1])
        row = int(rng.choice(rows))
        bid = int(ds.gt.box_id[row])
        kind = step % 4
        if kind == 0:
            e: Any = DeleteBoxes((bid,), (i,))
        elif kind == 1:
            old = int(ds.gt.cls[row])
            e = RelabelBoxes((bid,), (i,), (old,), ((old + 1) % k,))
        elif kind == 2:
            old_xy = tuple(ds.gt.xyxy[row].tolist())
            new_xy = tuple((ds.gt.xyxy[row] + 7.0).tolist())
            e = MoveBoxes((bid,), (i,), (old_xy,), (new_xy,))
        else:
            new = ds.new_box_ids(1)
            e = AddBoxes(new, (i,), (0,), (tuple(ds.gt.xyxy[row].tolist()),))
        touched = ds.apply(e)
        ev.update_images(touched)
        _rebuild_equal(ev, ds.gt, d, k, ids)
    # deleting and restoring images through the dataset
    from detview.core.cocoeval import evaluate_run
    from detview.core.edits import DeleteImages, RestoreImages

    touched = ds.apply(DeleteImages((10, 11)))
    ev.update_images(touched, image_mask=~ds.images.deleted)
    _rebuild_equal(ev, ds.gt, d, k, ids)
    assert evaluate_run(ds, "run").AP == ev.result().AP
    touched = ds.apply(RestoreImages((10, 11)))
    ev.update_images(touched, image_mask=~ds.images.deleted)
    _rebuild_equal(ev, ds.gt, d, k, ids)


@pytest.mark.parametrize("block_tps", [1, 4, 32])
@pytest.mark.parametrize("seed", [0, 1])
def test_block_updates_equal_full_evaluation(block_tps: int, seed: int,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Many edits, crowded images and score ties; blocks of 1 to 32 true positives (so
    the stale-block bounds decide what is recomputed); images deleted and restored."""
    import detview.core.cocoeval as ce
    from detview.core.dataset import Dataset
    from detview.core.edits import DeleteImages, RestoreImages
    from detview.core.tables import Classes, Images

    monkeypatch.setattr(ce, "_BLOCK_TPS", block_tps)
    gt, dets = synthetic_coco(20 + seed, n_images=40, max_gt=25, dets_per_image=(5, 130),
                              score_levels=6, crowd_frac=0.1)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    n = g.n_images
    images = Images(ids, [f"{i}.jpg" for i in ids], np.full(n, 640), np.full(n, 480))
    ds = Dataset(images, Classes.from_names([f"c{i}" for i in range(k)]), g, {"run": d})
    ev = COCOEvaluator.from_dataset(ds, "run")
    first = ev.result()
    first_prec = first.precision.copy()
    rng = np.random.default_rng(seed)
    for step in range(16):
        touched = ds.apply(_random_edit(ds, rng, step, k))
        ev.update_images(touched)
        _rebuild_equal(ev, ds.gt, d, k, ids)
        if step % 5 == 4:
            gone = tuple(int(x) for x in rng.choice(n, 3, replace=False))
            touched = ds.apply(DeleteImages(gone))
            ev.update_images(touched, image_mask=~ds.images.deleted)
            _rebuild_equal(ev, ds.gt, d, k, ids)
            touched = ds.apply(RestoreImages(gone[:2]))
            ev.update_images(touched, image_mask=~ds.images.deleted)
            _rebuild_equal(ev, ds.gt, d, k, ids)
    # a result is a snapshot: later updates never write into it
    np.testing.assert_array_equal(first.precision, first_prec)
    assert not np.array_equal(first_prec, ev.result().precision)


# --------------------------------------------------------------------------- real data
def _load(p: Path) -> Any:
    return json.loads(p.read_text())


def _check_expected(r: Any, expected: dict[str, Any], cat_ids: list[int]) -> None:
    oracle = expected["oracle_pycocotools_2_0_11"]
    for s in STATS:
        assert getattr(r, s) == pytest.approx(oracle["summary"][s], abs=TOL, rel=0), s
    for cid, ap in oracle["per_category_AP"].items():
        k = cat_ids.index(int(cid))
        assert r.per_class.loc[k, "AP"] == pytest.approx(ap, abs=TOL, rel=0), cid


def test_cocoapi_val2014_100(realdata: Path) -> None:
    base = realdata / "cocoapi_val2014_100"
    gt = _load(base / "instances_val2014_100.json")
    dets = _load(base / "instances_val2014_fakebbox100_results.json")
    r, _ = _check(gt, dets)
    expected = _load(base / "expected.json")
    _, _, _, _, cat_ids = tables_from_coco(gt, dets)
    _check_expected(r, expected, cat_ids)
    published = expected["published"]["faster_coco_eval_tests"]["stats"]
    for s in STATS:
        assert getattr(r, s) == pytest.approx(published[s], abs=1e-10, rel=0), s
    txt = expected["published"]["cocoapi_results_txt"]["stats"]
    for s in STATS:
        assert round(getattr(r, s), 3) == pytest.approx(txt[s], abs=1e-9), s


def test_rodm_coco_sampled(realdata: Path) -> None:
    base = realdata / "rodm_coco_sampled"
    gt = _load(base / "sampled_gts_bbox_area.json")
    dets = _load(base / "cocoapi_results.json")
    r, _ = _check(gt, dets)
    expected = _load(base / "expected.json")
    _, _, _, _, cat_ids = tables_from_coco(gt, dets)
    _check_expected(r, expected, cat_ids)
    pub = expected["published"]["rodm_tests"]
    for s in STATS:
        assert getattr(r, s) == pytest.approx(pub["stats"][s], abs=pub["tolerance"]), s


def _coco128_gt(root: Path) -> dict[str, Any]:
    """COCO gt dict from coco128's YOLO labels (absolute xywh, area = w*h)."""
    from PIL import Image

    names = [ln.split(":", 1)[1].strip() for ln in (root / "data.yaml").read_text().splitlines()
             if ln.startswith("  ") and ":" in ln]
    images, anns = [], []
    aid = 1
    for img in sorted((root / "images" / "train2017").glob("*.jpg")):
        with Image.open(img) as im:
            w, h = im.size
        iid = int(img.stem)
        images.append({"id": iid, "width": w, "height": h, "file_name": img.name})
        lab = root / "labels" / "train2017" / f"{img.stem}.txt"
        if not lab.exists():
            continue
        for line in lab.read_text().split("\n"):
            if not line.strip():
                continue
            c, cx, cy, bw, bh = line.split()
            bw_, bh_ = float(bw) * w, float(bh) * h
            x, y = float(cx) * w - bw_ / 2, float(cy) * h - bh_ / 2
            anns.append({"id": aid, "image_id": iid, "category_id": int(c),
                         "bbox": [x, y, bw_, bh_], "area": bw_ * bh_, "iscrowd": 0})  # fmt: skip
            aid += 1
    cats = [{"id": i, "name": n} for i, n in enumerate(names)]
    return {"images": images, "categories": cats, "annotations": anns}


def test_coco128_yolov5s(realdata: Path) -> None:
    gt = _coco128_gt(realdata / "coco128")
    assert len(gt["categories"]) == 80 and len(gt["annotations"]) == 929
    dets = _load(realdata / "coco128_yolov5s_predictions" / "yolov5s_predictions.json")
    assert len(dets) == 22284
    r, _ = _check(gt, dets)
    assert 0.3 < r.AP < 0.6


def test_per_image_ap_equals_pycocotools_on_one_image() -> None:
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    gt, dets = synthetic_coco(9, crowd_frac=0.15)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    mask = np.ones(g.n_images, bool)
    mask[7] = False
    ev = COCOEvaluator(g, d, k, image_mask=mask, image_ids=ids)
    table = ev.per_image_ap()
    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO()
        cg.dataset = gt
        cg.createIndex()
        cd = cg.loadRes(dets)
        checked = 0
        for i in range(g.n_images):
            e = COCOeval(cg, cd, "bbox")
            e.params.imgIds = [int(ids[i])]
            e.evaluate()
            e.accumulate()
            e.summarize()
            ap, ap50 = e.stats[0], e.stats[1]
            row = table.loc[i]
            if i == 7:
                assert np.isnan(row["AP"])
            elif ap < 0:
                assert np.isnan(row["AP"]) and np.isnan(row["AP50"])
            else:
                assert row["AP"] == pytest.approx(ap, abs=TOL, rel=0), i
                assert row["AP50"] == pytest.approx(ap50, abs=TOL, rel=0), i
                checked += 1
    assert checked > 30


def test_chunked_matching_equals_one_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of images, chunks of pairs, x-range pruning in every group: same arrays."""
    import detview.core.cocoeval as ce
    import detview.core.matching as mt

    gt, dets = synthetic_coco(10, max_gt=30, dets_per_image=(10, 120))
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    monkeypatch.setattr(mt, "_PRUNE_MIN_BOXES", 10**9)  # reference: no pruning
    ref = evaluate(g, d, k, image_ids=ids)
    monkeypatch.setattr(ce, "_DET_CHUNK", 300)
    monkeypatch.setattr(mt, "PAIR_BUDGET", 1000)
    monkeypatch.setattr(mt, "_PRUNE_MIN_BOXES", 1)
    monkeypatch.setattr(mt, "_PRUNE_MIN_PAIRS", 1)
    got = evaluate(g, d, k, image_ids=ids)
    np.testing.assert_array_equal(got.precision, ref.precision)
    np.testing.assert_array_equal(got.recall, ref.recall)
