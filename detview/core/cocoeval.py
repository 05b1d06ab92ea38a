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

from .dataset import Dataset
from .geometry import box_areas
from .matching import match_groups
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
        if len(a) == 1 and len(m) == 1:
            s = s[..., a[0], m[0]]
        else:
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
        g_crowd=g_crowd, prio=np.where(g_ig, 1, 2), tie_last=True,
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
            np.ones(n_img, dtype=bool)
            if image_mask is None
            else np.asarray(image_mask, bool).copy()
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
        self._match_all()
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
        self._d_boxarea = box_areas(self._d_xyxy, d.wh[rows])
        self._d_area = np.where(np.isnan(d.area[rows]), self._d_boxarea, d.area[rows])
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
        self._tp = np.zeros((at, n), dtype=bool)  # [A*T, D] in evaluation order
        self._ig = np.zeros((at, n), dtype=bool)
        self._active = self.image_mask[self._ev_img]

    def _gt_rows(self, images: np.ndarray | None) -> np.ndarray:
        """Counted ground-truth rows of ``images`` (all images when None)."""
        g = self.gt
        if images is None:
            rows = np.arange(len(g))
        else:
            parts = [np.arange(g.offsets[i], g.offsets[i + 1]) for i in images.tolist()]
            rows = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        cls = g.cls[rows]
        ok = g.alive[rows] & (cls >= 0) & (cls < self.n_classes) & self.image_mask[g.image[rows]]
        return rows[ok]

    def _det_rows(self, images: np.ndarray | None, lo: int = 0, hi: int = -1) -> np.ndarray:
        if images is None:
            return np.arange(self._img_off[lo], self._img_off[hi])
        parts = [np.arange(self._img_off[i], self._img_off[i + 1]) for i in images.tolist()]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)

    def _match_all(self) -> None:
        """Match every image, in chunks of images to bound temporary memory."""
        n_img = self.gt.n_images
        cum = self._img_off
        lo = 0
        while lo < n_img:
            hi = int(np.searchsorted(cum, cum[lo] + _DET_CHUNK, "right")) - 1
            hi = min(max(hi, lo + 1), n_img)
            g = self.gt
            grows = np.arange(g.offsets[lo], g.offsets[hi])
            cls = g.cls[grows]
            ok = g.alive[grows] & (cls >= 0) & (cls < self.n_classes)
            grows = grows[ok & self.image_mask[g.image[grows]]]
            self._match_rows(self._det_rows(None, lo, hi), grows, full=True)
            lo = hi

    def _rematch(self, images: np.ndarray) -> set[int]:
        """Match the detections of ``images``; return the classes whose records moved."""
        return self._match_rows(self._det_rows(images), self._gt_rows(images), full=False)

    def _match_rows(self, drows: np.ndarray, grows: np.ndarray, full: bool) -> set[int]:
        g = self.gt
        k = self.n_classes
        dmask = self.image_mask[self._d_img[drows]]
        drows_m = drows[dmask]
        xyxy = g.xyxy[grows]
        area = g.area[grows]
        g_boxarea = box_areas(xyxy, g.wh[grows])
        g_area = np.where(np.isnan(area), g_boxarea, area)
        rec = match_columns(
            self._d_key[drows_m],
            self._d_rank[drows_m],
            self._d_xyxy[drows_m],
            self._d_area[drows_m],
            g.image[grows] * k + g.cls[grows],
            xyxy,
            g_area,
            g.iscrowd[grows],
            self.params,
            d_boxarea=self._d_boxarea[drows_m],
            g_boxarea=g_boxarea,
        )
        at = self._n_a * self._n_t
        ev = self._ev_pos[drows_m]
        new_tp = rec.tp.reshape(-1, at).T
        new_ig = rec.ignore.reshape(-1, at).T
        del rec
        ev_all = self._ev_pos[drows]
        affected: set[int] = set()
        if not full:
            moved = (self._tp[:, ev] != new_tp).any(0) | (self._ig[:, ev] != new_ig).any(0)
            affected.update(self._d_cls[drows_m[moved]].tolist())
            flipped = self._active[ev_all] != dmask
            affected.update(self._d_cls[drows[flipped]].tolist())
        self._tp[:, ev] = new_tp
        self._ig[:, ev] = new_ig
        self._active[ev_all] = dmask
        return affected

    def _gt_contrib(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(class, ignore bits over area ranges) of counted ground-truth rows."""
        g = self.gt
        rng = np.asarray(self.params.area_rngs)
        xyxy = g.xyxy[rows]
        area = g.area[rows]
        area = np.where(np.isnan(area), box_areas(xyxy, g.wh[rows]), area)
        ig = g.iscrowd[rows][:, None] | (area[:, None] < rng[:, 0]) | (area[:, None] > rng[:, 1])
        bits = (ig.astype(np.int64) << np.arange(self._n_a)).sum(1)
        return g.cls[rows], bits

    def _add_counts(self, cls: np.ndarray, bits: np.ndarray, sign: int) -> None:
        k = self.n_classes
        for a in range(self._n_a):
            self._npig[:, a] += sign * np.bincount(cls[(bits >> a) & 1 == 0], minlength=k)
        self._n_gt += sign * np.bincount(cls, minlength=k)

    def _count_gt(self, images: np.ndarray | None = None) -> set[int]:
        """Count non-ignored ground truth per class and area range; return changed classes.

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
            return set(range(k))
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
        return set(np.flatnonzero((old_npig != self._npig).any(1)).tolist())

    def _accumulate(
        self, classes: Iterable[int], progress: Callable[[int, int], bool] | None = None
    ) -> None:
        """pycocotools' ``accumulate`` for the given classes, from the match flags.

        Only true positives move the precision envelope: between two of them precision
        falls, and recall steps exactly at them. So per (area, threshold) column we keep
        the true positives in score order, with the count of non-ignored detections up
        to each (``tp + fp`` there): precision at the j-th is ``j / (n + eps)``, the
        envelope is a suffix maximum over them, and recall threshold ``r`` reads the
        envelope at the ``c``-th true positive, ``c`` the least count with
        ``c / n_gt >= r`` (0 when the column has fewer true positives).
        """
        p = self.params
        n_a, n_t = self._n_a, self._n_t
        at = n_a * n_t
        r = self._rec.shape[0]
        cls_list = list(classes)
        mins: dict[int, np.ndarray] = {}
        cols = np.arange(at)
        for step, k in enumerate(cls_list):
            if progress is not None and not progress(step, len(cls_list)):
                break
            s, e = int(self._k_off[k]), int(self._k_off[k + 1])
            npig = self._npig[k]  # [A]
            self.precision[:, :, k] = -1.0
            self.recall[:, k] = -1.0
            self.scores[:, :, k] = -1.0
            valid = npig > 0
            if not valid.any():
                continue
            cmin = np.zeros((n_a, r), dtype=np.int64)
            for a in np.flatnonzero(valid).tolist():
                n = int(npig[a])
                if n not in mins:
                    mins[n] = _min_counts(self._rec, n)
                cmin[a] = mins[n]
            cmin_col = np.repeat(cmin, n_t, axis=0)  # [AT, R]
            npig_col = np.repeat(npig, n_t)
            act = self._active[s:e]
            rank = self._ev_rank[s:e]
            prev_sel: np.ndarray | None = None
            q = ss = rc = np.zeros(0)
            for m, md in enumerate(p.max_dets):
                sel = act & (rank < md)
                if prev_sel is None or not np.array_equal(sel, prev_sel):
                    q, ss, rc = self._accumulate_one(s, e, sel, cmin_col, npig_col, cols, r)
                prev_sel = sel
                self.precision[:, :, k, valid, m] = q.reshape(n_a, n_t, r).transpose(1, 2, 0)[
                    :, :, valid
                ]
                self.scores[:, :, k, valid, m] = ss.reshape(n_a, n_t, r).transpose(1, 2, 0)[
                    :, :, valid
                ]
                self.recall[:, k, valid, m] = rc.reshape(n_a, n_t).T[:, valid]

    def _accumulate_one(
        self,
        s: int,
        e: int,
        sel: np.ndarray,
        cmin_col: np.ndarray,
        npig_col: np.ndarray,
        cols: np.ndarray,
        r: int,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Precision [AT, R], scores [AT, R], recall [AT] of one class and max_dets."""
        at = cols.shape[0]
        n_sel = int(np.count_nonzero(sel))
        if n_sel == 0:
            return np.zeros((at, r)), np.zeros((at, r)), np.zeros(at)
        if n_sel == sel.shape[0]:
            tp, ni, sc = self._tp[:, s:e], ~self._ig[:, s:e], self._ev_score[s:e]
            first_row = 0
        elif n_sel * 3 < sel.shape[0]:  # few selected: gather them
            idx = np.flatnonzero(sel) + s
            tp, ni, sc = self._tp[:, idx], ~self._ig[:, idx], self._ev_score[idx]
            first_row = 0
        else:  # most selected: mask the others out (they count as ignored)
            tp = self._tp[:, s:e] & sel
            ni = ~self._ig[:, s:e] & sel
            sc = self._ev_score[s:e]
            first_row = int(np.argmax(sel))
        nd = tp.shape[1]
        flat = np.flatnonzero(tp)  # sorted by column, then score order
        col, row = np.divmod(flat, nd)
        ntp = np.bincount(col, minlength=at)
        rc = ntp / np.maximum(npig_col, 1)
        first = np.concatenate(([0], np.cumsum(ntp)[:-1]))
        j = np.arange(col.shape[0], dtype=np.int64) - first[col]  # 0-based tp index
        if col.shape[0]:
            n_ni = np.cumsum(ni, axis=1, dtype=np.int32)[col, row]  # tp + fp up to here
        else:
            n_ni = np.zeros(0, dtype=np.int32)
        width = int(ntp.max()) if ntp.size else 0
        env = np.zeros((at, width + 1))
        env[col, j] = (j + 1) / (n_ni + _EPS)
        env = np.maximum.accumulate(env[:, ::-1], axis=1)[:, ::-1]
        rows = np.full((at, width + 1), first_row, dtype=np.int64)
        rows[col, j] = row
        # c-th true positive (1-based); c == 0 reads the first position
        pos = np.minimum(np.maximum(cmin_col - 1, 0), width)
        inside = cmin_col <= ntp[:, None]
        q = np.where(inside, env[cols[:, None], pos], 0.0)
        srow = np.where(cmin_col > 0, rows[cols[:, None], pos], first_row)
        ss = np.where(inside, sc[srow], 0.0)
        return q, ss, rc

    # ------------------------------------------------------------------ public
    @classmethod
    def from_dataset(cls, ds: Dataset, run: str, params: COCOParams | None = None) -> COCOEvaluator:
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
        affected = self._rematch(idx)
        affected |= self._count_gt(idx)
        self._accumulate(sorted(affected))
        return self.result()

    def per_image_ap(self, images: Iterable[int] | None = None) -> pd.DataFrame:
        """COCO AP of each image alone: ``AP`` (IoU 0.50:0.95) and ``AP50``, maxDets 100.

        Equal to pycocotools with ``params.imgIds = [image]``: the mean over the classes
        that have non-crowd ground truth in the image of their 101-point AP, using the
        matches of the full evaluation (area range "all"). NaN for images without such
        ground truth or excluded by the mask. Also ``n_gt``, ``n_det`` per image.

        ``images``: compute only these (an image's AP depends on its own matches only;
        after an edit, the touched images); the other rows are NaN / 0.
        """
        g = self.gt
        k = self.n_classes
        n_img = g.n_images
        n_t = self._n_t
        subset = None
        if images is not None:
            subset = np.unique(np.fromiter((int(i) for i in images), dtype=np.int64))
        rows = self._gt_rows(subset)
        xyxy = g.xyxy[rows]
        area = g.area[rows]
        area = np.where(np.isnan(area), box_areas(xyxy, g.wh[rows]), area)
        lo, hi = self.params.area_rngs[0]
        counted = ~g.iscrowd[rows] & (area >= lo) & (area <= hi)
        gkeys, npig = np.unique(
            g.image[rows][counted] * k + g.cls[rows][counted], return_counts=True
        )
        n_grp = gkeys.shape[0]
        # detections (group order) that fall in a group with ground truth
        act = self.image_mask[self._d_img]
        if subset is not None:
            act = act & np.isin(self._d_img, subset)
        gi = np.searchsorted(gkeys, self._d_key)
        gi_c = np.minimum(gi, max(n_grp - 1, 0))
        ind = act & (gi < n_grp) & (gkeys[gi_c] == self._d_key) if n_grp else act & False
        drow = np.flatnonzero(ind)
        grp = gi[drow]
        ev = self._ev_pos[drow]
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
        for t in range(n_t if drow.size else 0):
            tp = self._tp[t, ev]  # column t is area "all", threshold t
            ctp = np.cumsum(tp)
            cni = np.cumsum(~self._ig[t, ev])
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
        img = gkeys // k if n_grp else gkeys
        cnt = np.bincount(img, minlength=n_img).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            ap50 = np.bincount(img, weights=ap_t[0], minlength=n_img) / cnt
            ap = np.bincount(img, weights=ap_t.mean(0), minlength=n_img) / cnt
        n_det = np.bincount(self._d_img[act], minlength=n_img)
        n_gt = np.bincount(g.image[rows], minlength=n_img)
        df = pd.DataFrame({"AP": ap, "AP50": ap50, "n_gt": n_gt, "n_det": n_det})
        df.loc[~self.image_mask, ["AP", "AP50"]] = np.nan
        df.index.name = "image"
        return df

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
    return COCOEvaluator.from_dataset(ds, run, params).result()


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
