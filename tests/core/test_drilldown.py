"""The numbers behind the clickable plots against a plain-Python matcher run at each
threshold (the referee), and the boxes behind each mark."""

from __future__ import annotations

import numpy as np
import pytest

from detview.core.analysis import error_analysis
from detview.core.dataset import Dataset
from detview.core.drilldown import (
    SCORE_GRID,
    iou_bin_hits,
    iou_histogram,
    match_records,
    score_bin_hits,
    score_histogram,
    threshold_curve,
    threshold_for_recall,
)
from detview.core.edits import DeleteBoxes, MoveBoxes
from detview.core.objects import gt_objects, hits_objects, missed_objects, pred_objects
from detview.core.tables import Boxes, Classes, Images
from tests.core._coco_helpers import synthetic_coco, tables_from_coco


# --------------------------------------------------------------------------- referee
def _iou(a: list[float], b: list[float], crowd: bool) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(iw, 0.0) * max(ih, 0.0)
    aa = max(a[2] - a[0], 0.0) * max(a[3] - a[1], 0.0)
    ab = max(b[2] - b[0], 0.0) * max(b[3] - b[1], 0.0)
    union = aa if crowd else aa + ab - inter
    return inter / union if union > 0 else 0.0


def referee(gt: Boxes, dets: Boxes, thr: float, iou_thr: float = 0.5) -> list[dict]:
    """Per kept prediction: image, id, class, score, "tp"/"fp"/"ign", IoU of its match.
    Per image, plain loops: predictions by descending score (file order on ties), each
    takes the free same-class regular box of highest IoU >= the threshold (the last on
    ties), else a crowd region of highest IoU (ignored)."""
    out = []
    for i in range(gt.n_images):
        g = [r for r in range(len(gt)) if gt.image[r] == i and gt.alive[r]]
        p = [r for r in range(len(dets)) if dets.image[r] == i and dets.alive[r]
             and dets.score[r] >= thr]
        p.sort(key=lambda r: -dets.score[r])  # stable: file order on ties
        taken: set[int] = set()
        for r in p:
            best, best_iou, crowd_best, crowd_iou = None, -1.0, None, -1.0
            for q in g:
                if gt.cls[q] != dets.cls[r] or q in taken:
                    continue
                crowd = bool(gt.iscrowd[q])
                v = _iou(list(dets.xyxy[r]), list(gt.xyxy[q]), crowd)
                if v < min(iou_thr, 1 - 1e-10):
                    continue
                if crowd:
                    if v >= crowd_iou:
                        crowd_best, crowd_iou = q, v
                elif v >= best_iou:
                    best, best_iou = q, v
            rec = {"image": i, "id": int(dets.box_id[r]), "cls": int(dets.cls[r]),
                   "score": float(dets.score[r])}
            if best is not None:
                taken.add(best)
                rec.update(kind="tp", iou=best_iou, gt=int(gt.box_id[best]))
            elif crowd_best is not None:
                rec.update(kind="ign", iou=0.0, gt=-1)
            else:
                rec.update(kind="fp", iou=0.0, gt=-1)
            out.append(rec)
    return out


def n_gt(gt: Boxes, cls: int | None = None) -> int:
    return sum(1 for r in range(len(gt)) if gt.alive[r] and not gt.iscrowd[r]
               and (cls is None or gt.cls[r] == cls))


@pytest.fixture(scope="module")
def tables() -> tuple[Boxes, Boxes, int]:
    gt, dets = synthetic_coco(11, n_images=24, score_levels=20)  # ties in the scores
    g, d, k, _ids, _ = tables_from_coco(gt, dets)
    return g, d, k


# --------------------------------------------------------------------------- curves
@pytest.mark.parametrize("cls", [None, 0, 2])
def test_threshold_curve_counts_equal_matching_again_at_each_threshold(tables, cls) -> None:
    gt, dets, k = tables
    rec = match_records(gt, dets, k)
    curve = threshold_curve(rec, cls)
    assert curve.n_gt == n_gt(gt, cls)
    for j in range(0, 101, 7):
        t = float(SCORE_GRID[j])
        ref = [r for r in referee(gt, dets, t) if cls is None or r["cls"] == cls]
        tp = sum(r["kind"] == "tp" for r in ref)
        fp = sum(r["kind"] == "fp" for r in ref)
        assert (curve.tp[j], curve.fp[j], curve.fn[j]) == (tp, fp, curve.n_gt - tp), t
        f1 = 2 * tp / (2 * tp + fp + curve.n_gt - tp) if (2 * tp + fp + curve.n_gt - tp) else 0
        assert curve.f1[j] == pytest.approx(f1)


