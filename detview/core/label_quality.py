"""Label-quality scores: which annotations are probably wrong (ObjectLab).

The method of Tkachenko, Thyagarajan and Mueller (2023), "ObjectLab: Automated
Diagnosis of Mislabeled Images in Object Detection Data", as `cleanlab.object_detection`
(2.9) defines it, computed here in columns over the whole dataset at once. Every number
equals cleanlab's (``get_label_quality_scores``, ``compute_overlooked_box_scores``,
``compute_badloc_box_scores``, ``compute_swap_box_scores`` and the issue rule of
``find_label_issues``) to floating-point rounding.

The predictions must come from a model that did **not** train on these images
(held-out or cross-validated predictions); a model that memorised the labels agrees
with their mistakes. Use all of a run's predictions: the method applies its own
confidence thresholds.

Definitions (``sim`` = similarity of an annotated box and a predicted box in the same
image: ``alpha * IoU + (1 - alpha) * exp(-0.1 * centre distance in pixels)``, alpha 0.9;
``msim`` = the smallest non-zero ``sim`` of any annotated/predicted pair of any image):

- *overlooked* (per prediction; a missing annotation): defined only for a confident
  prediction (score >= 0.95) that overlaps no annotated box at all (IoU 0 with every
  one); it is the highest ``sim`` to an annotated box of the predicted class, or
  ``msim * (1 - score)`` when the image has none of that class. NaN otherwise.
- *swap* (per annotated box; wrong class): the confident predictions (score > 0.95) of
  another class; ``max(msim, 1 - sim)`` with the most similar one (whose class is
  :attr:`LabelQuality.swap_class`, "likely <class>"), 1 when there is none, and ``msim``
  when another annotated box of a different class covers it (IoU >= 0.95: two
  conflicting labels for one object).
- *badloc* (per annotated box; badly placed): the predictions of the same class with
  score > 0.5 that overlap it; the highest ``sim`` to one of them (the box to snap onto,
  :attr:`LabelQuality.badloc_pred_box_id`), 1 when there is none.
- *label_quality* (per image): each subtype's box scores pooled by a softmin
  (temperature 0.1; 1 when the image has no such score), then the weighted geometric
  mean of the three (weights 1/3): 0 = surely mislabeled, 1 = clean.

Lower is worse everywhere. ``n_overlooked``, ``n_swap``, ``n_badloc`` count the boxes
that cleanlab's ``find_label_issues`` would call issues: a box score at or below
``0.8 * 0.25 * AP(class)``, where ``AP(class)`` is the class's average precision over
IoU .50:.95 computed as cleanlab does (its own greedy matching and all-point
interpolated AP, on the whole dataset), the class being the prediction's for
overlooked and the annotation's for swap and badloc. A missing overlooked score counts
as 1 (no issue); a class never annotated has AP 0, so its predictions are never counted
as overlooked.

Scope: alive ground-truth boxes and predictions with a finite score >= 0 (cleanlab's
``get_label_quality_scores`` drops scores below 0). The two dataset-wide quantities
(``msim`` and the per-class AP) come from the *active* images (all, or those the caller
passes, e.g. not deleted); every image gets scores. :func:`update_label_quality`
re-scores only the images an edit touched (the pairs of the other images are kept) and
then re-pools everything, which is exact because the per-image part is independent of
the other images.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .dataset import Dataset
from .tables import Boxes

__all__ = [
    "LQ_COLUMNS",
    "LabelQuality",
    "LabelQualityParams",
    "compute_label_quality",
    "dataset_label_quality",
    "update_label_quality",
]

#: the per-image columns :meth:`LabelQuality.image_table` adds
LQ_COLUMNS: tuple[str, ...] = ("label_quality", "n_overlooked", "n_swap", "n_badloc")

_EPS = 1e-6  # cleanlab: IoU denominator clip, softmax temperature floor
_TINY = 1e-100  # cleanlab: added inside the log of the pooled scores
_EUC_FACTOR = 0.1  # cleanlab: exp(-EUC_FACTOR * centre distance)
_IOU_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
_PAIRS_PER_CHUNK = 131_072  # pair passes in chunks whose temporaries stay in the cache

Progress = Callable[[float], None]


@dataclass(frozen=True)
class LabelQualityParams:
    """cleanlab 2.9's defaults (``cleanlab.internal.constants``)."""

    alpha: float = 0.9  # weight of IoU against centre distance in ``sim``
    low_probability_threshold: float = 0.5  # badloc: predictions with score > this
    high_probability_threshold: float = 0.95  # overlooked: >= this; swap: > this
    temperature: float = 0.1  # softmin pooling of box scores into image scores
    overlapping_label_check: bool = True  # swap = msim for conflicting duplicate labels
    label_overlap_iou: float = 0.95  # what "conflicting duplicate" means
    weight_overlooked: float = 1 / 3
    weight_swap: float = 1 / 3
    weight_badloc: float = 1 / 3
    ap_scale: float = 0.25  # issue threshold = factor * ap_scale * AP(class)
    overlooked_factor: float = 0.8
    swap_factor: float = 0.8
    badloc_factor: float = 0.8

    def __post_init__(self) -> None:
        w = np.array([self.weight_overlooked, self.weight_swap, self.weight_badloc])
        if not np.isclose(w.sum(), 1.0) or w.min() < 0:
            raise ValueError("label-quality weights must be non-negative and sum to 1")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be between 0 and 1, got {self.alpha}")


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class _Parts:
    """Per-image intermediate values, kept so that an edit re-scores one image only."""

    gt_offsets: np.ndarray  # the gt table's offsets these rows were computed with
    gt_key: np.ndarray  # (box_id, cls, alive) per gt row, to check untouched images
    gt_xyxy: np.ndarray
    badloc: np.ndarray  # float per gt row (NaN: not scored)
    badloc_pred: np.ndarray  # pred row or -1
    swap_sim: np.ndarray  # max sim to a confident other-class prediction (NaN: none)
    swap_pred: np.ndarray  # pred row or -1
    overlap: np.ndarray  # bool: conflicting duplicate label
    pred_valid: np.ndarray  # bool per pred row: finite score >= 0
    ov_cand: np.ndarray  # bool per pred row: confident and overlaps no gt box
    ov_sim: np.ndarray  # max sim to a gt box of its class (NaN: none)
    tp: np.ndarray  # bool (10, n_pred): cleanlab's TP at IoU .50:.05:.95
    min_sim: np.ndarray  # per image: smallest non-zero sim (inf: none)
    # per prediction, its place in its class's score order, for the predictions used
    # (they never change; an update reuses it while the active images stay the same)
    rank_cache: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class LabelQuality:
    """Label-quality scores of one ground truth against one prediction run.

    Per ground-truth row (aligned with the ``gt`` table's rows; NaN / -1 / False for
    deleted boxes): :attr:`swap`, :attr:`badloc`, the issue flags, :attr:`swap_class`
    (the likely right class), :attr:`swap_pred_box_id` and :attr:`badloc_pred_box_id`
    (the prediction behind each score: what a box should be relabeled as or snapped
    onto). Per prediction row: :attr:`overlooked` and its issue flag. Per image:
    :attr:`label_quality`, the pooled subtype scores and the issue counts.
    """

    params: LabelQualityParams
    n_classes: int
    gt_box_id: np.ndarray
    gt_image: np.ndarray
    swap: np.ndarray
    badloc: np.ndarray
    swap_issue: np.ndarray
    badloc_issue: np.ndarray
    swap_class: np.ndarray
    swap_pred_box_id: np.ndarray
    badloc_pred_box_id: np.ndarray
    pred_box_id: np.ndarray
    pred_image: np.ndarray
    overlooked: np.ndarray
    overlooked_issue: np.ndarray
    label_quality: np.ndarray
    overlooked_score: np.ndarray
    swap_score: np.ndarray
    badloc_score: np.ndarray
    n_overlooked: np.ndarray
    n_swap: np.ndarray
    n_badloc: np.ndarray
    min_possible_similarity: float
    class_ap: np.ndarray  # float32 per class: cleanlab's AP@[.5:.95] (issue thresholds)
    active: np.ndarray
    _parts: _Parts = field(repr=False)

    @property
    def n_images(self) -> int:
        return int(self.label_quality.shape[0])

    def image_table(self) -> pd.DataFrame:
        """One row per image: ``label_quality, n_overlooked, n_swap, n_badloc``."""
        return pd.DataFrame({
            "label_quality": self.label_quality,
            "n_overlooked": self.n_overlooked,
            "n_swap": self.n_swap,
            "n_badloc": self.n_badloc,
        })

    # ---- what the viewer acts on
    def likely_class(self, gt_box_id: int) -> int | None:
        """The class a ground-truth box is likely swapped to, when it is a swap issue."""
        r = self._gt_row(gt_box_id)
        return int(self.swap_class[r]) if self.swap_issue[r] and self.swap_class[r] >= 0 else None

    def snap_target(self, gt_box_id: int) -> int | None:
        """The prediction box id a badly located ground-truth box should snap onto."""
        r = self._gt_row(gt_box_id)
        b = int(self.badloc_pred_box_id[r])
        return b if self.badloc_issue[r] and b >= 0 else None

    def overlooked_box_ids(self, image: int | None = None) -> np.ndarray:
        """Prediction box ids flagged as overlooked objects (of one image, or all)."""
        mask = self.overlooked_issue
        if image is not None:
            mask = mask & (self.pred_image == image)
        return self.pred_box_id[mask]

    def _gt_row(self, box_id: int) -> int:
        hit = np.flatnonzero(self.gt_box_id == box_id)
        if not hit.size:
            raise KeyError(box_id)
        return int(hit[0])


