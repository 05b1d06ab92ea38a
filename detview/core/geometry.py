"""Box geometry: conversions, areas, clipping and the one IoU arithmetic of detview.

Engine convention: xyxy float64, absolute pixels, 0-based, continuous coordinates.

:func:`box_iou` is the IoU every part of the engine uses (COCO evaluation, per-image
metrics, TIDE, the confusion matrix, the viewer's best-overlap partner), written once
with pycocotools' ``bbIou`` arithmetic; :func:`iou` is its dense matrix form and
:mod:`.matching` its pairwise, chunked form.
"""

from __future__ import annotations

import numpy as np

__all__ = ["areas", "box_areas", "box_iou", "clip", "iou", "xywh_to_xyxy", "xyxy_to_xywh"]


def xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    out = b.copy()
    out[:, 2:] = b[:, :2] + b[:, 2:]
    return out


def xyxy_to_xywh(b: np.ndarray) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    out = b.copy()
    out[:, 2:] = b[:, 2:] - b[:, :2]
    return out


def areas(b: np.ndarray) -> np.ndarray:
    """Areas of xyxy boxes (0 for an empty or inverted box)."""
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)


def box_areas(xyxy: np.ndarray, wh: np.ndarray | None = None) -> np.ndarray:
    """``w * h`` of each box as pycocotools computes it from a COCO ``[x, y, w, h]``.

    ``wh`` (float64[n, 2], NaN = unknown) are the width and height the source file
    gave. A COCO reader forms ``x2 = x + w``, and ``x2 - x`` can differ from ``w`` in the
    last bit, which moves an IoU that lands exactly on a threshold (0.75 from
    two-decimal coordinates happens) to the other side. So the source ``w, h`` are used
    where given and still consistent with the box (``x1 + w == x2`` and ``y1 + h ==
    y2``: a moved box no longer is); elsewhere ``(x2 - x1) * (y2 - y1)``.
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    w = xyxy[:, 2] - xyxy[:, 0]
    h = xyxy[:, 3] - xyxy[:, 1]
    if wh is not None and len(wh):
        wh = np.asarray(wh, dtype=np.float64).reshape(-1, 2)
        sw, sh = wh[:, 0], wh[:, 1]
        ok = (xyxy[:, 0] + sw == xyxy[:, 2]) & (xyxy[:, 1] + sh == xyxy[:, 3])
        if ok.any():
            w = np.where(ok, sw, w)
            h = np.where(ok, sh, h)
    return w * h


def clip(b: np.ndarray, width: float, height: float) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    return b


def box_iou(
    d: np.ndarray,
    d_area: np.ndarray,
    g: np.ndarray,
    g_area: np.ndarray,
    g_crowd: np.ndarray | None = None,
) -> np.ndarray:
    """IoU of aligned (broadcastable) boxes ``d[..., 4]`` and ``g[..., 4]``: pycocotools'
    ``bbIou``, operation for operation.

    ``inter = iw * ih`` with ``iw = min(x2) - max(x1)`` (0 unless ``iw > 0`` and
    ``ih > 0``), ``union = (d_area + g_area) - inter``, or ``d_area`` where ``g_crowd``
    (a prediction inside a crowd region scores its covered fraction). ``*_area`` are
    :func:`box_areas` of the boxes.
    """
    iw = np.minimum(d[..., 2], g[..., 2]) - np.maximum(d[..., 0], g[..., 0])
    ih = np.minimum(d[..., 3], g[..., 3]) - np.maximum(d[..., 1], g[..., 1])
    ok = iw > 0
    ok &= ih > 0
    inter = iw * ih
    union = (d_area + g_area) - inter
    if g_crowd is not None:
        union = np.where(g_crowd, d_area, union)
    out = np.zeros(inter.shape)
    np.divide(inter, union, out=out, where=ok)
    return out


def iou(a: np.ndarray, b: np.ndarray, b_crowd: np.ndarray | None = None) -> np.ndarray:
    """Dense IoU matrix ``(len(a), len(b))`` between xyxy boxes (:func:`box_iou`).

    Where ``b_crowd[j]`` is true the denominator is the area of ``a[i]`` alone, as
    COCO does for crowd regions (a detection inside a crowd region scores 1). For a
    few boxes (one image in the viewer); the engine's passes over many boxes use
    :func:`detview.core.matching.overlap_pairs`, which never builds this matrix.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]))
    crowd = None if b_crowd is None else np.asarray(b_crowd, dtype=bool)[None, :]
    return box_iou(a[:, None, :], box_areas(a)[:, None], b[None, :, :], box_areas(b)[None, :],
                   crowd)