def test_best_threshold_is_the_grid_point_with_the_highest_f1(tables) -> None:
    gt, dets, k = tables
    curve = threshold_curve(match_records(gt, dets, k))
    f1s = []
    for t in SCORE_GRID.tolist():
        ref = referee(gt, dets, t)
        tp = sum(r["kind"] == "tp" for r in ref)
        fp = sum(r["kind"] == "fp" for r in ref)
        f1s.append(2 * tp / (2 * tp + fp + (curve.n_gt - tp)))
    best = max(f1s)
    assert curve.best_f1 == pytest.approx(best)
    assert curve.best_threshold == pytest.approx(
        max(t for t, f in zip(SCORE_GRID.tolist(), f1s, strict=True) if f == best))
    # a point clicked on a PR curve: the highest threshold that still reaches the recall
    r = float(curve.recall[40])
    t = threshold_for_recall(curve, r)
    assert t >= SCORE_GRID[40] and curve.recall[curve.index_of(t)] >= r - 1e-12


def test_score_histograms_count_true_and_false_positives_of_every_prediction(tables) -> None:
    gt, dets, k = tables
    rec = match_records(gt, dets, k)
    h = score_histogram(rec, bins=10)
    ref = referee(gt, dets, -np.inf)
    for b in range(10):
        lo, hi = h.edges[b], h.edges[b + 1]
        for kind in ("tp", "fp"):
            want = [r for r in ref if r["kind"] == kind
                    and lo <= r["score"] and (r["score"] < hi or (b == 9 and r["score"] <= hi))]
            assert h.counts[kind][b] == len(want)
            hits = score_bin_hits(rec, kind, lo, hi, last=b == 9)
            assert sorted(hits.pred_box_id.tolist()) == sorted(r["id"] for r in want)
            want_img = np.bincount([r["image"] for r in want], minlength=gt.n_images)
            assert hits.per_image(gt.n_images).tolist() == want_img.tolist()
            if want:  # most first
                imgs = hits.images()
                assert want_img[imgs[0]] == want_img.max()
                assert list(want_img[imgs]) == sorted(want_img[imgs], reverse=True)


def test_iou_histogram_holds_the_matched_boxes_at_the_threshold(tables) -> None:
    gt, dets, k = tables
    rec = match_records(gt, dets, k)
    for thr in (0.3, 0.6):
        h = iou_histogram(rec, thr, bins=5)
        assert h.edges[0] == pytest.approx(0.5) and h.edges[-1] == 1.0
        ref = [r for r in referee(gt, dets, thr) if r["kind"] == "tp"]
        assert int(h.counts["tp"].sum()) == len(ref)
        for b in range(5):
            lo, hi = h.edges[b], h.edges[b + 1]
            want = [r for r in ref if lo <= r["iou"] and (r["iou"] < hi or b == 4)]
            assert h.counts["tp"][b] == len(want)
            hits = iou_bin_hits(rec, thr, lo, hi, last=b == 4)
            assert sorted(zip(hits.pred_box_id.tolist(), hits.gt_box_id.tolist(),
                              strict=True)) == sorted((r["id"], r["gt"]) for r in want)
        assert h.bin_of(0.5) == 0 and h.bin_of(1.0) == 4 and h.bin_of(0.2) == -1
    # a score on a bin edge falls in the bin it starts (0.7 in 0.70-0.75, not 0.65-0.70)
    assert score_histogram(rec, bins=20).bin_of(0.7) == 14
    assert score_histogram(rec, bins=20).edges[14] == 0.7


