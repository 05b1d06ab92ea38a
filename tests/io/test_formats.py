"""YOLO, VOC, LabelMe, CVAT and CSV: parsing, conventions and round trips."""

from __future__ import annotations

import numpy as np
import pytest

from detview.core.edits import DeleteBoxes, MoveBoxes
from detview.io import load_dataset, write_dataset
from detview.io._common import Problems
from detview.io.errors import InputError
from detview.io.formats.csvfmt import parse_csv
from detview.io.formats.cvat import parse_cvat_xml
from detview.io.formats.labelme import parse_labelme
from detview.io.formats.voc import parse_voc_xml, voc_xml
from detview.io.formats.yolo import parse_names_file, parse_yolo_txt, yolo_lines

from .helpers import boxes_by_file, make_images


# ------------------------------------------------------------------ YOLO
def test_yolo_txt_parse_and_layouts():
    c, b, s, lines = parse_yolo_txt("0 0.5 0.5 0.2 0.4\n\n# note\n3 0.1 0.2 0.1 0.2\n", "l.txt")
    assert c.tolist() == [0, 3] and lines.tolist() == [1, 4]
    np.testing.assert_allclose(b[0], [0.4, 0.3, 0.6, 0.7])
    assert np.isnan(s).all()
    c, b, s, _ = parse_yolo_txt("2 0.9 10 20 30 40\n", "p.txt", columns="cls conf x y w h")
    assert s.tolist() == [0.9] and b.tolist() == [[10, 20, 40, 60]]
    c, b, s, _ = parse_yolo_txt("1 0.5 0.5 0.2 0.2 0.75\r\n", "p.txt",
                                columns="cls cx cy w h conf")
    assert s.tolist() == [0.75]


def test_yolo_segment_line_becomes_bbox():
    p = Problems()
    c, b, _, _ = parse_yolo_txt("0 0.1 0.2 0.5 0.2 0.3 0.6\n", "s.txt", problems=p)
    np.testing.assert_allclose(b[0], [0.1, 0.2, 0.5, 0.6])
    assert p.warnings


def test_yolo_bad_lines_reported_with_line_numbers():
    p = Problems()
    c, _, _, _ = parse_yolo_txt("0 0.5 0.5 0.2\nx 0.5 0.5 0.2 0.2\n1.5 0.5 0.5 0.2 0.2\n"
                                "1 0.5 0.5 0.2 0.2\n", "bad.txt", problems=p)
    assert c.tolist() == [1]
    wheres = [e.where for e in p.errors]
    assert wheres == ["line 1", "line 2", "line 3"]


def test_yolo_lines_six_decimals_and_round_trip_pixels():
    xyxy = np.array([[10.0, 20.0, 110.0, 70.0]])
    txt = yolo_lines(np.array([2]), xyxy, 640, 480)
    assert txt == "2 0.093750 0.093750 0.156250 0.104167\n"
    c, b, _, _ = parse_yolo_txt(txt, "t.txt")
    px = b * [640, 480, 640, 480]
    np.testing.assert_array_equal(np.round(px), xyxy)


def test_names_files():
    assert parse_names_file("a\nb\r\n\nc\n", "classes.txt") == ["a", "b", "c"]
    assert parse_names_file("names:\n  0: x\n  1: y\n", "data.yaml") == ["x", "y"]
    assert parse_names_file("names: [x, y]\n", "d.yaml") == ["x", "y"]
    with pytest.raises(InputError, match="line"):
        parse_names_file("names: [x, y\n", "d.yaml")


def _yolo_set(tmp_path):
    root = tmp_path / "ds"
    make_images(root / "images" / "train", {"a.jpg": (100, 50), "b.png": (40, 40),
                                            "c.jpg": (20, 20)})
    lab = root / "labels" / "train"
    lab.mkdir(parents=True)
    (lab / "a.txt").write_text("0 0.5 0.5 0.2 0.4\n1 0.25 0.5 0.5 1.0\n")
    (lab / "b.txt").write_text("1 0.5 0.5 0.5 0.5\n")
    (lab / "c.txt").write_text("")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/train\n"
                                    "names:\n  0: cat\n  1: dog\n")
    return root


