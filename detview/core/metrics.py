"""Per-image metrics and rankings.

For every image and a prediction run, at a score threshold (predictions with
``score >= score_threshold`` are kept, the same rule everywhere in detview) and an
IoU threshold:

============  ================================================================
``n_gt``      ground-truth boxes; crowd regions and deleted boxes not counted
``n_pred``    predictions kept by the score threshold
``tp``        kept predictions matched to a ground-truth box of their class
``fp``        kept predictions matched to nothing (a prediction matched only to a
              crowd region is neither TP nor FP)
``fn``        ground-truth boxes no prediction matched
``mean_iou``  the per-image IoU of the Deep Lake evaluation playbook (below); NaN
              for an image with neither ground truth nor a kept prediction
============  ================================================================

Matching is class-aware and greedy by score (:mod:`.matching`, the kernel COCO
evaluation uses: pycocotools' ``evaluateImg`` at one IoU threshold, area range "all",
no cap on predictions per image).

``mean_iou``: for each label in the union of predicted and ground-truth labels of the
image, take the IoU between that label's predictions and ground-truth boxes; if either
side is empty the label scores 0; otherwise each box of the smaller side takes its best
IoU with the larger side (with equal counts each prediction takes its best ground-truth
IoU) and the label scores the mean of those. The image scores the mean over its labels.
Crowd regions take no part. An image without labels (no ground truth, no kept
prediction: a correctly empty background image) has nothing to score: NaN, read as
"perfect / not applicable". It is left out of means (:func:`run_totals`) and sorts after
every number in both directions (:func:`sort_order`), so a worst-first list starts with
real failures.

:class:`PerImageMetrics` computes the table for all images in batches (no per-image
Python loop) and re-computes only the images an edit touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .dataset import Dataset
from .geometry import box_areas
from .geometry import iou as iou_matrix
from .matching import ImageMatch, group_ranks, match_groups, match_image, rows_of_images
from .tables import Boxes

__all__ = [
    "COLUMNS",
    "ImageResult",
    "MetricParams",
    "class_threshold_array",
    "kept_by_class",
    "PerImageMetrics",
    "image_table_arrays",
    "mean_iou",
    "per_image_table",
    "run_totals",
    "sort_order",
]

COLUMNS = ("n_gt", "n_pred", "tp", "fp", "fn", "mean_iou")

Progress = Callable[[int, int], bool]

#: boxes (ground truth + predictions) per batch of images
_BATCH_BOXES = 1 << 20


@dataclass(frozen=True)
class MetricParams:
    """The thresholds of the per-image numbers. ``class_thresholds``: (class index,
    score threshold) pairs overriding ``score_threshold`` for those classes (a
    prediction of class ``c`` is kept when ``score >= thresholds(k)[c]``)."""

    score_threshold: float = 0.5
    iou_threshold: float = 0.5
    class_thresholds: tuple[tuple[int, float], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_thresholds", tuple(sorted(
            (int(c), float(t)) for c, t in dict(self.class_thresholds).items())))

    def thresholds(self, n_classes: int) -> np.ndarray:
        """The score threshold of each class (length ``n_classes``; overrides of
        classes outside ``0 .. n_classes - 1`` are ignored)."""
        return class_threshold_array(self.score_threshold, self.class_thresholds, n_classes)

    def keep(self, score: np.ndarray, cls: np.ndarray) -> np.ndarray:
        """Which predictions (``score``, ``cls``) the thresholds keep."""
        if not self.class_thresholds:
            return np.asarray(score) >= self.score_threshold
        return kept_by_class(score, cls, self.score_threshold, dict(self.class_thresholds))


def class_threshold_array(score_threshold: float,
                          class_thresholds: Iterable[tuple[int, float]] | None,
                          n_classes: int) -> np.ndarray:
    """``score_threshold`` for every class, with the per-class overrides applied."""
    out = np.full(max(int(n_classes), 0), float(score_threshold), dtype=np.float64)
    for c, t in (class_thresholds or ()):
        if 0 <= int(c) < out.shape[0]:
            out[int(c)] = float(t)
    return out


def kept_by_class(score: np.ndarray, cls: np.ndarray, score_threshold: float,
                  class_thresholds: np.ndarray | dict[int, float] | None) -> np.ndarray:
    """``score >= threshold of its class``: ``class_thresholds`` is an array indexed by
    class (classes past its end use ``score_threshold``) or a {class: threshold} dict;
    None: ``score_threshold`` for every class."""
    score = np.asarray(score, dtype=np.float64)
    if class_thresholds is None or len(class_thresholds) == 0:
        return score >= score_threshold
    cls = np.asarray(cls, dtype=np.int64)
    if isinstance(class_thresholds, dict):
        n = max(max(class_thresholds) + 1, int(cls.max()) + 1 if cls.size else 0)
        arr = class_threshold_array(score_threshold, class_thresholds.items(), n)
    else:
        arr = np.asarray(class_thresholds, dtype=np.float64)
    thr = np.full(score.shape, float(score_threshold), dtype=np.float64)
    inside = (cls >= 0) & (cls < arr.shape[0])
    thr[inside] = arr[cls[inside]]
    return score >= thr


def mean_iou(pred_xyxy: np.ndarray, pred_cls: np.ndarray, gt_xyxy: np.ndarray,
             gt_cls: np.ndarray, ious: np.ndarray | None = None) -> float:
    """Deep Lake per-image IoU of one image (see the module docstring); NaN without
    labels. Inputs are already filtered (kept predictions, non-crowd ground truth).

    ``ious`` may pass the IoU matrix (preds x gt) when the caller has it; pairs of
    different classes are ignored either way. (The table itself is computed in
    batches by :class:`PerImageMetrics`; this is the one-image form.)
    """
    pred_cls = np.asarray(pred_cls, dtype=np.int64)
    gt_cls = np.asarray(gt_cls, dtype=np.int64)
    if pred_cls.size == 0 and gt_cls.size == 0:
        return float("nan")
    labels, inv = np.unique(np.concatenate([pred_cls, gt_cls]), return_inverse=True)
    n_lab = labels.size
    pl, gl = inv[: pred_cls.size], inv[pred_cls.size :]
    n_p = np.bincount(pl, minlength=n_lab)
    n_g = np.bincount(gl, minlength=n_lab)
    if pred_cls.size and gt_cls.size:
        m = iou_matrix(pred_xyxy, gt_xyxy) if ious is None else ious
        m = np.where(pl[:, None] == gl[None, :], m, -1.0)
        sum_p = np.bincount(pl, weights=m.max(axis=1), minlength=n_lab)
        sum_g = np.bincount(gl, weights=m.max(axis=0), minlength=n_lab)
    else:
        sum_p = sum_g = np.zeros(n_lab, dtype=np.float64)
    both = (n_p > 0) & (n_g > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(n_p <= n_g, sum_p / np.maximum(n_p, 1), sum_g / np.maximum(n_g, 1))
    return float(np.where(both, score, 0.0).sum() / n_lab)


@dataclass(frozen=True)
class ImageResult:
    """Everything the viewer needs about one image: rows and match records."""

    gt_rows: np.ndarray  # row positions in dataset.gt (alive boxes, crowd included)
    pred_rows: np.ndarray  # row positions in the run (kept by the score threshold)
    match: ImageMatch


def image_table_arrays(
    gt: Boxes,
    preds: Boxes | None,
    images: np.ndarray,
    params: MetricParams,
) -> dict[str, np.ndarray]:
    """The :data:`COLUMNS` of ``images`` (sorted, unique image indices), one value per
    image, from one batched matching (:func:`.matching.match_groups`)."""
    images = np.asarray(images, dtype=np.int64)
    n = images.shape[0]
    local = np.full(gt.n_images, -1, dtype=np.int64)
    local[images] = np.arange(n)
    g_rows = rows_of_images(gt.offsets, images)
    g_rows = g_rows[gt.alive[g_rows]]
    if preds is None:
        p_rows = np.zeros(0, dtype=np.int64)
    else:
        p_rows = rows_of_images(preds.offsets, images)
        p_rows = p_rows[preds.alive[p_rows]
                        & params.keep(preds.score[p_rows], preds.cls[p_rows])]
    g_img = local[gt.image[g_rows]]
    g_cls = gt.cls[g_rows]
    crowd = gt.iscrowd[g_rows]
    p_img = local[preds.image[p_rows]] if preds is not None else p_rows
    p_cls = preds.cls[p_rows] if preds is not None else p_rows
    both = np.concatenate((g_cls, p_cls))
    c_lo = int(both.min()) if both.size else 0
    span = (int(both.max()) - c_lo + 1) if both.size else 1
    g_key = g_img * span + (g_cls - c_lo)
    p_key = p_img * span + (p_cls - c_lo)
    regular = ~crowd
    n_gt = np.bincount(g_img[regular], minlength=n)
    n_pred = np.bincount(p_img, minlength=n)
    out: dict[str, np.ndarray] = {"n_gt": n_gt, "n_pred": n_pred}
    best_p = np.zeros(p_rows.shape[0])
    best_g = np.zeros(g_rows.shape[0])
    if p_rows.size and g_rows.size:
        assert preds is not None
        pxy, gxy = preds.xyxy[p_rows], gt.xyxy[g_rows]

        def sink(pd_: np.ndarray, pg: np.ndarray, ious: np.ndarray) -> None:
            sel = regular[pg] & (ious > 0)
            np.maximum.at(best_p, pd_[sel], ious[sel])
            np.maximum.at(best_g, pg[sel], ious[sel])

        _, rank = group_ranks(p_key, preds.score[p_rows])
        gr = match_groups(
            p_key, rank, pxy, box_areas(pxy, preds.wh[p_rows]),
            g_key, gxy, box_areas(gxy, gt.wh[g_rows]), params.iou_threshold,
            g_crowd=crowd, prio=np.where(crowd, 1, 2), on_pairs=sink, want_iou=False,
        )  # fmt: skip
        matched = gr.det_gt[:, 0]
        hit = matched >= 0
        tp = hit & regular[np.maximum(matched, 0)]
        ign = hit & ~tp
        gt_hit = np.zeros(g_rows.shape[0], dtype=bool)
        gt_hit[matched[tp]] = True
    else:
        tp = ign = np.zeros(p_rows.shape[0], dtype=bool)
        gt_hit = np.zeros(g_rows.shape[0], dtype=bool)
    out["tp"] = np.bincount(p_img[tp], minlength=n)
    out["fp"] = n_pred - out["tp"] - np.bincount(p_img[ign], minlength=n)
    out["fn"] = n_gt - np.bincount(g_img[regular & gt_hit], minlength=n)
    # mean IoU: per (image, label) group, then the mean over the image's labels
    gk = g_key[regular]
    keys, inv = np.unique(np.concatenate((p_key, gk)), return_inverse=True)
    pl, gl = inv[: p_key.shape[0]], inv[p_key.shape[0] :]
    n_lab = keys.shape[0]
    cnt_p = np.bincount(pl, minlength=n_lab)
    cnt_g = np.bincount(gl, minlength=n_lab)
    sum_p = np.bincount(pl, weights=best_p, minlength=n_lab)
    sum_g = np.bincount(gl, weights=best_g[regular], minlength=n_lab)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = np.where(cnt_p <= cnt_g, sum_p / np.maximum(cnt_p, 1),
                         sum_g / np.maximum(cnt_g, 1))
    score = np.where((cnt_p > 0) & (cnt_g > 0), score, 0.0)
    lab_img = keys // span
    n_labels = np.bincount(lab_img, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["mean_iou"] = np.where(
            n_labels > 0, np.bincount(lab_img, weights=score, minlength=n) / n_labels, np.nan
        )
    return out


class PerImageMetrics:
    """The per-image table of one run, updated incrementally after edits."""

    def __init__(self, dataset: Dataset, run: str | None, params: MetricParams = MetricParams(),
                 progress: Progress | None = None) -> None:
        self.dataset = dataset
        self.run = run
        self.params = params
        n = dataset.n_images
        self._values = {c: np.zeros(n, dtype=np.float64 if c == "mean_iou" else np.int64)
                        for c in COLUMNS}
        self._extra: dict[str, np.ndarray] = {}
        self.update(range(n), progress=progress)

    @property
    def preds(self) -> Boxes | None:
        return None if self.run is None else self.dataset.runs[self.run]

    def image_result(self, i: int) -> ImageResult:
        """Rows and match records of image ``i`` (the same kernel as the table)."""
        ds, p = self.dataset, self.params
        gt = ds.gt
        gs = gt.image_slice(i)
        g_rows = np.arange(gs.start, gs.stop)[gt.alive[gs]]
        preds = self.preds
        if preds is None:
            p_rows = np.zeros(0, dtype=np.int64)
            pxy, psc, pcl = np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)
            parea = np.zeros(0)
        else:
            ps = preds.image_slice(i)
            keep = preds.alive[ps] & p.keep(preds.score[ps], preds.cls[ps])
            p_rows = np.arange(ps.start, ps.stop)[keep]
            pxy, psc, pcl = preds.xyxy[p_rows], preds.score[p_rows], preds.cls[p_rows]
            parea = box_areas(pxy, preds.wh[p_rows])
        gxy, gcl, gcr = gt.xyxy[g_rows], gt.cls[g_rows], gt.iscrowd[g_rows]
        m = match_image(pxy, psc, pcl, gxy, gcl, gcr, p.iou_threshold,
                        pred_area=parea, gt_area=box_areas(gxy, gt.wh[g_rows]))
        return ImageResult(g_rows, p_rows, m)

    def update(self, images: Iterable[int], progress: Progress | None = None) -> None:
        """Re-compute the rows of ``images``, in batches of about a million boxes.

        ``progress(done, total)`` is called after each batch; returning False cancels
        (:class:`InterruptedError`; the batches done so far are updated)."""
        idx = np.unique(np.fromiter((int(i) for i in images), dtype=np.int64))
        if idx.size == 0:
            return
        gt, preds = self.dataset.gt, self.preds
        size = np.diff(gt.offsets)[idx]
        if preds is not None:
            size = size + np.diff(preds.offsets)[idx]
        # batch boundaries where the running box count passes a multiple of the budget
        passes = np.cumsum(size) // _BATCH_BOXES
        cuts = np.flatnonzero(np.diff(passes)) + 1
        bounds = np.concatenate(([0], cuts, [idx.size]))
        v = self._values
        for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            part = idx[a:b]
            cols = image_table_arrays(gt, preds, part, self.params)
            for c in COLUMNS:
                v[c][part] = cols[c]
            if progress is not None and progress(b, idx.size) is False:
                raise InterruptedError("cancelled")

    def table(self) -> pd.DataFrame:
        """One row per image (index = image index), with ``file_name`` and ``deleted``."""
        ds = self.dataset
        df = pd.DataFrame({"file_name": ds.images.file_names})
        for c in COLUMNS:
            df[c] = self._values[c]
        for name, values in ds.meta.get("image_values", {}).items():
            df[name] = np.asarray(values, dtype=np.float64)
        df["deleted"] = ds.images.deleted.copy()
        return df

    def set_columns(self, values: dict[str, np.ndarray]) -> None:
        """Attach more per-image columns (e.g. :mod:`.image_columns`' ``ap``, ``err_*``),
        one value per image; :meth:`column` returns them. They are not re-computed by
        :meth:`update`: whoever computed them replaces them after edits."""
        n = self.dataset.n_images
        for name, v in values.items():
            arr = np.asarray(v, dtype=np.float64)
            if arr.shape != (n,):
                raise ValueError(f"column {name!r}: expected {n} values, got {arr.shape}")
            self._extra[name] = arr

    def has_column(self, name: str) -> bool:
        return name in self._values or name in self._extra

    def column(self, name: str) -> np.ndarray:
        if name in self._values:
            return self._values[name]
        if name in self._extra:
            return self._extra[name]
        if name in self.dataset.meta.get("image_values", {}):
            return np.asarray(self.dataset.meta["image_values"][name], dtype=np.float64)
        raise KeyError(name)


def per_image_table(dataset: Dataset, run: str | None,
                    params: MetricParams = MetricParams(),
                    progress: Progress | None = None) -> pd.DataFrame:
    """The per-image table of ``run`` (None = ground truth only)."""
    return PerImageMetrics(dataset, run, params, progress).table()


def run_totals(pim: PerImageMetrics, image_mask: np.ndarray | None = None) -> dict[str, float]:
    """Dataset totals of one run over the images in ``image_mask`` (default: all):
    sums of n_gt, n_pred, tp, fp, fn; precision, recall; the mean of ``mean_iou`` over
    the images that have one (NaN = nothing to score is left out)."""
    mask = np.ones(pim.dataset.n_images, bool) if image_mask is None else image_mask
    v = {c: pim.column(c)[mask] for c in COLUMNS}
    tp, fp, fn = (int(v[c].sum()) for c in ("tp", "fp", "fn"))
    miou = v["mean_iou"][~np.isnan(v["mean_iou"])]
    return {
        "images": int(mask.sum()),
        "gt": int(v["n_gt"].sum()),
        "pred": int(v["n_pred"].sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "mean_iou": float(miou.mean()) if miou.size else float("nan"),
    }


def sort_order(values: np.ndarray, descending: bool = False,
               tiebreak: np.ndarray | None = None) -> np.ndarray:
    """Row order sorting ``values``: stable, NaN last in both directions.

    Worst-first lists sort ``mean_iou`` ascending and ``fp``/``fn`` descending; an image
    with nothing to score (NaN) comes after every number either way. ``tiebreak``: a
    second key for equal values, ascending (e.g. minus the error count)."""
    v = np.asarray(values, dtype=np.float64)
    nan = np.isnan(v)
    key = np.where(nan, 0.0, -v if descending else v)
    keys = (key, nan) if tiebreak is None else (np.asarray(tiebreak), key, nan)
    return np.lexsort(keys)
