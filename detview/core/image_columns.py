"""More per-image columns: COCO AP of each image, TIDE error counts, class confusions.

Everything here is computed for one prediction run:

- ``ap``, ``ap50``: :meth:`COCOEvaluator.per_image_ap` (pycocotools with ``imgIds =
  [image]``; NaN for an image without non-crowd ground truth or deleted). Which
  predictions the evaluator saw (all of them, as a training framework reports COCO
  numbers, or those above the score threshold) is the caller's choice.
- ``err_cls, err_loc, err_both, err_dupe, err_bkg, err_miss``: the TIDE error types of
  :func:`~detview.core.tide.tide_errors` counted per image, for the predictions with
  ``score >= score_threshold`` and TIDE's foreground IoU set to the IoU threshold. The
  first five split the false positives, ``err_miss`` the missed boxes that no
  prediction even came close to (a box found with the wrong class or poorly placed is
  blamed on that prediction instead).
- ``confusion``: the image's class confusions, ``"dog→cat ×2; car→truck"`` (true class
  → predicted class), from the one-to-one class-agnostic matching of
  :func:`~detview.core.tide.confusion_entries` at the same thresholds.

:class:`ErrorLabels` turns a TIDE result into the short per-box texts the viewer shows
("FP·Loc 0.42", "FP·Cls(dog)", "FN·Miss") and their one-line explanations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .cocoeval import COCOEvaluator
from .dataset import Dataset
from .geometry import box_areas, box_iou
from .metrics import kept_by_class
from .tables import Boxes
from .tide import (
    BKG,
    BOTH,
    CLS,
    DUPE,
    LOC,
    MISS,
    OK,
    ConfusionEntries,
    TideResult,
    confusion_entries,
    tide_errors,
)

__all__ = [
    "ERROR_COLUMNS",
    "ERROR_HELP",
    "IMAGE_COLUMNS",
    "ErrorLabels",
    "above_threshold",
    "confusion_text",
    "image_columns",
    "image_confusions",
    "per_image_frame",
]

ERROR_COLUMNS: tuple[str, ...] = (
    "err_cls", "err_loc", "err_both", "err_dupe", "err_bkg", "err_miss",
)  # fmt: skip
IMAGE_COLUMNS: tuple[str, ...] = ("ap", "ap50", *ERROR_COLUMNS)
_COLUMN_OF = {"Cls": "err_cls", "Loc": "err_loc", "Both": "err_both", "Dupe": "err_dupe",
              "Bkg": "err_bkg", "Miss": "err_miss"}  # fmt: skip

#: One line per TIDE error type, for tooltips and legends.
ERROR_HELP: dict[str, str] = {
    "Cls": "Classification error: on an object of another class (IoU ≥ the IoU threshold) "
    "— right place, wrong class.",
    "Loc": "Localisation error: right class, but the box is poorly placed "
    "(0.1 ≤ IoU < the IoU threshold with the object).",
    "Both": "Both wrong: a poorly placed box with the wrong class.",
    "Dupe": "Duplicate: the right class in the right place, but another higher-scoring "
    "prediction already took this object.",
    "Bkg": "Background: a detection where there is no object (IoU ≤ 0.1 with every box) "
    "— a hallucination.",
    "Miss": "Missed: a ground-truth object no prediction found, not even poorly placed or "
    "with the wrong class.",
}


def above_threshold(dets: Boxes, score_threshold: float,
                    class_thresholds: np.ndarray | None = None) -> Boxes:
    """The same table with predictions under ``score_threshold`` (or under their
    class's threshold in ``class_thresholds``, an array indexed by class) marked not
    alive."""
    return replace(dets, alive=dets.alive & kept_by_class(dets.score, dets.cls,
                                                          score_threshold, class_thresholds))


# --------------------------------------------------------------------------- confusions
def image_confusions(entries: ConfusionEntries, n_classes: int) -> pd.DataFrame:
    """Class confusions per image: columns ``image, true_cls, pred_cls, count``.

    Only entries where a box of one class was matched by a prediction of another
    (background rows and columns left out), sorted by image, then count descending.
    """
    k = int(n_classes)
    sel = (entries.true_cls != entries.pred_cls) & (entries.true_cls < k) & (entries.pred_cls < k)
    key = (entries.image[sel] * k + entries.true_cls[sel]) * k + entries.pred_cls[sel]
    u, cnt = np.unique(key, return_counts=True)
    df = pd.DataFrame({"image": u // (k * k), "true_cls": (u // k) % k, "pred_cls": u % k,
                       "count": cnt})
    return df.sort_values(["image", "count"], ascending=[True, False], kind="stable"
                          ).reset_index(drop=True)


def confusion_text(confusions: pd.DataFrame, class_names: Sequence[str],
                   n_images: int) -> list[str]:
    """Per image ``"dog→cat ×2; car→truck"`` (true → predicted); ``""`` when none."""
    out = [""] * n_images
    parts: dict[int, list[str]] = {}
    for img, t, p, c in confusions[["image", "true_cls", "pred_cls", "count"]].itertuples(
            index=False):
        txt = f"{class_names[t]}→{class_names[p]}" + (f" ×{c}" if c > 1 else "")
        parts.setdefault(int(img), []).append(txt)
    for i, lst in parts.items():
        out[i] = "; ".join(lst)
    return out


# --------------------------------------------------------------------------- table
def per_image_frame(ap: pd.DataFrame, tide: TideResult, confusion: Sequence[str] | None = None
                    ) -> pd.DataFrame:
    """The :data:`IMAGE_COLUMNS` (and ``confusion``) from already computed parts."""
    df = pd.DataFrame({"ap": ap["AP"].to_numpy(np.float64),
                       "ap50": ap["AP50"].to_numpy(np.float64)})
    for name, col in _COLUMN_OF.items():
        df[col] = tide.per_image[name].to_numpy(np.int64)
    if confusion is not None:
        df["confusion"] = list(confusion)
    df.index.name = "image"
    return df


def image_columns(
    ds: Dataset,
    run: str,
    score_threshold: float = 0.5,
    iou_threshold: float = 0.5,
    ap_from_all: bool = True,
    evaluator: COCOEvaluator | None = None,
    progress: Callable[[int, int], bool] | None = None,
) -> pd.DataFrame:
    """Per image ``ap, ap50, err_*, confusion`` of ``ds.runs[run]`` (deleted images: NaN
    AP, zero counts).

    ``ap_from_all``: AP from all predictions (default, pycocotools' numbers) rather
    than those ``>= score_threshold``; ``evaluator`` may pass an up-to-date
    :class:`COCOEvaluator` built that way.
    """
    dets = ds.runs[run]
    mask = ~ds.images.deleted
    k = len(ds.classes)
    if evaluator is None:
        src = dets if ap_from_all else above_threshold(dets, score_threshold)
        evaluator = COCOEvaluator(ds.gt, src, k, mask, image_ids=ds.images.ids,
                                  class_names=ds.classes.names, progress=progress)
    kept = above_threshold(dets, score_threshold)
    tide = tide_errors(ds.gt, kept, k, mask, pos_thresh=iou_threshold)
    conf = image_confusions(confusion_entries(ds.gt, dets, k, mask, iou_threshold,
                                              score_threshold), k)
    text = confusion_text(conf, ds.classes.names, ds.n_images)
    return per_image_frame(evaluator.per_image_ap(), tide, text)


# --------------------------------------------------------------------------- box labels
_SHORT = {CLS: "Cls", LOC: "Loc", BOTH: "Both", DUPE: "Dupe", BKG: "Bkg"}


@dataclass(frozen=True, eq=False)
class ErrorLabels:
    """Per-box TIDE texts of one run, computed once, formatted on demand.

    Prediction rows are those of the run's table (which never changes); ground-truth
    boxes are looked up by box id (edits move rows). ``pred_iou`` is the IoU with the
    box the error refers to (Cls, Loc, Dupe), NaN otherwise.
    """

    pred_error: np.ndarray  # int8 per prediction row (errors module codes)
    pred_iou: np.ndarray
    pred_ref_cls: np.ndarray  # class of the box the error refers to, -1 if none
    gt_code: dict[int, int]  # box id -> MISS, or CLS/LOC when a prediction was blamed
    class_names: tuple[str, ...]
    iou_threshold: float = 0.5
    pred_ids_sorted: np.ndarray | None = None  # prediction box ids, ascending
    pred_rows_sorted: np.ndarray | None = None  # their rows

    @staticmethod
    def from_tide(tide: TideResult, gt: Boxes, dets: Boxes, class_names: Sequence[str],
                  iou_threshold: float = 0.5) -> ErrorLabels:
        """``gt`` must be the table ``tide`` was computed on (rows as they were then)."""
        err = tide.pred_error.copy()
        ref = tide.pred_gt
        has = ref >= 0
        iou = np.full(len(dets), np.nan)
        if has.any():
            d, g = dets.xyxy[has], gt.xyxy[ref[has]]
            iou[has] = box_iou(d, box_areas(d, dets.wh[has]), g, box_areas(g, gt.wh[ref[has]]))
        ref_cls = np.where(has, gt.cls[np.maximum(ref, 0)] if len(gt) else -1, -1)
        codes: dict[int, int] = {}
        blamed = has & ((err == CLS) | (err == LOC))
        for r, c in zip(ref[blamed].tolist(), err[blamed].tolist(), strict=True):
            codes.setdefault(int(gt.box_id[r]), int(c))
        for r in np.flatnonzero(tide.gt_error == MISS).tolist():
            codes[int(gt.box_id[r])] = MISS
        order = np.argsort(dets.box_id, kind="stable")
        return ErrorLabels(err, iou, ref_cls.astype(np.int64), codes, tuple(class_names),
                           iou_threshold, dets.box_id[order], order)

    def pred_rows(self, box_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Rows of prediction box ids (-1 for an unknown id)."""
        ids = np.asarray(box_ids, dtype=np.int64)
        if self.pred_ids_sorted is None or not len(self.pred_ids_sorted):
            return np.full(ids.shape[0], -1, dtype=np.int64)
        pos = np.minimum(np.searchsorted(self.pred_ids_sorted, ids),
                         len(self.pred_ids_sorted) - 1)
        hit = self.pred_ids_sorted[pos] == ids
        assert self.pred_rows_sorted is not None
        return np.where(hit, self.pred_rows_sorted[pos], -1)

    def _name(self, c: int) -> str:
        return self.class_names[c] if 0 <= c < len(self.class_names) else str(c)

    def pred_tag(self, row: int) -> str:
        """``"FP·Loc 0.42"``, ``"FP·Cls(dog)"``, ``"FP·Dupe"``...; ``""`` for a true
        positive or a prediction TIDE did not evaluate."""
        if row < 0:
            return ""
        c = int(self.pred_error[row])
        if c not in _SHORT:
            return ""
        if c == LOC:
            return f"FP·Loc {self.pred_iou[row]:.2f}"
        if c == CLS:
            return f"FP·Cls({self._name(int(self.pred_ref_cls[row]))})"
        return f"FP·{_SHORT[c]}"

    def pred_help(self, row: int) -> str:
        """One sentence on the prediction's error type (``""`` when none)."""
        if row < 0:
            return ""
        c = int(self.pred_error[row])
        if c == OK:
            return "True positive (TIDE)."
        if c not in _SHORT:
            return ""
        t = self.iou_threshold
        if c == LOC:
            return (f"Localisation error: right class, but IoU {self.pred_iou[row]:.2f} with "
                    f"the object (needs ≥ {t:.2f}).")
        if c == CLS:
            return (f"Classification error: on a {self._name(int(self.pred_ref_cls[row]))} "
                    f"(IoU {self.pred_iou[row]:.2f}) — right place, wrong class.")
        if c == DUPE:
            return (f"Duplicate: this object (IoU {self.pred_iou[row]:.2f}) was already "
                    "matched by a higher-scoring prediction.")
        return ERROR_HELP[_SHORT[c]]

    def gt_tag(self, box_id: int) -> str:
        """``"FN·Miss"`` for a missed box, ``"FN·Loc"``/``"FN·Cls"`` when a poorly placed
        or wrong-class prediction was on it, else ``""``."""
        c = self.gt_code.get(int(box_id))
        if c is None:
            return ""
        return "FN·Miss" if c == MISS else f"FN·{_SHORT[c]}"

    def gt_help(self, box_id: int) -> str:
        c = self.gt_code.get(int(box_id))
        if c is None:
            return ""
        if c == MISS:
            return ERROR_HELP["Miss"]
        if c == LOC:
            return "Found by a prediction of the right class, but too poorly placed (FP·Loc)."
        return "Found by a prediction of another class (FP·Cls)."
