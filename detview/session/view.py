"""What the viewer draws for one image: arrays and texts, no Qt."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "GT_CROWD",
    "GT_MATCHED",
    "GT_MISSED",
    "PRED_FP",
    "PRED_IGNORED",
    "PRED_TP",
    "ImageView",
]

# Outcome codes the viewer draws (ground-truth side and prediction side).
GT_MATCHED, GT_MISSED, GT_CROWD = 0, 1, 2
PRED_TP, PRED_FP, PRED_IGNORED = 0, 1, 2


def _ids() -> np.ndarray:
    return np.zeros(0, np.int64)


@dataclass
class ImageView:
    """One image of the session at its current run and thresholds.

    ``gt_tag``/``pred_tag`` are the short per-box error texts (``"FN·Miss"``,
    ``"FP·Loc 0.42"``; ``"FN"``/``"FP"`` until the error analysis has run, ``""`` for a
    box that is right) and ``*_help`` one sentence on each.
    """

    index: int
    file_name: str
    path: Path | None
    width: int
    height: int
    deleted: bool
    reviewed: bool
    tags: tuple[str, ...]
    gt_ids: np.ndarray
    gt_xyxy: np.ndarray
    gt_cls: np.ndarray
    gt_state: np.ndarray  # GT_MATCHED / GT_MISSED / GT_CROWD
    gt_partner: np.ndarray  # matched prediction box id, -1 if none
    pred_ids: np.ndarray = field(default_factory=_ids)
    pred_xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    pred_cls: np.ndarray = field(default_factory=_ids)
    pred_score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pred_state: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    pred_partner: np.ndarray = field(default_factory=_ids)
    pred_iou: np.ndarray = field(default_factory=lambda: np.zeros(0))
    run: str | None = None
    n_below: int = 0  # predictions of the run under the score threshold (not drawn)
    gt_tag: list[str] = field(default_factory=list)
    gt_help: list[str] = field(default_factory=list)
    pred_tag: list[str] = field(default_factory=list)
    pred_help: list[str] = field(default_factory=list)
    # label quality (ObjectLab) against ``run``, when computed (else empty / NaN):
    #: per GT box: the class it is likely swapped to (-1: no swap issue)
    gt_likely: np.ndarray = field(default_factory=_ids)
    #: per GT box: the prediction id a badly placed box should snap onto (-1: none)
    gt_snap: np.ndarray = field(default_factory=_ids)
    #: per GT box: one sentence on its label-quality scores ("" when clean)
    gt_lq_help: list[str] = field(default_factory=list)
    #: likely missing labels: run predictions flagged *overlooked* in this image
    ghost_ids: np.ndarray = field(default_factory=_ids)
    ghost_xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    ghost_cls: np.ndarray = field(default_factory=_ids)
    ghost_score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ghost_help: list[str] = field(default_factory=list)
    #: the image's pooled label-quality score (0 surely mislabeled .. 1 clean)
    label_quality: float = float("nan")

    @property
    def has_lq(self) -> bool:
        """Label-quality scores were filled in."""
        return len(self.gt_likely) == len(self.gt_ids) and not np.isnan(self.label_quality)