def test_yolo_dataset_folder_and_round_trip(tmp_path):
    root = _yolo_set(tmp_path)
    r = load_dataset(root, None)
    ds = r.dataset
    assert ds.meta["format"] == "yolo" and "Ultralytics" in r.summary
    assert ds.images.file_names == ["train/a.jpg", "train/b.png", "train/c.jpg"]
    assert ds.classes.names == ("cat", "dog")
    assert len(ds.gt) == 3
    np.testing.assert_allclose(ds.gt.xyxy[0], [40, 15, 60, 35])
    out = tmp_path / "out"
    files = write_dataset(ds, out)
    assert (out / "labels" / "train" / "c.txt").read_text() == ""
    # unchanged label files are written back byte for byte
    assert (out / "labels" / "train" / "a.txt").read_bytes() == \
        (root / "labels" / "train" / "a.txt").read_bytes()
    assert out / "data.yaml" in files
    back = load_dataset(root / "images", out / "labels").dataset
    assert boxes_by_file(back, decimals=6) == boxes_by_file(ds, decimals=6)


# ------------------------------------------------------------------ VOC
VOC = """<annotation>
  <folder>VOC</folder>
  <filename>img1.jpg</filename>
  <source><database>db</database></source>
  <size><width>200</width><height>100</height><depth>3</depth></size>
  <segmented>0</segmented>
  <object>
    <name>car</name><pose>Left</pose><truncated>1</truncated><difficult>1</difficult>
    <bndbox><xmin>1</xmin><ymin>10</ymin><xmax>50</xmax><ymax>60</ymax></bndbox>
  </object>
  <object>
    <name>person</name><difficult>0</difficult>
    <bndbox><xmin>100.0</xmin><ymin>20</ymin><xmax>120</xmax><ymax>99</ymax></bndbox>
  </object>
</annotation>
"""


def test_voc_one_based_convention_and_extras():
    p = parse_voc_xml(VOC, "a.xml")
    assert p["file_name"] == "img1.jpg" and (p["width"], p["height"]) == (200, 100)
    np.testing.assert_array_equal(p["xyxy"][0], [0, 9, 50, 60])
    assert p["extras"][0] == {"pose": "Left", "truncated": 1, "difficult": 1}
    p0 = parse_voc_xml(VOC, "a.xml", one_based=False)
    np.testing.assert_array_equal(p0["xyxy"][0], [1, 10, 50, 60])


def test_voc_xml_round_trip_exact_integers():
    p = parse_voc_xml(VOC, "a.xml")
    xml = voc_xml(p["file_name"], p["width"], p["height"], p["names"], p["xyxy"], p["extras"],
                  p["image_extras"])
    q = parse_voc_xml(xml, "b.xml")
    # every object is complete: pose/truncated/difficult default when the source had none
    complete = [{"pose": "Unspecified", "truncated": 0, "difficult": 0, **e} for e in p["extras"]]
    assert q["names"] == p["names"] and q["extras"] == complete
    np.testing.assert_array_equal(q["xyxy"], p["xyxy"])
    assert b"<xmin>1</xmin>" in xml and b"<database>db</database>" in xml


def test_voc_folder_write_cleaned(tmp_path):
    ann = tmp_path / "Annotations"
    ann.mkdir()
    (ann / "img1.xml").write_text(VOC)
    make_images(tmp_path / "JPEGImages", {"img1.jpg": (200, 100)})
    r = load_dataset(tmp_path, None)
    ds = r.dataset
    assert ds.meta["format"] == "voc" and len(ds.gt) == 2
    ds.apply(DeleteBoxes((int(ds.gt.box_id[1]),), (0,)))
    write_dataset(ds, tmp_path / "out")
    q = parse_voc_xml((tmp_path / "out" / "Annotations" / "img1.xml").read_bytes(), "o.xml")
    assert q["names"] == ["car"]


