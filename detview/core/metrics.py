"""Per-image metrics and rankings.

For every image and a prediction run, at a score threshold (predictions with
``score >= score_threshold`` are kept, the same rule everywhere in detview) and an
IoU threshold:

- ``n_gt``: ground-truth boxes, crowd regions and deleted boxes not counted;
- ``n_pred``: predictions kept by the score threshold;
- ``tp``, ``fp``, ``fn``: class-aware greedy matching, see :mod:`.matching`; a
  prediction matched only to a crowd region is neither TP nor FP;
- ``mean_iou``: the per-image IoU of the Deep Lake evaluation playbook. For each label
  in the union of predicted and ground-truth labels, take the IoU matrix between that
  label's predictions and ground-truth boxes; if either side is empty the label scores
  0; otherwise each box of the smaller side takes its best IoU with the larger side
  (with equal counts each prediction takes its best ground-truth IoU) and the label
  scores the mean of those. The image scores the mean over labels, 0 with no labels.
  Crowd regions take no part.

:class:`PerImageMetrics` keeps the table and the match records and re-computes only
the images an edit touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .dataset import Dataset
from .geometry import iou as iou_matrix
from .matching import ImageMatch, match_image
from .tables import Boxes

__all__ = ["MetricParams", "PerImageMetrics", "mean_iou", "per_image_table", "COLUMNS"]

COLUMNS = ("n_gt", "n_pred", "tp", "fp", "fn", "mean_iou")

Progress = Callable[[int, int], bool]


@dataclass(frozen=True)
class MetricParams:
    score_threshold: float = 0.5
    iou_threshold: float = 0.5


def mean_iou(pred_xyxy: np.ndarray, pred_cls: np.ndarray, gt_xyxy: np.ndarray,
             gt_cls: np.ndarray, ious: np.ndarray | None = None) -> float:
    """Deep Lake per-image IoU (see module docstring). Inputs are already filtered.

    ``ious`` may pass the IoU matrix (preds x gt) when the caller has it; pairs of
    different classes are ignored either way.
    """
    pred_cls = np.asarray(pred_cls, dtype=np.int64)
    gt_cls = np.asarray(gt_cls, dtype=np.int64)
    if pred_cls.size == 0 and gt_cls.size == 0:
        return 0.0
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
        return self._compute(i)

    def _compute(self, i: int) -> ImageResult:
        ds, p = self.dataset, self.params
        gt = ds.gt
        gs = gt.image_slice(i)
        g_rows = np.arange(gs.start, gs.stop)[gt.alive[gs]]
        preds = self.preds
        if preds is None:
            p_rows = np.zeros(0, dtype=np.int64)
            pxy, psc, pcl = np.zeros((0, 4)), np.zeros(0), np.zeros(0, dtype=np.int64)
        else:
            ps = preds.image_slice(i)
            keep = preds.alive[ps] & (preds.score[ps] >= p.score_threshold)
            p_rows = np.arange(ps.start, ps.stop)[keep]
            pxy, psc, pcl = preds.xyxy[p_rows], preds.score[p_rows], preds.cls[p_rows]
        gxy, gcl, gcr = gt.xyxy[g_rows], gt.cls[g_rows], gt.iscrowd[g_rows]
        m = match_image(pxy, psc, pcl, gxy, gcl, gcr, p.iou_threshold)
        return ImageResult(g_rows, p_rows, m)

    def update(self, images: Iterable[int], progress: Progress | None = None) -> None:
        idx = list(images)
        v = self._values
        for k, i in enumerate(idx):
            res = self._compute(i)
            gt = self.dataset.gt
            crowd = gt.iscrowd[res.gt_rows]
            m = res.match
            v["n_gt"][i] = int(np.count_nonzero(~crowd))
            v["n_pred"][i] = len(res.pred_rows)
            v["tp"][i] = m.tp
            v["fp"][i] = m.fp
            v["fn"][i] = int(np.count_nonzero((m.gt_pred < 0) & ~crowd))
            regular = res.gt_rows[~crowd]
            preds = self.preds
            pcl = np.zeros(0, np.int64) if preds is None else preds.cls[res.pred_rows]
            v["mean_iou"][i] = mean_iou(np.zeros((0, 4)), pcl, gt.xyxy[regular], gt.cls[regular],
                                        ious=m.ious[:, ~crowd])
            if progress is not None and k % 256 == 0 and progress(k, len(idx)) is False:
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
    sums of n_gt, n_pred, tp, fp, fn; precision, recall; the mean of ``mean_iou``."""
    mask = np.ones(pim.dataset.n_images, bool) if image_mask is None else image_mask
    v = {c: pim.column(c)[mask] for c in COLUMNS}
    tp, fp, fn = (int(v[c].sum()) for c in ("tp", "fp", "fn"))
    return {
        "images": int(mask.sum()),
        "gt": int(v["n_gt"].sum()),
        "pred": int(v["n_pred"].sum()),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "mean_iou": float(v["mean_iou"].mean()) if mask.any() else float("nan"),
    }
