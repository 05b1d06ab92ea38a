"""COCO bounding-box evaluation, vectorised over columns, with pycocotools' numbers.

The engine reproduces ``pycocotools.cocoeval.COCOeval`` (iouType ``"bbox"``, default
parameters) number for number, but computes from :class:`~detview.core.tables.Boxes`
columns instead of per-annotation dicts, and keeps per-detection match records so that
:class:`COCOEvaluator` can re-match one edited image and re-accumulate in milliseconds.

Pipeline
--------
1. *Preparation.* Detections are ranked inside each (image, class) group by a stable
   descending score sort of the file order and cut at ``max_dets[-1]``; ground truth
   keeps file (row) order.
2. *Matching* (:func:`match_columns`). Candidate (detection, ground truth) pairs of the
   same image and class are expanded in chunks, IoU is computed for all of them at once
   and only pairs reaching the lowest threshold are kept. The greedy matching then runs
   once per detection *rank* (at most 100 steps), for every group, every area range and
   every IoU threshold together.
3. *Accumulation.* Per class, detections of all images are sorted once by descending
   score; cumulative TP/FP counts, the precision envelope and the recall-threshold
   look-ups are array operations over the (area range x IoU threshold) columns.

pycocotools quirks reproduced (and where)
-----------------------------------------
* IoU thresholds are ``np.linspace(.5, .95, 10)`` (so 0.7 is ``0.7000000000000001``)
  and the matcher uses ``min(t, 1 - 1e-10)``; recall thresholds are
  ``np.linspace(0, 1, 101)``.
* Detections per image *and class* are sorted by ``-score`` with a stable sort and
  truncated to ``max_dets[-1]`` before matching; the smaller ``max_dets`` take the
  first ``m`` of that order.
* Ground truth is ordered "not ignored first" (stable); ignored means crowd **or** its
  area outside the area range. A detection takes the available ground truth of best
  IoU >= threshold, ties going to the *later* box in that order; non-ignored boxes
  win over ignored ones whatever the IoU; a crowd box is never used up (any number of
  detections can match it), an area-ignored regular box is used up like any other.
* A detection matched to an ignored box is ignored; an unmatched detection whose area
  is outside the range is ignored; others are TP/FP.
* IoU with a crowd box divides by the detection's area; boxes that do not overlap
  (width or height <= 0) have IoU 0.
* Area ranges use the annotation ``area`` field when present (the ``area`` column) and
  ``w*h`` otherwise, with closed bounds ``[lo, hi]`` on both sides
  (``area < lo or area > hi`` is outside). pycocotools gives detections
  ``area = w*h`` of the stored bbox; we use ``(x2-x1)*(y2-y1)`` unless the ``area``
  column is filled (see *Ulp note*).
* Accumulation concatenates per image results in ascending image-id order and sorts by
  ``-score`` with mergesort: ties in score between images are broken by image id, then
  by the within-image rank. ``image_ids`` gives the id order; the image index is used
  when it is not given.
* Precision is ``tp / (tp + fp + eps)`` with ``eps = np.spacing(1)``, made monotone
  right to left, and read at the first index whose recall ``tp / n_gt`` reaches each
  recall threshold (0 beyond the last recall). Recall is the last ``tp / n_gt``.
* A class with no non-ignored ground truth in an area range gets -1 there (precision
  and recall), and summary means skip -1 entries; a summary with nothing left is -1.
  Detections of such a class are not evaluated at all.
* Not reproduced: pycocotools tests ``dtm`` (the matched ground-truth *id*) for truth,
  so a detection matched to a ground-truth annotation whose id is 0 counts as a false
  positive there. detview matches by row and has no such special case; COCO files
  number annotations from 1.

Ulp note
--------
pycocotools computes IoU from ``[x, y, w, h]`` (right edge ``x + w``, area ``w*h``);
detview stores ``xyxy`` and uses ``w = x2 - x1``. When ``x2 = x + w`` was formed at
loading, ``x2 - x1`` can differ from the original ``w`` in the last bit, so an IoU can
differ by about 1e-16. That changes a result only when an IoU lands exactly on a
threshold or two IoUs tie exactly; with integer or half-integer coordinates (all exact
in binary) both computations are identical, which the tie tests use. To match
pycocotools' detection areas bit for bit at the area-range bounds, loaders can fill the
``area`` column of predictions with ``w*h`` of the source boxes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .tables import Boxes

__all__ = [
    "COCOEvaluator",
    "COCOParams",
    "COCOResult",
    "MatchRecords",
    "evaluate",
    "match_columns",
    "STAT_NAMES",
]

STAT_NAMES: tuple[str, ...] = (
    "AP", "AP50", "AP75", "APs", "APm", "APl",
    "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
)  # fmt: skip

_EPS = float(np.spacing(1))
_PAIR_CHUNK = 2_000_000


def _default_iou_thrs() -> tuple[float, ...]:
    return tuple(float(x) for x in np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1))


def _default_rec_thrs() -> tuple[float, ...]:
    return tuple(float(x) for x in np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1))


@dataclass(frozen=True)
class COCOParams:
    """Evaluation parameters, pycocotools' defaults for ``iouType="bbox"``."""

    iou_thrs: tuple[float, ...] = field(default_factory=_default_iou_thrs)
    rec_thrs: tuple[float, ...] = field(default_factory=_default_rec_thrs)
    max_dets: tuple[int, ...] = (1, 10, 100)
    area_rngs: tuple[tuple[float, float], ...] = (
        (0.0, 1e5**2),
        (0.0, 32.0**2),
        (32.0**2, 96.0**2),
        (96.0**2, 1e5**2),
    )
    area_labels: tuple[str, ...] = ("all", "small", "medium", "large")

    def __post_init__(self) -> None:
        if len(self.area_rngs) != len(self.area_labels):
            raise ValueError("area_rngs and area_labels differ in length")
        if list(self.max_dets) != sorted(self.max_dets) or not self.max_dets:
            raise ValueError("max_dets must be ascending and not empty")


