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
        (np.zeros((0, 4)), [], np.zeros((0, 4)), [], 0.0),  # no labels at all
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
    assert got == pytest.approx(expected, abs=1e-12)


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