def test_records_after_an_edit_equal_a_full_rebuild(tables) -> None:
    gt, dets, k = tables
    n = gt.n_images
    images = Images(np.arange(n), [f"{i}.jpg" for i in range(n)], [640] * n, [480] * n)
    ds = Dataset(images, Classes.from_names([f"c{i}" for i in range(k)]), gt.copy(),
                 {"r": dets})
    rec = match_records(ds.gt, dets, k)
    rows = np.flatnonzero(ds.gt.alive & ~ds.gt.iscrowd)[:3]
    ids = tuple(int(b) for b in ds.gt.box_id[rows])
    imgs = tuple(int(i) for i in ds.gt.image[rows])
    touched = set(ds.apply(DeleteBoxes(ids[:2], imgs[:2])))
    old = tuple(tuple(float(v) for v in ds.gt.xyxy[rows[2]]) for _ in (0,))
    new = ((old[0][0] + 30, old[0][1] + 20, old[0][2] + 30, old[0][3] + 20),)
    touched |= set(ds.apply(MoveBoxes(ids[2:], imgs[2:], old, new)))
    upd = rec.replace_images(match_records(ds.gt, dets, k, images=touched), touched)
    full = match_records(ds.gt, dets, k)
    for a, b in ((upd, full),):
        oa = np.lexsort((a.box_id, a.image))
        ob = np.lexsort((b.box_id, b.image))
        for name in ("image", "box_id", "cls", "score", "outcome", "iou", "gt_box_id"):
            assert np.array_equal(getattr(a, name)[oa], getattr(b, name)[ob]), name
        ga, gb = np.argsort(a.gt_id), np.argsort(b.gt_id)
        assert np.array_equal(a.gt_id[ga], b.gt_id[gb])
        assert np.array_equal(a.gt_match_score[ga], b.gt_match_score[gb])
    assert threshold_curve(upd).f1.tolist() == threshold_curve(full).f1.tolist()
    mask = np.ones(n, bool)
    mask[[1, 5, 6]] = False  # deleted images: out of the plots
    part = full.select(mask)
    ref = match_records(ds.gt, dets, k, mask)
    assert sorted(part.box_id.tolist()) == sorted(ref.box_id.tolist())
    assert sorted(part.gt_id.tolist()) == sorted(ref.gt_id.tolist())
    assert not np.isin(part.image, [1, 5, 6]).any() and np.isin(full.image, [1, 5, 6]).any()


# --------------------------------------------------------------------------- marks
def test_confusion_cells_and_error_types_lead_to_their_boxes(tables) -> None:
    gt, dets, k = tables
    mask = np.ones(gt.n_images, bool)
    e = error_analysis(gt, dets, k, mask, [f"c{i}" for i in range(k)], "r",
                       all_predictions=False, score_threshold=0.3)
    m = e.confusion
    for t in range(k + 1):
        for p in range(k + 1):
            h = e.confusion_hits(t, p)
            assert len(h) == m[t, p], (t, p)
            # each entry's boxes are of the cell's classes (background: no box)
            if len(h):
                g = h.gt_box_id
                d = h.pred_box_id
                assert ((g >= 0) == (t < k)).all() and ((d >= 0) == (p < k)).all()
                if t < k:
                    assert (gt.cls[gt.rows_of(g)] == t).all()
                if p < k:
                    assert (dets.cls[dets.rows_of(d)] == p).all()
                    assert (dets.score[dets.rows_of(d)] >= 0.3).all()
    for name, col in (("Loc", "err_loc"), ("Cls", "err_cls"), ("Bkg", "err_bkg"),
                      ("Miss", "err_miss"), ("Dupe", "err_dupe"), ("Both", "err_both")):
        h = e.error_hits(name)
        assert h.per_image(gt.n_images).tolist() == e.images[col].tolist(), name
        assert len(h) == e.tide_kept.counts[name]
        assert h.label == f"{name} errors"


