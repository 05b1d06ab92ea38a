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
from functools import cached_property

import numpy as np
import pandas as pd

from .dataset import Dataset
from .geometry import box_areas
from .matching import group_ranks, match_groups, rows_of_images, score_order
from .tables import Boxes

__all__ = [
    "COCOEvaluator",
    "COCOParams",
    "COCOResult",
    "MatchRecords",
    "evaluate",
    "evaluate_run",
    "match_columns",
    "STAT_NAMES",
]

STAT_NAMES: tuple[str, ...] = (
    "AP", "AP50", "AP75", "APs", "APm", "APl",
    "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
)  # fmt: skip

_EPS = float(np.spacing(1))
_DET_CHUNK = 250_000


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
    ground truth in that area range), ``scores`` as ``eval["scores"]``. ``per_class``
    is indexed by class index with columns ``name, AP, AP50, AP75, AR100, n_gt, n_det``
    (-1 where no ground truth); a class's AP is ``mean(precision[:, :, k, 0, -1])``
    over the entries > -1, as the COCO tools compute it.

    A result is a snapshot: the evaluator never writes into it. It shares the
    per-class arrays it was made from (an update replaces the arrays of the classes it
    re-accumulated, it does not copy the others); ``precision`` and ``scores`` are
    assembled on first access.
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
    class_columns: dict[str, object] = field(repr=False)  # the columns of per_class
    recall: np.ndarray
    params: COCOParams
    class_precision: tuple[np.ndarray, ...] = field(repr=False)  # per class [T, R, A, M]
    class_scores: tuple[np.ndarray, ...] = field(repr=False)

    @cached_property
    def per_class(self) -> pd.DataFrame:
        df = pd.DataFrame(self.class_columns, copy=False)
        df.index.name = "cls"
        return df

    @cached_property
    def precision(self) -> np.ndarray:
        return _stack_classes(self.class_precision, self.params)

    @cached_property
    def scores(self) -> np.ndarray:
        return _stack_classes(self.class_scores, self.params)

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


def _stack_classes(arrays: tuple[np.ndarray, ...], p: COCOParams) -> np.ndarray:
    if not arrays:
        return np.zeros((len(p.iou_thrs), len(p.rec_thrs), 0, len(p.area_rngs), len(p.max_dets)))
    return np.stack(arrays, axis=2)


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
    prec: Sequence[np.ndarray],
    recall: np.ndarray,
    p: COCOParams,
    n_gt: np.ndarray,
    n_det: np.ndarray,
    class_names: Sequence[str] | None,
    stacks: dict[tuple[int, int], np.ndarray] | None = None,
) -> dict[str, object]:
    """pycocotools' ``summarize`` over per-class precision arrays ``[T, R, A, M]``.

    Each mean is taken over the same values in the same order as pycocotools
    (``precision[:, :, :, a, m]`` flattened in C order, entries > -1), so the numbers
    are bit-identical. ``stacks`` caches ``precision[:, :, :, a, m]`` per ``(a, m)``
    (the evaluator keeps them current class by class)."""
    thrs = np.asarray(p.iou_thrs)
    k = len(prec)
    t_n, r_n = len(p.iou_thrs), len(p.rec_thrs)
    slices = {} if stacks is None else stacks

    def trk(a: int, m: int) -> np.ndarray:  # precision[:, :, :, a, m] as [T, R, K]
        if (a, m) not in slices:
            out = np.empty((t_n, r_n, k))
            for c, arr in enumerate(prec):
                out[:, :, c] = arr[:, :, a, m]
            slices[a, m] = out
        return slices[a, m]

    out: dict[str, object] = {}
    for name, ap, thr, area, md in _summary_spec(p):
        a = [i for i, lbl in enumerate(p.area_labels) if lbl == area]
        m = [i for i, x in enumerate(p.max_dets) if x == md]
        if len(a) != 1 or len(m) != 1:  # pycocotools' odd shapes: the full array
            full = _stack_classes(tuple(prec), p) if ap else recall
            s = full[np.where(thr == thrs)[0]] if thr is not None else full
            s = s[..., a, :][..., m] if a and m else s[..., :0, :][..., :0]
            out[name] = _mean_valid(s)
            continue
        s = trk(a[0], m[0]) if ap else recall[:, :, a[0], m[0]]
        if thr is not None:
            s = s[np.where(thr == thrs)[0]]
        out[name] = _mean_valid(s)
    mi = len(p.max_dets) - 1
    cols: dict[str, object] = {}
    cols["name"] = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    s_all = trk(0, mi) if k else np.zeros((t_n, r_n, 0))
    # a class has precision > -1 everywhere at area "all" or nowhere: one mean per row
    per_k = np.ascontiguousarray(s_all.transpose(2, 0, 1)).reshape(k, -1)
    valid = per_k[:, 0] > -1 if per_k.size else np.zeros(k, bool)
    cols["AP"] = np.where(valid, per_k.mean(axis=1) if per_k.size else 0.0, -1.0)
    for lbl, t in (("AP50", 0.5), ("AP75", 0.75)):
        idx = np.where(thrs == t)[0]
        if idx.size and k:
            row = np.ascontiguousarray(s_all[idx[0]].T)  # [K, R]
            cols[lbl] = np.where(valid, row.mean(axis=1), -1.0)
        else:
            cols[lbl] = np.full(k, -1.0)
    rec = np.ascontiguousarray(recall[:, :, 0, mi].T)  # [K, T]
    cols["AR100"] = np.where(valid, rec.mean(axis=1) if rec.size else 0.0, -1.0)
    cols["n_gt"] = n_gt
    cols["n_det"] = n_det
    out["class_columns"] = cols
    return out


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
    *,
    d_boxarea: np.ndarray | None = None,
    g_boxarea: np.ndarray | None = None,
) -> MatchRecords:
    """pycocotools' ``evaluateImg`` for many (image, class) groups at once.

    ``d_key``/``g_key`` identify the group (e.g. ``image * n_classes + cls``);
    ``d_rank`` is the rank of each detection inside its group (0, 1, ... in descending
    score order), already cut at ``max_dets[-1]``; ground truth must be in file order
    inside each group. ``*_area`` are the areas used for area ranges, ``*_boxarea``
    the box areas of the IoU (:func:`~detview.core.geometry.box_areas`, default
    ``(x2 - x1) * (y2 - y1)``). The matching itself is :func:`.matching.match_groups`.
    """
    d_key = np.asarray(d_key, dtype=np.int64)
    g_key = np.asarray(g_key, dtype=np.int64)
    n_d = d_key.shape[0]
    rng = np.asarray(params.area_rngs, dtype=np.float64)
    n_a, n_t = rng.shape[0], len(params.iou_thrs)
    g_crowd = np.asarray(g_crowd, dtype=bool)
    g_ig = g_crowd[:, None] | (g_area[:, None] < rng[:, 0]) | (g_area[:, None] > rng[:, 1])
    d_out = (d_area[:, None] < rng[:, 0]) | (d_area[:, None] > rng[:, 1])
    gr = match_groups(
        d_key, d_rank, d_xyxy, box_areas(d_xyxy) if d_boxarea is None else d_boxarea,
        g_key, g_xyxy, box_areas(g_xyxy) if g_boxarea is None else g_boxarea,
        np.asarray(params.iou_thrs, dtype=np.float64),
        g_crowd=g_crowd, prio=np.where(g_ig, 1, 2), tie_last=True, want_iou=False,
    )  # fmt: skip
    dt_gt = gr.det_gt.reshape(n_d, n_a, n_t)
    ignore = np.repeat(d_out[:, :, None], n_t, axis=2)
    di, ai, ti = np.nonzero(dt_gt >= 0)
    ignore[di, ai, ti] = g_ig[dt_gt[di, ai, ti], ai]
    return MatchRecords(dt_gt, ignore, g_ig)