# --------------------------------------------------------------------------- results
@dataclass(frozen=True, eq=False)
class COCOResult:
    """The 12 COCO summary numbers, per-class numbers and the accumulated arrays.

    ``precision`` is ``[T, R, K, A, M]`` and ``recall`` ``[T, K, A, M]`` exactly as
    pycocotools' ``eval["precision"]``/``eval["recall"]`` (-1 where a class has no
    ground truth in that area range). ``per_class`` is indexed by class index with
    columns ``name, AP, AP50, AP75, AR100, n_gt, n_det`` (-1 where no ground truth).
    """

    AP: float
    AP50: float
    AP75: float
    APs: float
    APm: float
    APl: float
    AR1: float
    AR10: float
    AR100: float
    ARs: float
    ARm: float
    ARl: float
    per_class: pd.DataFrame
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    params: COCOParams

    @property
    def stats(self) -> np.ndarray:
        """The 12 numbers in pycocotools' ``COCOeval.stats`` order."""
        return np.array([getattr(self, n) for n in STAT_NAMES])

    def as_dict(self) -> dict[str, float]:
        return {n: float(getattr(self, n)) for n in STAT_NAMES}

    def summary_text(self) -> str:
        """pycocotools' 12-line ``summarize()`` block."""
        p = self.params
        lines = []
        for name, ap, thr, area, md in _summary_spec(p):
            title = "Average Precision" if ap else "Average Recall"
            kind = "(AP)" if ap else "(AR)"
            iou = f"{p.iou_thrs[0]:0.2f}:{p.iou_thrs[-1]:0.2f}" if thr is None else f"{thr:0.2f}"
            lines.append(
                f" {title:<18} {kind} @[ IoU={iou:<9} | area={area:>6s} | maxDets={md:>3d} ]"
                f" = {getattr(self, name):0.3f}"
            )
        return "\n".join(lines)


