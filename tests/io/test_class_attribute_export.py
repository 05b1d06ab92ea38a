"""Class rename/merge and box attributes reach every writer (COCO categories and
annotations, YOLO data.yaml names and label indices, VOC names and object flags, CVAT
labels and ``occluded``), and ``detview apply`` replays them from the corrections log to
the same bytes."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from detview.cli.main import main as cli
from detview.core.metrics import MetricParams
from detview.io.spec import DatasetSpec
from detview.session import Session, load

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "resources" / "demo"


def _spec(dest: Path) -> DatasetSpec:
    if not (DEMO / "images").is_dir():
        pytest.skip("resources/demo is absent")
    shutil.copytree(DEMO, dest, ignore=shutil.ignore_patterns(".detview", "predictions"))
    return DatasetSpec.make(images=dest / "images", gt=dest / "data.yaml", gt_format="yolo")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _edit(s: Session) -> dict[str, Any]:
    ds = s.dataset
    names = ds.classes.names
    gt = ds.gt
    counts = np.bincount(gt.cls, minlength=len(names))
    present = [k for k in np.argsort(-counts) if counts[k]]
    renamed, src, dst = int(present[0]), int(present[1]), int(present[2])
    n_src = int(counts[src])
    old_name = names[renamed]
    assert s.rename_class(renamed, "renamed class")
    assert s.merge_classes([src], dst)
    other = [int(b) for b, c in zip(gt.box_id, gt.cls, strict=True)
             if c not in (src, dst)][:3]
    assert s.set_box_attribute([other[0]], "difficult", True)
    assert s.set_box_attribute([other[1]], "occluded", True)
    assert s.set_box_attribute([other[2]], "iscrowd", True)
    return {"renamed": renamed, "old_name": old_name, "src": src, "dst": dst,
            "src_name": names[src], "dst_name": names[dst], "n_src": n_src,
            "difficult": other[0], "occluded": other[1], "crowd": other[2]}


def _export(s: Session, out: Path, fmt: str) -> None:
    task = s.export(out, fmt)
    assert s.runner.wait(task, 120) and task.ok, task.error


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc", "cvat"])
def test_class_edits_and_attributes_in_every_writer(tmp_path: Path, fmt: str) -> None:
    s = load(_spec(tmp_path / "demo"), MetricParams()).session()
    e = _edit(s)
    out = tmp_path / "out"
    _export(s, out, fmt)
    names = list(s.dataset.classes.names)
    assert names[e["renamed"]] == "renamed class" and e["old_name"] not in names
    if fmt == "coco":
        obj = json.loads((out / "annotations.json").read_text())
        cats = {c["id"]: c["name"] for c in obj["categories"]}
        sid = s.dataset.classes.source_ids
        assert cats[int(sid[e["renamed"]])] == "renamed class"
        used = [a["category_id"] for a in obj["annotations"]]
        assert int(sid[e["src"]]) not in used  # every box of the merged class moved
        crowd = [a for a in obj["annotations"] if a.get("iscrowd") == 1]
        assert len(crowd) == 1
        assert sum(1 for a in obj["annotations"] if a.get("difficult") == 1) == 1
    elif fmt == "yolo":
        data = yaml.safe_load((out / "data.yaml").read_text())
        ynames = data["names"]
        ynames = [ynames[k] for k in sorted(ynames)] if isinstance(ynames, dict) else ynames
        assert ynames[e["renamed"]] == "renamed class"
        assert ynames[e["src"]] == e["src_name"]  # indices keep their meaning
        classes = [int(line.split()[0]) for f in (out / "labels").rglob("*.txt")
                   for line in f.read_text().splitlines() if line.strip()]
        assert e["src"] not in classes and e["renamed"] in classes
    elif fmt == "voc":
        xml = "".join(f.read_text() for f in sorted(out.rglob("*.xml")))
        found = re.findall(r"<name>([^<]*)</name>", xml)
        assert "renamed class" in found and e["src_name"] not in found
        assert found.count(e["dst_name"]) >= e["n_src"]
        assert len(re.findall(r"<difficult>1</difficult>", xml)) == 1
        assert len(re.findall(r"<occluded>1</occluded>", xml)) == 1
    else:
        xml = "".join(f.read_text() for f in sorted(out.rglob("*.xml")))
        assert 'label="renamed class"' in xml and f'label="{e["src_name"]}"' not in xml
        assert len(re.findall(r'occluded="1"', xml)) == 1
    # detview apply replays the log on the original files: the same bytes
    other = tmp_path / "other"
    assert cli(["apply", "--corrections", str(out / "corrections.jsonl"), "--out", str(other),
                "--format", fmt]) == 0
    a, b = _files(out), _files(other)
    assert sorted(a) == sorted(b)
    for name in a:
        assert a[name] == b[name], name
    records = [json.loads(x) for x in (out / "corrections.jsonl").read_text().splitlines()]
    assert [r["action"] for r in records[1:]] == [
        "rename_class", "merge_classes", "set_box_attribute", "set_box_attribute",
        "set_box_attribute"]
    merge = records[2]
    assert len(merge["changes"]) == e["n_src"]
    assert {c["after"]["class"] for c in merge["changes"] if c["after"]} == {e["dst_name"]}
    s.close()


def test_undone_class_edits_are_not_exported(tmp_path: Path) -> None:
    s = load(_spec(tmp_path / "demo"), MetricParams()).session()
    before = list(s.dataset.classes.names)
    _edit(s)
    s.history.go_to(0)
    assert list(s.dataset.classes.names) == before
    out = tmp_path / "out"
    _export(s, out, "yolo")
    data = yaml.safe_load((out / "data.yaml").read_text())
    ynames = data["names"]
    ynames = [ynames[k] for k in sorted(ynames)] if isinstance(ynames, dict) else ynames
    assert ynames == before
    s.close()


def test_a_crowd_set_by_an_edit_is_written_where_the_source_had_no_iscrowd(
        tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.new("RGB", (64, 48)).save(tmp_path / "images" / "a.png")
    coco = {"images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}],
            "annotations": [{"id": 5, "image_id": 1, "category_id": 3,
                             "bbox": [1, 2, 10, 10], "area": 100.0},
                            {"id": 6, "image_id": 1, "category_id": 3,
                             "bbox": [20, 2, 10, 10], "area": 100.0}],
            "categories": [{"id": 3, "name": "cup"}]}
    (tmp_path / "gt.json").write_text(json.dumps(coco))
    spec = DatasetSpec.make(images=tmp_path / "images", gt=tmp_path / "gt.json")
    s = load(spec, MetricParams()).session()
    assert s.set_box_attribute([5], "iscrowd", True)
    assert s.rename_class(0, "mug")
    _export(s, tmp_path / "out", "coco")
    obj = json.loads((tmp_path / "out" / "annotations.json").read_text())
    anns = {a["id"]: a for a in obj["annotations"]}
    assert anns[5].get("iscrowd") == 1 and "iscrowd" not in anns[6]  # 6 as it came
    assert obj["categories"] == [{"id": 3, "name": "mug"}]
    s.close()
