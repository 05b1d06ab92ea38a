"""COCO-style greedy matching of one image's predictions to its ground truth.

Semantics follow pycocotools' ``evaluateImg``: predictions in descending score order
(stable), each takes the not-yet-matched ground-truth box of its own class with the
highest IoU at or above the threshold (ties go to the later box), regular boxes are
preferred over crowd regions, a crowd region can absorb any number of predictions,
and a prediction matched to a crowd region is *ignored* (neither TP nor FP).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import iou as iou_matrix

__all__ = ["ImageMatch", "match_image", "TP", "FP", "IGNORED"]

TP, FP, IGNORED = 1, 0, -1


@dataclass(frozen=True)
class ImageMatch:
    """Match records of one image. Indices are positions in the arrays passed in."""

    pred_gt: np.ndarray  # int64[P]: matched ground-truth position, -1 if none
    pred_iou: np.ndarray  # float64[P]: IoU with the matched box (0 if none)
    pred_outcome: np.ndarray  # int8[P]: TP, FP or IGNORED
    gt_pred: np.ndarray  # int64[G]: matching prediction position, -1 if missed
    ious: np.ndarray  # float64[P, G] class-aware IoU (-1 across classes)

    @property
    def tp(self) -> int:
        return int(np.count_nonzero(self.pred_outcome == TP))

    @property
    def fp(self) -> int:
        return int(np.count_nonzero(self.pred_outcome == FP))


def match_image(
    pred_xyxy: np.ndarray,
    pred_score: np.ndarray,
    pred_cls: np.ndarray,
    gt_xyxy: np.ndarray,
    gt_cls: np.ndarray,
    gt_crowd: np.ndarray,
    iou_threshold: float = 0.5,
) -> ImageMatch:
    n_p, n_g = len(pred_score), len(gt_cls)
    gt_crowd = np.asarray(gt_crowd, dtype=bool)
    ious = iou_matrix(pred_xyxy, gt_xyxy, gt_crowd)
    same = np.asarray(pred_cls)[:, None] == np.asarray(gt_cls)[None, :]
    ious = np.where(same, ious, -1.0)
    pred_gt = np.full(n_p, -1, dtype=np.int64)
    pred_iou = np.zeros(n_p)
    outcome = np.full(n_p, FP, dtype=np.int8)
    gt_pred = np.full(n_g, -1, dtype=np.int64)
    if n_p == 0 or n_g == 0:
        return ImageMatch(pred_gt, pred_iou, outcome, gt_pred, ious)
    thr = min(iou_threshold, 1 - 1e-10)
    order = np.argsort(-np.asarray(pred_score, dtype=np.float64), kind="mergesort")
    ok = ious >= thr
    taken = np.zeros(n_g, dtype=bool)  # crowd regions are never taken
    for d in order[ok[order].any(axis=1)].tolist():
        free = ok[d] & ~taken
        cand = free & ~gt_crowd
        if not cand.any():
            cand = free & gt_crowd
            if not cand.any():
                continue
        vals = np.where(cand, ious[d], -np.inf)
        m = int(np.flatnonzero(vals == vals.max())[-1])
        pred_gt[d] = m
        pred_iou[d] = ious[d, m]
        if gt_crowd[m]:
            outcome[d] = IGNORED
        else:
            outcome[d] = TP
            taken[m] = True
            gt_pred[m] = d
    return ImageMatch(pred_gt, pred_iou, outcome, gt_pred, ious)


def best_overlap(box: np.ndarray, candidates: np.ndarray, min_iou: float = 0.1) -> int:
    """Position of the candidate box overlapping ``box`` most (IoU >= ``min_iou``), or -1."""
    if len(candidates) == 0:
        return -1
    ious = iou_matrix(np.asarray(box, dtype=np.float64).reshape(1, 4), candidates)[0]
    best = int(np.argmax(ious))
    return best if ious[best] >= min_iou else -1