# ------------------------------------------------------------------ LabelMe
def test_labelme_parse_and_write(tmp_path):
    obj = {"version": "5.2.1", "flags": {}, "imagePath": "x.jpg", "imageData": None,
           "imageHeight": 40, "imageWidth": 60,
           "shapes": [{"label": "cat", "points": [[30, 20], [10, 5]], "group_id": None,
                       "shape_type": "rectangle", "flags": {}},
                      {"label": "poly", "points": [[1, 1], [2, 2], [3, 1]],
                       "shape_type": "polygon", "flags": {}}]}
    p = parse_labelme(obj, "x.json")
    np.testing.assert_array_equal(p["xyxy"], [[10, 5, 30, 20]])
    make_images(tmp_path / "lm", {"x.jpg": (60, 40)})
    import json

    (tmp_path / "lm" / "x.json").write_text(json.dumps(obj))
    ds = load_dataset(None, tmp_path / "lm").dataset
    assert ds.meta["format"] == "labelme" and len(ds.gt) == 1
    write_dataset(ds, tmp_path / "out")
    # unchanged: the very bytes
    assert (tmp_path / "out" / "x.json").read_bytes() == (tmp_path / "lm" / "x.json").read_bytes()
    b0 = int(ds.gt.box_id[0])
    ds.apply(MoveBoxes((b0,), (0,), (tuple(ds.gt.xyxy[0]),), ((11.0, 5.0, 30.0, 20.0),)))
    write_dataset(ds, tmp_path / "out")  # a previous export is replaced
    back = json.loads((tmp_path / "out" / "x.json").read_text())
    assert back["shapes"][1] == obj["shapes"][1]  # the polygon passes through, in its place
    assert back["shapes"][0]["points"] == [[11.0, 5.0], [30.0, 20.0]]
    assert list(back["shapes"][0]) == list(obj["shapes"][0])  # the source's key order
    assert list(back) == list(obj) and back["imageWidth"] == 60


# ------------------------------------------------------------------ CVAT
CVAT = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><labels><label><name>cat</name></label><label><name>dog</name></label>
  </labels></task></meta>
  <image id="0" name="a.jpg" width="100" height="80">
    <box label="dog" occluded="0" source="manual" xtl="10.50" ytl="20.00" xbr="30.25"
         ybr="40.00" z_order="0">
      <attribute name="color">brown</attribute>
    </box>
    <polygon label="cat" points="1,1;5,5;1,5" occluded="0"/>
  </image>
  <image id="1" name="b.jpg" width="10" height="10"></image>
