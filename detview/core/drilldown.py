"""The numbers behind the clickable analysis plots, and the images each mark leads to.

Every plot of the analysis panel is drawn from a value computed here, and every click
on a plot (a confusion cell, an error-type bar, a histogram bin, a threshold) becomes a
:class:`Hits`: the boxes it is about, their images, and per image how many (so the image
list can show "most first" and the viewer can select those boxes).

:class:`MatchRecords` holds the outcome of every prediction of a run matched once at
score threshold 0 with the greedy rule of :mod:`.matching` (descending score, each
prediction takes the best free ground-truth box of its class at IoU >= the threshold).
A prediction's outcome depends only on the predictions scored above it, so the records
give the exact TP / FP / FN counts at *every* score threshold without matching again:
at threshold ``t`` the kept predictions are those with ``score >= t`` and their outcomes
are the recorded ones. That makes the F1-against-threshold curve, the score histograms
of true and false positives and the IoU histogram of matched boxes one pass of numpy
over the records; after an edit only the touched images are matched again
(:meth:`MatchRecords.replace_images`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .geometry import box_areas
from .matching import FP, IGNORED, TP, group_ranks, match_groups, rows_of_images
from .tables import Boxes

__all__ = [
    "SCORE_GRID",
    "Histogram",
    "Hits",
    "MatchRecords",
    "ThresholdCurve",
    "iou_bin_hits",
    "iou_histogram",
    "match_records",
    "score_bin_hits",
    "score_histogram",
    "threshold_curve",
    "threshold_for_recall",
]

Progress = Callable[[int, int], bool]

#: The score thresholds the toolbar can hold (two decimals): where F1 is evaluated.
SCORE_GRID = np.round(np.arange(101) * 0.01, 2)

_I = np.int64


def _e(dtype: type = np.int64) -> np.ndarray:
    return np.zeros(0, dtype=dtype)


# =========================================================================== records
@dataclass(frozen=True, eq=False)
class MatchRecords:
    """Per prediction and per ground-truth box of one run, matched at one IoU threshold.

    Predictions: the alive ones of images in the mask, whatever their score. ``outcome``
    is ``TP``, ``FP`` or ``IGNORED`` (matched to a crowd region); ``iou`` the IoU with the
    matched box (0 when none); ``gt_box_id`` the matched ground-truth box id (-1).
    Ground truth: alive non-crowd boxes of images in the mask; ``gt_match_score`` is the
    score of the prediction that matched it (-inf when none): the box is found at every
    threshold at or below that score.
    """

    n_images: int
    n_classes: int
    iou_threshold: float
    image: np.ndarray
    box_id: np.ndarray
    cls: np.ndarray
    score: np.ndarray
    outcome: np.ndarray
    iou: np.ndarray
    gt_box_id: np.ndarray
    gt_image: np.ndarray
    gt_id: np.ndarray
    gt_cls: np.ndarray
    gt_match_score: np.ndarray

    def __len__(self) -> int:
        return int(self.box_id.shape[0])

    def n_gt(self, cls: int | None = None) -> int:
        """Ground-truth boxes counted (of class ``cls``)."""
        if cls is None:
            return int(self.gt_cls.shape[0])
        return int(np.count_nonzero(self.gt_cls == cls))

    def select(self, image_mask: np.ndarray | None) -> MatchRecords:
        """The records of the images in ``image_mask`` (e.g. those not deleted)."""
        if image_mask is None:
            return self
        m = np.asarray(image_mask, dtype=bool)
        kp, kg = m[self.image], m[self.gt_image]
        if kp.all() and kg.all():
            return self
        pred = {n: getattr(self, n)[kp] for n in _PRED_COLS}
        gt = {n: getattr(self, n)[kg] for n in _GT_COLS}
        return MatchRecords(self.n_images, self.n_classes, self.iou_threshold, **pred, **gt)

    def replace_images(self, other: MatchRecords, images: Iterable[int]) -> MatchRecords:
        """These records with the rows of ``images`` taken from ``other`` (records of
        those images matched again after an edit)."""
        idx = np.fromiter((int(i) for i in images), dtype=np.int64)
        if not idx.size:
            return self
        drop = np.zeros(self.n_images, dtype=bool)
        drop[idx] = True
        keep_p = ~drop[self.image]
        keep_o = drop[other.image]
        keep_g = ~drop[self.gt_image]
        keep_og = drop[other.gt_image]

        def cat(a: np.ndarray, b: np.ndarray, ka: np.ndarray, kb: np.ndarray) -> np.ndarray:
            return np.concatenate((a[ka], b[kb]))

        pred = {n: cat(getattr(self, n), getattr(other, n), keep_p, keep_o)
                for n in _PRED_COLS}
        gt = {n: cat(getattr(self, n), getattr(other, n), keep_g, keep_og) for n in _GT_COLS}
        return MatchRecords(self.n_images, self.n_classes, self.iou_threshold, **pred, **gt)

    def pred_outcomes(self, pred_box_ids: np.ndarray, gt_box_ids: np.ndarray,
                      score_threshold: float) -> tuple[np.ndarray, np.ndarray]:
        """``(pred_outcome, gt_matched)`` in the order of the given box id columns (a
        run's and the ground truth's), at ``score_threshold``: 1 TP, 0 FP, -1 neither
        (ignored, not kept or not recorded); matched = found by a kept prediction. The
        shape :meth:`detview.core.query.ClassCounts.from_boxes` takes."""
        out = np.full(pred_box_ids.shape[0], -1, dtype=np.int8)
        kept = self.score >= score_threshold
        rows = _lookup(pred_box_ids, self.box_id)
        ok = rows >= 0
        oc = self.outcome[rows[ok]]
        k = kept[rows[ok]]
        vals = np.where(k & (oc == TP), 1, np.where(k & (oc == FP), 0, -1)).astype(np.int8)
        out[ok] = vals
        g = _lookup(gt_box_ids, self.gt_id)
        matched = np.zeros(gt_box_ids.shape[0], dtype=bool)
        gok = g >= 0
        matched[gok] = self.gt_match_score[g[gok]] >= score_threshold
        return out, matched


_PRED_COLS = ("image", "box_id", "cls", "score", "outcome", "iou", "gt_box_id")
_GT_COLS = ("gt_image", "gt_id", "gt_cls", "gt_match_score")


def _lookup(ids: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Position of each of ``ids`` in ``table`` (unique ids), -1 when absent."""
    ids = np.asarray(ids, dtype=np.int64)
    if not table.size or not ids.size:
        return np.full(ids.shape[0], -1, dtype=np.int64)
    order = np.argsort(table, kind="stable")
    srt = table[order]
    pos = np.minimum(np.searchsorted(srt, ids), srt.shape[0] - 1)
    return np.where(srt[pos] == ids, order[pos], -1)


