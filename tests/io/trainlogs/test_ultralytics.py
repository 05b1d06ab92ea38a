"""Ultralytics results.csv: the real YOLOv5 coco128 log and written YOLOv5/YOLOv8 files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from detview.io.errors import InputError
from detview.io.trainlogs import parse_log, read_log

from .fixtures import YOLOV5_COLUMNS, YOLOV8_COLUMNS, yolov5_csv, yolov8_csv


def test_real_yolov5_results_csv(realdata):
    folder = realdata / "coco128_yolov5s_trainlog"
    log = read_log(folder / "results.csv")
    assert log.format == "ultralytics" and log.run == "coco128_yolov5s_trainlog"
    ref = pd.read_csv(folder / "results.csv", skipinitialspace=True)
    ref.columns = [c.strip() for c in ref.columns]
    assert len(ref) == 100
    last = ref.iloc[-1]
    for col in ref.columns[1:]:
        s = log.series(col)
        assert s["value"].tolist() == ref[col].tolist(), col
        assert log.last(col) == last[col]
    assert log.last("metrics/mAP_0.5:0.95") == 0.77637  # the file's last row
    assert log.series("metrics/mAP_0.5")["step"].tolist() == list(range(100))
    assert log.series("metrics/mAP_0.5")["epoch"].tolist() == list(map(float, range(1, 101)))
    assert set(log.tags("val")) == {c for c in ref.columns if c.startswith(("val/", "metrics/"))}
    # opt.yaml and hyp.yaml beside it
    assert log.params["opt.yaml"]["epochs"] == 100
    assert log.params["opt.yaml"]["weights"] == "yolov5s.pt"
    assert log.params["hyp.yaml"]["lr0"] == 0.01
    assert ("hyp.yaml: momentum", 0.937) in log.flat_params()
    assert ("opt.yaml: hyp.lr0", 0.01) in log.flat_params()


def test_written_yolov5_and_yolov8(tmp_path):
    rng = np.random.default_rng(1)
    v5 = np.column_stack([np.arange(5), rng.uniform(0, 1, (5, 13))])
    d5 = tmp_path / "runs" / "train" / "exp3"
    d5.mkdir(parents=True)
    (d5 / "results.csv").write_text(yolov5_csv(v5))
    (d5 / "hyp.yaml").write_text("lr0: 0.01\nmomentum: 0.937\n")
    log5 = read_log(d5 / "results.csv")
    assert log5.run == "exp3" and log5.params["results.csv"]["layout"] == "YOLOv5"
    assert log5.params["hyp.yaml"] == {"lr0": 0.01, "momentum": 0.937}
    for j, col in enumerate(YOLOV5_COLUMNS[1:], start=1):
        assert np.allclose(log5.series(col)["value"], v5[:, j], rtol=1e-4), col
    assert log5.series("x/lr0")["epoch"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]

    v8 = np.column_stack([np.arange(1, 4), rng.uniform(0, 100, (3, 14))])
    d8 = tmp_path / "runs" / "detect" / "train"
    d8.mkdir(parents=True)
    (d8 / "results.csv").write_text(yolov8_csv(v8))
    (d8 / "args.yaml").write_text("task: detect\nmodel: yolo11n.pt\nepochs: 3\n")
    log8 = read_log(d8 / "results.csv")
    assert log8.run == "detect"  # "train" is a generic folder name
    assert log8.params["args.yaml"]["model"] == "yolo11n.pt"
    assert log8.series("lr/pg0")["epoch"].tolist() == [1.0, 2.0, 3.0]
    assert log8.series("metrics/mAP50-95(B)")["step"].tolist() == [1, 2, 3]
    for j, col in enumerate(YOLOV8_COLUMNS[1:], start=1):
        assert np.allclose(log8.series(col)["value"], v8[:, j], rtol=1e-4), col
    assert log8.group("time") == "speed" and log8.group("lr/pg1") == "lr"
    assert log8.group("metrics/mAP50-95(B)") == "precision"
    assert set(log8.tags("train")) == {"time", "train/box_loss", "train/cls_loss",
                                       "train/dfl_loss", "lr/pg0", "lr/pg1", "lr/pg2"}


def test_row_being_written_is_a_warning(tmp_path):
    text = yolov5_csv([[0, *range(13)], [1, *range(13)]])
    text += "                   2,             0.04,"  # cut short, no newline
    log = parse_log(text.encode(), "r/results.csv")
    assert log.series("x/lr2")["step"].tolist() == [0, 1]
    assert log.problems[0].where == "line 4" and "still being written" in log.problems[0].message


@pytest.mark.parametrize("body, where, message", [
    ("epoch,train/box_loss,metrics/recall\n0,0.1,0.2\n1,abc,0.3\n", "line 3, column "
     "'train/box_loss'", "'abc' is not a number"),
    ("epoch,train/box_loss,metrics/recall\n0,0.1,0.2\n1.5,0.1,0.3\n", "line 3",
     "not a whole number"),
    ("epoch,train/box_loss,metrics/recall\n0,0.1,0.2,7\n1,0.1,0.3\n", "line 2",
     "4 fields, the header has 3"),
    ("epoch,train/box_loss,train/box_loss\n0,0.1,0.2\n", "line 1", "column named twice"),
    ("train/box_loss,metrics/recall\n0.1,0.2\n", "line 1", "no 'epoch' column"),
    ("epoch,train/box_loss,metrics/recall\n", "", "no rows"),
    ("", "", "empty file"),
])
def test_bad_csv_names_file_line_and_column(body, where, message):
    with pytest.raises(InputError) as ei:
        parse_log(body.encode(), "exp/results.csv", format="ultralytics")
    assert ei.value.problem.path == "exp/results.csv"
    assert ei.value.problem.where == where
    assert message in ei.value.problem.message


def test_bad_sidecar_is_a_warning(tmp_path):
    (tmp_path / "results.csv").write_text(yolov8_csv([[1, *range(14)]]))
    (tmp_path / "opt.yaml").write_text("a: [1, 2\nb: 3\n")
    log = read_log(tmp_path / "results.csv")
    assert "opt.yaml" not in log.params
    w = [p for p in log.problems if p.path.endswith("opt.yaml")]
    assert w and w[0].severity == "warning" and w[0].where.startswith("line ")
