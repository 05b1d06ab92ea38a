"""``detview coco-eval`` equals pycocotools, number for number."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
from PIL import Image

from detview.cli.main import main as cli_main
from tests.conftest import RESOURCES

pytest.importorskip("pycocotools")
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

DEMO = RESOURCES / "demo"
NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def run_json(argv):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli_main(["coco-eval", *argv, "--json"]) == 0
    return json.loads(buf.getvalue())


def pycoco(gt_dict, dets):
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_dict
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def demo_as_coco():
    """The demo's YOLO labels as a COCO dict, written here without detview."""
    import yaml

    names = yaml.safe_load((DEMO / "data.yaml").read_text())["names"]
    images, anns = [], []
    for img in sorted((DEMO / "images").iterdir()):
        w, h = Image.open(img).size
        images.append({"id": int(img.stem), "file_name": img.name, "width": w, "height": h})
        for line in (DEMO / "labels" / f"{img.stem}.txt").read_text().splitlines():
            if not line.strip():
                continue
            c, cx, cy, bw, bh = (float(v) for v in line.split())
            x, y = (cx - bw / 2) * w, (cy - bh / 2) * h
            anns.append({"id": len(anns) + 1, "image_id": int(img.stem), "category_id": int(c),
                         "bbox": [x, y, bw * w, bh * h], "area": bw * w * bh * h, "iscrowd": 0})
    cats = [{"id": k, "name": n} for k, n in names.items()]
    return {"images": images, "annotations": anns, "categories": cats}


def test_coco_eval_on_demo_equals_pycocotools(tmp_path):
    gt = demo_as_coco()
    dets = json.loads((DEMO / "predictions" / "yolov5s.json").read_text())
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(gt))
    got = run_json(["--images", str(DEMO / "images"), "--gt", str(gt_path),
                    "--pred", str(DEMO / "predictions" / "yolov5s.json")])
    ev = pycoco(gt, dets)
    for k, name in enumerate(NAMES):
        assert got[name] == pytest.approx(ev.stats[k], abs=1e-12), name
    # the same numbers from the YOLO ground truth
    got_yolo = run_json([str(DEMO), "--pred", str(DEMO / "predictions" / "yolov5s.json")])
    for name in NAMES:
        assert got_yolo[name] == pytest.approx(got[name], abs=1e-9), name


def test_coco_eval_text_block(tmp_path, capsys):
    rc = cli_main(["coco-eval", str(DEMO), "--pred", str(DEMO / "predictions" / "yolov5s.json")])
    assert rc == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 12
    assert out[0].startswith(
        " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ]")


def test_coco_eval_on_published_val2014_numbers(realdata):
    root = realdata / "cocoapi_val2014_100"
    expected = json.loads((root / "expected.json").read_text())
    pub = expected["published"]["faster_coco_eval_tests"]["stats"]
    got = run_json(["--gt", str(root / "instances_val2014_100.json"),
                    "--pred", str(root / "instances_val2014_fakebbox100_results.json")])
    for name in NAMES:
        assert got[name] == pytest.approx(pub[name], abs=1e-12), name
    gt_dict = json.loads((root / "instances_val2014_100.json").read_text())
    dets = json.loads((root / "instances_val2014_fakebbox100_results.json").read_text())
    ev = pycoco(gt_dict, dets)
    for k, cat in enumerate(ev.params.catIds):
        name = next(c["name"] for c in gt_dict["categories"] if c["id"] == cat)
        p = ev.eval["precision"][:, :, k, 0, 2]
        ap = float(p[p > -1].mean()) if (p > -1).any() else -1.0
        assert got["per_class"][name]["AP"] == pytest.approx(ap, abs=1e-12), name


def test_coco_eval_without_predictions_is_a_clear_error(capsys):
    rc = cli_main(["coco-eval", str(DEMO)])
    assert rc == 2
    assert "prediction" in capsys.readouterr().err


def test_coco_eval_from_files_is_exact_where_the_source_sizes_matter(tmp_path):
    """pycocotools takes IoU and areas from the file's ``[x, y, w, h]``; ``x2 - x1`` from
    the columns can differ from ``w`` in the last bit and flip an IoU that lands exactly
    on a threshold. This set has such boxes (the engine-level test shows the numbers move
    without the sizes): through the files, the readers (streamed and dict) and the column
    cache, every number and every per-class AP is pycocotools', exactly."""
    from detview.io.cache import cached_load
    from detview.io.spec import DatasetSpec, load_spec
    from tests.core._coco_helpers import synthetic_coco

    gt, dets = synthetic_coco(10, decimals=1, score_decimals=3, max_gt=20,
                              dets_per_image=(10, 80), crowd_frac=0.1)
    gt_path, det_path = tmp_path / "gt.json", tmp_path / "dets.json"
    gt_path.write_text(json.dumps(gt))
    det_path.write_text(json.dumps(dets))
    ev = pycoco(gt, dets)
    got = run_json(["--gt", str(gt_path), "--pred", str(det_path)])
    for k, name in enumerate(NAMES):
        assert got[name] == ev.stats[k], name
    for k, cat in enumerate(ev.params.catIds):
        name = next(c["name"] for c in gt["categories"] if c["id"] == cat)
        p = ev.eval["precision"][:, :, k, 0, 2]
        ap = float(p[p > -1].mean()) if (p > -1).any() else -1.0
        assert got["per_class"][name]["AP"] == ap, name
    # the same columns from the cache: the sizes are cached with the boxes
    spec = DatasetSpec.make(gt=gt_path, preds=[("model", det_path)])
    fresh = load_spec(spec, cache=False).dataset
    cached_load(spec, lambda: load_spec(spec, cache=False), min_bytes=0)
    mapped = cached_load(spec, lambda: load_spec(spec, cache=False), min_bytes=0).dataset
    for a, b in ((fresh.gt, mapped.gt), (fresh.runs["model"], mapped.runs["model"])):
        assert np.isfinite(a.wh).all()
        assert np.array_equal(a.wh, b.wh)
