"""Label-quality scores (ObjectLab) against cleanlab 2.9 itself, the referee.

cleanlab's inputs: per image ``{'bboxes': (L, 4) xyxy, 'labels': (L,)}`` and a list of K
arrays ``(M_k, 5)`` (x1, y1, x2, y2, score) per class, the predictions of a class in the
order of the detview rows. K is never 3 here: cleanlab takes a 3-element prediction list
whose shapes happen to line up for its other ("all_pred") format.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import warnings
from unittest import mock

import numpy as np
import pytest
from cleanlab.object_detection import filter as cl_filter
from cleanlab.object_detection import rank as cl_rank

from detview.core import Boxes, Classes, Dataset, Images
from detview.core.edits import AddBoxes, DeleteBoxes, DeleteImages, MoveBoxes, RelabelBoxes
from detview.core.label_quality import (
    LQ_COLUMNS,
    LabelQualityParams,
    compute_label_quality,
    update_label_quality,
)

TOL = 1e-9


# --------------------------------------------------------------------------- referee
def to_cleanlab(gt: Boxes, pred: Boxes, n_classes: int, images=None):
    """cleanlab's inputs (alive gt boxes only) and, per image, the pred rows in the
    order cleanlab lists them (class by class)."""
    labels, preds, order = [], [], []
    images = range(gt.n_images) if images is None else images
    for i in images:
        s = gt.image_slice(i)
        alive = gt.alive[s]
        labels.append({"bboxes": gt.xyxy[s][alive].copy(), "labels": gt.cls[s][alive].copy()})
        s = pred.image_slice(i)
        c = pred.cls[s]
        b = np.hstack([pred.xyxy[s], pred.score[s][:, None]])
        preds.append([b[c == k].reshape(-1, 5) for k in range(n_classes)])
        order.append(np.arange(s.start, s.stop)[np.argsort(c, kind="stable")])
    return labels, preds, order


class _InProcessPool:
    """cleanlab's AP code sends ~100k tiny tasks through ``multiprocessing.Pool(1)``;
    the same calls in this process take a third of the time."""

    def __init__(self, *_a):
        pass

    def starmap(self, fn, args):
        return list(itertools.starmap(fn, args))

    def close(self):
        pass


@contextlib.contextmanager
def _recording(module, names):
    """Record what cleanlab's own public functions return while another calls them."""
    seen = {}
    real = {n: getattr(module, n) for n in names}

    def wrap(n):
        def rec(*a, **k):
            seen[n] = real[n](*a, **k)
            return seen[n]
        return rec

    try:
        for n in names:
            setattr(module, n, wrap(n))
        yield seen
    finally:
        for n in names:
            setattr(module, n, real[n])


def cleanlab_reference(labels, preds, public_find_label_issues=True):
    """Everything from cleanlab: the image scores of ``get_label_quality_scores``, the
    three per-box scores its ``compute_*_box_scores`` return inside it, and the per-box
    issue flags of ``find_label_issues`` (its own per-class AP thresholds)."""
    names = ("compute_overlooked_box_scores", "compute_badloc_box_scores",
             "compute_swap_box_scores")
    with warnings.catch_warnings(), _recording(cl_rank, names) as seen, \
            mock.patch.object(cl_filter, "Pool", _InProcessPool):
        warnings.simplefilter("ignore")
        lq = cl_rank.get_label_quality_scores(labels, preds, verbose=False)
        ov, bl, sw = (seen[n] for n in names)
        per_class = cl_filter._get_per_class_ap(labels, preds)
        is_issue = cl_filter.find_label_issues(labels, preds) if public_find_label_issues \
            else None
    lab_cls = [lab["labels"] for lab in labels]
    pred_cls = [cl_rank._separate_prediction(p)[1] for p in preds]
    pthr = cl_filter._process_class_list(pred_cls, per_class)
    lthr = cl_filter._process_class_list(lab_cls, per_class)

    def flags(scores, thr):
        out = cl_filter._find_label_issues_per_box(copy.deepcopy(scores), thr, 0.8)
        return [f if len(s) else np.zeros(0, bool) for f, s in zip(out, scores, strict=True)]

    return {
        "lq": lq, "ov": ov, "bl": bl, "sw": sw, "is_issue": is_issue,
        "ov_issue": flags(ov, pthr), "bl_issue": flags(bl, lthr), "sw_issue": flags(sw, lthr),
        "class_thr": np.array([per_class[k] for k in range(len(per_class))], np.float32),
    }