def _summary_spec(p: COCOParams) -> list[tuple[str, bool, float | None, str, int]]:
    m = p.max_dets
    big = m[2] if len(m) > 2 else m[-1]
    return [
        ("AP", True, None, "all", big),
        ("AP50", True, 0.5, "all", big),
        ("AP75", True, 0.75, "all", big),
        ("APs", True, None, "small", big),
        ("APm", True, None, "medium", big),
        ("APl", True, None, "large", big),
        ("AR1", False, None, "all", m[0]),
        ("AR10", False, None, "all", m[1] if len(m) > 1 else m[-1]),
        ("AR100", False, None, "all", big),
        ("ARs", False, None, "small", big),
        ("ARm", False, None, "medium", big),
        ("ARl", False, None, "large", big),
    ]


def _mean_valid(s: np.ndarray) -> float:
    v = s[s > -1]
    return -1.0 if v.size == 0 else float(np.mean(v))


def _summarize(
    precision: np.ndarray,
    recall: np.ndarray,
    p: COCOParams,
    n_gt: np.ndarray,
    n_det: np.ndarray,
    class_names: Sequence[str] | None,
) -> dict[str, object]:
    thrs = np.asarray(p.iou_thrs)
    out: dict[str, object] = {}
    for name, ap, thr, area, md in _summary_spec(p):
        a = [i for i, lbl in enumerate(p.area_labels) if lbl == area]
        m = [i for i, x in enumerate(p.max_dets) if x == md]
        s = precision if ap else recall
        if thr is not None:
            s = s[np.where(thr == thrs)[0]]
        s = s[..., a, :][..., m] if a and m else s[..., :0, :][..., :0]
        out[name] = _mean_valid(s)
    out["per_class"] = _per_class_frame(precision, recall, p, n_gt, n_det, class_names)
    return out


def _per_class_frame(
    precision: np.ndarray,
    recall: np.ndarray,
    p: COCOParams,
    n_gt: np.ndarray,
    n_det: np.ndarray,
    class_names: Sequence[str] | None,
) -> pd.DataFrame:
    k = precision.shape[2]
    thrs = np.asarray(p.iou_thrs)
    m = len(p.max_dets) - 1

    def mean_k(s: np.ndarray) -> np.ndarray:
        # s: [..., K]; mean over the other axes where > -1 (-1 when none)
        s = s.reshape(-1, k)
        valid = s > -1
        cnt = valid.sum(0)
        tot = np.where(valid, s, 0.0).sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(cnt > 0, tot / np.maximum(cnt, 1), -1.0)

    cols: dict[str, object] = {}
    cols["name"] = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    cols["AP"] = mean_k(precision[:, :, :, 0, m])
    for lbl, t in (("AP50", 0.5), ("AP75", 0.75)):
        idx = np.where(thrs == t)[0]
        cols[lbl] = mean_k(precision[idx][:, :, :, 0, m]) if idx.size else np.full(k, -1.0)
    cols["AR100"] = mean_k(recall[:, :, 0, m])
    cols["n_gt"] = n_gt
    cols["n_det"] = n_det
    df = pd.DataFrame(cols)
    df.index.name = "cls"
    return df


# --------------------------------------------------------------------------- matching
@dataclass(frozen=True, eq=False)
class MatchRecords:
    """Match records of a set of detections, one row per detection.

    ``gt`` is ``int64[D, A, T]``: the position (in the ground-truth arrays passed to
    :func:`match_columns`) of the matched box per area range and IoU threshold, -1 if
    none; ``ignore`` is ``bool[D, A, T]`` (pycocotools' ``dtIgnore``); ``gt_ignore`` is
    ``bool[G, A]`` (``gtIgnore``: crowd or area outside the range).
    """

    gt: np.ndarray
    ignore: np.ndarray
    gt_ignore: np.ndarray

    @property
    def tp(self) -> np.ndarray:
        return (self.gt >= 0) & ~self.ignore

    @property
    def fp(self) -> np.ndarray:
        return (self.gt < 0) & ~self.ignore


def _box_wh_area(xyxy: np.ndarray) -> np.ndarray:
    return (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])


