import numpy as np
import pytest

from detview.core import Boxes, Classes, Dataset, Images
from detview.core.edits import DeleteBoxes
from detview.core.geometry import iou
from detview.core.matching import FP, IGNORED, TP, match_image
from detview.core.metrics import MetricParams, PerImageMetrics, mean_iou


def test_iou_hand_checked():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    assert iou(a, b).tolist() == [[50 / 150, 1.0, 0.0, 25 / 100]]
    # crowd: intersection over the prediction's own area
    assert iou(np.array([[0, 0, 5, 5]]), a, np.array([True])).tolist() == [[1.0]]


def test_matching_is_greedy_by_score_and_class_aware():
    gt = np.array([[0, 0, 10, 10], [20, 0, 30, 10]], float)
    pred = np.array([[0, 0, 10, 9], [0, 0, 10, 10], [20, 0, 30, 10], [0, 0, 10, 10]], float)
    m = match_image(pred, np.array([0.6, 0.9, 0.8, 0.7]), np.array([0, 0, 1, 1]),
                    gt, np.array([0, 0]), np.zeros(2, bool), 0.5)
    # 0.9 takes gt0; 0.6 duplicate -> FP; class-1 preds match nothing -> FP
    assert m.pred_outcome.tolist() == [FP, TP, FP, FP]
    assert m.gt_pred.tolist() == [1, -1]
    assert (m.tp, m.fp) == (1, 3)


def test_matching_prefers_regular_boxes_and_crowd_absorbs():
    gt = np.array([[0, 0, 10, 10], [0, 0, 100, 100]], float)
    crowd = np.array([False, True])
    pred = np.array([[0, 0, 10, 10], [1, 1, 9, 9], [50, 50, 60, 60]], float)
    m = match_image(pred, np.array([0.9, 0.8, 0.7]), np.zeros(3, int), gt, np.zeros(2, int), crowd)
    assert m.pred_outcome.tolist() == [TP, IGNORED, IGNORED]
    assert m.pred_gt.tolist() == [0, 1, 1]


def test_matching_ties_go_to_later_box_like_pycocotools():
    gt = np.array([[0, 0, 10, 10], [0, 0, 10, 10]], float)
    m = match_image(gt[:1], np.array([1.0]), np.zeros(1, int), gt, np.zeros(2, int),
                    np.zeros(2, bool))
    assert m.gt_pred.tolist() == [-1, 0]


@pytest.mark.parametrize(
    "pred, pcls, gt, gcls, expected",
    [
        (np.zeros((0, 4)), [], np.zeros((0, 4)), [], np.nan),  # no labels: nothing to score
        (np.zeros((0, 4)), [], [[0, 0, 10, 10]], [0], 0.0),  # no predictions
        ([[0, 0, 10, 10]], [0], np.zeros((0, 4)), [], 0.0),  # no ground truth
        ([[0, 0, 10, 10]], [0], [[0, 0, 10, 10]], [1], 0.0),  # two labels, each one-sided
        # 1 pred vs 2 gt: smaller side (pred) takes its best IoU = 1
        ([[0, 0, 10, 10]], [0], [[0, 0, 10, 10], [5, 0, 15, 10]], [0, 0], 1.0),
        # 2 preds (dup) vs 1 gt: gt takes its best IoU; second label only predicted -> 0
        ([[0, 0, 10, 10], [0, 0, 10, 10], [50, 50, 60, 60]], [0, 0, 1], [[5, 0, 15, 10]], [0],
         (1 / 3 + 0) / 2),
        # equal counts: each prediction takes its best GT
        ([[0, 0, 10, 10], [100, 100, 110, 110]], [0, 0], [[0, 0, 10, 10], [5, 0, 15, 10]], [0, 0],
         0.5),
    ],
)
def test_mean_iou_hand_checked(pred, pcls, gt, gcls, expected):
    got = mean_iou(np.asarray(pred, float).reshape(-1, 4), np.asarray(pcls, int),
                   np.asarray(gt, float).reshape(-1, 4), np.asarray(gcls, int))
    assert got == pytest.approx(expected, abs=1e-12, nan_ok=True)