# --------------------------------------------------------------------------- accumulation
def _min_counts(rec_thrs: np.ndarray, n: int) -> np.ndarray:
    """Smallest integer c with float(c / n) >= thr, per recall threshold (exactly)."""
    c = np.ceil(rec_thrs * n).astype(np.int64)
    for _ in range(2):
        c = np.where(c / n < rec_thrs, c + 1, c)
        dec = (c > 0) & ((c - 1) / n >= rec_thrs)
        c = np.where(dec, c - 1, c)
    return c


def _accumulate_columns(
    tp: np.ndarray,
    ni: np.ndarray,
    sc: np.ndarray,
    cmin_col: np.ndarray,
    npig_col: np.ndarray,
    first_row: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """pycocotools' ``accumulate`` of several columns of one class at once.

    ``tp``, ``ni``: [C, n] true-positive and non-ignored flags (selected detections
    only) in score order; ``sc``: scores; ``cmin_col`` [C, R]: the true positives each
    recall threshold needs. Only true positives move the precision envelope: between
    two of them precision falls, and recall steps exactly at them. So per column the
    precision at the j-th true positive is ``j / (n + eps)`` (``n``: non-ignored
    detections up to it), the envelope is a suffix maximum over them, and a recall
    threshold reads it at its ``c``-th true positive (0 beyond the last). Returns
    precision [C, R], scores [C, R], recall [C].
    """
    n_c, nd = tp.shape
    r = cmin_col.shape[1]
    cols = np.arange(n_c)
    flat = np.flatnonzero(tp)  # sorted by column, then score order
    col, row = np.divmod(flat, max(nd, 1))
    ntp = np.bincount(col, minlength=n_c)
    rc = ntp / np.maximum(npig_col, 1)
    first = np.concatenate(([0], np.cumsum(ntp)[:-1]))
    j = np.arange(col.shape[0], dtype=np.int64) - first[col]  # 0-based tp index
    n_ni = np.zeros(col.shape[0], dtype=np.int64)
    step = max(1, (1 << 24) // max(nd, 1))  # cumsum a few columns at a time
    for lo in range(0, n_c, step):
        part = np.cumsum(ni[lo : lo + step], axis=1, dtype=np.int32)
        sel = (col >= lo) & (col < lo + step)
        n_ni[sel] = part[col[sel] - lo, row[sel]]
    width = int(ntp.max()) if ntp.size else 0
    env = np.zeros((n_c, width + 1))
    env[col, j] = (j + 1) / (n_ni + _EPS)
    env = np.maximum.accumulate(env[:, ::-1], axis=1)[:, ::-1]
    fr = max(first_row, 0)
    rows = np.full((n_c, width + 1), fr, dtype=np.int64)
    rows[col, j] = row
    pos = np.minimum(np.maximum(cmin_col - 1, 0), width)
    inside = cmin_col <= ntp[:, None]
    q = np.where(inside, env[cols[:, None], pos], 0.0)
    srow = np.where(cmin_col > 0, rows[cols[:, None], pos], fr)
    ss = np.where(inside & ((cmin_col > 0) | (first_row >= 0)), sc[srow] if sc.size else 0.0,
                  0.0)
    del r
    return q, ss, rc


#: true positives per block of a column, on average
_BLOCK_TPS = 256
#: block-level work per block relative to the per-true-positive work of a query
_BLOCK_COST = 10.0


class _ClassIndex:
    """Block index of the true positives of one class, for every column at once.

    A column is one (max_dets, area range, IoU threshold); ``C`` of them. pycocotools'
    precision at a column's i-th true positive (1-based) is ``i / (N_i + eps)``, ``N_i``
    the non-ignored detections up to it in score order, and a recall threshold reads
    the maximum of that over its ``c``-th and every later true positive.

    The class's detections (score order) are cut into blocks of ``2**shift``
    positions, the same for every column. Per block and column (``[nb, C]`` arrays):
    ``cnt`` true positives, ``nib`` non-ignored detections, and ``bmax``, the block's
    maximum precision computed at the prefix counts ``sj``/``sn`` then. The true
    positives themselves (position, non-ignored count inside their block) are stored
    per column in one flat array with spare room, so an edit rewrites only the blocks
    it touched. Blocks after an edit see only their prefix counts move, which moves
    their maximum by at most ``(|dj| + |dn|) / (n + 1)``: a query recomputes just the
    blocks that can still hold a maximum it reads, and every step runs on all the
    queried columns together.
    """

    def __init__(self, n: int, shift: int) -> None:
        self.shift = shift
        self.n = n
        self.nb = nb = max((n + (1 << shift) - 1) >> shift, 1)
        e64 = np.zeros((nb, 0), dtype=np.int64)
        self.cnt, self.nib, self.sj, self.sn = e64, e64.copy(), e64.copy(), e64.copy()
        self.bmax = np.zeros((nb, 0))
        self.dirty = np.zeros((nb, 0), dtype=bool)
        self.n_dirty = 0
        self.ntp = np.zeros(0, dtype=np.int64)
        self.tcap = np.zeros(0, dtype=np.int64)
        self.toff = np.zeros(0, dtype=np.int64)
        self.tpos = np.zeros(0, dtype=np.int32)
        self.tnloc = np.zeros(0, dtype=np.int32)
        self.tsuf = np.zeros(0)

    @staticmethod
    def block_shift(n: int, ntp: np.ndarray) -> int:
        """Block width ``2**shift``: a query costs about (blocks + 101 x true positives per
        block) per column, so blocks hold about ``sqrt(ntp / 20)`` true positives of
        the densest column (:data:`_BLOCK_TPS` caps it)."""
        dens = int(ntp.max()) if ntp.size else 1
        per_block = min(max(int(np.sqrt(dens / _BLOCK_COST)), 8), _BLOCK_TPS)
        width = max(per_block * n // max(dens, 1), 16)
        return max(int(width).bit_length() - 1, 4)

    def add(self, tp: np.ndarray, ni: np.ndarray) -> None:
        """Append columns from their flags ``[k, n]`` (true positive, non-ignored)."""
        n, nb, k = self.n, self.nb, tp.shape[0]
        ntp = tp.sum(axis=1).astype(np.int64)
        cap = ntp + 8 + ntp // 8
        base = int(self.tpos.shape[0])
        toff = base + np.concatenate(([0], np.cumsum(cap)[:-1])).astype(np.int64)
        tpos = np.zeros(int(cap.sum()), dtype=np.int32)
        tnloc = np.zeros(int(cap.sum()), dtype=np.int32)
        tsuf = np.zeros(int(cap.sum()))
        cnt = np.zeros((nb, k), dtype=np.int64)
        nib_all = np.zeros((nb, k), dtype=np.int64)
        bmax = np.full((nb, k), -np.inf)
        sj = np.zeros((nb, k), dtype=np.int64)
        sn = np.zeros((nb, k), dtype=np.int64)
        ends = np.minimum(np.arange(1, nb + 1) << self.shift, n) - 1
        step = max(1, (1 << 24) // max(n, 1))
        for lo in range(0, k if n else 0, step):
            t, v = tp[lo : lo + step], ni[lo : lo + step]
            cum = np.cumsum(v, axis=1, dtype=np.int64)
            at_end = cum[:, ends]
            nib = np.diff(at_end, axis=1, prepend=0)
            nib_all[:, lo : lo + t.shape[0]] = nib.T
            before = at_end - nib  # non-ignored before each block
            col, row = np.divmod(np.flatnonzero(t), n)
            blk = row >> self.shift
            np.add.at(cnt, (blk, col + lo), 1)
            first = np.concatenate(([0], np.cumsum(ntp[lo : lo + t.shape[0]])))
            slot = toff[col + lo] - base + (np.arange(col.shape[0]) - first[col])
            tpos[slot] = row
            tnloc[slot] = cum[col, row] - before[col, blk]
            # every block's maximum now, at the current prefix counts
            if col.size:
                j = np.arange(col.shape[0]) - first[col] + 1
                prec = j / (cum[col, row] + _EPS)
                seg = (col + lo) * nb + blk
                head = np.flatnonzero(np.concatenate(([True], seg[1:] != seg[:-1])))
                hb, hc = blk[head], col[head] + lo
                suf = _segmented_suffix_max(prec, seg)
                tsuf[slot] = suf
                bmax[hb, hc] = suf[head]
                sj[hb, hc] = j[head] - 1
                sn[hb, hc] = before[col[head], hb]
        self.cnt = np.hstack((self.cnt, cnt))
        self.nib = np.hstack((self.nib, nib_all))
        # an empty block's stamps: the prefix counts at its start
        pj = np.cumsum(cnt, axis=0) - cnt
        pn = np.cumsum(nib_all, axis=0) - nib_all
        empty = cnt == 0
        sj[empty], sn[empty] = pj[empty], pn[empty]
        self.sj, self.sn = np.hstack((self.sj, sj)), np.hstack((self.sn, sn))
        self.bmax = np.hstack((self.bmax, bmax))
        self.dirty = np.hstack((self.dirty, np.zeros((nb, k), dtype=bool)))
        self.ntp = np.concatenate((self.ntp, ntp))
        self.tcap = np.concatenate((self.tcap, cap))
        self.toff = np.concatenate((self.toff, toff))
        self.tpos = np.concatenate((self.tpos, tpos))
        self.tnloc = np.concatenate((self.tnloc, tnloc))
        self.tsuf = np.concatenate((self.tsuf, tsuf))

    # ------------------------------------------------------------------ edits
    def replace_block(self, b: int, tp: np.ndarray, ni: np.ndarray, cols: np.ndarray) -> None:
        """Rewrite block ``b`` of columns ``cols`` from their flags ``[len(cols), w]``."""
        w = tp.shape[1]
        cum = np.cumsum(ni, axis=1, dtype=np.int64)
        new_cnt = tp.sum(axis=1)
        old_cnt = self.cnt[b, cols]
        grow = self.ntp[cols] - old_cnt + new_cnt
        if (grow > self.tcap[cols]).any():
            self._grow(cols[grow > self.tcap[cols]], grow[grow > self.tcap[cols]])
        before = self.cnt[:b, cols].sum(axis=0)
        base = b << self.shift
        for j, c in enumerate(cols.tolist()):
            o = int(self.toff[c])
            s0 = o + int(before[j])
            e_old = s0 + int(old_cnt[j])
            end = o + int(self.ntp[c])
            loc = np.flatnonzero(tp[j])
            e_new = s0 + loc.shape[0]
            if e_new != e_old:  # move the column's later true positives
                self.tpos[e_new : end + e_new - e_old] = self.tpos[e_old:end].copy()
                self.tnloc[e_new : end + e_new - e_old] = self.tnloc[e_old:end].copy()
                self.tsuf[e_new : end + e_new - e_old] = self.tsuf[e_old:end].copy()
            self.tpos[s0:e_new] = loc + base
            self.tnloc[s0:e_new] = cum[j, loc] if w else loc
        self.ntp[cols] += new_cnt - old_cnt
        self.cnt[b, cols] = new_cnt
        self.nib[b, cols] = cum[:, -1] if w else 0
        self.dirty[b, cols] = True
        self.n_dirty += cols.shape[0]

    def _grow(self, cols: np.ndarray, need: np.ndarray) -> None:
        """Give ``cols`` more room: re-lay the flat storage."""
        cap = self.tcap.copy()
        cap[cols] = need + 8 + need // 4
        toff = np.concatenate(([0], np.cumsum(cap)[:-1])).astype(np.int64)
        tpos = np.zeros(int(cap.sum()), dtype=np.int32)
        tnloc = np.zeros(int(cap.sum()), dtype=np.int32)
        tsuf = np.zeros(int(cap.sum()))
        for c in range(cap.shape[0]):
            n = int(self.ntp[c])
            tpos[toff[c] : toff[c] + n] = self.tpos[self.toff[c] : self.toff[c] + n]
            tnloc[toff[c] : toff[c] + n] = self.tnloc[self.toff[c] : self.toff[c] + n]
            tsuf[toff[c] : toff[c] + n] = self.tsuf[self.toff[c] : self.toff[c] + n]
        self.tpos, self.tnloc, self.tsuf, self.toff, self.tcap = tpos, tnloc, tsuf, toff, cap

    # ------------------------------------------------------------------ queries
    def _exact(self, b: np.ndarray, c: np.ndarray, pj: np.ndarray, pn: np.ndarray,
               qc: np.ndarray) -> None:
        """Recompute blocks ``(b, qc[c])`` at the current prefix counts: the precision
        of each true positive, its maximum to the end of the block (``tsuf``) and the
        block's maximum (``c`` indexes the queried columns, whose prefix counts are
        ``pj``/``pn``)."""
        if b.size == 0:
            return
        col = qc[c]
        lo, hi = pj[b, c], pj[b + 1, c]
        ln = hi - lo
        ne = ln > 0
        if ne.any():
            lo_n, ln_n, col_n = lo[ne], ln[ne], col[ne]
            first = np.cumsum(ln_n) - ln_n
            idx = np.repeat(lo_n - first, ln_n) + np.arange(int(ln_n.sum()), dtype=np.int64)
            slot = np.repeat(self.toff[col_n], ln_n) + idx
            n_val = np.repeat(pn[b[ne], c[ne]], ln_n) + self.tnloc[slot]
            prec = (idx + 1) / (n_val + _EPS)
            suf = _segmented_suffix_max(prec, np.repeat(np.arange(ln_n.shape[0]), ln_n))
            self.tsuf[slot] = suf
            self.bmax[b[ne], col_n] = suf[first]
        self.bmax[b[~ne], col[~ne]] = -np.inf
        self.sj[b, col] = lo
        self.sn[b, col] = pn[b, c]
        self.dirty[b, col] = False

    def query(self, qc: np.ndarray, cmin: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Columns ``qc`` at recall thresholds needing ``cmin[i]`` true positives each
        (``[len(qc), R]``): the precision read there, the class position whose score
        pycocotools reads (-1: the first selected detection, -2: none) and the number
        of true positives of each column."""
        nq, r = cmin.shape
        ntp = self.ntp[qc]
        q = np.zeros((nq, r))
        at = np.full((nq, r), -2, dtype=np.int64)
        inside = cmin <= ntp[:, None]
        none = inside & (ntp[:, None] == 0)
        at[none] = -1  # cmin == 0 without true positives: the first selected detection
        inside &= ~none
        if not inside.any():
            return q, at, ntp
        nb = self.nb
        zero = np.zeros((1, nq), dtype=np.int64)
        pj = np.concatenate((zero, np.cumsum(self.cnt[:, qc], axis=0)))
        pn = np.concatenate((zero, np.cumsum(self.nib[:, qc], axis=0)))
        if self.n_dirty:
            db, dc = np.nonzero(self.dirty[:, qc])
            self._exact(db, dc, pj, pn, qc)
            self.n_dirty = int(np.count_nonzero(self.dirty))
        # the block of each true positive read; its maximum to the end of the block is
        # ``tsuf`` once the block is current
        qi, rr = np.nonzero(inside)
        ci = np.maximum(cmin[qi, rr] - 1, 0)
        span = int(ntp.max()) + 1
        key = (pj[1:] + np.arange(nq) * span).T.reshape(-1)  # increasing per column
        qb = np.searchsorted(key, ci + qi * span, "right") - qi * nb
        col_q = qc[qi]
        old = (self.sj[qb, col_q] != pj[qb, qi]) | (self.sn[qb, col_q] != pn[qb, qi])
        if old.any():
            u = np.unique(qb[old] * nq + qi[old])
            self._exact(u // nq, u % nq, pj, pn, qc)
        local = self.tsuf[self.toff[col_q] + ci]
        # later blocks: a maximum computed at other prefix counts is within delta; only
        # columns with such stale blocks need the bounds
        pj0, pn0 = pj[:-1], pn[:-1]
        stale = self.sj[:, qc] != pj0
        stale |= self.sn[:, qc] != pn0
        nonempty = self.cnt[:, qc] > 0
        cs = np.flatnonzero((stale & nonempty).any(axis=0))
        if cs.size:
            st, ne = stale[:, cs], nonempty[:, cs]
            bm = self.bmax[:, qc[cs]]
            delta = (np.abs(pj0[:, cs] - self.sj[:, qc[cs]])
                     + np.abs(pn0[:, cs] - self.sn[:, qc[cs]])) / (pn0[:, cs] + 1.0)
            delta = np.where(st, delta * (1 + 1e-6) + 1e-12, 0.0)
            lo_b = np.where(ne, bm - delta, -np.inf)
            up_b = np.where(ne, bm + delta, -np.inf)
            sl = np.concatenate((np.maximum.accumulate(lo_b[::-1], axis=0)[::-1],
                                 np.full((1, cs.size), -np.inf)))
            pos_cs = np.full(nq, -1, dtype=np.int64)
            pos_cs[cs] = np.arange(cs.size)
            sel = pos_cs[qi] >= 0
            last_q = np.full((nb, cs.size), -1, dtype=np.int64)  # last query block before b
            later = sel & (qb + 1 < nb)
            last_q[qb[later] + 1, pos_cs[qi[later]]] = qb[later]
            last_q = np.maximum.accumulate(last_q, axis=0)
            need = st & ne & (last_q >= 0)
            need &= up_b >= np.take_along_axis(sl, np.maximum(last_q, 0) + 1, axis=0)
            nbk, ncol = np.nonzero(need)
            self._exact(nbk, cs[ncol], pj, pn, qc)
            skip = np.zeros((nb, nq), dtype=bool)
            skip[:, cs] = st & ~need  # stale and provably not a maximum read
        else:
            skip = stale
        val = np.where(nonempty & ~skip, self.bmax[:, qc], -np.inf)
        tail = np.concatenate((np.maximum.accumulate(val[::-1], axis=0)[::-1],
                               np.full((1, nq), -np.inf)))
        q[qi, rr] = np.maximum(local, tail[qb + 1, qi])
        pos = self.tpos[self.toff[qc[qi]] + ci]
        at[qi, rr] = np.where(cmin[qi, rr] > 0, pos, -1)
        return q, at, ntp


class COCOEvaluator:
    """COCO evaluation that keeps per-detection match records for cheap updates.

    Build once with the ground truth and one prediction run; after an edit call
    :meth:`update_images` with the touched image indices (``Dataset.apply`` returns
    them): only those images are re-matched, and in the classes whose records moved
    only the blocks of detections around them are re-accumulated (see
    :class:`_ClassIndex`). The ground-truth table is read again at each update (edits
    mutate it in place); the prediction table must not change.

    ``incremental=False`` (one-shot evaluation, :func:`evaluate`) skips the block
    index; updates then re-accumulate whole classes.
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
        *,
        incremental: bool = True,
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
            np.ones(n_img, dtype=bool)
            if image_mask is None
            else np.asarray(image_mask, bool).copy()
        )
        self.image_ids = (
            np.arange(n_img, dtype=np.int64) if image_ids is None else np.asarray(image_ids)
        )
        self.incremental = incremental
        p = self.params
        self._rec = np.asarray(p.rec_thrs, dtype=np.float64)
        self._n_a, self._n_t, self._n_m = len(p.area_rngs), len(p.iou_thrs), len(p.max_dets)
        self._prepare_dets()
        t, r, a, m = self._n_t, len(p.rec_thrs), self._n_a, self._n_m
        k = self.n_classes
        self._prec: list[np.ndarray] = [np.full((t, r, a, m), -1.0) for _ in range(k)]
        self._scores: list[np.ndarray] = [np.full((t, r, a, m), -1.0) for _ in range(k)]
        self._recall = -np.ones((t, k, a, m))
        self._index: dict[int, _ClassIndex] = {}
        self._index_order: dict[int, np.ndarray] = {}
        self._stacks: dict[tuple[int, int], np.ndarray] = {}  # see _summarize
        self._restack: set[int] = set()  # classes whose arrays changed since
        self._match_all()
        self._count_gt()
        for c in range(k):
            if progress is not None and not progress(c, k):
                break
            self._accumulate_class(c)

    # ------------------------------------------------------------------ preparation
    def _prepare_dets(self) -> None:
        d = self.dets
        p = self.params
        k = self.n_classes
        keep = d.alive & (d.cls >= 0) & (d.cls < k)
        rows = np.flatnonzero(keep)
        img, cls = d.image[rows], d.cls[rows]
        # group order: image, class, descending score (stable over file order)
        order, rank = group_ranks(img * k + cls, d.score[rows])
        rows, rank = rows[order], rank[order]
        cut = rank < p.max_dets[-1]
        rows, rank = rows[cut], rank[cut]
        img, cls, score = d.image[rows], d.cls[rows], d.score[rows]
        self._d_rows, self._d_img, self._d_rank = rows, img, rank
        self._img_off = np.searchsorted(img, np.arange(d.n_images + 1))
        # evaluation order: class, descending score, image id, rank (pycocotools'
        # mergesort over the per-image concatenation in image-id order)
        n = rows.shape[0]
        _, level = score_order(score)
        id_rank = np.empty(d.n_images, dtype=np.int64)
        id_rank[np.argsort(self.image_ids, kind="stable")] = np.arange(d.n_images)
        n_lev = int(level.max()) + 1 if n else 1
        md = int(p.max_dets[-1])
        if n and k * n_lev * d.n_images * md < 2**62:
            ev = np.argsort(((cls * n_lev + level) * d.n_images + id_rank[img]) * md + rank)
        else:
            ev = np.lexsort((rank, id_rank[img] if n else img, level, cls))
        self._ev_order = ev
        self._ev_pos = np.empty_like(ev)
        self._ev_pos[ev] = np.arange(n)
        self._k_off = np.searchsorted(cls[ev], np.arange(k + 1))
        at = self._n_a * self._n_t
        nbytes = (at + 7) // 8
        self._tpb = np.zeros((n, nbytes), dtype=np.uint8)  # packed flags, evaluation order
        self._igb = np.zeros((n, nbytes), dtype=np.uint8)
        self._active = self.image_mask[img[ev]]
        self._n_det = np.diff(self._k_off) - np.bincount(
            cls[ev][~self._active], minlength=k)  # active detections per class
        # per class and max_dets, the first active selected detection (its score is
        # read at recall 0); recomputed for a class when the image mask changes
        self._first_cache: dict[int, list[int]] = {}
        rank_ev = rank[ev]
        firsts = []
        for md in p.max_dets:
            pos = np.flatnonzero(self._active & (rank_ev < md))
            i = np.searchsorted(pos, self._k_off[:-1])
            ok = (i < pos.shape[0]) & (pos[np.minimum(i, max(pos.shape[0] - 1, 0))]
                                       < self._k_off[1:]) if pos.size else np.zeros(k, bool)
            firsts.append(np.where(ok, pos[np.minimum(i, max(pos.shape[0] - 1, 0))]
                                   - self._k_off[:-1], -1) if pos.size else np.full(k, -1))
        for c in range(k):
            self._first_cache[c] = [int(f[c]) for f in firsts]

    def _unpack(self, bits: np.ndarray) -> np.ndarray:
        """[n, bytes] packed flags -> [n, A*T] bool."""
        at = self._n_a * self._n_t
        return np.unpackbits(bits, axis=1, count=at, bitorder="little").view(bool)

    def _pack(self, flags: np.ndarray) -> np.ndarray:
        at = self._n_a * self._n_t
        return np.packbits(flags.reshape(flags.shape[0], at), axis=1, bitorder="little")

    def _gt_rows(self, images: np.ndarray | None) -> np.ndarray:
        """Counted ground-truth rows of ``images`` (all images when None)."""
        g = self.gt
        if images is None:
            rows = np.arange(len(g))
        else:
            rows = rows_of_images(g.offsets, images)
        cls = g.cls[rows]
        ok = g.alive[rows] & (cls >= 0) & (cls < self.n_classes) & self.image_mask[g.image[rows]]
        return rows[ok]

    def _det_rows(self, images: np.ndarray) -> np.ndarray:
        """Positions (group order) of the detections of ``images``."""
        return rows_of_images(self._img_off, images)

    def _match_all(self) -> None:
        """Match every image, in chunks of images to bound temporary memory. Flags are
        written in group order and put in evaluation order once at the end."""
        n_img = self.gt.n_images
        cum = self._img_off
        tpb, igb = np.zeros_like(self._tpb), np.zeros_like(self._igb)
        lo = 0
        while lo < n_img:
            hi = int(np.searchsorted(cum, cum[lo] + _DET_CHUNK, "right")) - 1
            hi = min(max(hi, lo + 1), n_img)
            g = self.gt
            grows = np.arange(g.offsets[lo], g.offsets[hi])
            cls = g.cls[grows]
            ok = g.alive[grows] & (cls >= 0) & (cls < self.n_classes)
            grows = grows[ok & self.image_mask[g.image[grows]]]
            drows = np.arange(cum[lo], cum[hi])
            tpb[drows], igb[drows] = self._match_flags(drows, grows)
            lo = hi
        self._tpb, self._igb = _take_rows(tpb, self._ev_order), _take_rows(igb, self._ev_order)

    def _match_rows(
        self, drows: np.ndarray, grows: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Match detections ``drows`` (group order) to ``grows``; store the flags.

        Returns the evaluation positions and their previous tp/ig bits and activity."""
        ev = self._ev_pos[drows]
        old = (self._tpb[ev].copy(), self._igb[ev].copy(), self._active[ev].copy())
        self._tpb[ev], self._igb[ev] = self._match_flags(drows, grows)
        self._active[ev] = self.image_mask[self._d_img[drows]]
        return ev, old[0], old[1], old[2]

    def _match_flags(self, drows: np.ndarray, grows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Packed tp and ignore flags of detections ``drows`` (group order) matched to
        ground-truth rows ``grows`` (zero for detections of excluded images)."""
        g, d = self.gt, self.dets
        k = self.n_classes
        dmask = self.image_mask[self._d_img[drows]]
        drows_m = drows[dmask]
        xyxy = g.xyxy[grows]
        g_boxarea = box_areas(xyxy, g.wh[grows])
        area = g.area[grows]
        g_area = np.where(np.isnan(area), g_boxarea, area)
        rows = self._d_rows[drows_m]
        d_xyxy = d.xyxy[rows]
        d_boxarea = box_areas(d_xyxy, d.wh[rows])
        d_area = np.where(np.isnan(d.area[rows]), d_boxarea, d.area[rows])
        rec = match_columns(
            self._d_img[drows_m] * k + d.cls[rows], self._d_rank[drows_m], d_xyxy, d_area,
            g.image[grows] * k + g.cls[grows], xyxy, g_area, g.iscrowd[grows], self.params,
            d_boxarea=d_boxarea, g_boxarea=g_boxarea,
        )  # fmt: skip
        new_tp = np.zeros((drows.shape[0], self._tpb.shape[1]), dtype=np.uint8)
        new_ig = np.zeros_like(new_tp)
        new_tp[dmask] = self._pack(rec.tp)
        new_ig[dmask] = self._pack(rec.ignore)
        return new_tp, new_ig

    def _gt_contrib(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class, ignore bits over area ranges) of counted ground-truth rows."""
        g = self.gt
        rng = np.asarray(self.params.area_rngs)
        area = g.area[rows]
        area = np.where(np.isnan(area), box_areas(g.xyxy[rows], g.wh[rows]), area)
        ig = g.iscrowd[rows][:, None] | (area[:, None] < rng[:, 0]) | (area[:, None] > rng[:, 1])
        bits = (ig.astype(np.int64) << np.arange(self._n_a)).sum(1)
        return g.cls[rows], bits

    def _add_counts(self, cls: np.ndarray, bits: np.ndarray, sign: int) -> None:
        k = self.n_classes
        for a in range(self._n_a):
            self._npig[:, a] += sign * np.bincount(cls[(bits >> a) & 1 == 0], minlength=k)
        self._n_gt += sign * np.bincount(cls, minlength=k)

    def _count_gt(self, images: np.ndarray | None = None) -> dict[int, np.ndarray]:
        """Count non-ignored ground truth per class and area range.

        Returns the classes whose counts changed, with a mask of their area ranges.
        With ``images`` only their contributions are replaced (the previous ones are
        remembered per image, since an edit has already changed the table).
        """
        k = self.n_classes
        if images is None:
            rows = self._gt_rows(None)
            cls, bits = self._gt_contrib(rows)
            self._npig = np.zeros((k, self._n_a), dtype=np.int64)
            self._n_gt = np.zeros(k, dtype=np.int64)
            self._add_counts(cls, bits, 1)
            img = self.gt.image[rows]
            self._snap = (np.searchsorted(img, np.arange(self.gt.n_images + 1)), cls, bits)
            self._snap_override: dict[int, tuple[np.ndarray, np.ndarray]] = {}
            return {c: np.ones(self._n_a, bool) for c in range(k)}
        old_npig = self._npig.copy()
        off, scls, sbits = self._snap
        for i in images.tolist():
            old = self._snap_override.get(i)
            if old is None:
                old = (scls[off[i] : off[i + 1]], sbits[off[i] : off[i + 1]])
            self._add_counts(old[0], old[1], -1)
            new = self._gt_contrib(self._gt_rows(np.array([i])))
            self._add_counts(new[0], new[1], 1)
            self._snap_override[i] = new
        moved = old_npig != self._npig
        return {int(c): moved[c] for c in np.flatnonzero(moved.any(1)).tolist()}

    # ------------------------------------------------------------------ accumulation
    def _class_flags(self, c: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """tp [A*T, n], non-ignored [A*T, n] (both counting only active detections) and
        rank of class ``c``'s detections in evaluation order."""
        sl = slice(int(self._k_off[c]), int(self._k_off[c + 1]))
        at = self._n_a * self._n_t
        act = self._active[sl][None, :]
        tp = np.unpackbits(self._tpb[sl].T, axis=0, count=at, bitorder="little").view(bool)
        tp &= act
        ni = np.unpackbits(self._igb[sl].T, axis=0, count=at, bitorder="little").view(bool)
        np.logical_not(ni, out=ni)
        ni &= act
        return tp, ni, self._d_rank[self._ev_order[sl]]

    def _accumulate_class(self, c: int) -> None:
        """pycocotools' ``accumulate`` for one class, from the match flags (and, when
        incremental, the block index of its columns)."""
        p = self.params
        n_a, n_t = self._n_a, self._n_t
        s, e = int(self._k_off[c]), int(self._k_off[c + 1])
        prec = np.full((n_t, len(p.rec_thrs), n_a, self._n_m), -1.0)
        scores = prec.copy()
        self._recall[:, c] = -1.0
        tp, ni, rank = self._class_flags(c)
        first = self._first_selected(c)
        npig = self._npig[c]
        valid = np.flatnonzero(npig > 0)
        cmins = {a: _min_counts(self._rec, int(npig[a])) for a in valid.tolist()}
        sc = self.dets.score[self._d_rows[self._ev_order[s:e]]]
        index: _ClassIndex | None = None
        r_n = self._rec.shape[0]
        for m in reversed(range(self._n_m)):  # the last (densest) first: it sizes the blocks
            if m == self._n_m - 1:  # detections were cut at the last max_dets
                tp_m, ni_m = tp, ni  # [A*T, n]
            else:
                sel = (rank < p.max_dets[m])[None, :]
                tp_m, ni_m = tp & sel, ni & sel
            if valid.size:
                cmin_col = np.repeat(np.stack([cmins[a] for a in valid.tolist()]), n_t, axis=0)
                rows = (valid[:, None] * n_t + np.arange(n_t)[None, :]).reshape(-1)
                q, ss, rc = _accumulate_columns(tp_m[rows], ni_m[rows], sc, cmin_col,
                                                np.repeat(npig[valid], n_t), first[m])
                prec[:, :, valid, m] = q.reshape(valid.size, n_t, r_n).transpose(1, 2, 0)
                scores[:, :, valid, m] = ss.reshape(valid.size, n_t, r_n).transpose(1, 2, 0)
                self._recall[:, c, valid, m] = rc.reshape(valid.size, n_t).T
            if self.incremental:
                if index is None:
                    index = _ClassIndex(e - s, _ClassIndex.block_shift(e - s, tp_m.sum(axis=1)))
                index.add(tp_m, ni_m)
        del tp, ni
        self._restack.add(c)
        if index is not None:  # columns were added last m first: put them in m order
            self._index[c] = index
            self._index_order[c] = np.concatenate(
                [np.arange(n_a * n_t) + (self._n_m - 1 - m) * n_a * n_t
                 for m in range(self._n_m)])
        self._prec[c] = prec
        self._scores[c] = scores

    def _first_selected(self, c: int) -> list[int]:
        """Per max_dets: the first position (in the class) of an active selected
        detection, -1 if none (pycocotools reads its score at recall 0). Cached: only
        a change of the image mask moves it."""
        hit = self._first_cache.get(c)
        if hit is not None:
            return hit
        s, e = int(self._k_off[c]), int(self._k_off[c + 1])
        act = self._active[s:e]
        rank = self._d_rank[self._ev_order[s:e]]
        out = []
        for md in self.params.max_dets:
            ok = np.flatnonzero(act & (rank < md))
            out.append(int(ok[0]) if ok.size else -1)
        self._first_cache[c] = out
        return out

    def _reaccumulate(self, c: int, local: np.ndarray, old_tp: np.ndarray, old_ni: np.ndarray,
                      areas: np.ndarray) -> None:
        """Re-accumulate class ``c`` after the flags at ``local`` positions changed (old
        flags given) and/or its ground-truth counts changed in ``areas``."""
        index = self._index.get(c)
        if index is None:
            self._accumulate_class(c)
            return
        p = self.params
        n_a, n_t, n_m = self._n_a, self._n_t, self._n_m
        at_n = n_a * n_t
        s, e = int(self._k_off[c]), int(self._k_off[c + 1])
        order = self._index_order[c]  # column (m, a, t) -> index column
        moved = np.zeros(n_m * at_n, dtype=bool)
        if local.size:
            act = self._active[s + local][:, None]
            new_tp = self._unpack(self._tpb[s + local]) & act
            new_ni = ~self._unpack(self._igb[s + local]) & act
            rank = self._d_rank[self._ev_order[s + local]]
            for m, md in enumerate(p.max_dets):
                sel = (rank < md)[:, None]
                ch = ((old_tp & sel) != (new_tp & sel)) | ((old_ni & sel) != (new_ni & sel))
                moved[m * at_n : (m + 1) * at_n] = ch.any(axis=0)
            cols = np.flatnonzero(moved)
            for b in np.unique(local >> index.shift).tolist():
                lo = b << index.shift
                hi = min(lo + (1 << index.shift), e - s)
                sl = slice(s + lo, s + hi)
                act_b = self._active[sl]
                t_b = self._unpack(self._tpb[sl]) & act_b[:, None]
                n_b = ~self._unpack(self._igb[sl]) & act_b[:, None]
                r_b = self._d_rank[self._ev_order[sl]]
                tps = np.concatenate([(t_b & (r_b < md)[:, None]).T for md in p.max_dets])
                nis = np.concatenate([(n_b & (r_b < md)[:, None]).T for md in p.max_dets])
                index.replace_block(b, tps[cols], nis[cols], order[cols])
        npig = self._npig[c]
        col_area = np.tile(np.repeat(np.arange(n_a), n_t), n_m)
        query = moved | areas[col_area]
        prec = self._prec[c].copy()
        scores = self._scores[c].copy()
        qcols = np.flatnonzero(query)
        gone = qcols[npig[col_area[qcols]] <= 0]
        for col in gone.tolist():  # no ground truth left in the area range: -1
            m, rest = divmod(col, at_n)
            a, t = divmod(rest, n_t)
            prec[t, :, a, m] = -1.0
            scores[t, :, a, m] = -1.0
            self._recall[t, c, a, m] = -1.0
        qcols = qcols[npig[col_area[qcols]] > 0]
        if qcols.size:
            areas_q = col_area[qcols]
            cm = {a: _min_counts(self._rec, int(npig[a])) for a in np.unique(areas_q).tolist()}
            cmin = np.stack([cm[a] for a in areas_q.tolist()])
            q, at, ntp = index.query(order[qcols], cmin)
            m_q, rest = np.divmod(qcols, at_n)
            a_q, t_q = np.divmod(rest, n_t)
            sc = np.zeros(q.shape)
            hit = at >= 0
            sc[hit] = self.dets.score[self._d_rows[self._ev_order[s + at[hit]]]]
            first = self._first_selected(c) if (at == -1).any() else []
            for j, f in enumerate(first):
                if f >= 0:
                    use = (at == -1) & (m_q == j)[:, None]
                    sc[use] = self.dets.score[self._d_rows[self._ev_order[s + f]]]
            prec[t_q, :, a_q, m_q] = q
            scores[t_q, :, a_q, m_q] = sc
            self._recall[t_q, c, a_q, m_q] = ntp / npig[a_q]
        self._prec[c] = prec
        self._scores[c] = scores
        self._restack.add(c)

    # ------------------------------------------------------------------ public
    @classmethod
    def from_dataset(cls, ds: Dataset, run: str, params: COCOParams | None = None,
                     *, incremental: bool = True) -> COCOEvaluator:
        """Evaluator for ``ds.runs[run]``: deleted images excluded, COCO image-id order.

        After ``touched = ds.apply(edit)`` call ``update_images(touched,
        image_mask=~ds.images.deleted)``.
        """
        return cls(
            ds.gt,
            ds.runs[run],
            len(ds.classes),
            image_mask=~ds.images.deleted,
            params=params,
            image_ids=ds.images.ids,
            class_names=ds.classes.names,
            incremental=incremental,
        )

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
        ev, old_tpb, old_igb, old_act = self._match_rows(self._det_rows(idx),
                                                         self._gt_rows(idx))
        moved = ((old_tpb != self._tpb[ev]).any(1) | (old_igb != self._igb[ev]).any(1)
                 | (old_act != self._active[ev]))
        ev, old_tpb, old_igb, old_act = ev[moved], old_tpb[moved], old_igb[moved], old_act[moved]
        counts = self._count_gt(idx)
        o = np.argsort(ev)
        ev, old_tpb, old_igb, old_act = ev[o], old_tpb[o], old_igb[o], old_act[o]
        cls_of = np.searchsorted(self._k_off, ev, "right") - 1
        flip = old_act != self._active[ev]
        for c in np.unique(cls_of[flip]).tolist():
            self._first_cache.pop(c, None)
        self._n_det += np.bincount(cls_of[flip], weights=np.where(self._active[ev[flip]], 1, -1),
                                   minlength=self.n_classes).astype(np.int64)
        self._recall = self._recall.copy()
        none = np.zeros(self._n_a, dtype=bool)
        for c in sorted(set(cls_of.tolist()) | set(counts)):
            sel = cls_of == c
            act = old_act[sel][:, None]
            old_tp = self._unpack(old_tpb[sel]) & act
            old_ni = ~self._unpack(old_igb[sel]) & act
            local = ev[sel] - self._k_off[c]
            self._reaccumulate(c, local, old_tp, old_ni, counts.get(c, none))
        return self.result()

    def per_image_ap(self, images: Iterable[int] | None = None) -> pd.DataFrame:
        """COCO AP of each image alone: ``AP`` (IoU 0.50:0.95) and ``AP50``, maxDets 100.

        Equal to pycocotools with ``params.imgIds = [image]``: the mean over the classes
        that have non-crowd ground truth in the image of their 101-point AP, using the
        matches of the full evaluation (area range "all"). NaN for images without such
        ground truth or excluded by the mask. Also ``n_gt``, ``n_det`` per image.

        ``images``: compute only these (an image's AP depends on its own matches only;
        after an edit, the touched images; their detections are read directly, the
        others are not scanned); the other rows are NaN / 0.
        """
        g = self.gt
        k = self.n_classes
        n_img = g.n_images
        n_t = self._n_t
        subset = None
        if images is not None:
            subset = np.unique(np.fromiter((int(i) for i in images), dtype=np.int64))
        rows = self._gt_rows(subset)
        area = g.area[rows]
        area = np.where(np.isnan(area), box_areas(g.xyxy[rows], g.wh[rows]), area)
        lo, hi = self.params.area_rngs[0]
        counted = ~g.iscrowd[rows] & (area >= lo) & (area <= hi)
        gkeys, npig = np.unique(
            g.image[rows][counted] * k + g.cls[rows][counted], return_counts=True
        )
        n_grp = gkeys.shape[0]
        # detections (group order) of the images, those in a group with ground truth
        drows = np.arange(self._d_rows.shape[0]) if subset is None else self._det_rows(subset)
        dkey = self._d_img[drows] * k + self.dets.cls[self._d_rows[drows]]
        act = self.image_mask[self._d_img[drows]]
        gi = np.searchsorted(gkeys, dkey)
        gi_c = np.minimum(gi, max(n_grp - 1, 0))
        ind = act & (gi < n_grp) & (gkeys[gi_c] == dkey) if n_grp else act & False
        sel = drows[ind]
        grp = gi[ind]
        ev = self._ev_pos[sel]
        gstart = np.searchsorted(grp, np.arange(n_grp))  # first det of each group
        # recall threshold r reads the envelope at the c_r-th true positive; c_r depends
        # only on n_gt, so AP = sum over true positives j of env_j * #{r: c_r == j} / R
        # (c_r == 0 reads the first one)
        r = self._rec.shape[0]
        ns, n_index = np.unique(npig, return_inverse=True)
        width = int(ns.max()) + 1 if ns.size else 1
        weights = np.zeros((ns.shape[0], width + 1))
        for i, n in enumerate(ns.tolist()):
            weights[i, :width] = np.bincount(_min_counts(self._rec, n), minlength=width)[:width]
        weights[:, 1] += weights[:, 0]
        ap_t = np.zeros((n_t, n_grp))
        tp_all = self._unpack(self._tpb[ev]) if ev.size else np.zeros((0, n_t * self._n_a), bool)
        ig_all = self._unpack(self._igb[ev]) if ev.size else tp_all
        for t in range(n_t if sel.size else 0):
            tp = tp_all[:, t]  # column t is area "all", threshold t
            ctp = np.cumsum(tp)
            cni = np.cumsum(~ig_all[:, t])
            before = np.maximum(gstart - 1, 0)
            base_tp = np.where(gstart > 0, ctp[before], 0)
            base_ni = np.where(gstart > 0, cni[before], 0)
            idx = np.flatnonzero(tp)
            if idx.size == 0:
                continue
            seg = grp[idx]
            j = ctp[idx] - base_tp[seg]
            env = _segmented_suffix_max(j / ((cni[idx] - base_ni[seg]) + _EPS), seg)
            w = weights[n_index[seg], np.minimum(j, width)]
            ap_t[t] = np.bincount(seg, weights=w * env, minlength=n_grp) / r
        # per image: the mean over its groups; arrays of all images, filled sparsely
        uimg, inv = np.unique(gkeys // k if n_grp else gkeys, return_inverse=True)
        cnt = np.bincount(inv, minlength=uimg.shape[0]).astype(np.float64)
        ap = np.full(n_img, np.nan)
        ap50 = np.full(n_img, np.nan)
        ap50[uimg] = np.bincount(inv, weights=ap_t[0], minlength=uimg.shape[0]) / cnt
        ap[uimg] = np.bincount(inv, weights=ap_t.mean(0), minlength=uimg.shape[0]) / cnt
        n_det = np.zeros(n_img, dtype=np.int64)
        u, c = np.unique(self._d_img[drows[act]], return_counts=True)
        n_det[u] = c
        n_gt = np.zeros(n_img, dtype=np.int64)
        u, c = np.unique(g.image[rows], return_counts=True)
        n_gt[u] = c
        out = np.flatnonzero(~self.image_mask) if subset is None else subset[
            ~self.image_mask[subset]]
        ap[out] = np.nan
        ap50[out] = np.nan
        df = pd.DataFrame({"AP": ap, "AP50": ap50, "n_gt": n_gt, "n_det": n_det}, copy=False)
        df.index.name = "image"
        return df

    def result(self) -> COCOResult:
        """The current numbers as a :class:`COCOResult` (a snapshot; nothing copied)."""
        prec = tuple(self._prec)
        for c in self._restack:
            for (a, m), arr in self._stacks.items():
                arr[:, :, c] = self._prec[c][:, :, a, m]
        self._restack.clear()
        s = _summarize(prec, self._recall, self.params, self._n_gt, self._n_det.copy(),
                       self.class_names, self._stacks)
        return COCOResult(
            **s,  # type: ignore[arg-type]
            recall=self._recall,
            params=self.params,
            class_precision=prec,
            class_scores=tuple(self._scores),
        )


def _take_rows(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a[idx]`` for a 2-D byte array, each row moved as one item (twice as fast)."""
    w = a.shape[1]
    if w == 0 or a.shape[0] == 0:
        return a[idx]
    return np.ascontiguousarray(a).view(f"V{w}").ravel()[idx].view(np.uint8).reshape(-1, w)


def _segmented_suffix_max(v: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """``out[i] = max(v[i:end of i's segment])`` for contiguous segments (doubling)."""
    out = v.copy()
    n = out.shape[0]
    s = 1
    while s < n:
        same = seg[s:] == seg[:-s]
        out[:-s] = np.where(same, np.maximum(out[:-s], out[s:]), out[:-s])
        s *= 2
    return out


def evaluate_run(ds: Dataset, run: str, params: COCOParams | None = None) -> COCOResult:
    """COCO evaluation of one prediction run of a dataset (deleted images excluded)."""
    return COCOEvaluator.from_dataset(ds, run, params, incremental=False).result()


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
        gt, dets, n_classes, image_mask, params, image_ids, class_names, progress,
        incremental=False,
    ).result()
