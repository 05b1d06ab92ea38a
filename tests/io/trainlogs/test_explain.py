"""The one-line explanations and plot groups the Graphs view shows in tooltips."""

from __future__ import annotations

import pytest

from detview.io.trainlogs import GROUPS, METRICS, better, explain, metric_group

from .test_tfevents import OD_EVAL, OD_TRAIN

CASES = {
    # tag: (group, better, words the explanation must contain)
    "loss_classifier": ("loss", "lower", "Classification loss"),
    "Loss/classification_loss": ("loss", "lower", "Classification loss"),
    "train/cls_loss": ("loss", "lower", "Classification loss"),
    "loss_box_reg": ("loss", "lower", "Localization loss"),
    "Loss/localization_loss": ("loss", "lower", "Localization loss"),
    "val/box_loss": ("loss", "lower", "Localization loss"),
    "Loss/regularization_loss": ("loss", "lower", "weight penalty"),
    "loss_objectness": ("loss", "lower", "Objectness"),
    "train/obj_loss": ("loss", "lower", "Objectness"),
    "loss_rpn_box_reg": ("loss", "lower", "RPN box"),
    "train/dfl_loss": ("loss", "lower", "Distribution focal"),
    "Loss/total_loss": ("loss", "lower", "Total loss"),
    "loss (epoch mean)": ("loss", "lower", "Total loss"),
    "learning_rate": ("lr", None, "Learning rate"),
    "x/lr0": ("lr", None, "Learning rate"),
    "lr/pg2": ("lr", None, "Learning rate"),
    "DetectionBoxes_Precision/mAP": ("precision", "higher", "0.50:0.95"),
    "metrics/mAP50-95(B)": ("precision", "higher", "0.50:0.95"),
    "metrics/mAP_0.5:0.95": ("precision", "higher", "0.50:0.95"),
    "bbox/AP": ("precision", "higher", "0.50:0.95"),
    "DetectionBoxes_Precision/mAP@.50IOU": ("precision", "higher", "IoU 0.50"),
    "metrics/mAP_0.5": ("precision", "higher", "IoU 0.50"),
    "metrics/mAP50(B)": ("precision", "higher", "IoU 0.50"),
    "bbox_mAP_50": ("precision", "higher", "IoU 0.50"),
    "DetectionBoxes_Precision/mAP@.75IOU": ("precision", "higher", "IoU 0.75"),
    "DetectionBoxes_Precision/mAP (small)": ("precision", "higher", "-1 means"),
    "DetectionBoxes_Precision/mAP (large)": ("precision", "higher", "-1 means"),
    "bbox/APm": ("precision", "higher", "-1 means"),
    "bbox_mAP_s": ("precision", "higher", "-1 means"),
    "DetectionBoxes_Recall/AR@100 (medium)": ("recall", "higher", "-1 means"),
    "bbox/ARl": ("recall", "higher", "-1 means"),
    "DetectionBoxes_Recall/AR@10": ("recall", "higher", "at most N detections"),
    "bbox/AR1": ("recall", "higher", "at most N detections"),
    "bbox/AP-person": ("precision", "higher", "one class"),
    "metrics/recall(B)": ("recall", "higher", "Recall"),
    "metrics/precision": ("precision", "higher", "Precision"),
    "steps_per_sec": ("speed", "higher", "steps per second"),
    "data_time": ("speed", "lower", "data loading"),
    "time": ("speed", "lower", "Seconds per iteration"),
    "max_mem": ("other", None, "memory"),
}


@pytest.mark.parametrize("tag", list(CASES))
def test_known_tags(tag):
    group, direction, words = CASES[tag]
    assert metric_group(tag) == group
    assert better(tag) == direction
    text = explain(tag)
    assert words in text and "\n" not in text
    if direction is not None:
        assert f"{direction.capitalize()} is" in text or "Higher is faster" in text or \
            "Lower is faster" in text or "Lower is usually better" in text


def test_every_tf_object_detection_api_name_is_explained():
    for tag in OD_TRAIN + OD_EVAL:
        assert explain(tag), tag


def test_table_is_well_formed():
    for m in METRICS:
        assert m.group in GROUPS and m.better in ("lower", "higher", None)
        assert m.text.endswith(".") and len(m.text) < 260
    assert explain("some_custom_thing") == "" and metric_group("some_custom_thing") == "other"
