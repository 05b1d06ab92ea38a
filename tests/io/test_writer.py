"""write_dataset: atomic writes, input protection, images, format defaults."""

from __future__ import annotations

import json
import os

import pytest

from detview.core.edits import MoveBoxes
from detview.io import load_dataset, write_dataset
from detview.io._common import atomic_write_bytes
from detview.io.errors import InputError

from .helpers import make_images
from .test_coco import small_coco


def _coco(tmp_path):
    make_images(tmp_path / "images", {"a.jpg": (100, 80), "sub/b.jpg": (50, 50),
                                      "c.jpg": (64, 64)})
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(small_coco()))
    return gt


def test_same_format_by_default_and_exact(tmp_path):
    gt = _coco(tmp_path)
    ds = load_dataset(tmp_path / "images", gt).dataset
    out = write_dataset(ds, tmp_path / "out" / "clean.json")
    assert out == [tmp_path / "out" / "clean.json"]
    assert json.loads(out[0].read_text()) == small_coco()


def test_refuses_to_overwrite_input_then_keeps_backup(tmp_path):
    gt = _coco(tmp_path)
    ds = load_dataset(tmp_path / "images", gt).dataset
    with pytest.raises(InputError, match="refusing to write over an input file"):
        write_dataset(ds, gt)
    original = gt.read_bytes()
    write_dataset(ds, gt, overwrite=True)
    assert (tmp_path / "gt.json.bak.1").read_bytes() == original
    assert json.loads(gt.read_text()) == small_coco()
    write_dataset(ds, gt, overwrite=True)  # a second backup never overwrites the first
    assert (tmp_path / "gt.json.bak.1").read_bytes() == original
    assert (tmp_path / "gt.json.bak.2").is_file()


def test_refuses_to_write_into_input_label_folder(tmp_path):
    make_images(tmp_path / "images", {"a.jpg": (10, 10)})
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (tmp_path / "classes.txt").write_text("x\n")
    ds = load_dataset(tmp_path, None).dataset
    with pytest.raises(InputError, match="refusing"):
        write_dataset(ds, tmp_path)
    write_dataset(ds, tmp_path, overwrite=True)
    # unchanged files are left as they are; an edited one is kept as a numbered backup
    assert not (tmp_path / "labels" / "a.txt.bak.1").exists()
    b0 = int(ds.gt.box_id[0])
    ds.apply(MoveBoxes((b0,), (0,), (tuple(ds.gt.xyxy[0]),), ((1.0, 1.0, 5.0, 5.0),)))
    write_dataset(ds, tmp_path, overwrite=True)
    assert (tmp_path / "labels" / "a.txt.bak.1").read_text() == "0 0.5 0.5 0.5 0.5\n"
    assert (tmp_path / "labels" / "a.txt").read_text() == "0 0.300000 0.300000 0.400000 0.400000\n"


def test_atomic_write_leaves_no_temp_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    target.write_bytes(b"old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_images_copy_and_link(tmp_path):
    gt = _coco(tmp_path)
    ds = load_dataset(tmp_path / "images", gt).dataset
    files = write_dataset(ds, tmp_path / "y", "yolo", images_mode="copy")
    assert (tmp_path / "y" / "images" / "sub" / "b.jpg").is_file()
    assert (tmp_path / "y" / "labels" / "sub" / "b.txt").is_file()
    assert tmp_path / "y" / "images" / "a.jpg" in files
    write_dataset(ds, tmp_path / "v", "voc", images_mode="link")
    assert (tmp_path / "v" / "JPEGImages" / "b.jpg").is_file()
    back = load_dataset(tmp_path / "y", None).dataset
    # the crowd region of small_coco is left out of YOLO (with a warning)
    assert len(back.gt) == 2 and len(back.images) == 3


def test_unknown_format(tmp_path):
    gt = _coco(tmp_path)
    ds = load_dataset(tmp_path / "images", gt).dataset
    with pytest.raises(ValueError, match="unknown output format"):
        write_dataset(ds, tmp_path / "o", "tfrecord")


def test_write_predictions_round_trip(realdata, tmp_path):
    import numpy as np

    from detview.io import write_predictions

    v = realdata / "voc100_review_odm"
    gt = v / "gts/coco_format_v1/instances_default.json"
    ds = load_dataset(v / "images", gt, [("d", v / "dets/coco_format/coco_dets.json")]).dataset
    for fmt, name in (("coco", "p.json"), ("csv", "p.csv"), ("yolo", "py")):
        write_predictions(ds, "d", tmp_path / name, fmt)
        back = load_dataset(v / "images", gt, [("b", tmp_path / name)]).dataset.runs["b"]
        run = ds.runs["d"]
        assert len(back) == len(run) == 452, fmt
        order_a = np.lexsort((run.score, run.image))
        order_b = np.lexsort((back.score, back.image))
        tol = 1e-3 if fmt == "yolo" else 0
        np.testing.assert_allclose(back.xyxy[order_b], run.xyxy[order_a], atol=tol)
        np.testing.assert_array_equal(back.cls[order_b], run.cls[order_a])