def _dataset():
    images = Images(ids=[0, 1, 2], file_names=["a", "b", "c"], widths=[100] * 3, heights=[100] * 3)
    gt = Boxes.build(3, image=[0, 0, 1, 1], cls=[0, 1, 0, 0],
                     xyxy=[[0, 0, 10, 10], [20, 20, 40, 40], [0, 0, 50, 50], [0, 0, 99, 99]],
                     iscrowd=[0, 0, 0, 1])
    preds = Boxes.build(3, image=[0, 0, 0, 1, 1, 2], cls=[0, 1, 0, 0, 0, 1],
                        xyxy=[[0, 0, 10, 10], [20, 20, 30, 40], [0, 0, 10, 10], [0, 0, 50, 50],
                              [60, 60, 70, 70], [1, 1, 5, 5]],
                        score=[0.9, 0.8, 0.3, 0.9, 0.6, 0.95])
    return Dataset(images, Classes.from_names(["a", "b"]), gt, {"run": preds})


def test_per_image_metrics_table():
    ds = _dataset()
    t = PerImageMetrics(ds, "run", MetricParams(0.5, 0.5)).table()
    assert t["n_gt"].tolist() == [2, 1, 0]  # crowd not counted
    assert t["n_pred"].tolist() == [2, 2, 1]  # score 0.3 dropped
    assert t["tp"].tolist() == [2, 1, 0]
    assert t["fp"].tolist() == [0, 0, 1]  # the pred inside the crowd region is ignored
    assert t["fn"].tolist() == [0, 0, 0]
    assert t["mean_iou"].tolist() == pytest.approx([(1 + 0.5) / 2, 1.0, 0.0])


def test_per_image_metrics_follow_an_edit_of_one_image():
    ds = _dataset()
    pim = PerImageMetrics(ds, "run")
    ds.add_listener(lambda e, imgs: pim.update(imgs))
    ds.apply(DeleteBoxes((0,), (0,)))
    t = pim.table()
    assert t.loc[0, ["n_gt", "tp", "fp", "fn"]].tolist() == [1, 1, 1, 0]
    assert t.loc[1, "tp"] == 1


def test_per_image_metrics_without_a_run():
    t = PerImageMetrics(_dataset(), None).table()
    assert t["fn"].tolist() == [2, 1, 0] and t["n_pred"].sum() == 0


def _reference_loop(ious, scores, crowd, thr):
    """The evaluateImg loop, written out plainly: gts sorted regular-first, dets by score."""
    gind = sorted(range(len(crowd)), key=lambda g: crowd[g])  # stable: regular first
    dind = sorted(range(len(scores)), key=lambda d: -scores[d])
    gtm = {}
    out = [-1] * len(scores)
    for d in dind:
        best, m = min(thr, 1 - 1e-10), -1
        for g in gind:
            if g in gtm and not crowd[g]:
                continue
            if m > -1 and not crowd[m] and crowd[g]:
                break
            if ious[d][g] < best:
                continue
            best, m = ious[d][g], g
        if m > -1:
            out[d] = m
            gtm[m] = d
    return out


@pytest.mark.parametrize("seed", range(25))
def test_matching_agrees_with_the_plain_evaluateimg_loop(seed):
    rng = np.random.default_rng(seed)
    n_g, n_p = rng.integers(0, 8), rng.integers(0, 15)
    g = rng.uniform(0, 40, (n_g, 2))
    gxy = np.hstack([g, g + rng.uniform(5, 30, (n_g, 2))])
    src = rng.integers(0, max(n_g, 1), n_p)
    pxy = (gxy[src] if n_g else np.zeros((n_p, 4)) + [0, 0, 10, 10]) + rng.normal(0, 4, (n_p, 4))
    pxy[:, 2:] = np.maximum(pxy[:, 2:], pxy[:, :2] + 1)
    crowd = rng.random(n_g) < 0.25
    scores = np.round(rng.random(n_p), 1)  # ties on purpose
    gcls, pcls = rng.integers(0, 2, n_g), rng.integers(0, 2, n_p)
    m = match_image(pxy, scores, pcls, gxy, gcls, crowd, 0.5)
    ious = np.where(pcls[:, None] == gcls[None, :], iou(pxy, gxy, crowd), -1.0)
    assert m.pred_gt.tolist() == _reference_loop(ious.tolist(), scores.tolist(),
                                                 crowd.tolist(), 0.5)


def test_run_totals_and_best_overlap():
    from detview.core.matching import best_overlap
    from detview.core.metrics import run_totals

    ds = _dataset()
    pim = PerImageMetrics(ds, "run", MetricParams(0.5, 0.5))
    t = run_totals(pim)
    assert (t["gt"], t["pred"], t["tp"], t["fp"], t["fn"]) == (3, 5, 3, 1, 0)
    assert t["precision"] == pytest.approx(0.75) and t["recall"] == 1.0
    t = run_totals(pim, np.array([False, False, True]))
    assert (t["images"], t["tp"], t["fp"]) == (1, 0, 1) and np.isnan(t["recall"])
    cands = np.array([[0, 0, 10, 10], [0, 0, 4, 4], [50, 50, 60, 60]], float)
    assert best_overlap(np.array([1, 1, 5, 5.0]), cands) == 1
    assert best_overlap(np.array([100, 100, 110, 110.0]), cands) == -1
    assert best_overlap(np.array([0, 0, 1, 1.0]), np.zeros((0, 4))) == -1


