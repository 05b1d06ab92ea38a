"""Issue 9, items 9-10: a cleaned dataset differs from its input only where it was
edited; crowd regions, VOC objects and Datumaro's files come out right."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np
import pytest

from detview.core.edits import AddBoxes, DeleteBoxes, MoveBoxes
from detview.io import load_dataset, write_dataset
from detview.io.formats.voc import parse_voc_xml, voc_box

from .fuzzing import coco_obj
from .helpers import make_images

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


def _move_first_box(ds, image: int, dx: float = 1.0) -> int:
    sl = ds.gt.image_slice(image)
    r = sl.start
    b = int(ds.gt.box_id[r])
    old = tuple(float(v) for v in ds.gt.xyxy[r])
    new = (old[0] + dx, old[1], old[2] + dx, old[3])
    ds.apply(MoveBoxes((b,), (image,), (old,), (new,)))
    return r - sl.start


@pytest.mark.skipif(not (DEMO / "labels").is_dir(), reason="resources/demo is absent")
def test_yolo_unchanged_label_files_are_byte_identical(tmp_path):
    """Reproducer: editing one image rewrote all 39 other label files (0.5955 became
    0.595500): a git review of the cleaned set was noise."""
    src = tmp_path / "demo"
    shutil.copytree(DEMO, src)
    ds = load_dataset(None, src).dataset
    edited = next(i for i in range(len(ds.images)) if ds.gt.offsets[i + 1] - ds.gt.offsets[i] > 2)
    k = _move_first_box(ds, edited)
    out = tmp_path / "out"
    write_dataset(ds, out, "yolo")
    same = diff = 0
    for lab in sorted((src / "labels").glob("*.txt")):
        a, b = lab.read_bytes(), (out / "labels" / lab.name).read_bytes()
        if lab.stem == Path(ds.images.file_names[edited]).stem:
            old_lines, new_lines = a.decode().splitlines(), b.decode().splitlines()
            assert len(old_lines) == len(new_lines)
            changed = [j for j, (x, y) in enumerate(zip(old_lines, new_lines, strict=True))
                       if x != y]
            assert changed == [k]  # only the moved box
            diff += 1
        else:
            assert a == b, lab.name
            same += 1
    assert diff == 1 and same == len(ds.images) - 1


def _voc_set(tmp: Path) -> Path:
    ann = tmp / "voc" / "Annotations"
    ann.mkdir(parents=True)
    for n in ("a", "b"):
        (ann / f"{n}.xml").write_text(
            "<annotation>\n  <filename>" + n + ".jpg</filename>\n  <size><width>50</width>"
            "<height>40</height><depth>3</depth></size>\n  <object><name>cat</name>"
            "<difficult>1</difficult><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>20</xmax>"
            "<ymax>30</ymax></bndbox></object>\n</annotation>\n")
    make_images(tmp / "voc" / "JPEGImages", {"a.jpg": (50, 40), "b.jpg": (50, 40)})
    return tmp / "voc"


def test_voc_unchanged_files_identical_objects_complete_and_datumaro_files(tmp_path):
    """Reproducer: a new VOC object had no difficult/truncated/pose (Ultralytics' VOC
    converter crashed on it); no labelmap.txt for Datumaro."""
    root = _voc_set(tmp_path)
    ds = load_dataset(None, root).dataset
    ds.apply(AddBoxes(ds.new_box_ids(1), (1,), (0,), ((5.0, 5.0, 9.0, 9.0),)))
    out = tmp_path / "out"
    write_dataset(ds, out, "voc")
    assert (out / "Annotations" / "a.xml").read_bytes() == \
        (root / "Annotations" / "a.xml").read_bytes()
    objs = ET.fromstring((out / "Annotations" / "b.xml").read_bytes()).findall("object")
    assert len(objs) == 2
    for o in objs:
        assert [c.tag for c in o][:4] == ["name", "pose", "truncated", "difficult"]
    assert objs[0].findtext("difficult") == "1" and objs[1].findtext("difficult") == "0"
    lm = (out / "labelmap.txt").read_text().splitlines()
    assert lm[0].startswith("# label:color_rgb") and lm[1] == "background:0,0,0::"
    assert lm[2] == "cat:128,0,0::"  # the VOC palette, as Datumaro writes it
    assert (out / "ImageSets" / "Main" / "default.txt").read_text() == "a\nb\n"


@pytest.mark.parametrize("x1,x2", [(11.6, 11.9), (11.5, 11.5), (3.2, 3.4), (0.0, 0.4)])
def test_voc_never_writes_xmin_above_xmax(x1, x2):
    """Reproducer: xmin 12 > xmax 11 was written for a sub-pixel box."""
    for one in (True, False):
        xmin, ymin, xmax, ymax = voc_box((x1, x1, x2, x2), one)
        assert xmin <= xmax and ymin <= ymax
    xml = __import__("detview.io.formats.voc", fromlist=["voc_xml"]).voc_xml(
        "a.jpg", 20, 20, ["c"], np.array([[x1, x1, x2, x2]]), [{}])
    p = parse_voc_xml(xml, "a.xml")
    assert p["xyxy"][0, 0] <= p["xyxy"][0, 2]


def _labelme_set(tmp: Path) -> Path:
    lm = tmp / "lm"
    make_images(lm, {"a.jpg": (60, 40), "b.jpg": (60, 40)})
    for n in ("a", "b"):
        (lm / f"{n}.json").write_text(json.dumps({
            "version": "5.4.1", "flags": {}, "shapes": [
                {"label": "dog", "points": [[30, 20], [10, 5]], "group_id": None,
                 "description": "", "shape_type": "rectangle", "flags": {}, "mask": None},
                {"label": "area", "points": [[1, 1], [2, 2], [3, 1]], "shape_type": "polygon",
                 "flags": {}},
                {"label": "cat", "points": [[1.5, 2.5], [8, 9]], "group_id": 3,
                 "description": "x", "shape_type": "rectangle", "flags": {}, "mask": None}],
            "imagePath": f"{n}.jpg", "imageData": None, "imageHeight": 40, "imageWidth": 60},
            indent=2))
    return lm


def test_labelme_output_is_stable(tmp_path):
    """Reproducer: LabelMe writes were not stable (key order swapped)."""
    lm = _labelme_set(tmp_path)
    ds = load_dataset(None, lm).dataset
    _move_first_box(ds, 1)
    write_dataset(ds, tmp_path / "o1", "labelme")
    write_dataset(ds, tmp_path / "o2", "labelme")
    assert (tmp_path / "o1" / "a.json").read_bytes() == (lm / "a.json").read_bytes()
    b1 = (tmp_path / "o1" / "b.json").read_bytes()
    assert b1 == (tmp_path / "o2" / "b.json").read_bytes()
    src, got = json.loads((lm / "b.json").read_text()), json.loads(b1)
    assert list(got) == list(src)
    assert [s["label"] for s in got["shapes"]] == ["dog", "area", "cat"]  # order kept
    for s_src, s_got in zip(src["shapes"], got["shapes"], strict=True):
        assert list(s_got) == list(s_src)
    assert got["shapes"][2] == src["shapes"][2]  # the unchanged box keeps its points
    assert got["shapes"][0]["points"] == [[11.0, 5.0], [31.0, 20.0]]
    # reloading the output gives the same boxes again
    again = load_dataset(None, tmp_path / "o1").dataset
    np.testing.assert_array_equal(np.sort(again.gt.xyxy, axis=0), np.sort(ds.gt.xyxy, axis=0))


def test_crowd_regions_kept_in_coco_dropped_with_a_warning_elsewhere(tmp_path, caplog):
    """Reproducer: COCO crowd regions silently became ordinary boxes in YOLO or VOC."""
    make_images(tmp_path / "images", {"a.jpg": (64, 48), "b.jpg": (32, 32)})
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(coco_obj()))  # annotation 2 is a crowd region
    ds = load_dataset(tmp_path / "images", gt).dataset
    assert ds.gt.iscrowd.tolist() == [False, True]
    write_dataset(ds, tmp_path / "c.json", "coco")
    assert [a["iscrowd"] for a in json.loads((tmp_path / "c.json").read_text())["annotations"]] \
        == [0, 1]
    for fmt in ("yolo", "voc", "labelme", "cvat", "csv"):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            write_dataset(ds, tmp_path / f"o_{fmt}", fmt)
        assert "crowd region" in caplog.text, fmt
        back = load_dataset(tmp_path / "images",
                            {"yolo": tmp_path / f"o_{fmt}" / "labels",
                             "voc": tmp_path / f"o_{fmt}" / "Annotations",
                             "labelme": tmp_path / f"o_{fmt}",
                             "cvat": tmp_path / f"o_{fmt}" / "annotations.xml",
                             "csv": tmp_path / f"o_{fmt}" / "annotations.csv"}[fmt],
                            gt_format=fmt).dataset
        assert len(back.gt) == 1, fmt


def test_deleted_boxes_and_images_leave_the_others_alone(tmp_path):
    root = _voc_set(tmp_path)
    ds = load_dataset(None, root).dataset
    ds.apply(DeleteBoxes((int(ds.gt.box_id[0]),), (0,)))
    write_dataset(ds, tmp_path / "o", "voc")
    assert (tmp_path / "o" / "Annotations" / "b.xml").read_bytes() == \
        (root / "Annotations" / "b.xml").read_bytes()
    assert ET.fromstring((tmp_path / "o" / "Annotations" / "a.xml").read_bytes()).find(
        "object") is None


def test_labelme_file_elsewhere_is_rewritten_to_point_beside_its_image(tmp_path):
    """A LabelMe file whose imagePath is ../images/a.jpg is not copied byte for byte
    into an export where the json sits beside the image: it would point outside it."""
    make_images(tmp_path / "images", {"a.jpg": (20, 20)})
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "a.json").write_text(json.dumps({
        "imagePath": "../images/a.jpg", "imageWidth": 20, "imageHeight": 20,
        "shapes": [{"label": "x", "points": [[1, 1], [5, 5]], "shape_type": "rectangle"}]}))
    ds = load_dataset(tmp_path / "images", tmp_path / "ann", gt_format="labelme").dataset
    write_dataset(ds, tmp_path / "out", "labelme", images_mode="copy")
    got = json.loads((tmp_path / "out" / "a.json").read_text())
    assert got["imagePath"] == "a.jpg" and (tmp_path / "out" / "a.jpg").is_file()
    back = load_dataset(None, tmp_path / "out").dataset
    assert back.images.file_names == ["a.jpg"] and len(back.gt) == 1