def assert_matches_cleanlab(res, gt, pred, n_classes, images=None, public_find=True):
    """res (detview) equals cleanlab on ``images`` (default all) to TOL; counts exactly."""
    images = np.arange(gt.n_images) if images is None else np.asarray(images)
    labels, preds, order = to_cleanlab(gt, pred, n_classes, images)
    ref = cleanlab_reference(labels, preds, public_find)
    figures = {}
    np.testing.assert_allclose(res.label_quality[images], ref["lq"], rtol=0, atol=TOL)
    figures["label_quality"] = np.abs(res.label_quality[images] - ref["lq"]).max(initial=0)
    g_rows = np.concatenate([np.arange(gt.offsets[i], gt.offsets[i + 1]) for i in images]
                            + [np.zeros(0, np.int64)])
    g_rows = g_rows[gt.alive[g_rows]]
    p_rows = np.concatenate(order + [np.zeros(0, np.int64)])
    for name, mine, key, issue, ikey in (
        ("badloc", res.badloc[g_rows], "bl", res.badloc_issue[g_rows], "bl_issue"),
        ("swap", res.swap[g_rows], "sw", res.swap_issue[g_rows], "sw_issue"),
        ("overlooked", res.overlooked[p_rows], "ov", res.overlooked_issue[p_rows], "ov_issue"),
    ):
        theirs = np.concatenate(ref[key] + [np.zeros(0)])
        np.testing.assert_array_equal(np.isnan(mine), np.isnan(theirs), err_msg=name)
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=TOL, equal_nan=True,
                                   err_msg=name)
        figures[name] = np.nanmax(np.abs(mine - theirs), initial=0)
        np.testing.assert_array_equal(issue, np.concatenate(ref[ikey] + [np.zeros(0, bool)]),
                                      err_msg=f"{name} issue flags")
    counts = res.n_overlooked[images] + res.n_swap[images] + res.n_badloc[images]
    if public_find:
        np.testing.assert_array_equal(counts > 0, ref["is_issue"])
    for col, ikey in (("n_overlooked", "ov_issue"), ("n_swap", "sw_issue"),
                      ("n_badloc", "bl_issue")):
        np.testing.assert_array_equal(getattr(res, col)[images], [f.sum() for f in ref[ikey]])
    np.testing.assert_array_equal(res.class_ap * np.float32(0.25), ref["class_thr"])
    return figures, ref


