"""Box geometry: conversions, areas, clipping and vectorised IoU.

Engine convention: xyxy float64, absolute pixels, 0-based, continuous coordinates.
"""

from __future__ import annotations

import numpy as np

__all__ = ["areas", "clip", "iou", "xywh_to_xyxy", "xyxy_to_xywh"]


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
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    return np.maximum(b[:, 2] - b[:, 0], 0.0) * np.maximum(b[:, 3] - b[:, 1], 0.0)


def clip(b: np.ndarray, width: float, height: float) -> np.ndarray:
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4).copy()
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, height)
    return b


def iou(a: np.ndarray, b: np.ndarray, b_crowd: np.ndarray | None = None) -> np.ndarray:
    """IoU matrix (len(a), len(b)) between xyxy boxes.

    Where ``b_crowd[j]`` is true the denominator is the area of ``a[i]`` alone, as
    COCO does for crowd regions (a detection inside a crowd region scores 1).
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if a.shape[0] == 0 or b.shape[0] == 0:
        return np.zeros((a.shape[0], b.shape[0]))
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
    aa = areas(a)[:, None]
    ab = areas(b)[None, :]
    union = aa + ab - inter
    if b_crowd is not None:
        union = np.where(np.asarray(b_crowd, dtype=bool)[None, :], aa, union)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(union > 0, inter / union, 0.0)
    return out