def _pair_ious(
    d_xyxy: np.ndarray,
    d_boxarea: np.ndarray,
    g_xyxy: np.ndarray,
    g_boxarea: np.ndarray,
    g_crowd: np.ndarray,
    pd_: np.ndarray,
    pg: np.ndarray,
) -> np.ndarray:
    """IoU of pairs (pd_[i], pg[i]) with pycocotools' bbIou arithmetic."""
    d = d_xyxy[pd_]
    g = g_xyxy[pg]
    iw = np.minimum(d[:, 2], g[:, 2]) - np.maximum(d[:, 0], g[:, 0])
    ih = np.minimum(d[:, 3], g[:, 3]) - np.maximum(d[:, 1], g[:, 1])
    ok = (iw > 0) & (ih > 0)
    inter = iw * ih
    da = d_boxarea[pd_]
    union = np.where(g_crowd[pg], da, (da + g_boxarea[pg]) - inter)
    out = np.zeros(pd_.shape[0])
    np.divide(inter, union, out=out, where=ok)
    return out


def match_columns(
    d_key: np.ndarray,
    d_rank: np.ndarray,
    d_xyxy: np.ndarray,
    d_area: np.ndarray,
    g_key: np.ndarray,
    g_xyxy: np.ndarray,
    g_area: np.ndarray,
    g_crowd: np.ndarray,
    params: COCOParams,
) -> MatchRecords:
    """pycocotools' ``evaluateImg`` for many (image, class) groups at once.

    ``d_key``/``g_key`` identify the group (e.g. ``image * n_classes + cls``);
    detections must be ordered by rank inside their group (``d_rank`` = 0, 1, ... in
    descending score order) and already cut at ``max_dets[-1]``; ground truth must be
    in file order inside each group. ``*_area`` are the areas used for area ranges.
    """
    d_key = np.asarray(d_key, dtype=np.int64)
    g_key = np.asarray(g_key, dtype=np.int64)
    n_d, n_g = d_key.shape[0], g_key.shape[0]
    thr = np.minimum(np.asarray(params.iou_thrs, dtype=np.float64), 1 - 1e-10)
    rng = np.asarray(params.area_rngs, dtype=np.float64)
    n_a, n_t = rng.shape[0], thr.shape[0]
    n_at = n_a * n_t
    g_crowd = np.asarray(g_crowd, dtype=bool)
    g_ig = g_crowd[:, None] | (g_area[:, None] < rng[:, 0]) | (g_area[:, None] > rng[:, 1])
    d_out = (d_area[:, None] < rng[:, 0]) | (d_area[:, None] > rng[:, 1])
    dt_gt = np.full((n_d, n_a, n_t), -1, dtype=np.int64)
    if n_d and n_g:
        cd, cg, ci = _candidate_pairs(d_key, d_xyxy, g_key, g_xyxy, g_crowd, float(thr.min()))
        if cd.size:
            order = np.lexsort((cg, ci, cd, d_rank[cd]))
            cd, cg, ci = cd[order], cg[order], ci[order]
            r = d_rank[cd]
            bounds = np.concatenate(([0], np.flatnonzero(r[1:] != r[:-1]) + 1, [r.shape[0]]))
            taken = np.zeros((n_g, n_at), dtype=bool)
            prio = np.where(g_ig, 1, 2).astype(np.int64)  # regular boxes win over ignored
            flat = dt_gt.reshape(n_d, n_at)
            for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
                pd_, pg, pi = cd[s:e], cg[s:e], ci[s:e]
                n = e - s
                starts = np.flatnonzero(np.concatenate(([True], pd_[1:] != pd_[:-1])))
                ok = (pi[:, None] >= thr[None, :])[:, None, :] & (
                    ~taken[pg] | g_crowd[pg][:, None]
                ).reshape(n, n_a, n_t)
                code = (ok * prio[pg][:, :, None]).reshape(n, n_at)
                code = code * n + np.arange(n, dtype=np.int64)[:, None]
                best = np.maximum.reduceat(code, starts, axis=0)
                hit = best >= n
                gsel = pg[best % n]
                flat[pd_[starts]] = np.where(hit, gsel, -1)
                rr, cc = np.nonzero(hit & ~g_crowd[gsel])
                taken[gsel[rr, cc], cc] = True
    matched = dt_gt >= 0
    if n_g:
        ig_m = g_ig[np.maximum(dt_gt, 0), np.arange(n_a)[None, :, None]]
    else:
        ig_m = np.zeros(dt_gt.shape, dtype=bool)
    ignore = np.where(matched, ig_m, d_out[:, :, None])
    return MatchRecords(dt_gt, ignore, g_ig)