# --------------------------------------------------------------------------- batched table
def _plain_iou(d, g, crowd):
    """pycocotools' bbIou on one pair, in plain Python floats."""
    iw = min(d[2], g[2]) - max(d[0], g[0])
    ih = min(d[3], g[3]) - max(d[1], g[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    da = (d[2] - d[0]) * (d[3] - d[1])
    ga = (g[2] - g[0]) * (g[3] - g[1])
    return iw * ih / (da if crowd else da + ga - iw * ih)


def _plain_table(ds, run, params):
    """The per-image table, one image at a time, in plain Python (the referee)."""
    gt, pr = ds.gt, ds.runs[run]
    rows = []
    for i in range(ds.n_images):
        g = [r for r in range(gt.offsets[i], gt.offsets[i + 1]) if gt.alive[r]]
        p = [r for r in range(pr.offsets[i], pr.offsets[i + 1])
             if pr.alive[r] and pr.score[r] >= params.score_threshold]
        gxy = [gt.xyxy[r].tolist() for r in g]
        gcl = [int(gt.cls[r]) for r in g]
        crowd = [bool(gt.iscrowd[r]) for r in g]
        pxy = [pr.xyxy[r].tolist() for r in p]
        pcl = [int(pr.cls[r]) for r in p]
        ious = [[_plain_iou(pxy[a], gxy[b], crowd[b]) if pcl[a] == gcl[b] else -1.0
                 for b in range(len(g))] for a in range(len(p))]
        match = _reference_loop(ious, [float(pr.score[r]) for r in p], crowd,
                                params.iou_threshold)
        tp = sum(1 for m in match if m >= 0 and not crowd[m])
        ign = sum(1 for m in match if m >= 0 and crowd[m])
        hit = {m for m in match if m >= 0 and not crowd[m]}
        reg = [b for b in range(len(g)) if not crowd[b]]
        labels = sorted(set(pcl) | {gcl[b] for b in reg})
        scores = []
        for c in labels:
            ps = [a for a in range(len(p)) if pcl[a] == c]
            gs = [b for b in reg if gcl[b] == c]
            if not ps or not gs:
                scores.append(0.0)
            elif len(ps) <= len(gs):
                scores.append(sum(max(ious[a][b] for b in gs) for a in ps) / len(ps))
            else:
                scores.append(sum(max(ious[a][b] for a in ps) for b in gs) / len(gs))
        rows.append((len(reg), len(p), tp, len(p) - tp - ign, len(reg) - len(hit),
                     sum(scores) / len(scores) if labels else float("nan")))
    return rows


def _random_dataset(seed, n_images=30, n_classes=3, tie_levels=None, crowd_frac=0.15,
                    integer=False, per_image=(0, 25), dup_frac=0.0):
    rng = np.random.default_rng(seed)
    n_gt = rng.integers(0, 10, n_images)
    n_gt[rng.random(n_images) < 0.2] = 0
    gi = np.repeat(np.arange(n_images), n_gt)
    g = rng.uniform(0, 80, (gi.size, 2))
    gxy = np.hstack([g, g + rng.uniform(2, 40, (gi.size, 2))])
    g_cls = rng.integers(0, n_classes, gi.size)
    if dup_frac:  # exact duplicates: equal IoUs, so the tie rule decides
        dup = np.flatnonzero(rng.random(gi.size) < dup_frac)
        gi, gxy, g_cls = (np.concatenate((a, a[dup])) for a in (gi, gxy, g_cls))
    n_dt = rng.integers(per_image[0], per_image[1] + 1, n_images)
    n_dt[rng.random(n_images) < 0.2] = 0
    di = np.repeat(np.arange(n_images), n_dt)
    dxy = rng.uniform(0, 80, (di.size, 4))
    dxy[:, 2:] = dxy[:, :2] + rng.uniform(2, 40, (di.size, 2))
    on_gt = np.flatnonzero(rng.random(di.size) < 0.7)
    for k in on_gt.tolist():  # most predictions near a box of their image
        cand = np.flatnonzero(gi == di[k])
        if cand.size:
            dxy[k] = gxy[rng.choice(cand)] + rng.normal(0, 3, 4)
    dxy[:, 2:] = np.maximum(dxy[:, 2:], dxy[:, :2] + 0.5)
    if integer:
        gxy, dxy = np.round(gxy), np.round(dxy)
        dxy[:, 2:] = np.maximum(dxy[:, 2:], dxy[:, :2] + 1)
    score = rng.random(di.size)
    if tie_levels:
        score = np.round(score * tie_levels) / tie_levels
    images = Images(ids=np.arange(n_images), file_names=[f"{i}.jpg" for i in range(n_images)],
                    widths=[128] * n_images, heights=[128] * n_images)
    gt = Boxes.build(n_images, gi, g_cls, gxy, iscrowd=rng.random(gi.size) < crowd_frac)
    pr = Boxes.build(n_images, di, rng.integers(0, n_classes, di.size), dxy, score=score)
    names = [f"c{k}" for k in range(n_classes)]
    return Dataset(images, Classes.from_names(names), gt, {"run": pr})


def _assert_table_equal(t, ref):
    got = list(zip(*(t[c].tolist() for c in ("n_gt", "n_pred", "tp", "fp", "fn")), strict=True))
    assert got == [r[:5] for r in ref]
    miou = t["mean_iou"].to_numpy()
    exp = np.array([r[5] for r in ref])
    np.testing.assert_array_equal(np.isnan(miou), np.isnan(exp))
    np.testing.assert_allclose(miou[~np.isnan(exp)], exp[~np.isnan(exp)], rtol=0, atol=1e-12)


CASES = {
    "default": {},
    "score_ties": {"tie_levels": 3},
    "integer_iou_ties": {"integer": True, "tie_levels": 4},
    "one_class_crowded": {"n_classes": 1, "per_image": (20, 60), "crowd_frac": 0.3},
    "many_classes": {"n_classes": 12},
    "duplicate_boxes": {"dup_frac": 0.4, "n_classes": 2, "tie_levels": 5},
}


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("case", sorted(CASES))
def test_per_image_table_equals_the_plain_per_image_loop(case, seed):
    ds = _random_dataset(seed, **CASES[case])
    for params in (MetricParams(0.5, 0.5), MetricParams(0.0, 0.3), MetricParams(0.3, 0.75)):
        _assert_table_equal(PerImageMetrics(ds, "run", params).table(),
                            _plain_table(ds, "run", params))


def test_per_image_table_with_tiny_chunks_and_pruning_everywhere(monkeypatch):
    """Pair chunks of 7, x-range pruning in every group, batches of a few images."""
    import detview.core.matching as mt
    import detview.core.metrics as me

    ds = _random_dataset(11, n_classes=2, per_image=(10, 40))
    ref = _plain_table(ds, "run", MetricParams(0.2, 0.5))
    monkeypatch.setattr(mt, "PAIR_BUDGET", 7)
    monkeypatch.setattr(mt, "_PRUNE_MIN_BOXES", 1)
    monkeypatch.setattr(mt, "_PRUNE_MIN_PAIRS", 1)
    monkeypatch.setattr(me, "_BATCH_BOXES", 50)
    seen = []
    pim = PerImageMetrics(ds, "run", MetricParams(0.2, 0.5),
                          progress=lambda d, t: seen.append((d, t)) or True)
    _assert_table_equal(pim.table(), ref)
    assert len(seen) > 3 and seen[-1] == (ds.n_images, ds.n_images)


def test_progress_can_cancel_the_table():
    ds = _random_dataset(3)
    with pytest.raises(InterruptedError):
        PerImageMetrics(ds, "run", progress=lambda d, t: False)


def test_edits_update_only_their_images_and_equal_a_fresh_table():
    from detview.core.edits import AddBoxes, MoveBoxes, RelabelBoxes

    ds = _random_dataset(5)
    pim = PerImageMetrics(ds, "run", MetricParams(0.3, 0.5))
    ds.add_listener(lambda e, imgs: pim.update(imgs))
    i = int(np.argmax(np.diff(ds.gt.offsets)))
    rows = np.arange(ds.gt.offsets[i], ds.gt.offsets[i + 1])
    b0, b1 = (int(ds.gt.box_id[r]) for r in rows[:2])
    xy = tuple(ds.gt.xyxy[rows[0]].tolist())
    ds.apply(MoveBoxes((b0,), (i,), (xy,), (tuple(v + 9.0 for v in xy),)))
    ds.apply(RelabelBoxes((b1,), (i,), (int(ds.gt.cls[rows[1]]),), (2,)))
    ds.apply(AddBoxes(ds.new_box_ids(1), (0,), (1,), ((1.0, 1.0, 30.0, 30.0),)))
    _assert_table_equal(pim.table(), _plain_table(ds, "run", MetricParams(0.3, 0.5)))


def test_an_empty_background_image_has_no_mean_iou_and_sorts_last():
    from detview.core.metrics import run_totals, sort_order

    ds = _dataset()  # image 2: a prediction (0.95) on an image without ground truth
    pim = PerImageMetrics(ds, "run", MetricParams(0.99, 0.5))  # nothing kept
    miou = pim.column("mean_iou")
    assert miou[0] == 0.0 and miou[1] == 0.0  # boxes missed: a real failure scores 0
    assert np.isnan(miou[2])  # no box, no kept prediction: nothing to score
    assert run_totals(pim)["mean_iou"] == 0.0  # the NaN is left out of the mean
    pim = PerImageMetrics(ds, "run", MetricParams(0.5, 0.5))
    assert pim.column("mean_iou")[2] == 0.0  # a kept prediction on background: 0
    v = np.array([0.5, np.nan, 0.1, 0.9, np.nan])
    assert sort_order(v).tolist() == [2, 0, 3, 1, 4]  # worst IoU first, NaN last
    assert sort_order(v, descending=True).tolist() == [3, 0, 2, 1, 4]


def test_match_image_keeps_a_dense_matrix_out_of_the_table_path():
    m = match_image(np.array([[0, 0, 10, 10.0]]), np.array([0.9]), np.array([0]),
                    np.array([[0, 0, 10, 10.0], [0, 0, 5, 5.0]]), np.array([0, 1]),
                    np.zeros(2, bool))
    assert m.ious.tolist() == [[1.0, -1.0]]  # computed on demand, class-aware
    assert m.pred_iou.tolist() == [1.0]


def _all_pairs(dk, dxy, gk, gxy):
    out = set()
    for a in range(len(dk)):
        for b in range(len(gk)):
            if dk[a] == gk[b] and _plain_iou(dxy[a], gxy[b], False) > 0:
                out.add((a, b))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_pruned_chunked_pairs_miss_no_overlap(seed, monkeypatch):
    """Width buckets and x-ranges find every overlapping pair (wide, thin, degenerate
    and huge boxes mixed), whatever the chunk size."""
    import detview.core.matching as mt

    monkeypatch.setattr(mt, "_PRUNE_MIN_BOXES", 2)
    monkeypatch.setattr(mt, "_PRUNE_MIN_PAIRS", 2)
    rng = np.random.default_rng(seed)
    n_d, n_g = 60, 200

    def boxes(n):
        xy = rng.uniform(0, 100, (n, 2))
        wh = np.exp(rng.uniform(-3, 5, (n, 2)))  # 0.05 .. 150 px
        wh[rng.random(n) < 0.05, 0] = 0.0  # degenerate
        return np.hstack([xy, xy + wh])

    dxy, gxy = boxes(n_d), boxes(n_g)
    dk, gk = rng.integers(0, 3, n_d), rng.integers(0, 3, n_g)
    ref = _all_pairs(dk, dxy.tolist(), gk, gxy.tolist())
    for budget in (5, 97, 10**6):
        got = set()
        last_done = 0
        for pd_, pg, done in mt.overlap_pairs(dk, dxy, gk, gxy, budget=budget):
            assert len(pd_) <= budget and done >= last_done
            assert not pd_.size or pd_.min() >= last_done  # predictions in array order
            last_done = done
            ious = [_plain_iou(dxy[a], gxy[b], False) for a, b in zip(pd_, pg, strict=True)]
            got |= {(int(a), int(b)) for a, b, v in zip(pd_, pg, ious, strict=True) if v > 0}
        assert got == ref
        assert last_done == n_d


def test_the_table_breaks_iou_ties_towards_the_later_box():
    """pred 1 overlaps boxes A and B equally (1/3); pycocotools gives it B, the later
    box, so pred 2 (only on B) is a false positive and A is missed."""
    images = Images(ids=[0], file_names=["a"], widths=[30], heights=[30])
    gt = Boxes.build(1, [0, 0], [0, 0], [[0, 0, 10, 10], [10, 0, 20, 10]])
    pr = Boxes.build(1, [0, 0], [0, 0], [[5, 0, 15, 10], [12, 0, 20, 10]], score=[0.9, 0.8])
    ds = Dataset(images, Classes.from_names(["a"]), gt, {"run": pr})
    t = PerImageMetrics(ds, "run", MetricParams(0.5, 0.3)).table()
    assert t.loc[0, ["tp", "fp", "fn"]].tolist() == [1, 1, 1]
    assert _plain_table(ds, "run", MetricParams(0.5, 0.3))[0][2:5] == (1, 1, 1)
