"""detectron2 metrics.json and MMDetection log.json / scalars.json, written by the tests
in the layouts those tools write."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detview.io.errors import InputError
from detview.io.trainlogs import find_logs, parse_log, read_log

from .fixtures import json_lines


def detectron2_lines(rng) -> list[dict]:
    out = []
    for it in range(19, 400, 20):
        out.append({"data_time": float(rng.uniform(0, 0.1)), "eta_seconds": 1000.0 - it,
                    "fast_rcnn/cls_accuracy": float(rng.uniform(0.5, 1)),
                    "iteration": it, "loss_box_reg": float(rng.uniform(0, 1)),
                    "loss_cls": float(rng.uniform(0, 1)), "loss_rpn_cls": float(rng.uniform(0, 1)),
                    "loss_rpn_loc": float(rng.uniform(0, 1)), "lr": 0.00025 * min(1, it / 100),
                    "rank_data_time": 0.01, "time": float(rng.uniform(0.2, 0.4)),
                    "total_loss": float(rng.uniform(0, 4))})
        if it in (199, 399):
            out.append({"bbox/AP": float(rng.uniform(0, 60)), "bbox/AP-balloon": 40.5,
                        "bbox/AP50": 70.1, "bbox/AP75": 50.2, "bbox/APl": 60.0,
                        "bbox/APm": 30.0, "bbox/APs": float("nan"), "iteration": it})
    return out


def test_detectron2_metrics_json(tmp_path):
    rng = np.random.default_rng(4)
    lines = detectron2_lines(rng)
    d = tmp_path / "output"
    d.mkdir()
    (d / "metrics.json").write_text(json_lines(lines))
    (d / "config.yaml").write_text("SOLVER:\n  BASE_LR: 0.00025\n  MAX_ITER: 400\n")
    log = read_log(d / "metrics.json")
    assert log.format == "detectron2"
    assert log.params["config.yaml"]["SOLVER"]["BASE_LR"] == 0.00025
    for key in ("total_loss", "loss_cls", "lr", "time", "fast_rcnn/cls_accuracy"):
        ref = [(o["iteration"], o[key]) for o in lines if key in o]
        s = log.series(key, "train")
        assert list(zip(s["step"], s["value"], strict=True)) == ref, key
    ap = log.series("bbox/AP", "val")
    assert ap["step"].tolist() == [199, 399]
    assert ap["value"].tolist() == [o["bbox/AP"] for o in lines if "bbox/AP" in o]
    assert np.isnan(log.last("bbox/APs"))  # detectron2 writes NaN for an empty size bucket
    assert "eta_seconds" not in log.tags() and "iteration" not in log.tags()
    assert log.scalars["epoch"].isna().all()


def mmdet2_lines(n_iter: int = 100, epochs: int = 2) -> list[dict]:
    out: list[dict] = [{"env_info": "sys.platform: linux\nPython: 3.8", "config":
                        "model = dict(type='FasterRCNN')\n", "seed": 42,
                        "exp_name": "faster_rcnn_r50_fpn_1x_coco.py"}]
    for ep in range(1, epochs + 1):
        for it in range(50, n_iter + 1, 50):
            out.append({"mode": "train", "epoch": ep, "iter": it, "lr": 0.02 / ep,
                        "memory": 3900, "data_time": 0.05, "loss_rpn_cls": 0.1 / ep,
                        "loss_rpn_bbox": 0.05, "loss_cls": 0.5 / ep, "acc": 90.0 + ep,
                        "loss_bbox": 0.4, "loss": 1.05 / ep, "time": 0.4})
        out.append({"mode": "val", "epoch": ep, "iter": 25, "lr": 0.02 / ep,
                    "bbox_mAP": 0.2 * ep, "bbox_mAP_50": 0.4 * ep, "bbox_mAP_75": 0.21,
                    "bbox_mAP_s": 0.1, "bbox_mAP_m": 0.2, "bbox_mAP_l": 0.3,
                    "bbox_mAP_copypaste": f"{0.2 * ep:.3f} 0.4 0.21 0.1 0.2 0.3"})
    return out


def test_mmdet2_log_json(tmp_path):
    lines = mmdet2_lines()
    f = tmp_path / "work_dirs" / "faster_rcnn" / "20230101_120000.log.json"
    f.parent.mkdir(parents=True)
    f.write_text(json_lines(lines))
    log = read_log(f)
    assert log.format == "mmdet" and log.run == "faster_rcnn"
    assert log.params["log header"]["seed"] == 42
    assert "FasterRCNN" in log.params["log header"]["config"]
    loss = log.series("loss", "train")
    assert loss["step"].tolist() == [50, 100, 150, 200]
    assert loss["epoch"].tolist() == [0.5, 1.0, 1.5, 2.0]
    assert loss["value"].tolist() == [1.05, 1.05, 0.525, 0.525]
    m = log.series("bbox_mAP", "val")
    assert m["step"].tolist() == [100, 200] and m["epoch"].tolist() == [1.0, 2.0]
    assert m["value"].tolist() == [0.2, 0.4]
    assert "bbox_mAP_copypaste" not in log.tags()
    assert log.group("memory") == "other" and log.group("bbox_mAP_s") == "precision"


def test_mmdet3_scalars_json(tmp_path):
    lines = []
    step = 0
    for ep in (1, 2):
        for _ in range(1, 5):
            step += 10
            lines.append({"lr": 0.01, "data_time": 0.1, "loss": 2.0 / step, "loss_cls": 1.0,
                          "time": 0.3, "epoch": ep, "iter": step, "memory": 2000,
                          "step": step})
        lines.append({"coco/bbox_mAP": 0.1 * ep, "coco/bbox_mAP_50": 0.3 * ep,
                      "data_time": 0.01, "time": 0.1, "step": ep})
    f = tmp_path / "20240101_000000" / "vis_data" / "scalars.json"
    f.parent.mkdir(parents=True)
    f.write_text(json_lines(lines))
    log = read_log(f)
    assert log.format == "mmdet" and log.run == "20240101_000000"
    m = log.series("coco/bbox_mAP", "val")
    assert m["step"].tolist() == [40, 80] and m["epoch"].tolist() == [1.0, 2.0]
    assert m["value"].tolist() == [0.1, 0.2]
    assert log.series("loss", "train")["epoch"].tolist() == [k / 4 for k in range(1, 9)]
    assert log.series("time", "val")["value"].tolist() == [0.1, 0.1]


@pytest.mark.parametrize("fmt", ["detectron2", "mmdet"])
def test_bad_json_line_named(fmt):
    good = json.dumps({"iteration": 1, "mode": "train", "epoch": 1, "iter": 1, "loss": 1.0})
    with pytest.raises(InputError) as ei:
        parse_log(f"{good}\n{{bad json\n{good}\n".encode(), "m.json", format=fmt)
    assert ei.value.problem.where == "line 2" and "not valid JSON" in str(ei.value)
    with pytest.raises(InputError, match="m.json: line 2: expected a JSON object, got list"):
        parse_log(f"{good}\n[1, 2]\n".encode(), "m.json", format=fmt)
    # a last line cut short (training still writing) is only a warning
    log = parse_log(f"{good}\n{good[:10]}".encode(), "m.json", format=fmt)
    assert log.problems[0].where == "line 2" and log.last("loss") == 1.0


def test_detection_picks_the_right_reader(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "metrics.json").write_text(json_lines(detectron2_lines(
        np.random.default_rng(0))))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.log.json").write_text(json_lines(mmdet2_lines()))
    (tmp_path / "b" / "notes.json").write_text('{"iteration": 3}\n')  # not a log name
    (tmp_path / "b" / "readme.txt").write_text("nothing to see\n")
    found = find_logs(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/metrics.json",
                                                                   "b/x.log.json"]
    assert [read_log(p).format for p in found] == ["detectron2", "mmdet"]
