"""``detview eval --label-quality`` against cleanlab fed straight from the files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from PIL import Image

from detview.cli.main import main as cli_main
from tests.conftest import RESOURCES
from tests.core.test_label_quality import TOL, cleanlab_reference

DEMO = RESOURCES / "demo"
PREDS = DEMO / "predictions" / "yolov5s.json"


def cleanlab_inputs_from_files(images: Path, labels: Path, preds_json: Path, n_classes: int):
    """Plain-Python reading of the YOLO labels and COCO-style results (no detview code)."""
    preds = json.loads(preds_json.read_text())
    names, labs, pred_lists = [], [], []
    for img in sorted(images.iterdir()):
        w, h = Image.open(img).size
        boxes, cls = [], []
        lab = labels / (img.stem + ".txt")
        for line in lab.read_text().splitlines() if lab.exists() else []:
            if line.strip():
                c, cx, cy, bw, bh = line.split()
                cx, cy, bw, bh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
                boxes.append((cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2))
                cls.append(int(c))
        labs.append({"bboxes": np.array(boxes, float).reshape(-1, 4),
                     "labels": np.array(cls, int)})
        mine = [p for p in preds if p["image_id"] == int(img.stem)]
        per_class = []
        for k in range(n_classes):
            rows = [[p["bbox"][0], p["bbox"][1], p["bbox"][0] + p["bbox"][2],
                     p["bbox"][1] + p["bbox"][3], p["score"]] for p in mine
                    if p["category_id"] == k]
            per_class.append(np.array(rows, float).reshape(-1, 5))
        pred_lists.append(per_class)
        names.append(img.name)
    return names, labs, pred_lists


def test_label_quality_columns_equal_cleanlab_and_sort_worst_first(tmp_path, capsys):
    out = tmp_path / "lq.csv"
    rc = cli_main(["eval", str(DEMO), "--pred", str(PREDS), "--label-quality",
                   "--sort", "label_quality", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    df = pd.read_csv(out)
    assert list(df.columns[-4:]) == ["label_quality", "n_overlooked", "n_swap", "n_badloc"]
    assert df["label_quality"].is_monotonic_increasing  # most likely mislabeled first
    n_classes = len(yaml.safe_load((DEMO / "data.yaml").read_text())["names"])
    names, labels, preds = cleanlab_inputs_from_files(DEMO / "images", DEMO / "labels", PREDS,
                                                      n_classes)
    ref = cleanlab_reference(labels, preds, public_find_label_issues=False)  # ~5 s less
    got = df.set_index("file_name").loc[names]
    np.testing.assert_allclose(got["label_quality"], ref["lq"], rtol=0, atol=TOL)
    for col, key in (("n_overlooked", "ov_issue"), ("n_swap", "sw_issue"),
                     ("n_badloc", "bl_issue")):
        np.testing.assert_array_equal(got[col], [int(f.sum()) for f in ref[key]], err_msg=col)
        assert got[col].dtype.kind == "i"
    assert got["n_badloc"].sum() > 0


def test_label_quality_sorts_by_counts_descending_and_needs_a_run(tmp_path, capsys):
    out = tmp_path / "lq.csv"
    rc = cli_main(["eval", str(DEMO), "--pred", str(PREDS), "--label-quality",
                   "--sort", "n_badloc", "--out", str(out)])
    assert rc == 0
    assert pd.read_csv(out)["n_badloc"].is_monotonic_decreasing
    rc = cli_main(["eval", str(DEMO), "--label-quality", "--out", str(out)])
    assert rc == 0
    assert "--label-quality needs a prediction run" in capsys.readouterr().err
    assert "label_quality" not in pd.read_csv(out).columns


def test_label_quality_columns_can_be_queried(tmp_path, capsys):
    out = tmp_path / "lq.csv"
    base = ["eval", str(DEMO), "--pred", str(PREDS), "--label-quality", "--out", str(out)]
    assert cli_main(base) == 0
    every = pd.read_csv(out)
    assert cli_main([*base, "--where", "label_quality < 0.5 or n_badloc >= 2"]) == 0
    got = pd.read_csv(out)
    want = every[(every["label_quality"] < 0.5) | (every["n_badloc"] >= 2)]
    assert 0 < len(got) < len(every)
    assert sorted(got["file_name"]) == sorted(want["file_name"])