def test_object_sets_sort_and_select(tables) -> None:
    gt, dets, k = tables
    rec = match_records(gt, dets, k)
    objs = gt_objects(gt, cls=1, rec=rec, score_threshold=0.5)
    assert len(objs) == n_gt(gt, 1) and (objs.cls == 1).all() and not objs.is_pred.any()
    ref = referee(gt, dets, 0.5)
    found = {r["gt"]: r["iou"] for r in ref if r["kind"] == "tp"}
    for b, v in zip(objs.box_id.tolist(), objs.iou.tolist(), strict=True):
        assert (v == pytest.approx(found[b])) if b in found else np.isnan(v)
    worst = objs.sorted("iou")  # worst first: lowest IoU, NaN (missed) last
    v = worst.iou[~np.isnan(worst.iou)]
    assert list(v) == sorted(v) and np.isnan(worst.iou[len(v):]).all()
    missed = missed_objects(gt, rec, 0.5)
    assert sorted(missed.box_id.tolist()) == sorted(
        int(gt.box_id[r]) for r in range(len(gt)) if gt.alive[r] and not gt.iscrowd[r]
        and int(gt.box_id[r]) not in found)
    fps = pred_objects(dets, 0.5, rec=rec, outcome=0)
    assert sorted(fps.box_id.tolist()) == sorted(r["id"] for r in ref if r["kind"] == "fp")
    by_score = fps.sorted("score")
    assert list(by_score.score) == sorted(by_score.score, reverse=True)
    hits = score_bin_hits(rec, "tp", 0.5, 1.0, last=True)
    pairs = hits_objects(hits, gt, dets)
    assert pairs.is_pred.all() and len(pairs) == len(hits)
    gts = hits_objects(hits, gt, dets, prefer="gt")
    assert not gts.is_pred.any() and sorted(gts.box_id.tolist()) == sorted(
        hits.gt_box_id.tolist())
    g_ids, p_ids = pairs.ids(range(3))
    assert g_ids == [] and p_ids == pairs.box_id[:3].tolist()


def test_label_quality_object_sets_take_the_issues_of_a_result(tables) -> None:
    """quality_objects reads the columns of a label-quality result (the fields of
    detview.core.label_quality.LabelQuality): the issue boxes, their score, the likely
    class of a swap; boxes deleted since are left out."""
    from types import SimpleNamespace

    from detview.core.objects import quality_objects

    gt, dets, k = tables
    g = gt.copy()
    n_g, n_p = len(g), len(dets)
    rng = np.random.default_rng(0)
    swap = rng.random(n_g)
    badloc = rng.random(n_g)
    over = np.where(rng.random(n_p) < 0.3, rng.random(n_p), np.nan)
    lq = SimpleNamespace(
        gt_box_id=g.box_id.copy(), swap=swap, swap_issue=swap < 0.2,
        swap_class=(g.cls + 1) % k, badloc=badloc, badloc_issue=badloc < 0.1,
        pred_box_id=dets.box_id.copy(), overlooked=over,
        overlooked_issue=np.nan_to_num(over, nan=1.0) < 0.15)
    gone = int(np.flatnonzero(swap < 0.2)[0])
    g.alive[gone] = False  # deleted since the scores were computed
    sw = quality_objects(lq, g, dets, "swap")
    want = [int(g.box_id[r]) for r in range(n_g) if swap[r] < 0.2 and r != gone]
    assert sorted(sw.box_id.tolist()) == sorted(want) and not sw.is_pred.any()
    for b, q, h in zip(sw.box_id.tolist(), sw.quality.tolist(), sw.hint.tolist(),
                       strict=True):
        r = int(np.flatnonzero(g.box_id == b)[0])
        assert q == swap[r] and h == (g.cls[r] + 1) % k
    assert list(sw.sorted("quality").quality) == sorted(sw.quality)  # worst first
    bl = quality_objects(lq, g, dets, "badloc")
    assert sorted(bl.box_id.tolist()) == sorted(
        int(g.box_id[r]) for r in range(n_g) if badloc[r] < 0.1 and r != gone)
    assert (bl.hint == -1).all()
    ov = quality_objects(lq, g, dets, "overlooked")
    assert ov.is_pred.all() and sorted(ov.box_id.tolist()) == sorted(
        int(dets.box_id[r]) for r in range(n_p) if lq.overlooked_issue[r])
    every = quality_objects(lq, g, dets, "overlooked", issues_only=False)
    assert len(every) == int(np.count_nonzero(~np.isnan(over)))