# --------------------------------------------------------------------------- entry points
def compute_label_quality(
    gt: Boxes,
    pred: Boxes,
    n_classes: int,
    params: LabelQualityParams | None = None,
    *,
    active: np.ndarray | None = None,
    progress: Progress | None = None,
) -> LabelQuality:
    """Score every image, annotated box and prediction (see the module docstring).

    ``gt`` and ``pred`` share the image index; ``active`` (bool per image, default all)
    names the images that define the dataset-wide ``msim`` and per-class AP.
    """
    params = params or LabelQualityParams()
    _check(gt, pred, n_classes)
    images = np.arange(gt.n_images, dtype=np.int64)
    parts = _empty_parts(gt, pred)
    local = _score_images(gt, pred, images, params, progress)
    _store(parts, local, images)
    return _finalize(parts, gt, pred, n_classes, params, _active(active, gt.n_images))


def update_label_quality(
    prev: LabelQuality,
    gt: Boxes,
    pred: Boxes,
    images: Iterable[int],
    *,
    active: np.ndarray | None = None,
    n_classes: int | None = None,
) -> LabelQuality:
    """Re-score after edits to the ground truth of ``images``; the same ``pred`` table.

    The other images' boxes must be as they were (checked: a ``ValueError`` names the
    first image that changed without being listed). ``active`` as in
    :func:`compute_label_quality` (default: the previous one); ``n_classes`` when the
    vocabulary grew (default: the previous one). With a :class:`Dataset` and the image
    set a :meth:`Dataset.apply` returned::

        lq = update_label_quality(lq, ds.gt, ds.runs[run], touched,
                                  active=~ds.images.deleted, n_classes=len(ds.classes))
    """
    old = prev._parts
    if len(pred) != old.pred_valid.shape[0] or not np.array_equal(pred.box_id, prev.pred_box_id):
        raise ValueError("update_label_quality: the prediction table is not the one scored")
    if gt.n_images != prev.n_images:
        raise ValueError("update_label_quality: the number of images changed")
    n_classes = prev.n_classes if n_classes is None else n_classes
    _check(gt, pred, n_classes)
    touched = np.unique(np.asarray(list(images), dtype=np.int64))
    if touched.size and (touched[0] < 0 or touched[-1] >= gt.n_images):
        raise ValueError("update_label_quality: image index out of range")
    keep = np.ones(gt.n_images, dtype=bool)
    keep[touched] = False
    old_n = np.diff(old.gt_offsets)
    new_n = np.diff(gt.offsets)
    bad = np.flatnonzero(keep & (old_n != new_n))
    old_rows = _ranges(old.gt_offsets[:-1][keep], old_n[keep])
    new_rows = _ranges(gt.offsets[:-1][keep], new_n[keep])
    if not bad.size:
        same = (np.all(old.gt_key[old_rows] == _gt_key(gt)[new_rows], axis=1)
                & np.all(old.gt_xyxy[old_rows] == gt.xyxy[new_rows], axis=1))
        if not same.all():
            bad = np.unique(gt.image[new_rows[~same]])
    if bad.size:
        raise ValueError(f"update_label_quality: image {int(bad[0])} changed but was not "
                         "listed as touched")
    parts = _empty_parts(gt, pred)
    for name in ("badloc", "badloc_pred", "swap_sim", "swap_pred", "overlap"):
        getattr(parts, name)[new_rows] = getattr(old, name)[old_rows]
    for name in ("ov_cand", "ov_sim", "tp"):
        getattr(parts, name)[:] = getattr(old, name)
    parts.min_sim[:] = old.min_sim
    parts.rank_cache.update(old.rank_cache)
    if touched.size:
        p_rows = _ranges(pred.offsets[:-1][touched], np.diff(pred.offsets)[touched])
        parts.ov_cand[p_rows] = False
        parts.ov_sim[p_rows] = np.nan
        parts.tp[:, p_rows] = False
        _store(parts, _score_images(gt, pred, touched, prev.params, None), touched)
    act = prev.active if active is None else _active(active, gt.n_images)
    return _finalize(parts, gt, pred, n_classes, prev.params, act)