def match_records(gt: Boxes, dets: Boxes, n_classes: int, image_mask: np.ndarray | None = None,
                  iou_threshold: float = 0.5, images: Iterable[int] | None = None,
                  progress: Progress | None = None) -> MatchRecords:
    """Match every alive prediction of ``dets`` (all scores) to ``gt`` in each image
    (``images``: only those, e.g. the ones an edit touched), by the batched kernel:
    one :func:`~detview.core.matching.match_groups` per block of images, groups =
    (image, class), the same greedy rule as :func:`~detview.core.matching.match_image`.
    Rows come out by image, then in table order. Safe in a worker given a copy of
    ``gt``. ``progress(done, total)`` returning False stops with
    :class:`InterruptedError`."""
    n = gt.n_images
    mask = np.ones(n, bool) if image_mask is None else np.asarray(image_mask, bool)
    todo = (np.arange(n, dtype=np.int64) if images is None
            else np.unique(np.fromiter((int(i) for i in images), dtype=np.int64)))
    total = int(todo.shape[0])
    todo = todo[mask[todo]]
    cols: dict[str, list[np.ndarray]] = {k: [] for k in _PRED_COLS + _GT_COLS}
    done = 0
    for blk in np.array_split(todo, max(1, -(-todo.shape[0] // _BLOCK))):
        if progress is not None and progress(done, total) is False:
            raise InterruptedError("cancelled")
        done += int(blk.shape[0])
        _match_block(gt, dets, blk, float(iou_threshold), cols)
    dtypes = {"score": np.float64, "iou": np.float64, "gt_match_score": np.float64,
              "outcome": np.int8}
    arrays = {k: (np.concatenate(v) if v else _e(dtypes.get(k, np.int64))).astype(
        dtypes.get(k, np.int64), copy=False) for k, v in cols.items()}
    if progress is not None:
        progress(total, total)
    return MatchRecords(n, int(n_classes), float(iou_threshold), **arrays)


_BLOCK = 8192  # images per batched call: progress and cancellation between blocks


def _match_block(gt: Boxes, dets: Boxes, images: np.ndarray, iou_threshold: float,
                 cols: dict[str, list[np.ndarray]]) -> None:
    g_rows = rows_of_images(gt.offsets, images)
    g_rows = g_rows[gt.alive[g_rows]]
    p_rows = rows_of_images(dets.offsets, images)
    p_rows = p_rows[dets.alive[p_rows]]
    g_img, p_img = gt.image[g_rows], dets.image[p_rows]
    g_cls, p_cls = gt.cls[g_rows], dets.cls[p_rows]
    crowd = gt.iscrowd[g_rows]
    gid = gt.box_id[g_rows]
    score = dets.score[p_rows]
    outcome = np.full(p_rows.shape[0], FP, dtype=np.int8)
    iou = np.zeros(p_rows.shape[0])
    matched = np.full(p_rows.shape[0], -1, dtype=np.int64)
    if p_rows.size and g_rows.size:
        both = np.concatenate((g_cls, p_cls))
        c_lo = int(both.min())
        span = int(both.max()) - c_lo + 1
        g_key = g_img * span + (g_cls - c_lo)
        p_key = p_img * span + (p_cls - c_lo)
        pxy, gxy = dets.xyxy[p_rows], gt.xyxy[g_rows]
        _, rank = group_ranks(p_key, score)
        gr = match_groups(p_key, rank, pxy, box_areas(pxy, dets.wh[p_rows]),
                          g_key, gxy, box_areas(gxy, gt.wh[g_rows]), iou_threshold,
                          g_crowd=crowd, prio=np.where(crowd, 1, 2))
        matched = gr.det_gt[:, 0].astype(np.int64)
        hit = matched >= 0
        outcome = np.where(hit, np.where(crowd[np.maximum(matched, 0)], IGNORED, TP),
                           FP).astype(np.int8)
        iou = np.where(outcome == TP, gr.det_iou[:, 0], 0.0)
    tp = np.flatnonzero(outcome == TP)
    cols["image"].append(p_img)
    cols["box_id"].append(dets.box_id[p_rows])
    cols["cls"].append(p_cls)
    cols["score"].append(score)
    cols["outcome"].append(outcome)
    cols["iou"].append(iou)
    gbox = np.full(p_rows.shape[0], -1, dtype=np.int64)
    gbox[tp] = gid[matched[tp]]
    cols["gt_box_id"].append(gbox)
    ms = np.full(g_rows.shape[0], -np.inf)
    ms[matched[tp]] = score[tp]
    regular = ~crowd
    cols["gt_image"].append(g_img[regular])
    cols["gt_id"].append(gid[regular])
    cols["gt_cls"].append(g_cls[regular])
    cols["gt_match_score"].append(ms[regular])


# =========================================================================== curves
@dataclass(frozen=True, eq=False)
class ThresholdCurve:
    """Precision, recall and F1 of the kept predictions at each score threshold of
    :data:`SCORE_GRID` (``score >= t`` kept), and the best threshold (highest F1; the
    higher threshold on ties)."""

    thresholds: np.ndarray
    tp: np.ndarray
    fp: np.ndarray
    fn: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    n_gt: int

    @property
    def best_index(self) -> int:
        if not self.f1.size or np.isnan(self.f1).all():
            return -1
        f = np.where(np.isnan(self.f1), -1.0, self.f1)
        return int(np.flatnonzero(f == f.max())[-1])

    @property
    def best_threshold(self) -> float:
        k = self.best_index
        return float(self.thresholds[k]) if k >= 0 else float("nan")

    @property
    def best_f1(self) -> float:
        k = self.best_index
        return float(self.f1[k]) if k >= 0 else float("nan")

    def index_of(self, threshold: float) -> int:
        """The grid point nearest ``threshold``."""
        return int(np.argmin(np.abs(self.thresholds - threshold)))


def threshold_curve(rec: MatchRecords, cls: int | None = None,
                    thresholds: np.ndarray = SCORE_GRID) -> ThresholdCurve:
    """TP, FP, FN, precision, recall and F1 at each threshold (of class ``cls``)."""
    sel = rec.outcome != IGNORED
    if cls is not None:
        sel &= rec.cls == cls
    score, oc = rec.score[sel], rec.outcome[sel]
    t = np.asarray(thresholds, dtype=np.float64)
    tp_s = np.sort(score[oc == TP])
    fp_s = np.sort(score[oc == FP])
    tp = (tp_s.shape[0] - np.searchsorted(tp_s, t, side="left")).astype(np.int64)
    fp = (fp_s.shape[0] - np.searchsorted(fp_s, t, side="left")).astype(np.int64)
    n_gt = rec.n_gt(cls)
    fn = n_gt - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), np.nan)
        recall = np.where(n_gt > 0, tp / max(n_gt, 1), np.nan) * np.ones_like(t)
        denom = 2 * tp + fp + fn
        f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1), np.nan)
    return ThresholdCurve(t, tp, fp, fn, precision, recall, f1, n_gt)


