"""One-line explanations of training-log metrics, for tooltips and ``detview logs``.

Pure data: :data:`METRICS` is a table of (pattern, group, better, text) matched in order
against a tag (case-insensitive ``re.search``), so the GUI and the CLI say the same.
``group`` is the plot a tag belongs to (``loss``, ``lr``, ``precision``, ``recall``,
``speed``, ``other``); ``better`` is ``"lower"``, ``"higher"`` or ``None``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["GROUPS", "METRICS", "MetricInfo", "better", "explain", "metric_group", "metric_info"]

GROUPS = ("loss", "lr", "precision", "recall", "speed", "other")

_SIZE_NOTE = ("-1 means the evaluation set has no ground-truth box of that size, so the "
              "number is undefined (not zero).")


@dataclass(frozen=True)
class MetricInfo:
    pattern: str
    group: str
    better: str | None
    text: str


def _m(pattern: str, group: str, better: str | None, text: str) -> MetricInfo:
    return MetricInfo(pattern, group, better, text)


METRICS: tuple[MetricInfo, ...] = (
    # ---- losses (specific first)
    _m(r"regulari[sz]ation_loss|loss_reg(ulari[sz]ation)?$|weight_decay_loss", "loss", "lower",
       "Regularization loss: the weight penalty (L2 weight decay) added to the training "
       "loss; it measures the size of the weights, not detection quality. Lower is usually "
       "better, but it mostly follows the weight-decay setting."),
    _m(r"loss_rpn_cls|loss_objectness|obj_loss|rpn_objectness", "loss", "lower",
       "Objectness loss: how well the model (the RPN, or YOLO's objectness head) tells "
       "objects from background. Lower is better."),
    _m(r"loss_rpn_(box_reg|loc|bbox)", "loss", "lower",
       "RPN box loss: how far the region proposals are from the ground-truth boxes. "
       "Lower is better."),
    _m(r"dfl_loss", "loss", "lower",
       "Distribution focal loss: how sharply the predicted box-edge distributions point at "
       "the true edges (part of YOLOv8/11 box regression). Lower is better."),
    _m(r"cls_loss|loss_cls|loss_classifier|classification_loss|class_loss", "loss", "lower",
       "Classification loss: how wrong the predicted class scores of the boxes are "
       "(cross-entropy or focal loss). Lower is better."),
    _m(r"box_loss|loss_box_reg|localization_loss|loss_bbox|loss_giou|giou_loss|iou_loss|"
       r"loss_box", "loss", "lower",
       "Localization loss: how far the predicted boxes are from their ground-truth boxes "
       "(smooth-L1 / GIoU / CIoU on the coordinates). Lower is better."),
    _m(r"loss_mask|mask_loss|seg_loss", "loss", "lower",
       "Mask loss: per-pixel error of the predicted instance masks. Lower is better."),
    _m(r"total_loss|^(train/|val/)?loss( \(epoch mean\))?$|^loss/", "loss", "lower",
       "Total loss: the sum of the loss terms the optimizer minimises. Lower is better; a "
       "jump or NaN means training diverged."),
    _m(r"loss", "loss", "lower", "A training loss term. Lower is better."),
    # ---- learning rate
    _m(r"(^|/|_)lr\d*$|learning_rate|(^|/)lr/|^x/lr|lr[-_ ]?pg\d|^lr$", "lr", None,
       "Learning rate: the optimizer's step size at this point of the schedule (warm-up, "
       "then decay). Neither better nor worse; read it beside the loss."),
    _m(r"momentum", "lr", None, "Optimizer momentum at this point of the schedule."),
    # ---- COCO AP / precision
    _m(r"(^|/|_)ap-\w", "precision", "higher",
       "AP of one class (IoU 0.50:0.95); -1 or NaN when the class has no ground truth. "
       "Higher is better."),
    _m(r"50-95|0\.5:0\.95|\.50:\.95", "precision", "higher",
       "COCO AP: precision of the ranked detections averaged over recall and the 10 IoU "
       "thresholds 0.50:0.95, the primary COCO number. Higher is better (0 to 1)."),
    _m(r"(ap|map)[_ -]?(s|small)\b|map \(small\)|aps$|ap_small|mAP_s$", "precision", "higher",
       "AP of small objects (area < 32² px), IoU 0.50:0.95. Higher is better; " + _SIZE_NOTE),
    _m(r"(ap|map)[_ -]?(m|medium)\b|map \(medium\)|apm$|ap_medium|mAP_m$", "precision",
       "higher",
       "AP of medium objects (32² to 96² px), IoU 0.50:0.95. Higher is better; " + _SIZE_NOTE),
    _m(r"(ap|map)[_ -]?(l|large)\b|map \(large\)|apl$|ap_large|mAP_l$", "precision", "higher",
       "AP of large objects (area > 96² px), IoU 0.50:0.95. Higher is better; " + _SIZE_NOTE),
    _m(r"ar@?100 ?\((small|medium|large)\)|ar[_ -]?(s|m|l)$|ar_(small|medium|large)",
       "recall", "higher",
       "Average recall (100 detections per image) of one object size (small < 32² px, "
       "medium 32² to 96², large > 96²). Higher is better; " + _SIZE_NOTE),
    _m(r"ar@?(1|10|100)\b|/ar(1|10|100)?$|ar_?(1|10|100)$|^ar$", "recall", "higher",
       "Average recall with at most N detections per image, averaged over IoU 0.50:0.95: "
       "how many objects the model finds at all. Higher is better."),
    _m(r"map@?\.?75|ap_?75|map_0\.75|ap@0\.75|map75", "precision", "higher",
       "AP at IoU 0.75: a strict box-placement requirement. Higher is better (0 to 1)."),
    _m(r"map@?\.?50?iou|ap_?50\b|ap50|map_0\.5$|map50\(|map50$|map_50$|ap@0\.5\b|"
       r"map@\.50", "precision", "higher",
       "AP at IoU 0.50 (PASCAL VOC style): lenient on box placement, mostly about finding "
       "and classifying objects. Higher is better (0 to 1)."),
    _m(r"map|(^|/|_)ap$|average ?precision|/ap\b|bbox_ap|segm_ap", "precision", "higher",
       "COCO AP: precision of the ranked detections averaged over recall and the 10 IoU "
       "thresholds 0.50:0.95, the primary COCO number. Higher is better (0 to 1)."),
    _m(r"precision", "precision", "higher",
       "Precision: the share of detections that are correct, at the evaluator's confidence "
       "threshold. Higher is better."),
    _m(r"recall", "recall", "higher",
       "Recall: the share of ground-truth objects that were found. Higher is better."),
    _m(r"fitness", "precision", "higher",
       "Ultralytics fitness: 0.1 × mAP@0.5 + 0.9 × mAP@0.5:0.95, used to pick best.pt. "
       "Higher is better."),
    # ---- speed and resources
    _m(r"steps?_per_sec|it/s|iters?_per_sec|examples_per_sec", "speed", "higher",
       "Training speed: optimizer steps per second. Higher is faster."),
    _m(r"data_time|(^|/)data$", "speed", "lower",
       "Seconds per iteration spent waiting for data loading; close to the iteration time "
       "means the input pipeline is the bottleneck. Lower is better."),
    _m(r"epoch_time", "speed", "lower", "Wall time of one epoch in seconds. Lower is faster."),
    _m(r"(^|/|_)time$|iter_time|batch_time|model_time|evaluator_time", "speed", "lower",
       "Seconds per iteration (or cumulative training time for Ultralytics' time column). "
       "Lower is faster."),
    _m(r"(^|/|_)eta(_seconds)?$", "speed", None, "Estimated time left, in seconds."),
    _m(r"mem", "other", None, "Peak accelerator memory in MB."),
)

_COMPILED = tuple((re.compile(m.pattern, re.IGNORECASE), m) for m in METRICS)


def metric_info(tag: str) -> MetricInfo | None:
    """The first :data:`METRICS` entry matching ``tag``, or None."""
    for rx, m in _COMPILED:
        if rx.search(tag):
            return m
    return None


def explain(tag: str) -> str:
    """One line explaining ``tag`` ("" when unknown)."""
    m = metric_info(tag)
    return "" if m is None else m.text


def metric_group(tag: str) -> str:
    m = metric_info(tag)
    return "other" if m is None else m.group


def better(tag: str) -> str | None:
    """``"lower"``, ``"higher"`` or None (no direction, or unknown)."""
    m = metric_info(tag)
    return None if m is None else m.better