# --------------------------------------------------------------------------- helpers
def _check(gt: Boxes, pred: Boxes, n_classes: int) -> None:
    if gt.n_images != pred.n_images:
        raise ValueError("ground truth and predictions have different image counts")
    for name, t in (("ground-truth", gt), ("prediction", pred)):
        if len(t) and (t.cls.min() < 0 or t.cls.max() >= n_classes):
            raise ValueError(f"a {name} box has a class index outside 0..{n_classes - 1}")


def _active(active: np.ndarray | None, n: int) -> np.ndarray:
    if active is None:
        return np.ones(n, dtype=bool)
    a = np.asarray(active, dtype=bool)
    if a.shape != (n,):
        raise ValueError(f"active must be a bool per image ({n}), got shape {a.shape}")
    return a.copy()


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(s, s + c)`` for each start and count."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    return np.repeat(np.asarray(starts, dtype=np.int64) - (ends - counts), counts) + np.arange(
        total, dtype=np.int64
    )


def _gt_key(gt: Boxes) -> np.ndarray:
    return np.stack([gt.box_id, gt.cls, gt.alive.astype(np.int64)], axis=1)


def _empty_parts(gt: Boxes, pred: Boxes) -> _Parts:
    ng, npr = len(gt), len(pred)
    return _Parts(
        gt_offsets=gt.offsets.copy(),
        gt_key=_gt_key(gt),
        gt_xyxy=gt.xyxy.copy(),
        badloc=np.full(ng, np.nan),
        badloc_pred=np.full(ng, -1, dtype=np.int64),
        swap_sim=np.full(ng, np.nan),
        swap_pred=np.full(ng, -1, dtype=np.int64),
        overlap=np.zeros(ng, dtype=bool),
        pred_valid=np.isfinite(pred.score) & (pred.score >= 0),
        ov_cand=np.zeros(npr, dtype=bool),
        ov_sim=np.full(npr, np.nan),
        tp=np.zeros((_IOU_THRS.shape[0], npr), dtype=bool),
        min_sim=np.full(gt.n_images, np.inf),
    )


def _store(parts: _Parts, local: dict[str, np.ndarray], images: np.ndarray) -> None:
    g, p = local["g_rows"], local["p_rows"]
    parts.badloc[g] = local["badloc"]
    parts.badloc_pred[g] = local["badloc_pred"]
    parts.swap_sim[g] = local["swap_sim"]
    parts.swap_pred[g] = local["swap_pred"]
    parts.overlap[g] = local["overlap"]
    parts.ov_cand[p] = local["ov_cand"]
    parts.ov_sim[p] = local["ov_sim"]
    parts.tp[:, p] = local["tp"]
    parts.min_sim[images] = local["min_sim"]


def _seg_starts(seg: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.concatenate(([True], seg[1:] != seg[:-1])))


