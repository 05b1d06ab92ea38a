"""Annotation formats in and out: COCO, YOLO, Pascal VOC, LabelMe, CVAT, CSV.

Top level: :func:`load_dataset` (ground truth + prediction runs + per-image values),
:func:`detect_layout` (what a dataset folder holds), :func:`write_dataset` (the
cleaned dataset in any format) and :func:`export_dataset` (the cleaned dataset and
its corrections log, as the GUI and ``detview export`` write them). Each format is
one module of :mod:`detview.io.formats` and documents its coordinate convention; the
engine's is xyxy float64, absolute pixels, 0-based, continuous.

Every name read from a file becomes a path only through :mod:`detview.io.paths`
(relative, inside its folder); every output goes through :mod:`detview.io.output`
(inside the output folder, renamed into place when complete).

Image sizes are read from file headers; boxes are in the stored pixel orientation
(EXIF rotation is not applied), as COCO/YOLO tools do; the viewer shows stored pixels.
"""

from __future__ import annotations

from . import formats
from .classmap import ClassMapChoice
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
from .output import MARKER as EXPORT_MARKER
from .output import check_export
from .paths import safe_name
from .writer import FORMATS as WRITE_FORMATS
from .writer import export_dataset, write_dataset, write_predictions

__all__ = [
    "EXPORT_MARKER",
    "GT_FORMATS",
    "PRED_FORMATS",
    "WRITE_FORMATS",
    "Cancelled",
    "ClassMapChoice",
    "InputError",
    "Layout",
    "LoadResult",
    "Problem",
    "check_export",
    "detect_format",
    "detect_layout",
    "export_dataset",
    "format_error",
    "formats",
    "load_dataset",
    "read_gt",
    "read_preds",
    "resolve_predictions",
    "safe_name",
    "write_dataset",
    "write_predictions",
]