# --------------------------------------------------------------------------- data
def synthetic(n_images: int, n_classes: int, seed: int, crowd_ties: bool = False,
              canvas: float = 64.0):
    """A seeded set that exercises every branch: exact and jittered copies of the
    annotations, confident wrong-class predictions (swap), shifted same-class ones
    (badloc), confident predictions on empty background (overlooked, some of a class
    never annotated), the same object labeled twice with two classes (the overlap
    check), score ties on one box, images without boxes or without predictions,
    degenerate boxes; scores rounded to 2 decimals (more ties).

    Everything lies on a ``canvas``-pixel square: at 64 px every centre distance stays
    under ~90 px, so the smallest similarity (``msim``, which several scores are made
    of) is ~1e-5, far above the test tolerance; at 1000 px it is at its float floor.
    """
    rng = np.random.default_rng(seed)
    never = n_classes - 1  # predicted, never annotated
    c = canvas
    gi, gc, gb, pi, pc, pb, ps = [], [], [], [], [], [], []

    def box(x, y, w, h):
        return [x, y, x + w, y + h]

    for i in range(n_images):
        n_gt = 0 if i % 7 == 3 else int(rng.integers(1, 8))
        for _ in range(n_gt):
            x, y = (np.round(rng.uniform(0, 0.45 * c, 2) * 2) / 2).tolist()
            w, h = np.round(rng.uniform(0.03 * c, 0.4 * c, 2)).tolist()
            if rng.random() < 0.03:
                w = 0.0  # degenerate
            k = int(rng.integers(0, never))
            gi.append(i), gc.append(k), gb.append(box(x, y, w, h))
            if rng.random() < 0.06:  # the same object labeled twice, other class
                gi.append(i), gc.append((k + 1) % never)
                gb.append(box(x + 0.01 * w, y, w, h))
            if i % 11 == 5:
                continue  # no predictions here
            for _ in range(int(rng.integers(0, 4))):  # same class, jittered
                j = rng.normal(0, 0.04 * max(w, h), 4)
                pi.append(i), pc.append(k), pb.append(box(x + j[0], y + j[1], w + abs(j[2]),
                                                          h + abs(j[3])))
                ps.append(round(float(rng.uniform(0.05, 1.0)), 2))
            u = rng.random()
            if u < 0.12:  # swap: confident, other class, same place
                pi.append(i), pc.append(int(rng.integers(0, n_classes)))
                pb.append(box(x + 0.01 * w, y, w, h))
                ps.append(round(float(rng.uniform(0.955, 1)), 3))
            elif u < 0.24:  # badloc: shifted same-class prediction
                pi.append(i), pc.append(k)
                f = rng.uniform(0.4, 0.9)
                pb.append(box(x + f * w, y + f * h, w, h))
                ps.append(round(float(rng.uniform(0.55, 0.99)), 2))
            elif u < 0.30:  # exact copy, score tied with another copy
                for _ in range(2):
                    pi.append(i), pc.append(k), pb.append(box(x, y, w, h)), ps.append(0.77)
        if i % 11 != 5:
            for t in range(int(rng.integers(0, 3))):  # confident on empty background
                pi.append(i), pc.append(int(rng.choice([never, int(rng.integers(0, never))])))
                pb.append(box(0.87 * c + 0.03 * c * t, 0.9 * c, 0.02 * c, 0.05 * c))
                ps.append(round(float(rng.uniform(0.95, 1.0)), 2))
            for _ in range(int(rng.integers(0, 15))):  # low-score clutter
                x, y = rng.uniform(0, 0.8 * c, 2).tolist()
                pi.append(i), pc.append(int(rng.integers(0, n_classes)))
                pb.append(box(x, y, *rng.uniform(0.01 * c, 0.3 * c, 2).tolist()))
                ps.append(round(float(rng.uniform(0, 0.5)), 2))
    if crowd_ties:  # one image, one class: 40 predictions of one box, tied scores
        x = y = 0.1 * c
        gi.append(0), gc.append(0), gb.append(box(x, y, 0.3 * c, 0.3 * c))
        for t in range(40):
            pi.append(0), pc.append(0)
            pb.append(box(x + 0.01 * c * (t % 5), y + 0.01 * c * (t % 3), 0.3 * c, 0.3 * c))
            ps.append([0.5, 0.6, 0.6, 0.9][t % 4])
    images = Images(np.arange(n_images), [f"{i:04d}.jpg" for i in range(n_images)],
                    np.full(n_images, int(c)), np.full(n_images, int(c)))
    gt = Boxes.build(n_images, gi, gc, np.array(gb, float).reshape(-1, 4))
    pred = Boxes.build(n_images, pi, pc, np.array(pb, float).reshape(-1, 4), score=ps,
                       box_id=np.arange(len(pi)) + 10_000)
    names = Classes.from_names([f"c{k}" for k in range(n_classes)])
    return Dataset(images, names, gt, {"run": pred})


# --------------------------------------------------------------------------- parity
@pytest.mark.parametrize("seed,n_images,n_classes,crowd,canvas", [
    (0, 60, 5, False, 64), (1, 45, 8, True, 64), (2, 30, 2, False, 64), (3, 50, 6, True, 1000)])
