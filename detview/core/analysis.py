"""What the analysis panel shows for one run, computed by the engine.

Two pieces with different costs, so the GUI can schedule them separately:

* :class:`LiveCOCO` keeps a :class:`~detview.core.cocoeval.COCOEvaluator` of one run
  current with the edits: built once (seconds at 5k images, in a worker), then
  :meth:`LiveCOCO.update` re-matches only the touched images (milliseconds).
* :func:`error_analysis` (TIDE error types and dAP, the confusion matrix, the per-image
  error columns and the per-box labels) is recomputed from scratch, in a worker.

"All predictions" is how training frameworks report COCO numbers (every prediction,
down to their own low score cut); "above threshold" keeps those with ``score >=
score_threshold``, the predictions the viewer draws and the image list counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .cocoeval import COCOEvaluator, COCOParams, COCOResult
from .dataset import Dataset
from .drilldown import Hits
from .image_columns import (
    ERROR_COLUMNS,
    ErrorLabels,
    above_threshold,
    confusion_text,
    image_confusions,
)
from .tables import Boxes
from .tide import (
    ERROR_NAMES,
    MISS,
    ConfusionEntries,
    TideResult,
    confusion_entries,
    tide_errors,
)

__all__ = [
    "COCO_EXPLAIN",
    "ErrorAnalysis",
    "ErrorBoxes",
    "LiveCOCO",
    "error_analysis",
    "most_confused_classes",
    "pr_curves",
    "present_classes",
]

Progress = Callable[[int, int], bool]

#: Name, title and a one-line explanation of the 12 COCO numbers.
COCO_EXPLAIN: dict[str, tuple[str, str]] = {
    "AP": ("AP @ IoU .50:.95",
           "The main COCO score: precision averaged over 101 recall points, 10 IoU "
           "thresholds (0.50, 0.55 … 0.95) and the classes."),
    "AP50": ("AP @ IoU .50", "AP when a box only needs IoU ≥ 0.50 with its object "
             "(lenient; the PASCAL VOC score)."),
    "AP75": ("AP @ IoU .75", "AP when a box needs IoU ≥ 0.75 (strict: only well placed "
             "boxes count)."),
    "APs": ("AP small", "AP on small objects only (area < 32² = 1024 pixels)."),
    "APm": ("AP medium", "AP on medium objects only (area 32² to 96² pixels)."),
    "APl": ("AP large", "AP on large objects only (area > 96² = 9216 pixels)."),
    "AR1": ("AR, 1 detection", "Recall (share of objects found, mean over 10 IoU "
            "thresholds) with only the top prediction per image and class."),
    "AR10": ("AR, 10 detections", "Recall keeping the 10 top predictions per image and "
             "class."),
    "AR100": ("AR, 100 detections", "Recall keeping up to 100 predictions per image and class "
              "(COCO's cap)."),
    "ARs": ("AR small", "Recall (up to 100 predictions) on small objects (area < 32²)."),
    "ARm": ("AR medium", "Recall (up to 100 predictions) on medium objects (32² to 96²)."),
    "ARl": ("AR large", "Recall (up to 100 predictions) on large objects (area > 96²)."),
}
NO_GT_NOTE = "-1 = no ground-truth objects of that size (nothing to measure)."


# --------------------------------------------------------------------------- COCO, live
class LiveCOCO:
    """A run's COCO evaluator kept current with the dataset's edits.

    Build it (in a worker) from a *copy* of the ground truth, then call
    :meth:`attach` on the GUI thread with the live dataset and the per-image revisions
    taken with the copy; after that, :meth:`update` after each edit.
    """

    def __init__(self, gt: Boxes, dets: Boxes, n_classes: int, image_mask: np.ndarray,
                 image_ids: np.ndarray, class_names: Sequence[str], *,
                 all_predictions: bool = True, score_threshold: float = 0.0,
                 params: COCOParams | None = None, progress: Progress | None = None,
                 class_thresholds: np.ndarray | None = None) -> None:
        self.all_predictions = all_predictions
        self.score_threshold = score_threshold
        src = dets if all_predictions else above_threshold(dets, score_threshold,
                                                           class_thresholds)
        self.evaluator = COCOEvaluator(gt, src, n_classes, image_mask, params, image_ids,
                                       class_names, progress)
        df = self.evaluator.per_image_ap()
        #: per-image COCO AP (IoU .50:.95) and AP50, kept current by :meth:`update`
        self.ap = df["AP"].to_numpy(np.float64).copy()
        self.ap50 = df["AP50"].to_numpy(np.float64).copy()

    @staticmethod
    def for_run(ds: Dataset, run: str, all_predictions: bool = True,
                score_threshold: float = 0.0, progress: Progress | None = None) -> LiveCOCO:
        """Built on ``ds.gt`` itself (no :meth:`attach` needed)."""
        return LiveCOCO(ds.gt, ds.runs[run], len(ds.classes), ~ds.images.deleted,
                        ds.images.ids, ds.classes.names, all_predictions=all_predictions,
                        score_threshold=score_threshold, progress=progress)

    def attach(self, ds: Dataset, revisions: np.ndarray | None = None) -> COCOResult:
        """Read the live ground truth from now on; re-match images edited since
        ``revisions`` (``ds.image_revisions`` when the copy was taken)."""
        self.evaluator.gt = ds.gt
        stale = (np.flatnonzero(ds.image_revisions != revisions) if revisions is not None
                 else np.zeros(0, np.int64))
        return self.update(ds, stale.tolist())

    def update(self, ds: Dataset, touched: Sequence[int] | frozenset[int]) -> COCOResult:
        """Re-match the touched images, re-accumulate, refresh their per-image AP."""
        res = self.evaluator.update_images(touched, image_mask=~ds.images.deleted)
        idx = np.unique(np.fromiter((int(i) for i in touched), dtype=np.int64))
        if idx.size:
            df = self.evaluator.per_image_ap(images=idx)
            self.ap[idx] = df["AP"].to_numpy()[idx]
            self.ap50[idx] = df["AP50"].to_numpy()[idx]
        return res

    def result(self) -> COCOResult:
        return self.evaluator.result()

    def per_image_ap(self) -> pd.DataFrame:
        return self.evaluator.per_image_ap()


# --------------------------------------------------------------------------- PR curves
def pr_curves(result: COCOResult, cls: int | None = None, area: int = 0,
              max_det: int = -1) -> dict[str, np.ndarray]:
    """Precision at the 101 recall points, as pycocotools accumulates it.

    Returns ``recall`` and three curves: ``"0.50"``, ``"0.75"`` (IoU thresholds) and
    ``"0.50:0.95"`` (mean over the 10 thresholds); each is the mean over the classes with
    ground truth (or the one class ``cls``), NaN where there is none. The mean of a
    curve is the matching AP (AP50, AP75, AP).
    """
    prec = result.precision[:, :, :, area, max_det]  # [T, R, K]
    if cls is not None:
        prec = prec[:, :, [cls]]
    valid = prec > -1
    cnt = valid.sum(2)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_t = np.where(cnt > 0, np.where(valid, prec, 0.0).sum(2) / np.maximum(cnt, 1),
                         np.nan)
    thrs = np.asarray(result.params.iou_thrs)
    out = {"recall": np.asarray(result.params.rec_thrs, dtype=np.float64)}
    for t in (0.5, 0.75):
        idx = np.flatnonzero(np.isclose(thrs, t))
        out[f"{t:.2f}"] = per_t[idx[0]] if idx.size else np.full(per_t.shape[1], np.nan)
    out["0.50:0.95"] = per_t.mean(0)  # a class is valid at every threshold or none
    return out


# --------------------------------------------------------------------------- errors
@dataclass(frozen=True, eq=False)
class ErrorAnalysis:
    """TIDE, confusion matrix, per-image error columns and per-box labels of one run.

    ``tide`` is computed on the predictions the panel's COCO numbers use (all, or
    above the threshold); ``tide_kept``, ``images`` and ``labels`` always on those
    above the score threshold (what the viewer draws). ``confusion`` is
    ``int64[K+1, K+1]`` with background at ``K``.
    """

    run: str
    all_predictions: bool
    score_threshold: float
    iou_threshold: float
    tide: TideResult
    tide_kept: TideResult
    confusion: np.ndarray
    images: pd.DataFrame  # err_* columns and ``confusion`` text, per image
    labels: ErrorLabels
    #: the boxes behind each confusion cell and each error type (None: not kept)
    boxes: ErrorBoxes | None = None

    def error_table(self) -> pd.DataFrame:
        """One row per TIDE error type: ``count`` and ``dAP`` (AP gained by fixing it)."""
        names = list(ERROR_NAMES.values())
        return pd.DataFrame({"count": [self.tide.counts[n] for n in names],
                             "dAP": [self.tide.dap[n] for n in names]}, index=names)

    def confusion_hits(self, true_cls: int, pred_cls: int,
                       class_names: Sequence[str] = ()) -> Hits:
        """The boxes counted in confusion cell (row ``true_cls``, column ``pred_cls``;
        ``K`` = background): pairs of a ground-truth box and the prediction matched to
        it, a missed box alone, or a prediction on nothing alone."""
        b = self.boxes
        k = self.confusion.shape[0] - 1

        def name(c: int) -> str:
            return "background" if c == k else (class_names[c] if c < len(class_names)
                                                 else str(c))

        label = f"true {name(true_cls)} → predicted {name(pred_cls)}"
        if b is None:
            return Hits.of(label, np.zeros(0, np.int64))
        sel = (b.cm_true == true_cls) & (b.cm_pred == pred_cls)
        return Hits.of(label, b.cm_image[sel], b.cm_gt_id[sel], b.cm_pred_id[sel])

    def error_hits(self, error: str) -> Hits:
        """The boxes with TIDE error type ``error`` (``"Loc"``, ``"Miss"``...) among the
        predictions above the score threshold: predictions, or for ``Miss`` the missed
        ground-truth boxes."""
        code = {v: c for c, v in ERROR_NAMES.items()}[error]
        b = self.boxes
        if b is None:
            return Hits.of(error, np.zeros(0, np.int64))
        sel = b.err_code == code
        return Hits.of(f"{error} errors", b.err_image[sel], b.err_gt_id[sel],
                       b.err_pred_id[sel])


@dataclass(frozen=True, eq=False)
class ErrorBoxes:
    """Box ids behind the confusion matrix and the error types, taken when they were
    computed (ids stay valid across edits, rows do not).

    ``cm_*``: one entry per counted confusion-matrix entry (true class, predicted class,
    ``K`` = background; image; ground-truth and prediction box id, -1 on the background
    side). ``err_*``: one entry per TIDE error of the predictions above the threshold
    (code of :mod:`.tide`; image; the prediction's id, and the ground-truth box it is
    about, -1 when none; for ``MISS`` the missed box and no prediction).
    """

    cm_image: np.ndarray
    cm_true: np.ndarray
    cm_pred: np.ndarray
    cm_gt_id: np.ndarray
    cm_pred_id: np.ndarray
    err_image: np.ndarray
    err_code: np.ndarray
    err_gt_id: np.ndarray
    err_pred_id: np.ndarray


def _error_boxes(gt: Boxes, dets: Boxes, e: ConfusionEntries, tide: TideResult) -> ErrorBoxes:
    gt_row, pred_row = e.gt_row, e.pred_row
    gid = np.where(gt_row >= 0, gt.box_id[np.maximum(gt_row, 0)] if len(gt) else -1, -1)
    pid = np.where(pred_row >= 0, dets.box_id[np.maximum(pred_row, 0)] if len(dets) else -1,
                   -1)
    perr = np.flatnonzero(np.isin(tide.pred_error, list(ERROR_NAMES)))
    ref = tide.pred_gt[perr]
    miss = np.flatnonzero(tide.gt_error == MISS)
    ref_id = np.where(ref >= 0, gt.box_id[np.maximum(ref, 0)] if len(gt) else -1, -1)
    return ErrorBoxes(
        cm_image=np.asarray(e.image, np.int64), cm_true=np.asarray(e.true_cls, np.int64),
        cm_pred=np.asarray(e.pred_cls, np.int64),
        cm_gt_id=gid.astype(np.int64), cm_pred_id=pid.astype(np.int64),
        err_image=np.concatenate((dets.image[perr], gt.image[miss])).astype(np.int64),
        err_code=np.concatenate((tide.pred_error[perr], np.full(miss.shape[0], MISS))
                                ).astype(np.int8),
        err_gt_id=np.concatenate((ref_id, gt.box_id[miss])).astype(np.int64),
        err_pred_id=np.concatenate((dets.box_id[perr], np.full(miss.shape[0], -1))
                                   ).astype(np.int64),
    )


def error_analysis(gt: Boxes, dets: Boxes, n_classes: int, image_mask: np.ndarray,
                   class_names: Sequence[str], run: str, *, all_predictions: bool,
                   score_threshold: float, iou_threshold: float = 0.5,
                   progress: Progress | None = None,
                   class_thresholds: np.ndarray | None = None) -> ErrorAnalysis:
    """Everything but the COCO numbers; safe in a worker given a copy of ``gt``.
    ``class_thresholds``: per-class score thresholds (an array indexed by class)
    overriding ``score_threshold``."""
    k = int(n_classes)
    kept = above_threshold(dets, score_threshold, class_thresholds)
    tide_kept = tide_errors(gt, kept, k, image_mask, pos_thresh=iou_threshold)
    if progress is not None:
        progress(1, 3)
    tide = (tide_errors(gt, dets, k, image_mask, pos_thresh=iou_threshold)
            if all_predictions else tide_kept)
    if progress is not None:
        progress(2, 3)
    entries = (confusion_entries(gt, dets, k, image_mask, iou_threshold, score_threshold)
               if class_thresholds is None
               else confusion_entries(gt, kept, k, image_mask, iou_threshold, -np.inf))
    m = np.zeros((k + 1, k + 1), dtype=np.int64)
    np.add.at(m, (entries.true_cls, entries.pred_cls), 1)
    conf = image_confusions(entries, k)
    images = pd.DataFrame({c: tide_kept.per_image[n].to_numpy(np.int64)
                           for c, n in zip(ERROR_COLUMNS, ("Cls", "Loc", "Both", "Dupe",
                                                           "Bkg", "Miss"), strict=True)})
    images["confusion"] = confusion_text(conf, class_names, gt.n_images)
    labels = ErrorLabels.from_tide(tide_kept, gt, dets, class_names, iou_threshold)
    if progress is not None:
        progress(3, 3)
    return ErrorAnalysis(run, all_predictions, score_threshold, iou_threshold, tide,
                         tide_kept, m, images, labels,
                         _error_boxes(gt, dets, entries, tide_kept))


def present_classes(confusion: np.ndarray) -> np.ndarray:
    """Class indices with any count in their row or column (background excluded)."""
    k = confusion.shape[0] - 1
    return np.flatnonzero((confusion[:k].sum(1) + confusion[:, :k].sum(0)) > 0)


def most_confused_classes(confusion: np.ndarray, n: int) -> np.ndarray:
    """Up to ``n`` classes that occur, returned in class order: first those mistaken
    for another class or predicted in another's place (most such boxes first), then
    those with the most other errors (objects missed, predictions on nothing)."""
    k = confusion.shape[0] - 1
    present = present_classes(confusion)
    m = confusion.copy()
    np.fill_diagonal(m, 0)
    between = m[:k, :k].sum(1) + m[:k, :k].sum(0)
    other = m[:k, k] + m[k, :k]
    order = present[np.lexsort((-other[present], -between[present]))]
    return np.sort(order[:n])