def _candidate_pairs(
    d_key: np.ndarray,
    d_xyxy: np.ndarray,
    g_key: np.ndarray,
    g_xyxy: np.ndarray,
    g_crowd: np.ndarray,
    min_thr: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All same-group pairs with IoU >= min_thr, built in chunks to bound memory."""
    g_order = np.argsort(g_key, kind="stable")
    gk = g_key[g_order]
    lo = np.searchsorted(gk, d_key, "left")
    cnt = np.searchsorted(gk, d_key, "right") - lo
    d_ba = _box_wh_area(d_xyxy)
    g_ba = _box_wh_area(g_xyxy)
    csum = np.cumsum(cnt)
    total = int(csum[-1]) if csum.size else 0
    outs_d, outs_g, outs_i = [], [], []
    start = 0
    n_d = d_key.shape[0]
    while start < n_d:
        base = int(csum[start - 1]) if start else 0
        stop = int(np.searchsorted(csum, base + _PAIR_CHUNK, "right"))
        stop = max(stop, start + 1)
        c = cnt[start:stop]
        m = int(c.sum())
        if m:
            pd_ = np.repeat(np.arange(start, stop, dtype=np.int64), c)
            first = np.repeat(np.cumsum(c) - c, c)
            pg = g_order[np.repeat(lo[start:stop], c) + (np.arange(m, dtype=np.int64) - first)]
            ious = _pair_ious(d_xyxy, d_ba, g_xyxy, g_ba, g_crowd, pd_, pg)
            keep = ious >= min_thr
            outs_d.append(pd_[keep])
            outs_g.append(pg[keep])
            outs_i.append(ious[keep])
        start = stop
    del total
    if not outs_d:
        e = np.zeros(0, dtype=np.int64)
        return e, e, np.zeros(0)
    return np.concatenate(outs_d), np.concatenate(outs_g), np.concatenate(outs_i)


# --------------------------------------------------------------------------- accumulation
def _min_counts(rec_thrs: np.ndarray, n: int) -> np.ndarray:
    """Smallest integer c with float(c / n) >= thr, per recall threshold (exactly)."""
    c = np.ceil(rec_thrs * n).astype(np.int64)
    for _ in range(2):
        c = np.where(c / n < rec_thrs, c + 1, c)
        dec = (c > 0) & ((c - 1) / n >= rec_thrs)
        c = np.where(dec, c - 1, c)
    return c


# --------------------------------------------------------------------------- evaluator
class COCOEvaluator:
    """COCO evaluation that keeps per-detection match records for cheap updates.

    Build once with the ground truth and one prediction run; after an edit call
    :meth:`update_images` with the touched image indices (``Dataset.apply`` returns
    them): only those images are re-matched and only their classes re-accumulated.
    The ground-truth table is read again at each update (edits mutate it in place);
    the prediction table must not change.
    """

    def __init__(
        self,
        gt: Boxes,
        dets: Boxes,
        n_classes: int,
        image_mask: np.ndarray | None = None,
        params: COCOParams | None = None,
        image_ids: np.ndarray | None = None,
        class_names: Sequence[str] | None = None,
        progress: Callable[[int, int], bool] | None = None,
    ) -> None:
        self.params = params or COCOParams()
        self.gt = gt
        self.dets = dets
        self.n_classes = int(n_classes)
        self.class_names = tuple(class_names) if class_names is not None else None
        n_img = gt.n_images
        if dets.n_images != n_img:
            raise ValueError("gt and dets have different image counts")
        self.image_mask = (
            np.ones(n_img, dtype=bool) if image_mask is None else np.asarray(image_mask, bool).copy()
        )
        self.image_ids = (
            np.arange(n_img, dtype=np.int64) if image_ids is None else np.asarray(image_ids)
        )
        p = self.params
        self._thr = np.asarray(p.iou_thrs, dtype=np.float64)
        self._rec = np.asarray(p.rec_thrs, dtype=np.float64)
        self._n_a, self._n_t = len(p.area_rngs), len(p.iou_thrs)
        self._prepare_dets()
        t, r, k, a, m = self._n_t, len(p.rec_thrs), self.n_classes, self._n_a, len(p.max_dets)
        self.precision = -np.ones((t, r, k, a, m))
        self.recall = -np.ones((t, k, a, m))
        self.scores = -np.ones((t, r, k, a, m))
        self._img_gt_cls: dict[int, np.ndarray] = {}
        self._rematch(np.arange(n_img, dtype=np.int64), full=True)
        self._count_gt()
        self._accumulate(range(self.n_classes), progress)

    # ------------------------------------------------------------------ preparation
    def _prepare_dets(self) -> None:
        d = self.dets
        p = self.params
        k = self.n_classes
        keep = d.alive & (d.cls >= 0) & (d.cls < k)
        rows = np.flatnonzero(keep)
        img, cls, score = d.image[rows], d.cls[rows], d.score[rows]
        # group order: image, class, descending score (stable over file order)
        order = np.lexsort((rows, -score, cls, img))
        rows, img, cls, score = rows[order], img[order], cls[order], score[order]
        key = img * k + cls
        new = np.concatenate(([True], key[1:] != key[:-1])) if key.size else np.zeros(0, bool)
        starts = np.flatnonzero(new)
        gid = np.cumsum(new) - 1
        rank = np.arange(key.shape[0], dtype=np.int64) - starts[gid] if key.size else key
        cut = rank < p.max_dets[-1]
        rows, img, cls, score, key, rank = (a[cut] for a in (rows, img, cls, score, key, rank))
        self._d_rows, self._d_img, self._d_cls, self._d_key = rows, img, cls, key
        self._d_rank, self._d_score = rank, score
        self._d_xyxy = np.ascontiguousarray(d.xyxy[rows])
        self._d_area = d.box_area()[rows] if rows.size else np.zeros(0)
        self._img_off = np.searchsorted(img, np.arange(d.n_images + 1))
        # evaluation order: class, descending score, image id, rank (pycocotools' mergesort
        # over the per-image concatenation in image-id order)
        ev = np.lexsort((rank, self.image_ids[img] if img.size else img, -score, cls))
        self._ev_order = ev
        self._ev_pos = np.empty_like(ev)
        self._ev_pos[ev] = np.arange(ev.shape[0])
        self._ev_cls = cls[ev]
        self._ev_rank = rank[ev]
        self._ev_score = score[ev]
        self._ev_img = img[ev]
        self._k_off = np.searchsorted(self._ev_cls, np.arange(k + 1))
        n = rows.shape[0]
        at = self._n_a * self._n_t
        self._tp = np.zeros((n, at), dtype=bool)
        self._ig = np.zeros((n, at), dtype=bool)
        self._active = self.image_mask[self._ev_img]

    def _gt_rows(self, images: np.ndarray) -> np.ndarray:
        g = self.gt
        if images.shape[0] == g.n_images:
            sel = np.ones(len(g), dtype=bool)
        else:
            sel = np.zeros(len(g), dtype=bool)
            for i in images.tolist():
                sel[g.offsets[i] : g.offsets[i + 1]] = True
        sel &= g.alive & (g.cls >= 0) & (g.cls < self.n_classes)
        sel &= self.image_mask[g.image]
        return np.flatnonzero(sel)

    def _rematch(self, images: np.ndarray, full: bool = False) -> set[int]:
        """Match the detections of ``images``; return the classes whose numbers moved."""
        g = self.gt
        k = self.n_classes
        grows = self._gt_rows(images)
        if full:
            drows = np.arange(self._d_rows.shape[0])
        else:
            parts = [np.arange(self._img_off[i], self._img_off[i + 1]) for i in images.tolist()]
            drows = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        affected: set[int] = set()
        if not full:
            for i in images.tolist():
                old = self._img_gt_cls.get(i)
                if old is not None:
                    affected.update(old.tolist())
            affected.update(self._d_cls[drows].tolist())
        dmask = self.image_mask[self._d_img[drows]]
        drows_m = drows[dmask]
        g_area = g.box_area()[grows] if grows.size else np.zeros(0)
        rec = match_columns(
            self._d_key[drows_m],
            self._d_rank[drows_m],
            self._d_xyxy[drows_m],
            self._d_area[drows_m],
            g.image[grows] * k + g.cls[grows],
            g.xyxy[grows],
            g_area,
            g.iscrowd[grows],
            self.params,
        )
        at = self._n_a * self._n_t
        ev = self._ev_pos[drows_m]
        self._tp[ev] = rec.tp.reshape(-1, at)
        self._ig[ev] = rec.ignore.reshape(-1, at)
        self._active[self._ev_pos[drows]] = dmask
        # remember ground-truth classes per image (to know what an edit touched later)
        gimg, gcls = g.image[grows], g.cls[grows]
        if full:
            cut = np.searchsorted(gimg, np.arange(g.n_images + 1))
            self._img_gt_cls = {
                i: np.unique(gcls[cut[i] : cut[i + 1]])
                for i in np.flatnonzero(np.diff(cut)).tolist()
            }
        else:
            for i in images.tolist():
                cl = np.unique(gcls[gimg == i])
                affected.update(cl.tolist())
                if cl.size:
                    self._img_gt_cls[i] = cl
                else:
                    self._img_gt_cls.pop(i, None)
        return affected

    def _count_gt(self) -> None:
        g = self.gt
        rows = self._gt_rows(np.arange(g.n_images))
        rng = np.asarray(self.params.area_rngs)
        area = g.box_area()[rows]
        ig = g.iscrowd[rows][:, None] | (area[:, None] < rng[:, 0]) | (area[:, None] > rng[:, 1])
        k = self.n_classes
        cls = g.cls[rows]
        self._npig = np.stack(
            [np.bincount(cls[~ig[:, a]], minlength=k) for a in range(self._n_a)], axis=1
        )  # [K, A]
        self._n_gt = np.bincount(cls, minlength=k)

    def _accumulate(
        self, classes: Iterable[int], progress: Callable[[int, int], bool] | None = None
    ) -> None:
        p = self.params
        n_a, n_t = self._n_a, self._n_t
        at = n_a * n_t
        r = self._rec.shape[0]
        cls_list = list(classes)
        mins = {}
        for step, k in enumerate(cls_list):
            if progress is not None and not progress(step, len(cls_list)):
                break
            s, e = int(self._k_off[k]), int(self._k_off[k + 1])
            npig = self._npig[k]  # [A]
            self.precision[:, :, k] = -1.0
            self.recall[:, k] = -1.0
            self.scores[:, :, k] = -1.0
            if not (npig > 0).any():
                continue
            cmin = np.empty((n_a, r), dtype=np.int64)
            for a in range(n_a):
                n = int(npig[a])
                if n:
                    if n not in mins:
                        mins[n] = _min_counts(self._rec, n)
                    cmin[a] = mins[n]
                else:
                    cmin[a] = 0
            cmin_col = np.repeat(cmin, n_t, axis=0)  # [AT, R]
            act = self._active[s:e]
            rank = self._ev_rank[s:e]
            for m, md in enumerate(p.max_dets):
                sel = act & (rank < md)
                if sel.all():
                    tp, ig, sc = self._tp[s:e], self._ig[s:e], self._ev_score[s:e]
                else:
                    idx = np.flatnonzero(sel) + s
                    tp, ig, sc = self._tp[idx], self._ig[idx], self._ev_score[idx]
                nd = tp.shape[0]
                if nd == 0:
                    q = np.zeros((at, r))
                    ss = np.zeros((at, r))
                    rc_last = np.zeros(at)
                else:
                    tpc = np.cumsum(tp, axis=0, dtype=np.int64)
                    fpc = np.cumsum(~(tp | ig), axis=0, dtype=np.int64)
                    pr = tpc / ((fpc + tpc) + _EPS)
                    pr = np.maximum.accumulate(pr[::-1], axis=0)[::-1]
                    npig_col = np.repeat(npig, n_t)
                    rc_last = tpc[-1] / np.maximum(npig_col, 1)
                    off = np.arange(at, dtype=np.int64) * (nd + 1)
                    flat = (tpc.T + off[:, None]).ravel()
                    pos = np.searchsorted(flat, cmin_col + off[:, None], "left")
                    pos -= (np.arange(at, dtype=np.int64) * nd)[:, None]
                    inside = pos < nd
                    pc = np.minimum(pos, nd - 1)
                    q = np.where(inside, pr[pc, np.arange(at)[:, None]], 0.0)
                    ss = np.where(inside, sc[pc], 0.0)
                # [AT, R] -> [T, R, A]
                q3 = q.reshape(n_a, n_t, r).transpose(1, 2, 0)
                s3 = ss.reshape(n_a, n_t, r).transpose(1, 2, 0)
                rc3 = rc_last.reshape(n_a, n_t).T
                valid = npig > 0
                self.precision[:, :, k, valid, m] = q3[:, :, valid]
                self.scores[:, :, k, valid, m] = s3[:, :, valid]
                self.recall[:, k, valid, m] = rc3[:, valid]

    # ------------------------------------------------------------------ public
    def update_images(
        self, indices: Iterable[int], image_mask: np.ndarray | None = None
    ) -> COCOResult:
        """Re-match the given images against the current ground truth, re-accumulate.

        ``image_mask`` replaces the mask of included images (pass it when images were
        deleted or restored; the changed images must be among ``indices``).
        """
        idx = np.unique(np.fromiter((int(i) for i in indices), dtype=np.int64))
        if image_mask is not None:
            self.image_mask = np.asarray(image_mask, dtype=bool).copy()
        if idx.size == 0:
            return self.result()
        affected = self._rematch(idx)
        self._count_gt()
        self._accumulate(sorted(affected))
        return self.result()

    def result(self) -> COCOResult:
        """The current numbers as a :class:`COCOResult` (arrays are copies)."""
        n_det = np.bincount(self._ev_cls[self._active], minlength=self.n_classes)
        s = _summarize(
            self.precision, self.recall, self.params, self._n_gt, n_det, self.class_names
        )
        return COCOResult(
            **s,  # type: ignore[arg-type]
            precision=self.precision.copy(),
            recall=self.recall.copy(),
            scores=self.scores.copy(),
            params=self.params,
        )


def evaluate(
    gt: Boxes,
    dets: Boxes,
    n_classes: int,
    image_mask: np.ndarray | None = None,
    params: COCOParams | None = None,
    *,
    image_ids: np.ndarray | None = None,
    class_names: Sequence[str] | None = None,
    progress: Callable[[int, int], bool] | None = None,
) -> COCOResult:
    """COCO bbox evaluation of ``dets`` against ``gt`` (pycocotools' numbers).

    ``image_mask`` (bool per image) excludes images, e.g. deleted ones; boxes with
    ``alive == False`` are excluded; classes outside ``0..n_classes-1`` are ignored.
    ``image_ids`` orders images for score ties as pycocotools does (ascending id);
    pass the dataset's COCO image ids for exact parity when the image table is not
    sorted by id. ``progress(done, total)`` is called per class during accumulation
    and may return False to stop early (the result is then incomplete).
    """
    return COCOEvaluator(
        gt, dets, n_classes, image_mask, params, image_ids, class_names, progress
    ).result()