def test_synthetic_equals_cleanlab(seed, n_images, n_classes, crowd, canvas):
    ds = synthetic(n_images, n_classes, seed, crowd, canvas)
    pred = ds.runs["run"]
    res = compute_label_quality(ds.gt, pred, n_classes)
    _, ref = assert_matches_cleanlab(res, ds.gt, pred, n_classes)
    # the set reaches every branch, so the equality above means something
    assert np.isfinite(res.overlooked).sum() > 3
    assert res.n_overlooked.sum() > 0 and res.n_badloc.sum() > 0 and res.n_swap.sum() > 0
    if n_classes > 2:  # two annotated classes or more: the overlap check fires
        assert (res.swap == res.min_possible_similarity).sum() > 0
    assert ((res.swap < 1) & ~res.swap_issue).sum() + res.swap_issue.sum() > 0
    assert (res.badloc < 1).sum() > 0
    assert ref["is_issue"].any() and not ref["is_issue"].all()
    if canvas < 100:  # msim, part of several scores, is well above the tolerance
        assert 1e-7 < res.min_possible_similarity < 1e-3


@pytest.mark.parametrize("per_chunk", [1, 7, 64])
def test_pair_chunks_of_any_size_equal_cleanlab(monkeypatch, per_chunk):
    """The pair passes run in chunks (memory stays bounded at 118k images); a chunk
    boundary inside an image or between a box's candidates changes nothing."""
    import detview.core.label_quality as lq

    monkeypatch.setattr(lq, "_PAIRS_PER_CHUNK", per_chunk)
    ds = synthetic(40, 6, 5, True, 64)
    pred = ds.runs["run"]
    res = compute_label_quality(ds.gt, pred, 6)
    assert_matches_cleanlab(res, ds.gt, pred, 6)
    assert res.n_swap.sum() > 0 and res.n_overlooked.sum() > 0


def test_coco128_yolov5s_equals_cleanlab(realdata):
    from detview.io import load_dataset

    root = realdata / "coco128"
    ds = load_dataset(root / "images" / "train2017", root / "labels" / "train2017",
                      [("yolov5s", realdata / "coco128_yolov5s_predictions" /
                        "yolov5s_predictions.json")], class_names=root / "data.yaml").dataset
    pred = ds.runs["yolov5s"]
    assert len(ds.gt) == 929 and len(pred) == 22284
    res = compute_label_quality(ds.gt, pred, len(ds.classes))
    # find_label_issues itself is checked on the synthetic sets (here it would add ~15 s)
    figures, _ = assert_matches_cleanlab(res, ds.gt, pred, len(ds.classes), public_find=False)
    assert max(figures.values()) < TOL
    assert res.n_badloc.sum() > 0
    assert res.label_quality.min() < 0.3 < np.median(res.label_quality)


def test_deleted_boxes_and_inactive_images_equal_cleanlab_on_the_rest():
    ds = synthetic(40, 5, 7)
    pred = ds.runs["run"]
    ds.apply(DeleteBoxes(tuple(int(b) for b in ds.gt.box_id[[0, 5, 9]]),
                         tuple(int(i) for i in ds.gt.image[[0, 5, 9]])))
    active = np.ones(40, bool)
    active[[2, 8, 9, 30]] = False
    res = compute_label_quality(ds.gt, pred, 5, active=active)
    assert np.isnan(res.swap[[0, 5, 9]]).all() and np.isnan(res.badloc[[0, 5, 9]]).all()
    assert_matches_cleanlab(res, ds.gt, pred, 5, images=np.flatnonzero(active))


