"""``detview logs``: summaries and exports of training logs."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from detview.io.trainlogs import read_log

from ..io.trainlogs.fixtures import coco_summary_block, torchvision_epoch_lines, yolov8_csv
from .test_runs_cmd import run_cli


@pytest.fixture
def logs(tmp_path):
    tv = tmp_path / "frcnn" / "train.log"
    tv.parent.mkdir()
    lines = torchvision_epoch_lines(0, 4, {"loss": [2.0, 1.5, 1.2, 1.0],
                                           "loss_classifier": [0.9, 0.7, 0.6, 0.5]}, [0.02] * 4)
    lines += coco_summary_block([0.25, 0.5, 0.2, -1, 0.3, 0.4, 0.2, 0.3, 0.35, -1, 0.4, 0.5])
    tv.write_text("\n".join(lines) + "\n")
    y8 = tmp_path / "yolo" / "results.csv"
    y8.parent.mkdir()
    y8.write_text(yolov8_csv([[e, 10.0 * e, 1.0 / e, 0.5, 0.4, 0.6, 0.7, 0.8, 0.5, 1.1, 0.9,
                               0.8, 0.01, 0.01, 0.01] for e in (1, 2, 3)]))
    (y8.parent / "args.yaml").write_text("model: yolo11n.pt\nepochs: 3\n")
    return tmp_path, tv, y8


def test_csv_export_is_the_table(logs):
    root, tv, y8 = logs
    rc, out, err = run_cli(["logs", str(root), "--csv"])
    assert rc == 0, err
    df = pd.read_csv(io.StringIO(out))
    ref = pd.concat([read_log(tv).scalars, read_log(y8).scalars], ignore_index=True)
    assert len(df) == len(ref)
    assert df["tag"].tolist() == ref["tag"].tolist()
    assert df["value"].tolist() == pytest.approx(ref["value"].tolist(), nan_ok=True)
    rc, out, _ = run_cli(["logs", str(y8), "--csv", "--tags", "^metrics/", "--split", "val"])
    df = pd.read_csv(io.StringIO(out))
    assert set(df["tag"]) == {"metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)",
                              "metrics/mAP50-95(B)"}


def test_json_and_out(logs, tmp_path):
    root, tv, y8 = logs
    rc, out, err = run_cli(["logs", str(tv), "--json"])
    d = json.loads(out)
    assert d["logs"][0]["format"] == "torchvision"
    ap = [r for r in d["scalars"] if r["tag"] == "bbox/AP"]
    assert ap == [{"run": "frcnn", "source": str(tv), "split": "val", "step": 4, "epoch": 1.0,
                   "tag": "bbox/AP", "value": 0.25, "wall_time": None}]
    target = tmp_path / "curves.json"
    rc, _, err = run_cli(["logs", str(y8), "--out", str(target)])
    assert rc == 0 and "wrote 42 values of 14 tags" in err
    assert json.loads(target.read_text())["logs"][0]["params"]["args.yaml"]["epochs"] == 3


def test_summary_text(logs):
    root, tv, y8 = logs
    rc, out, err = run_cli(["logs", str(tv)])
    assert rc == 0, err
    assert out.startswith(f"{tv}: torchvision, run 'frcnn'")
    row = next(line for line in out.splitlines() if " bbox/APs " in line)
    assert "-1" in row and "AP of small objects" in row
    row = next(line for line in out.splitlines() if line.split()[1:2] == ["loss_classifier"])
    # the window medians printed are 0.9, 0.7, 0.7, 0.6: last 0.6, best 0.6 at step 3
    assert row.split()[2:8] == ["4", "0..3", "0.6000", "0.6000", "3", "Classification"]
    rc, out, _ = run_cli(["logs", str(y8), "--params"])
    assert "args.yaml: model = yolo11n.pt" in out


@pytest.mark.parametrize("content, needle", [
    (b"hello\n", "not a training log detview knows"),
    (b"epoch,train/box_loss\n0,x\n", "line 2, column 'train/box_loss': 'x' is not a number"),
])
def test_bad_files_named(tmp_path, content, needle):
    f = tmp_path / "results.csv"
    f.write_bytes(content)
    rc, _, err = run_cli(["logs", str(f)])
    assert rc == 2 and f"{f}:" in err and needle in err
    rc, _, err = run_cli(["logs", str(tmp_path / "none")])
    assert rc == 2 and "no such file or folder" in err
    (tmp_path / "empty").mkdir()
    rc, _, err = run_cli(["logs", str(tmp_path / "empty")])
    assert rc == 2 and "no training logs found" in err
