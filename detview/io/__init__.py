"""Annotation formats in and out: COCO, YOLO, Pascal VOC, LabelMe, CVAT, CSV.

Top level: :func:`load_dataset` (ground truth + prediction runs + per-image values),
:func:`detect_layout` (what a dataset folder holds) and :func:`write_dataset` (the
cleaned dataset in any format). Each format module documents its coordinate
convention; the engine's is xyxy float64, absolute pixels, 0-based, continuous.

Image sizes are read from file headers; boxes are in the stored pixel orientation
(EXIF rotation is not applied), as COCO/YOLO tools do; the viewer shows stored pixels.
"""

from __future__ import annotations

from .errors import Cancelled, InputError, Problem, format_error
from .loader import (
    GT_FORMATS,
    PRED_FORMATS,
    Layout,
    LoadResult,
    detect_format,
    detect_layout,
    load_dataset,
    read_gt,
    read_preds,
    resolve_predictions,
)
from .writer import FORMATS as WRITE_FORMATS
from .writer import write_dataset, write_predictions

__all__ = [
    "GT_FORMATS",
    "PRED_FORMATS",
    "WRITE_FORMATS",
    "Cancelled",
    "InputError",
    "Layout",
    "LoadResult",
    "Problem",
    "detect_format",
    "detect_layout",
    "format_error",
    "load_dataset",
    "read_gt",
    "read_preds",
    "resolve_predictions",
    "write_dataset",
    "write_predictions",
]