def test_negative_and_nan_scores_are_dropped_as_get_label_quality_scores_does():
    ds = synthetic(25, 4, 11)
    pred = ds.runs["run"]
    bad = pred.copy()
    bad.score[::7] = -0.5
    bad.score[3::11] = np.nan
    res = compute_label_quality(ds.gt, bad, 4)
    keep = np.isfinite(bad.score) & (bad.score >= 0)
    assert np.isnan(res.overlooked[~keep]).all() and not res.overlooked_issue[~keep].any()
    labels, preds, _ = to_cleanlab(ds.gt, bad, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = cl_rank.get_label_quality_scores(labels, preds, verbose=False)
    # cleanlab prunes scores below 0; NaN never passes its ">= 0" test either
    np.testing.assert_allclose(res.label_quality, ref, rtol=0, atol=TOL)
    assert_matches_cleanlab(compute_label_quality(ds.gt, bad.select(keep), 4), ds.gt,
                            bad.select(keep), 4)


def test_other_parameters_equal_cleanlab():
    ds = synthetic(30, 5, 4)
    pred = ds.runs["run"]
    params = LabelQualityParams(alpha=0.6, low_probability_threshold=0.3,
                                high_probability_threshold=0.9, temperature=0.5,
                                overlapping_label_check=False)
    res = compute_label_quality(ds.gt, pred, 5, params)
    labels, preds, order = to_cleanlab(ds.gt, pred, 5)
    ov = cl_rank.compute_overlooked_box_scores(labels=labels, predictions=preds, alpha=0.6,
                                               high_probability_threshold=0.9)
    bl = cl_rank.compute_badloc_box_scores(labels=labels, predictions=preds, alpha=0.6,
                                           low_probability_threshold=0.3)
    sw = cl_rank.compute_swap_box_scores(labels=labels, predictions=preds, alpha=0.6,
                                         high_probability_threshold=0.9,
                                         overlapping_label_check=False)
    p_rows = np.concatenate(order)
    np.testing.assert_allclose(res.overlooked[p_rows], np.concatenate(ov), atol=TOL,
                               equal_nan=True)
    np.testing.assert_allclose(res.badloc, np.concatenate(bl), atol=TOL)
    np.testing.assert_allclose(res.swap, np.concatenate(sw), atol=TOL)
    for mine, theirs in ((res.overlooked_score, ov), (res.badloc_score, bl),
                         (res.swap_score, sw)):
        np.testing.assert_allclose(
            mine, cl_rank.pool_box_scores_per_image(theirs, temperature=0.5), atol=TOL)
    weights = {"overlooked": 0.5, "swap": 0.2, "badloc": 0.3}
    res = compute_label_quality(ds.gt, pred, 5, LabelQualityParams(
        weight_overlooked=0.5, weight_swap=0.2, weight_badloc=0.3))
    ref = cl_rank.get_label_quality_scores(labels, preds, aggregation_weights=weights,
                                           verbose=False)
    np.testing.assert_allclose(res.label_quality, ref, atol=TOL)


def test_bad_parameters_and_inputs_are_refused():
    with pytest.raises(ValueError, match="sum to 1"):
        LabelQualityParams(weight_swap=0.9)
    ds = synthetic(5, 4, 0)
    with pytest.raises(ValueError, match="class index"):
        compute_label_quality(ds.gt, ds.runs["run"], 2)
    with pytest.raises(ValueError, match="active"):
        compute_label_quality(ds.gt, ds.runs["run"], 4, active=np.ones(3, bool))


def test_no_boxes_at_all():
    empty = Boxes.empty(4)
    res = compute_label_quality(empty, empty, 3)
    np.testing.assert_array_equal(res.label_quality, np.ones(4))
    assert res.n_swap.sum() == res.n_badloc.sum() == res.n_overlooked.sum() == 0
    assert list(res.image_table().columns) == list(LQ_COLUMNS)


# --------------------------------------------------------------------------- incremental
def _assert_same(a, b):
    for name in ("label_quality", "swap", "badloc", "overlooked", "overlooked_score",
                 "n_overlooked", "n_swap", "n_badloc", "swap_class", "badloc_pred_box_id",
                 "swap_pred_box_id", "overlooked_issue", "class_ap"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.min_possible_similarity == b.min_possible_similarity


def test_update_after_edits_equals_cleanlab_on_the_edited_data():
    ds = synthetic(40, 5, 21)
    pred = ds.runs["run"]
    res = compute_label_quality(ds.gt, pred, 5)
    first = res
    gt = ds.gt
    far = int(np.flatnonzero(np.diff(pred.offsets)[gt.image] > 0)[-1])  # image has preds
    edits = [
        DeleteBoxes((int(gt.box_id[3]),), (int(gt.image[3]),)),
        RelabelBoxes((int(gt.box_id[10]),), (int(gt.image[10]),), (int(gt.cls[10]),),
                     ((int(gt.cls[10]) + 1) % 4,)),
        AddBoxes(ds.new_box_ids(2), (0, 6), (1, 2), ((5.0, 5.0, 60.0, 40.0),
                                                     (30.0, 40.0, 33.0, 44.0))),
        # far from everything: the dataset-wide smallest similarity drops, which
        # changes scores on images the edit did not touch
        MoveBoxes((int(gt.box_id[far]),), (int(gt.image[far]),), (tuple(gt.xyxy[far]),),
                  ((200.0, 200.0, 210.0, 210.0),)),
    ]
    for e in edits:
        touched = ds.apply(e)
        res = update_label_quality(res, ds.gt, pred, touched)
        _assert_same(res, compute_label_quality(ds.gt, pred, 5))
    assert res.min_possible_similarity < first.min_possible_similarity / 100
    moved = int(gt.image[far])
    others = np.ones(40, bool)
    others[[int(gt.image[3]), int(gt.image[10]), 0, 6, moved]] = False
    assert (np.abs(res.label_quality - first.label_quality)[others] > 1e-3).any()
    assert_matches_cleanlab(res, ds.gt, pred, 5)
    # deleting an image: it no longer counts for the dataset-wide quantities
    ds.apply(DeleteImages((moved,)))
    res = update_label_quality(res, ds.gt, pred, (), active=~ds.images.deleted)
    assert res.min_possible_similarity == first.min_possible_similarity
    assert_matches_cleanlab(res, ds.gt, pred, 5, images=np.flatnonzero(~ds.images.deleted))
    # a new class in the vocabulary, then a box of it
    ds.classes = ds.classes.with_class("new")
    touched = ds.apply(AddBoxes(ds.new_box_ids(1), (7,), (5,), ((1.0, 2.0, 20.0, 30.0),)))
    with pytest.raises(ValueError, match="class index"):
        update_label_quality(res, ds.gt, pred, touched)
    res = update_label_quality(res, ds.gt, pred, touched, n_classes=6)
    assert res.class_ap.shape == (6,) and res.class_ap[5] == 0
    _assert_same(res, compute_label_quality(ds.gt, pred, 6, active=~ds.images.deleted))


def test_update_refuses_an_unlisted_change():
    ds = synthetic(12, 4, 5)
    pred = ds.runs["run"]
    res = compute_label_quality(ds.gt, pred, 4)
    gt = ds.gt
    j = int(np.flatnonzero(gt.image == 2)[0])
    ds.apply(MoveBoxes((int(gt.box_id[j]),), (2,), (tuple(gt.xyxy[j]),),
                       ((1.0, 1.0, 50.0, 50.0),)))
    with pytest.raises(ValueError, match="image 2 changed"):
        update_label_quality(res, ds.gt, pred, [4])
    with pytest.raises(ValueError, match="prediction table"):
        update_label_quality(res, ds.gt, pred.select(pred.score > 0.5), [2])
    _assert_same(update_label_quality(res, ds.gt, pred, [2]),
                 compute_label_quality(ds.gt, pred, 4))


# --------------------------------------------------------------------------- viewer needs
def test_what_the_viewer_acts_on_points_at_the_planted_boxes():
    # image 0: a cat labeled "dog" (class 0) with a confident cat (1) prediction on it
    # image 1: a badly placed dog with a confident dog prediction beside it
    # image 2: a car (2) nobody labeled, predicted with confidence
    # images 3..11: a dog, a cat and a car each, well predicted (the classes' AP is high,
    # which sets how low a score must be to count as an issue)
    gi, gc, gb = [0, 1], [0, 0], [[10, 10, 110, 110], [10, 10, 110, 110]]
    pi, pc, pb = [0, 1, 2], [1, 0, 2], [[11, 10, 111, 110], [80, 80, 180, 180],
                                        [400, 400, 460, 440]]
    ps = [0.99, 0.97, 0.98]
    n = 12
    for i in range(3, n):
        for k in range(3):
            b = [20 + 150 * k, 30, 120 + 150 * k, 100]
            gi.append(i), gc.append(k), gb.append(b)
            pi.append(i), pc.append(k), pb.append(b), ps.append(0.9)
    gt = Boxes.build(n, gi, gc, gb, box_id=np.arange(len(gi)) + 100)
    pred = Boxes.build(n, pi, pc, pb, score=ps, box_id=np.arange(len(pi)) + 500)
    res = compute_label_quality(gt, pred, 4)
    assert_matches_cleanlab(res, gt, pred, 4)
    np.testing.assert_array_equal(res.n_swap[:4], [1, 0, 0, 0])
    np.testing.assert_array_equal(res.n_badloc[:4], [0, 1, 0, 0])
    np.testing.assert_array_equal(res.n_overlooked[:4], [0, 0, 1, 0])
    assert set(np.argsort(res.label_quality)[:3].tolist()) == {0, 1, 2}
    assert res.likely_class(100) == 1 and res.snap_target(100) is None
    assert res.snap_target(101) == 501 and res.likely_class(101) is None
    np.testing.assert_array_equal(res.overlooked_box_ids(2), [502])
    np.testing.assert_array_equal(res.overlooked_box_ids(), [502])
    assert res.overlooked_box_ids(0).size == 0
    assert res.likely_class(102) is None and res.snap_target(102) is None
    with pytest.raises(KeyError):
        res.likely_class(999)


# --------------------------------------------------------------------------- msim
def _corner_cases():
    """One image per way the smallest non-zero similarity can arise (see
    ``_min_similarity``): each image's own minimum is what the test compares."""
    from detview.core.label_quality import _near_limit

    edge = float(np.sqrt(_near_limit(0.9)))  # centre distance where exp(-0.1 d) -> 0
    u = np.nextafter(1000.0, 2000.0)
    imgs = [
        # 0: only far pairs; one overlaps by a hair (1 ulp): its similarity is ~1e-16
        ([[0, 0, u, 1000]], [[1000, 0, 1800, 1000]]),
        # 1: a near pair (sim ~0.04) and a far pair overlapping a little (sim ~1e-3)
        ([[0, 0, 1000, 40], [10, 60, 30, 80]], [[999, 0, 1900, 40], [12, 62, 32, 82]]),
        # 2: the farthest near pair overlaps; a slightly nearer one does not
        ([[0, 0, 400, 20]], [[280, 0, 680, 20], [0, 200, 10, 210]]),
        # 3: centre distances at the limit and just either side of it
        ([[100, 100, 110, 110]], [[100 + edge, 100, 110 + edge, 110],
                                  [100 + edge * (1 - 1e-12), 100, 110 + edge * (1 - 1e-12), 110],
                                  [100 + edge * (1 + 1e-12), 100, 110 + edge * (1 + 1e-12), 110]]),
        # 4: the farthest near pairs tie, one overlapping, one not
        ([[0, 0, 10, 10], [200, 0, 210, 10]], [[100, 0, 110, 10], [100, 5, 110, 15]]),
        # 5: no predictions; 6: no boxes
        ([[0, 0, 10, 10]], []),
        ([], [[0, 0, 10, 10]]),
        # 7: everything far apart and disjoint: no non-zero similarity at all
        ([[0, 0, 10, 10]], [[900, 900, 910, 910]]),
    ]
    gi, gb, pi, pb = [], [], [], []
    for i, (g, p) in enumerate(imgs):
        gi += [i] * len(g)
        gb += g
        pi += [i] * len(p)
        pb += p
    n = len(imgs)
    gt = Boxes.build(n, gi, np.zeros(len(gi), int), np.array(gb, float).reshape(-1, 4))
    pred = Boxes.build(n, pi, np.arange(len(pi)) % 2, np.array(pb, float).reshape(-1, 4),
                       score=np.full(len(pi), 0.3))
    return gt, pred


@pytest.mark.parametrize("alpha", [0.9, 0.5, 1.0])
def test_smallest_similarity_equals_cleanlab_in_its_corner_cases(alpha):
    gt, pred = _corner_cases()
    labels, preds, _ = to_cleanlab(gt, pred, 2)
    params = LabelQualityParams(alpha=alpha)
    for i in range(gt.n_images):
        only = np.zeros(gt.n_images, bool)
        only[i] = True
        mine = compute_label_quality(gt, pred, 2, params, active=only).min_possible_similarity
        theirs = cl_rank._get_min_possible_similarity(alpha, preds[i:i + 1], labels[i:i + 1])
        assert mine == pytest.approx(theirs, rel=1e-12, abs=0), (i, mine, theirs)
    res = compute_label_quality(gt, pred, 2, params)
    assert res.min_possible_similarity == cl_rank._get_min_possible_similarity(alpha, preds,
                                                                              labels)