def threshold_for_recall(curve: ThresholdCurve, recall: float) -> float:
    """The highest grid threshold whose recall reaches ``recall`` (a point clicked on a
    precision-recall curve); the lowest threshold when none does."""
    r = np.where(np.isnan(curve.recall), -1.0, curve.recall)
    ok = np.flatnonzero(r >= recall - 1e-12)
    return float(curve.thresholds[ok[-1]] if ok.size else curve.thresholds[0])


# =========================================================================== histograms
@dataclass(frozen=True, eq=False)
class Histogram:
    """``counts[name]`` per bin between ``edges`` (``len(edges) - 1`` bins; the last
    bin includes its right edge)."""

    edges: np.ndarray
    counts: dict[str, np.ndarray]

    def bin_of(self, x: float) -> int:
        """The bin holding ``x`` (-1 outside)."""
        e = self.edges
        if not e.size or x < e[0] or x > e[-1]:
            return -1
        return int(min(np.searchsorted(e, x, side="right") - 1, e.shape[0] - 2))


def _bins(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index per value (-1 outside ``[edges[0], edges[-1]]``), last bin closed."""
    b = np.searchsorted(edges, values, side="right") - 1
    b = np.where(values == edges[-1], edges.shape[0] - 2, b)
    return np.where((values < edges[0]) | (values > edges[-1]) | np.isnan(values), -1, b)


def score_histogram(rec: MatchRecords, bins: int = 20, cls: int | None = None) -> Histogram:
    """Scores of true and false positives (``"tp"``, ``"fp"``) over ``[0, 1]``, every
    prediction whatever the threshold (a prediction's outcome does not depend on it);
    scores outside ``[0, 1]`` fall in the end bins."""
    edges = np.round(np.linspace(0.0, 1.0, bins + 1), 12)  # 0.7 is 0.7, not 0.70000001
    sel = np.ones(len(rec), bool) if cls is None else rec.cls == cls
    s = np.clip(rec.score[sel], 0.0, 1.0)
    oc = rec.outcome[sel]
    counts = {}
    for name, code in (("tp", TP), ("fp", FP)):
        b = _bins(s[oc == code], edges)
        counts[name] = np.bincount(b[b >= 0], minlength=bins).astype(np.int64)
    return Histogram(edges, counts)


def iou_histogram(rec: MatchRecords, score_threshold: float, bins: int = 20,
                  cls: int | None = None) -> Histogram:
    """IoU of the matched boxes (true positives kept at ``score_threshold``) with their
    ground truth, over ``[IoU threshold, 1]`` (``"tp"``)."""
    lo = min(rec.iou_threshold, 1.0 - 1e-9)
    edges = np.round(np.linspace(lo, 1.0, bins + 1), 12)
    sel = (rec.outcome == TP) & (rec.score >= score_threshold)
    if cls is not None:
        sel &= rec.cls == cls
    b = _bins(rec.iou[sel], edges)
    return Histogram(edges, {"tp": np.bincount(b[b >= 0], minlength=bins).astype(np.int64)})


# =========================================================================== hits
@dataclass(frozen=True, eq=False)
class Hits:
    """The boxes one mark of a plot stands for. One entry per box (a prediction, a
    ground-truth box, or a pair of both): ``image``, ``gt_box_id`` and
    ``pred_box_id`` (-1 on a side that has none). ``label`` says what was clicked."""

    label: str
    image: np.ndarray
    gt_box_id: np.ndarray
    pred_box_id: np.ndarray

    def __len__(self) -> int:
        return int(self.image.shape[0])

    @staticmethod
    def of(label: str, image: np.ndarray, gt_box_id: np.ndarray | None = None,
           pred_box_id: np.ndarray | None = None) -> Hits:
        img = np.asarray(image, dtype=np.int64)
        n = img.shape[0]
        g = np.full(n, -1, np.int64) if gt_box_id is None else np.asarray(gt_box_id, np.int64)
        p = (np.full(n, -1, np.int64) if pred_box_id is None
             else np.asarray(pred_box_id, np.int64))
        return Hits(label, img, g, p)

    def per_image(self, n_images: int) -> np.ndarray:
        """int64[n_images]: entries per image."""
        return np.bincount(self.image, minlength=n_images).astype(np.int64)

    def images(self) -> np.ndarray:
        """The images, most entries first (then by index)."""
        if not self.image.size:
            return _e()
        u, c = np.unique(self.image, return_counts=True)
        return u[np.lexsort((u, -c))]

    def in_image(self, i: int) -> tuple[list[int], list[int]]:
        """(ground-truth box ids, prediction box ids) of image ``i``."""
        m = self.image == i
        g = self.gt_box_id[m]
        p = self.pred_box_id[m]
        return g[g >= 0].tolist(), p[p >= 0].tolist()


def score_bin_hits(rec: MatchRecords, kind: str, lo: float, hi: float,
                   cls: int | None = None, last: bool = False) -> Hits:
    """True (``kind="tp"``) or false (``"fp"``) positives with ``lo <= score < hi``
    (``<= hi`` for the ``last`` bin); scores outside [0, 1] count in the end bins as in
    :func:`score_histogram`."""
    code = {"tp": TP, "fp": FP}[kind]
    s = np.clip(rec.score, 0.0, 1.0)
    sel = (rec.outcome == code) & (s >= lo) & ((s <= hi) if last else (s < hi))
    if cls is not None:
        sel &= rec.cls == cls
    word = "true" if kind == "tp" else "false"
    return Hits.of(f"{word} positives with score {lo:.2f}–{hi:.2f}", rec.image[sel],
                   np.where(rec.outcome[sel] == TP, rec.gt_box_id[sel], -1), rec.box_id[sel])


def iou_bin_hits(rec: MatchRecords, score_threshold: float, lo: float, hi: float,
                 cls: int | None = None, last: bool = False) -> Hits:
    """Matched boxes (kept true positives) with ``lo <= IoU < hi`` (``<=`` when
    ``last``): the prediction and its ground-truth box."""
    sel = (rec.outcome == TP) & (rec.score >= score_threshold) & (rec.iou >= lo) & (
        (rec.iou <= hi) if last else (rec.iou < hi))
    if cls is not None:
        sel &= rec.cls == cls
    return Hits.of(f"matched boxes with IoU {lo:.2f}–{hi:.2f}", rec.image[sel],
                   rec.gt_box_id[sel], rec.box_id[sel])
