"""Vectorised sanity checks on parsed boxes, shared by every format."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ._common import Problems

__all__ = ["check_boxes"]

DETAIL_LIMIT = 20  # per kind of problem; the rest are counted in one line
#: coordinates beyond this many pixels are corrupt (areas would overflow float64 sums)
MAX_COORD = 1e8


def _report(
    problems: Problems,
    source: str,
    rows: np.ndarray,
    where: Callable[[int], str],
    message: str,
    severity: str,
) -> None:
    rows = np.flatnonzero(rows) if rows.dtype == bool else rows
    for r in rows[:DETAIL_LIMIT].tolist():
        problems.add(source, where(r), message, severity)
    if rows.shape[0] > DETAIL_LIMIT:
        problems.add(
            source, "", f"{rows.shape[0] - DETAIL_LIMIT} more boxes: {message}", severity
        )


def check_boxes(
    xyxy: np.ndarray,
    score: np.ndarray | None,
    widths: np.ndarray,
    heights: np.ndarray,
    problems: Problems,
    source: str,
    where: Callable[[int], str],
    *,
    clip: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (keep mask, xyxy possibly clipped). Never changes its inputs.

    Dropped with a warning: NaN/inf coordinates or scores, negative width/height.
    Kept with a warning: zero width/height, boxes outside the image (clipped when
    ``clip``). ``widths``/``heights`` are per box (0 = unknown size, not checked).
    """
    n = xyxy.shape[0]
    keep = np.ones(n, dtype=bool)
    if n == 0:
        return keep, xyxy
    finite = np.isfinite(xyxy).all(axis=1)
    if not finite.all():
        _report(problems, source, ~finite, where, "coordinate is NaN or infinite; box skipped",
                "warning")
        keep &= finite
    with np.errstate(invalid="ignore"):
        huge = keep & (np.abs(xyxy) > MAX_COORD).any(axis=1)
    if huge.any():
        _report(problems, source, huge, where, f"coordinate beyond ±{MAX_COORD:.0e} pixels; box "
                "skipped", "warning")
        keep &= ~huge
    if score is not None:
        fs = np.isfinite(score) & (np.abs(np.nan_to_num(score)) <= 1e30)
        if not fs.all():
            _report(problems, source, ~fs & keep, where, "score is NaN, infinite or absurd; box "
                    "skipped",
                    "warning")
            keep &= fs
    with np.errstate(invalid="ignore"):
        w = xyxy[:, 2] - xyxy[:, 0]
        h = xyxy[:, 3] - xyxy[:, 1]
        neg = keep & ((w < 0) | (h < 0))
        zero = keep & ~neg & ((w == 0) | (h == 0))
    if neg.any():
        _report(problems, source, neg, where, "negative width or height; box skipped", "warning")
        keep &= ~neg
    if zero.any():
        _report(problems, source, zero, where, "zero width or height", "warning")
    known = (widths > 0) & (heights > 0) & keep
    if known.any():
        # tolerance: the rounding of 6-decimal normalised (YOLO) coordinates
        tw = 2e-6 * widths + 1e-6
        th = 2e-6 * heights + 1e-6
        with np.errstate(invalid="ignore"):
            out = known & (
                (xyxy[:, 0] < -tw)
                | (xyxy[:, 1] < -th)
                | (xyxy[:, 2] > widths + tw)
                | (xyxy[:, 3] > heights + th)
            )
        if out.any():
            msg = "box extends outside the image" + ("; clipped" if clip else "")
            _report(problems, source, out, where, msg, "warning")
            if clip:
                xyxy = xyxy.copy()
                r = np.flatnonzero(out)
                xyxy[r, 0] = np.clip(xyxy[r, 0], 0, widths[r])
                xyxy[r, 2] = np.clip(xyxy[r, 2], 0, widths[r])
                xyxy[r, 1] = np.clip(xyxy[r, 1], 0, heights[r])
                xyxy[r, 3] = np.clip(xyxy[r, 3], 0, heights[r])
    return keep, xyxy