</annotations>
"""


def test_cvat_parse_and_round_trip(tmp_path):
    res = parse_cvat_xml(CVAT, "a.xml")
    ds = res.dataset
    assert ds.classes.names == ("cat", "dog")
    assert len(ds.gt) == 1 and ds.classes.names[ds.gt.cls[0]] == "dog"
    np.testing.assert_array_equal(ds.gt.xyxy[0], [10.5, 20, 30.25, 40])
    out = write_dataset(ds, tmp_path / "o.xml")[0]
    again = parse_cvat_xml(out.read_bytes(), str(out)).dataset
    assert boxes_by_file(again) == boxes_by_file(ds)
    assert again.gt.extras[0]["cvat"]["attributes"] == [("color", "brown")]
    assert "polygon" in again.images.extras[0]["cvat"]["other"][0]


# ------------------------------------------------------------------ CSV
def test_csv_parse_columns_and_round_trip(tmp_path):
    text = "image,left,top,right,bottom,cls\na.jpg,1,2,3,4,cat\nb.jpg,,,,,\n"
    p = parse_csv(text, "x.csv", {"file_name": "image", "x1": "left", "y1": "top",
                                  "x2": "right", "y2": "bottom", "label": "cls"})
    assert p["file_names"] == ["a.jpg", "b.jpg"] and p["labels"] == ["cat"]
    f = tmp_path / "gt.csv"
    f.write_text("file_name,x1,y1,x2,y2,label\na.jpg,1.5,2,30,40,cat\na.jpg,5,5,9,9,dog\n"
                 "b.jpg,,,,,\n")
    make_images(tmp_path / "img", {"a.jpg": (50, 50), "b.jpg": (20, 20)})
    ds = load_dataset(tmp_path / "img", f).dataset
    assert len(ds.gt) == 2 and len(ds.images) == 2
    out = write_dataset(ds, tmp_path / "out.csv")[0]
    ds2 = load_dataset(tmp_path / "img", out).dataset
    assert boxes_by_file(ds2) == boxes_by_file(ds)
    assert ds2.images.file_names == ["a.jpg", "b.jpg"]


def test_move_then_write_every_format(tmp_path):
    root = _yolo_set(tmp_path)
    ds = load_dataset(root, None).dataset
    b0 = int(ds.gt.box_id[0])
    ds.apply(MoveBoxes((b0,), (0,), (tuple(ds.gt.xyxy[0]),), ((1.0, 2.0, 11.0, 12.0),)))
    ref = boxes_by_file(ds, decimals=3)
    for fmt in ("coco", "yolo", "voc", "labelme", "cvat", "csv"):
        out = tmp_path / f"out_{fmt}"
        write_dataset(ds, out, fmt)
        gt = {"coco": out / "annotations.json", "cvat": out / "annotations.xml",
              "csv": out / "annotations.csv", "yolo": out / "labels", "voc": out / "Annotations",
              "labelme": out}[fmt]
        back = load_dataset(root / "images", gt, gt_format=fmt).dataset
        assert boxes_by_file(back, decimals=3) == ref, fmt


def test_format_private_extras_do_not_leak(tmp_path):
    import json

    ann = tmp_path / "Annotations"
    ann.mkdir()
    (ann / "img1.xml").write_text(VOC)
    ds = load_dataset(None, ann).dataset
    out = write_dataset(ds, tmp_path / "c.json", "coco")[0]
    obj = json.loads(out.read_text())
    assert "voc" not in obj["images"][0]
    assert obj["annotations"][0]["difficult"] == 1  # VOC flags pass through
    cv = parse_cvat_xml(CVAT, "a.xml").dataset
    write_dataset(cv, tmp_path / "v", "voc")
    q = parse_voc_xml((tmp_path / "v" / "Annotations" / "a.xml").read_bytes(), "a.xml")
    assert q["extras"][0] == {"pose": "Unspecified", "truncated": 0, "difficult": 0,
                              "occluded": 0}


def test_labelme_and_csv_predictions(tmp_path):
    import json

    make_images(tmp_path / "im", {"a.jpg": (60, 40)})
    gt = tmp_path / "gt.csv"
    gt.write_text("file_name,x1,y1,x2,y2,label\na.jpg,10,5,30,20,cat\n")
    lm = tmp_path / "lm"
    lm.mkdir()
    (lm / "a.json").write_text(json.dumps({
        "imagePath": "a.jpg", "imageWidth": 60, "imageHeight": 40,
        "shapes": [{"label": "cat", "points": [[10, 5], [30, 20]], "shape_type": "rectangle",
                    "score": 0.8}]}))
    pc = tmp_path / "p.csv"
    pc.write_text("file_name,x1,y1,x2,y2,label,score\na.jpg,11,5,30,20,cat,0.7\n"
                  "a.jpg,1,1,5,5,dog,0.2\n")
    r = load_dataset(tmp_path / "im", gt, [("lm", lm), ("csv", pc)])
    ds = r.dataset
    assert ds.runs["lm"].score.tolist() == [0.8]
    assert ds.runs["csv"].score.tolist() == [0.7]  # 'dog' is not a GT class: reported
    assert any("dog" in p.message for p in r.problems)
    with pytest.raises(InputError, match="ground truth"):
        load_dataset(tmp_path / "im", gt, [("g", gt)], pred_format="csv")


def test_class_names_from_a_file(tmp_path):
    root = _yolo_set(tmp_path)
    (root / "data.yaml").unlink()
    names = tmp_path / "names.txt"
    names.write_text("kitten\npuppy\n")
    ds = load_dataset(root, None, class_names=names).dataset
    assert ds.classes.names == ("kitten", "puppy")


def test_yolo_flat_folder_with_obj_names(tmp_path):
    make_images(tmp_path, {"a.jpg": (100, 50), "b.jpg": (10, 10)})
    (tmp_path / "a.txt").write_text("1 0.5 0.5 0.2 0.4\n")
    (tmp_path / "obj.names").write_text("cat\ndog\n")
    r = load_dataset(tmp_path, None)
    ds = r.dataset
    assert "flat YOLO" in r.summary
    assert ds.classes.names == ("cat", "dog") and len(ds.gt) == 1
    assert any("1 of 2 images have no label file" in p.message for p in r.problems)