def _seg_max(seg: np.ndarray, val: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per segment id (``seg`` sorted): the max of ``val`` (-inf when empty) and the
    position of its first occurrence (-1)."""
    out = np.full(n, -np.inf)
    pos = np.full(n, -1, dtype=np.int64)
    if seg.size == 0:
        return out, pos
    starts = _seg_starts(seg)
    out[seg[starts]] = np.maximum.reduceat(val, starts)
    hit = np.flatnonzero(val == out[seg])
    first = hit[np.concatenate(([True], seg[hit[1:]] != seg[hit[:-1]]))]
    pos[seg[first]] = first
    return out, pos


def _pair_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """cleanlab's IoU of paired rows: 0 without overlap, union clipped at 1e-6."""
    x_left = np.maximum(a[:, 0], b[:, 0])
    y_top = np.maximum(a[:, 1], b[:, 1])
    x_right = np.minimum(a[:, 2], b[:, 2])
    y_bottom = np.minimum(a[:, 3], b[:, 3])
    inter = (x_right - x_left) * (y_bottom - y_top)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iou = inter / np.maximum(area_a + area_b - inter, _EPS)
    iou[(x_right < x_left) | (y_bottom < y_top)] = 0.0
    return iou


def _pair_sim(
    a: np.ndarray, b: np.ndarray, alpha: float, iou: np.ndarray | None = None
) -> np.ndarray:
    """cleanlab's similarity of paired rows: ``alpha * IoU + (1 - alpha) * exp(-0.1 d)``
    (d: distance of the centres), written as cleanlab computes it, rounding included."""
    if iou is None:
        iou = _pair_iou(a, b)
    dx = (a[:, 0] + a[:, 2]) / 2 - (b[:, 0] + b[:, 2]) / 2
    dy = (a[:, 1] + a[:, 3]) / 2 - (b[:, 1] + b[:, 3]) / 2
    d = np.sqrt(dx * dx + dy * dy)
    d *= -_EUC_FACTOR
    close = np.exp(d, out=d)
    # cleanlab: iou * alpha + (1 - alpha) * (1 - dist) with dist = 1 - close
    dist = np.subtract(1, close, out=close)
    np.subtract(1, dist, out=dist)
    dist *= 1 - alpha
    iou = iou * alpha
    iou += dist
    return iou


# --------------------------------------------------------------------------- per image
def _score_images(
    gt: Boxes, pred: Boxes, images: np.ndarray, params: LabelQualityParams,
    progress: Progress | None,
) -> dict[str, np.ndarray]:
    """Everything that depends on one image alone, for the given images.

    Three pair sets, each only as large as it has to be: every annotated/predicted pair
    of an image, for the smallest similarity alone; the same-class pairs, for cleanlab's
    TP matching and badloc; the pairs of the confident predictions, for overlooked and
    swap.
    """
    every = images.shape[0] == gt.n_images  # all of them (sorted, unique)
    if every:
        g_rows = np.flatnonzero(gt.alive)
        p_rows = np.flatnonzero(np.isfinite(pred.score) & (pred.score >= 0))
    else:
        g_all = _ranges(gt.offsets[:-1][images], np.diff(gt.offsets)[images])
        g_rows = g_all[gt.alive[g_all]]
        p_all = _ranges(pred.offsets[:-1][images], np.diff(pred.offsets)[images])
        p_rows = p_all[np.isfinite(pred.score[p_all]) & (pred.score[p_all] >= 0)]
    ng, npr = g_rows.shape[0], p_rows.shape[0]

    def take(rows: np.ndarray, column: np.ndarray) -> np.ndarray:
        return column if rows.shape[0] == column.shape[0] else column[rows]

    if every:  # local image index = image index
        g_img, p_img = take(g_rows, gt.image), take(p_rows, pred.image)
    else:
        pos_of = np.full(gt.n_images, -1, dtype=np.int64)
        pos_of[images] = np.arange(images.shape[0])
        g_img = pos_of[gt.image[g_rows]]  # local image index, sorted
        p_img = pos_of[pred.image[p_rows]]
    n_img = images.shape[0]
    g_box = np.ascontiguousarray(take(g_rows, gt.xyxy))
    g_cls = take(g_rows, gt.cls)
    p_box = np.ascontiguousarray(take(p_rows, pred.xyxy))
    p_cls, p_score = take(p_rows, pred.cls), take(p_rows, pred.score)
    hi, lo, alpha = params.high_probability_threshold, params.low_probability_threshold, \
        params.alpha
    out: dict[str, np.ndarray] = {"g_rows": g_rows, "p_rows": p_rows}

    g_cnt = np.bincount(g_img, minlength=n_img)
    p_cnt = np.bincount(p_img, minlength=n_img)
    g_start = np.concatenate(([0], np.cumsum(g_cnt)))
    p_start = np.concatenate(([0], np.cumsum(p_cnt)))

    # ---- 1. smallest non-zero similarity of each image
    out["min_sim"] = _min_similarity(g_box, g_img, p_box, p_start, n_img, alpha, progress)

    # ---- 2. same-class pairs, prediction by prediction (gt rows in order within)
    n_key = int(max(g_cls.max(initial=0), p_cls.max(initial=0))) + 1
    g_key = g_img * n_key + g_cls
    g_ord = np.argsort(g_key, kind="stable")
    p_key = p_img * n_key + p_cls
    if n_img * n_key <= 1 << 23:  # a table per (image, class)
        key_cnt = np.bincount(g_key, minlength=n_img * n_key)
        n_same = key_cnt[p_key]
        first = (np.cumsum(key_cnt) - key_cnt)[p_key]
    else:
        g_key_s = g_key[g_ord]
        first = np.searchsorted(g_key_s, p_key, side="left")
        n_same = np.searchsorted(g_key_s, p_key, side="right") - first
    max_iou = np.full(npr, -np.inf)
    target = np.full(npr, -1, dtype=np.int64)
    loc_best = np.full(ng, -np.inf)  # badloc: the most similar candidate so far
    loc_at = np.full(ng, -1, dtype=np.int64)
    gx1, gy1, gx2, gy2 = (np.ascontiguousarray(g_box[:, j]) for j in range(4))
    px1, py1, px2, py2 = (np.ascontiguousarray(p_box[:, j]) for j in range(4))
    g_area, p_area = (gx2 - gx1) * (gy2 - gy1), (px2 - px1) * (py2 - py1)
    for c0, c1 in _chunks(n_same, _PAIRS_PER_CHUNK):
        reps = n_same[c0:c1]
        sp = np.repeat(np.arange(c0, c1), reps)
        if not sp.size:
            continue
        sg = g_ord[_ranges(first[c0:c1], reps)]
        # overlap first (IoU > 0 iff both sides of the intersection are > 0), then the
        # IoU of the overlapping pairs only, as _pair_iou computes it
        iw = np.minimum(gx2[sg], np.repeat(px2[c0:c1], reps))
        iw -= np.maximum(gx1[sg], np.repeat(px1[c0:c1], reps))
        ih = np.minimum(gy2[sg], np.repeat(py2[c0:c1], reps))
        ih -= np.maximum(gy1[sg], np.repeat(py1[c0:c1], reps))
        m = np.flatnonzero((iw > 0) & (ih > 0))
        sg, sp = sg[m], sp[m]
        inter = iw[m] * ih[m]
        iou = inter / np.maximum(g_area[sg] + p_area[sp] - inter, _EPS)
        mx, at = _seg_max(sp - c0, iou, c1 - c0)
        got = at >= 0
        max_iou[c0:c1][got] = mx[got]
        target[c0:c1][got] = sg[at[got]]
        # badloc candidates (same class, score > lo, IoU > 0): each box's most similar,
        # carried from chunk to chunk (chunks go by prediction: the first one on ties)
        m = np.flatnonzero(p_score[sp] > lo)
        if m.size:
            o = m[np.argsort(sg[m], kind="stable")]
            mx, at = _seg_max(sg[o], _pair_sim(g_box[sg[o]], p_box[sp[o]], alpha), ng)
            better = mx > loc_best
            loc_best[better] = mx[better]
            loc_at[better] = sp[o[at[better]]]
    out["tp"] = _true_positives(max_iou, target, p_score, p_img, p_cls)
    got = loc_at >= 0
    out["badloc"] = np.where(got, loc_best, 1.0)
    out["badloc_pred"] = np.full(ng, -1, dtype=np.int64)
    out["badloc_pred"][got] = p_rows[loc_at[got]]
    if progress is not None:
        progress(0.95)

    # ---- 3. confident predictions against every gt box of their image, in chunks of
    # predictions (prediction-major pairs: a prediction's pairs stay in one chunk; a gt
    # box's best swap candidate is carried from chunk to chunk, first one on ties)
    conf = np.flatnonzero(p_score >= hi)
    conf_reps = g_cnt[p_img[conf]]
    ov_cand = np.zeros(npr, dtype=bool)
    ov_cand[conf] = True
    ov_sim = np.full(npr, np.nan)
    swap_best = np.full(ng, -np.inf)
    swap_at = np.full(ng, -1, dtype=np.int64)  # prediction position (in p_rows)
    for c0, c1 in _chunks(conf_reps, _PAIRS_PER_CHUNK):
        reps = conf_reps[c0:c1]
        cp = np.repeat(conf[c0:c1], reps)
        if not cp.size:
            continue
        cg = _ranges(g_start[p_img[conf[c0:c1]]], reps)
        iou = _pair_iou(g_box[cg], p_box[cp])
        sim = _pair_sim(g_box[cg], p_box[cp], alpha, iou)
        same = g_cls[cg] == p_cls[cp]
        # overlooked: confident, overlapping no gt box at all; its most similar same-class
        # box
        ov_cand[cp[iou > 0]] = False
        m = np.flatnonzero(same)
        if m.size:
            seg = cp[m]
            st = _seg_starts(seg)
            mx = np.maximum.reduceat(sim[m], st)
            who = seg[st]
            has = ov_cand[who]
            ov_sim[who[has]] = mx[has]
        # swap: confident (score > hi) predictions of another class -> the most similar
        m = np.flatnonzero(~same & (p_score[cp] > hi))
        if m.size:
            o = m[np.argsort(cg[m], kind="stable")]
            mx, at = _seg_max(cg[o], sim[o], ng)
            better = mx > swap_best
            swap_best[better] = mx[better]
            swap_at[better] = cp[o[at[better]]]
    got = swap_at >= 0
    out["ov_cand"], out["ov_sim"] = ov_cand, ov_sim
    out["swap_sim"] = np.where(got, swap_best, np.nan)
    out["swap_pred"] = np.full(ng, -1, dtype=np.int64)
    out["swap_pred"][got] = p_rows[swap_at[got]]

    # ---- 4. conflicting duplicate labels: another gt box of another class at IoU >= .95
    out["overlap"] = np.zeros(ng, dtype=bool)
    if params.overlapping_label_check and ng:
        g_reps = g_cnt[g_img]
        for c0, c1 in _chunks(g_reps, _PAIRS_PER_CHUNK):
            reps = g_reps[c0:c1]
            qa = np.repeat(np.arange(c0, c1), reps)
            qb = _ranges(g_start[g_img[c0:c1]], reps)
            m = (qa != qb) & (g_cls[qa] != g_cls[qb])
            qa, qb = qa[m], qb[m]
            conflict = _pair_iou(g_box[qa], g_box[qb]) >= params.label_overlap_iou
            out["overlap"][qa[conflict]] = True
    if progress is not None:
        progress(1.0)
    return out


def _chunks(sizes: np.ndarray, per_chunk: int) -> list[tuple[int, int]]:
    """Consecutive ``[start, end)`` runs of items whose ``sizes`` add up to ~per_chunk."""
    n = sizes.shape[0]
    cum = np.cumsum(sizes)
    out = []
    start = 0
    while start < n:
        base = int(cum[start - 1]) if start else 0
        end = int(np.searchsorted(cum, base + per_chunk, side="right"))
        end = min(max(end, start + 1), n)
        out.append((start, end))
        start = end
    return out


@functools.lru_cache(maxsize=8)
def _near_limit(alpha: float) -> float:
    """The largest squared centre distance at which the distance part of the
    similarity, ``(1 - alpha) * (1 - (1 - exp(-0.1 d)))`` as computed, is not 0
    (-1 when it is 0 everywhere); found by bisection over the float64 bit patterns."""

    def positive(bits: int) -> bool:
        d2 = np.array([bits], dtype=np.int64).view(np.float64)
        d = np.sqrt(d2)
        d *= -_EUC_FACTOR
        q = 1 - (1 - np.exp(d))
        return bool(((1 - alpha) * q)[0] > 0)

    lo = 0  # bits of 0.0: exp(0) = 1, positive unless alpha == 1
    hi = int(np.array([1e12]).view(np.int64)[0])
    if not positive(lo) or positive(hi):
        return -1.0
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if positive(mid):
            lo = mid
        else:
            hi = mid
    return float(np.array([lo], dtype=np.int64).view(np.float64)[0])


def _min_similarity(
    g_box: np.ndarray, g_img: np.ndarray, p_box: np.ndarray, p_start: np.ndarray,
    n_img: int, alpha: float, progress: Progress | None,
) -> np.ndarray:
    """Per image, the smallest non-zero similarity over its annotated/predicted pairs.

    Exact, without the similarity of every pair: a pair's similarity is at least its
    distance part, which is 0 beyond a fixed distance (:func:`_near_limit`) and falls
    with the distance below it. So only these pairs can be an image's minimum: its
    farthest "near" pairs (when one of them does not overlap, its similarity is the
    distance part alone: no nearer pair can go below it), and the "far" pairs (beyond
    the limit, non-zero only when they overlap). A thin band around the limit is
    computed exactly, as is any image whose farthest near pairs all overlap.
    """
    ng = g_box.shape[0]
    min_sim = np.full(n_img, np.inf)
    if not ng:
        return min_sim
    p_cnt = np.diff(p_start)
    per_g = p_cnt[g_img]
    gcx, gcy = (g_box[:, 0] + g_box[:, 2]) / 2, (g_box[:, 1] + g_box[:, 3]) / 2
    pcx, pcy = (p_box[:, 0] + p_box[:, 2]) / 2, (p_box[:, 1] + p_box[:, 3]) / 2
    limit = _near_limit(alpha)
    t_near = limit * (1 - 1e-9) if limit > 0 else -1.0  # below: near for sure
    t_far = limit * (1 + 1e-9) if limit > 0 else -1.0  # above: far for sure
    gx1, gy1, gx2, gy2 = (np.ascontiguousarray(g_box[:, j]) for j in range(4))
    px1, py1, px2, py2 = (np.ascontiguousarray(p_box[:, j]) for j in range(4))
    row_max = np.full(ng, -1.0)  # per gt row: the largest near squared distance
    total = int(per_g.sum())
    done = 0

    def take_min(img: np.ndarray, sim: np.ndarray) -> None:
        nz = sim != 0
        img, sim = img[nz], sim[nz]
        if sim.size:
            st = _seg_starts(img)
            np.minimum.at(min_sim, img[st], np.minimum.reduceat(sim, st))

    for c0, c1 in _chunks(per_g, _PAIRS_PER_CHUNK):
        reps = per_g[c0:c1]
        ends = np.cumsum(reps)
        if not ends[-1]:
            continue
        pp = _ranges(p_start[g_img[c0:c1]], reps)
        dx = np.repeat(gcx[c0:c1], reps) - pcx[pp]
        dy = np.repeat(gcy[c0:c1], reps) - pcy[pp]
        d2 = dx * dx + dy * dy
        near = d2 < t_near
        has = reps > 0
        row_max[c0:c1][has] = np.maximum.reduceat(np.where(near, d2, -1.0), (ends - reps)[has])
        # beyond the limit a pair counts only when it overlaps; the band: always exact
        ex = np.flatnonzero(~near)
        pg = c0 + np.searchsorted(ends, ex, side="right")
        pp = pp[ex]
        ex = (d2[ex] <= t_far) | ((np.minimum(gx2[pg], px2[pp]) > np.maximum(gx1[pg], px1[pp]))
                                  & (np.minimum(gy2[pg], py2[pp]) > np.maximum(gy1[pg], py1[pp])))
        pg, pp = pg[ex], pp[ex]
        if pg.size:
            take_min(g_img[pg], _pair_sim(g_box[pg], p_box[pp], alpha))
        done += int(ends[-1])
        if progress is not None and total:
            progress(0.8 * done / total)

    # the farthest near pairs of each image
    has = row_max >= 0
    far_img = np.full(n_img, -1.0)
    rows = np.flatnonzero(has)
    if rows.size:
        st = _seg_starts(g_img[rows])
        far_img[g_img[rows][st]] = np.maximum.reduceat(row_max[rows], st)
    cand = np.flatnonzero(has & (row_max >= far_img[g_img] * (1 - 1e-9)))
    kept: list[tuple[np.ndarray, ...]] = []
    for c0, c1 in _chunks(per_g[cand], _PAIRS_PER_CHUNK):  # few pairs survive: chunked
        reps = per_g[cand[c0:c1]]
        pg = np.repeat(cand[c0:c1], reps)
        pp = _ranges(p_start[g_img[cand[c0:c1]]], reps)
        dx = gcx[pg] - pcx[pp]
        dy = gcy[pg] - pcy[pp]
        d2 = dx * dx + dy * dy
        top = far_img[g_img[pg]]
        keep = (d2 < t_near) & (d2 >= top * (1 - 1e-9))
        kept.append((pg[keep], pp[keep], d2[keep], top[keep]))
    if kept:
        pg, pp, d2, top = (np.concatenate(c) for c in zip(*kept, strict=True))
    else:
        pg = pp = np.zeros(0, dtype=np.int64)
        d2 = top = np.zeros(0)
    iou = _pair_iou(g_box[pg], p_box[pp])
    sim = _pair_sim(g_box[pg], p_box[pp], alpha, iou)
    img = g_img[pg]
    take_min(img, sim)
    # resolved where a farthest pair overlaps nothing; else the whole image, exactly
    ok = np.zeros(n_img, dtype=bool)
    ok[img[(d2 == top) & (iou == 0)]] = True
    redo = (far_img >= 0) & ~ok
    rows = np.flatnonzero(redo[g_img])
    for c0, c1 in _chunks(per_g[rows], _PAIRS_PER_CHUNK):
        r = rows[c0:c1]
        reps = per_g[r]
        pg = np.repeat(r, reps)
        pp = _ranges(p_start[g_img[r]], reps)
        take_min(g_img[pg], _pair_sim(g_box[pg], p_box[pp], alpha))
    return min_sim


def _true_positives(
    max_iou: np.ndarray, target: np.ndarray, score: np.ndarray, img: np.ndarray,
    cls: np.ndarray,
) -> np.ndarray:
    """cleanlab's per-image TP flags at each IoU threshold (``filter._calculate_true_
    positives_false_positives``): predictions of a class in score order; one whose
    best-IoU same-class gt box is at or above the threshold and not yet covered is a TP.

    Predictions tied in score with the same best box are ordered exactly as cleanlab's
    ``np.argsort(-scores)`` of that image and class orders them.
    """
    n = max_iou.shape[0]
    tp = np.zeros((_IOU_THRS.shape[0], n), dtype=bool)
    el = np.flatnonzero(max_iou >= _IOU_THRS[0])
    if not el.size:
        return tp
    tie_rank = np.zeros(n, dtype=np.int64)
    o = np.lexsort((el, -score[el], target[el]))
    srt = el[o]
    tied = (target[srt][1:] == target[srt][:-1]) & (score[srt][1:] == score[srt][:-1])
    if tied.any():
        groups = np.unique(np.stack([img[srt[1:][tied]], cls[srt[1:][tied]]], axis=1), axis=0)
        for i, k in groups.tolist():
            rows = np.flatnonzero((img == i) & (cls == k))  # cleanlab's per-class list
            tie_rank[rows[np.argsort(-score[rows])]] = np.arange(rows.shape[0])
        o = np.lexsort((tie_rank[el], -score[el], target[el]))
        srt = el[o]
    tgt = target[srt]
    seg = np.cumsum(np.concatenate(([True], tgt[1:] != tgt[:-1]))) - 1
    starts = _seg_starts(tgt)
    iou_s = max_iou[srt]
    for t, thr in enumerate(_IOU_THRS):
        e = iou_s >= thr
        c = np.cumsum(e)
        before = (c - e)[starts]  # count of eligible ones before each segment
        tp[t, srt] = e & ((c - before[seg]) == 1)
    return tp


# --------------------------------------------------------------------------- global part
def _finalize(
    parts: _Parts, gt: Boxes, pred: Boxes, n_classes: int, params: LabelQualityParams,
    active: np.ndarray,
) -> LabelQuality:
    n_img = gt.n_images
    act_min = parts.min_sim[active]
    msim = float(min(1.0, act_min.min())) if act_min.size else 1.0

    # per-box scores
    g_ok = gt.alive
    swap = np.where(np.isnan(parts.swap_sim), 1.0, np.maximum(msim, 1 - parts.swap_sim))
    if params.overlapping_label_check:
        swap = np.where(parts.overlap, msim, swap)
    swap = np.where(g_ok, swap, np.nan)
    badloc = np.where(g_ok, parts.badloc, np.nan)
    valid = parts.pred_valid
    overlooked = np.where(np.isnan(parts.ov_sim), msim * (1 - pred.score), parts.ov_sim)
    overlooked = np.where(parts.ov_cand & valid, overlooked, np.nan)

    # pooled image scores
    t = params.temperature
    ov_img = _softmin_pool(pred.image, overlooked, n_img, t)
    sw_img = _softmin_pool(gt.image, swap, n_img, t)
    bl_img = _softmin_pool(gt.image, badloc, n_img, t)
    lq = np.exp(
        params.weight_overlooked * np.log(_TINY + ov_img)
        + params.weight_badloc * np.log(_TINY + bl_img)
        + params.weight_swap * np.log(_TINY + sw_img)
    )

    # issue flags: score <= factor * ap_scale * AP(class), in cleanlab's float32
    ap = _class_ap(parts, gt, pred, n_classes, active)
    thr = ap * params.ap_scale  # float32, as cleanlab's dict values
    ov_issue = np.where(np.isnan(overlooked), 1.0, overlooked) <= (
        thr[pred.cls] * params.overlooked_factor)
    ov_issue &= valid
    sw_issue = g_ok & (swap <= thr[gt.cls] * params.swap_factor)
    bl_issue = g_ok & (badloc <= thr[gt.cls] * params.badloc_factor)

    def count(img: np.ndarray, flag: np.ndarray) -> np.ndarray:
        return np.bincount(img[flag], minlength=n_img).astype(np.int64)

    swap_pred = np.where(g_ok, parts.swap_pred, -1)
    badloc_pred = np.where(g_ok, parts.badloc_pred, -1)

    def of_pred(rows: np.ndarray, column: np.ndarray) -> np.ndarray:
        if not len(pred):
            return np.full(rows.shape[0], -1, dtype=np.int64)
        return np.where(rows >= 0, column[np.maximum(rows, 0)], -1)

    return LabelQuality(
        params=params,
        n_classes=n_classes,
        gt_box_id=gt.box_id.copy(),
        gt_image=gt.image.copy(),
        swap=swap,
        badloc=badloc,
        swap_issue=sw_issue,
        badloc_issue=bl_issue,
        swap_class=of_pred(swap_pred, pred.cls),
        swap_pred_box_id=of_pred(swap_pred, pred.box_id),
        badloc_pred_box_id=of_pred(badloc_pred, pred.box_id),
        pred_box_id=pred.box_id.copy(),
        pred_image=pred.image.copy(),
        overlooked=overlooked,
        overlooked_issue=ov_issue,
        label_quality=lq,
        overlooked_score=ov_img,
        swap_score=sw_img,
        badloc_score=bl_img,
        n_overlooked=count(pred.image, ov_issue),
        n_swap=count(gt.image, sw_issue),
        n_badloc=count(gt.image, bl_issue),
        min_possible_similarity=msim,
        class_ap=ap,
        active=active,
        _parts=parts,
    )


def _softmin_pool(img: np.ndarray, s: np.ndarray, n_img: int, temperature: float) -> np.ndarray:
    """cleanlab's ``softmin1d`` of each image's non-NaN scores (1 when none)."""
    out = np.ones(n_img)
    keep = ~np.isnan(s)
    seg, s = img[keep], s[keep]
    if not s.size:
        return out
    x = -s / max(temperature, _EPS)
    mx, _ = _seg_max(seg, x, n_img)
    e = np.exp(x - mx[seg])
    z = np.bincount(seg, e, n_img)
    num = np.bincount(seg, e / z[seg] * s, n_img)
    has = np.bincount(seg, minlength=n_img) > 0
    out[has] = num[has]
    return out


def _class_ap(
    parts: _Parts, gt: Boxes, pred: Boxes, n_classes: int, active: np.ndarray
) -> np.ndarray:
    """cleanlab's per-class AP averaged over IoU .50:.95 (``filter._get_per_class_ap``
    before its scale factor), float32 as there, bit for bit.

    cleanlab sorts each class's predictions by score (``np.argsort(-scores)`` over the
    images in order: the same call on the same array here, ties included), takes float32
    cumulative TP/FP counts, and sums ``(r[i+1] - r[i]) * p[i+1]`` where the recall r
    changes, p being the precision made non-increasing from the right. The recall only
    changes at a TP, and a TP's precision is never below the FPs' that follow it, so
    the terms come from the TPs alone; the array summed is cleanlab's, term for term.
    """
    eps = np.finfo(np.float32).eps
    g_cnt = np.bincount(gt.cls[gt.alive & active[gt.image]], minlength=n_classes)
    denom = np.maximum(g_cnt, eps)  # float64, as np.maximum(num_gts, float32 eps)
    use = parts.pred_valid & active[pred.image]
    cache = parts.rank_cache
    if "use" in cache and np.array_equal(cache["use"], use):
        rank = cache["rank"]
    else:
        rows = np.flatnonzero(use)
        by_cls = rows[np.argsort(pred.cls[rows], kind="stable")]
        bounds = np.concatenate(([0], np.cumsum(np.bincount(pred.cls[rows],
                                                            minlength=n_classes))))
        rank = np.zeros(len(pred), dtype=np.int64)  # position in its class's score order
        for k in range(n_classes):
            r = by_cls[bounds[k]:bounds[k + 1]]  # class k, image order then row order
            rank[r[np.argsort(-pred.score[r])]] = np.arange(r.shape[0])
        cache.update(use=use, rank=rank)
    n_thr = _IOU_THRS.shape[0]
    aps = np.zeros((n_classes, n_thr, 1), dtype=np.float32)
    for t in range(n_thr):
        hit = np.flatnonzero(parts.tp[t] & use)
        cls = pred.cls[hit]
        o = np.lexsort((rank[hit], cls))
        cls, pos = cls[o], rank[hit][o]
        starts = np.searchsorted(cls, np.arange(n_classes + 1))
        for k in np.flatnonzero(np.diff(starts)).tolist():
            p = pos[starts[k]:starts[k + 1]]
            cnt = np.arange(1, p.shape[0] + 1, dtype=np.float32)
            rec = np.empty(p.shape[0] + 1)
            rec[0] = 0.0
            np.divide(cnt, denom[k], out=rec[1:])
            prec = (cnt / (p + 1).astype(np.float32)).astype(np.float64)
            prec = np.maximum.accumulate(prec[::-1])[::-1]
            terms = (rec[1:] - rec[:-1]) * prec
            if rec[-1] != 1.0:  # the last step, to recall 1, at precision 0
                terms = np.append(terms, (1.0 - rec[-1]) * 0.0)
            aps[k, t, 0] = np.sum(terms)
    return np.array([np.mean(aps[k]) for k in range(n_classes)], dtype=np.float32)


def dataset_label_quality(
    dataset: Dataset,
    run: str,
    params: LabelQualityParams | None = None,
    progress: Progress | None = None,
) -> LabelQuality:
    """:func:`compute_label_quality` of a dataset's ground truth against one of its runs;
    the images not deleted define the dataset-wide quantities."""
    if run not in dataset.runs:
        raise KeyError(run)
    return compute_label_quality(dataset.gt, dataset.runs[run], len(dataset.classes), params,
                                 active=~dataset.images.deleted, progress=progress)
