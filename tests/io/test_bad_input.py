"""Every way a file can be wrong gives a clear InputError/Problem naming file and place."""

from __future__ import annotations

import json

import numpy as np
import pytest

from detview.io import load_dataset
from detview.io._common import decode_text, parse_json, parse_xml
from detview.io.errors import InputError, format_error
from detview.io.formats.coco import parse_coco_gt, parse_coco_results
from detview.io.formats.voc import parse_voc_xml

from .helpers import make_images
from .test_coco import small_coco


def test_malformed_json_has_line_and_column(tmp_path):
    with pytest.raises(InputError) as ei:
        parse_json(b'{"images": [\n  {"id": 1,,}\n]}', "bad.json")
    assert ei.value.problem.where == "line 2, column 12"
    assert "bad.json: line 2, column 12: malformed JSON" in format_error(ei.value)


def test_malformed_xml_has_line_and_column():
    with pytest.raises(InputError) as ei:
        parse_xml(b"<annotation>\n<object><name>x</name>\n</annotation>", "bad.xml")
    assert ei.value.problem.where.startswith("line 3, column")
    assert "malformed XML" in str(ei.value)


def test_empty_files(tmp_path):
    with pytest.raises(InputError, match="empty"):
        parse_json(b"  \n", "e.json")
    with pytest.raises(InputError, match="empty"):
        parse_xml(b"", "e.xml")
    f = tmp_path / "e.json"
    f.write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_dataset(None, f, gt_format="coco")


def test_bom_and_crlf():
    assert decode_text(b"\xef\xbb\xbfa\r\nb\rc", "x") == "a\nb\nc"
    assert parse_json(b'\xef\xbb\xbf{"a": 1}\r\n', "x") == {"a": 1}
    assert decode_text("\ufeffx".encode("utf-16"), "x") == "x"
    p = parse_voc_xml(b"\xef\xbb\xbf<annotation>\r\n<filename>a.jpg</filename>\r\n"
                      b"</annotation>", "a.xml")
    assert p["file_name"] == "a.jpg"


def test_binary_file_is_named():
    with pytest.raises(InputError, match="UTF-8"):
        decode_text(b"abc\n\xff\xfe\x00\x81", "img.txt")


def test_missing_and_wrongly_typed_keys_all_reported():
    obj = small_coco()
    del obj["annotations"][0]["bbox"]
    obj["annotations"][1]["category_id"] = "1"
    obj["annotations"][2]["bbox"] = [1, 2, 3]
    with pytest.raises(InputError) as ei:
        parse_coco_gt(obj, "g.json")
    msgs = [str(p) for p in ei.value.problems]
    assert len(msgs) == 3
    assert "g.json: annotation #0 (id 7): missing key 'bbox'" in msgs
    assert any("annotation #1 (id 5)" in m and "'category_id' must be an integer" in m
               for m in msgs)
    assert any("annotation #2 (id 9)" in m and "'bbox' must be a list of 4" in m for m in msgs)


def test_not_coco_at_all():
    with pytest.raises(InputError, match="missing key"):
        parse_coco_gt({"foo": 1}, "g.json")


def test_duplicate_image_and_category_ids_are_errors():
    obj = small_coco()
    obj["images"][1]["id"] = 10
    obj["categories"][1]["id"] = 1
    with pytest.raises(InputError) as ei:
        parse_coco_gt(obj, "g.json")
    text = format_error(ei.value)
    assert "duplicate image id" in text and "duplicate category id" in text


def test_zero_negative_nan_outside_and_clip():
    obj = small_coco()
    a = obj["annotations"]
    a[0]["bbox"] = [1, 1, 0, 5]  # zero width: kept, warned
    a[1]["bbox"] = [1, 1, -3, 5]  # negative: skipped
    a[2]["bbox"] = [90, 70, 20, 20]  # outside a 100x80 image
    res = parse_coco_gt(obj, "g.json")
    msgs = {p.where: p.message for p in res.problems}
    assert "zero width" in msgs["annotation #0 (id 7)"]
    assert "negative" in msgs["annotation #1 (id 5)"]
    assert "outside" in msgs["annotation #2 (id 9)"]
    assert all(p.severity == "warning" for p in res.problems)
    assert sorted(res.dataset.gt.box_id.tolist()) == [7, 9]
    clipped = parse_coco_gt(obj, "g.json", clip=True).dataset
    r = int(clipped.gt.rows_of([9])[0])
    np.testing.assert_array_equal(clipped.gt.xyxy[r], [90, 70, 100, 80])


def test_nan_inf_coordinates_and_scores(tmp_path):
    text = ('{"images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}], '
            '"categories": [{"id": 1, "name": "x"}], "annotations": ['
            '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [NaN, 1, 2, 2]},'
            '{"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 1, Infinity, 2]},'
            '{"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}]}')
    res = parse_coco_gt(parse_json(text.encode(), "n.json"), "n.json")
    assert res.dataset.gt.box_id.tolist() == [3]
    assert sum("NaN or infinite" in p.message for p in res.problems) == 2
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(small_coco()))
    pr = tmp_path / "p.json"
    pr.write_text('[{"image_id": 10, "category_id": 1, "bbox": [1, 1, 2, 2], "score": NaN},'
                  '{"image_id": 10, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}]')
    r = load_dataset(None, gt, [(None, pr)])
    assert len(r.dataset.runs["p"]) == 1
    assert any("score is NaN" in p.message and p.where == "record #0" for p in r.problems)


def test_unknown_category_and_image_ids_warn():
    obj = small_coco()
    obj["annotations"][0]["category_id"] = 99
    obj["annotations"][1]["image_id"] = 12345
    res = parse_coco_gt(obj, "g.json")
    text = "\n".join(map(str, res.problems))
    assert "annotation #0 (id 7): unknown category_id 99" in text
    assert "annotation #1 (id 5): unknown image_id 12345" in text
    assert res.dataset.gt.box_id.tolist() == [9]


def test_results_bad_records_named():
    with pytest.raises(InputError) as ei:
        parse_coco_results([{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
                            {"image_id": 1, "category_id": 1, "bbox": [1, 2], "score": 0.1},
                            {"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4],
                             "score": "high"}], "r.json")
    msgs = [str(p) for p in ei.value.problems]
    assert msgs[0].startswith("r.json: record #0: missing key 'score'")
    assert "record #1" in msgs[1] and "record #2" in msgs[2]


def test_wrong_prediction_format_messages(tmp_path):
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(small_coco()))
    with pytest.raises(InputError, match="looks like a ground-truth"):
        load_dataset(None, gt, [(None, gt)])
    voc = tmp_path / "a.xml"
    voc.write_text("<annotation></annotation>")
    with pytest.raises(InputError, match="no scores"):
        load_dataset(None, gt, [(None, voc)])
    res = tmp_path / "r.json"
    res.write_text("[]")
    with pytest.raises(InputError, match="predictions"):
        load_dataset(None, res)


def test_missing_and_corrupt_images_in_yolo(tmp_path):
    root = tmp_path / "ds"
    make_images(root / "images", {"a.jpg": (10, 10)})
    (root / "images" / "bad.jpg").write_bytes(b"not an image at all")
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "labels" / "bad.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "labels" / "orphan.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "classes.txt").write_text("thing\n")
    r = load_dataset(root, None)
    text = "\n".join(map(str, r.problems))
    assert "bad.jpg: cannot read the image header" in text
    assert "bad.txt: 1 boxes skipped: the image size is unknown" in text
    assert "orphan.txt: label file without an image" in text
    assert len(r.dataset.gt) == 1


def test_coco_images_missing_from_folder(tmp_path):
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(small_coco()))
    make_images(tmp_path / "images", {"a.jpg": (100, 80)})
    r = load_dataset(tmp_path / "images", gt)
    assert any("2 of 3 images listed in the ground truth are not in this folder" in p.message
               for p in r.problems)


def test_yolo_wrong_confidence_column_warns(tmp_path):
    root = tmp_path / "ds"
    make_images(root / "images", {"a.jpg": (10, 10)})
    (root / "labels").mkdir()
    (root / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (root / "data.yaml").write_text("names: [thing]\n")
    preds = tmp_path / "preds"
    preds.mkdir()
    (preds / "a.txt").write_text("0 30 40 20 20 0.9\n")  # absolute coordinates
    r = load_dataset(root, None, [("p", preds)])
    assert any("coordinates larger than 1" in p.message for p in r.problems)


def test_csv_bad_lines(tmp_path):
    f = tmp_path / "g.csv"
    f.write_text("file_name,x1,y1,x2,y2,label\na.jpg,1,2,3\nb.jpg,1,x,3,4,cat\n")
    with pytest.raises(InputError) as ei:
        load_dataset(None, f)
    wheres = [p.where for p in ei.value.problems]
    assert wheres == ["line 2", "line 3"]
    g = tmp_path / "h.csv"
    g.write_text("image,x1\n")
    with pytest.raises(InputError, match="missing column"):
        load_dataset(None, g)


def test_voc_bad_object():
    with pytest.raises(InputError, match="not a Pascal VOC"):
        parse_voc_xml("<annotations/>", "a.xml")
    from detview.io._common import Problems

    pr = Problems()
    p = parse_voc_xml("<annotation><filename>a.jpg</filename><object><name>x</name><bndbox>"
                      "<xmin>a</xmin></bndbox></object></annotation>", "a.xml", problems=pr)
    assert not p["names"]
    assert pr.errors[0].where == "object 1"


def test_not_found():
    from pathlib import Path

    with pytest.raises(InputError, match="not found"):
        load_dataset(None, Path("/nonexistent/gt.json"))


def test_yolo_class_index_beyond_names(tmp_path):
    make_images(tmp_path / "images", {"a.jpg": (10, 10)})
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n5 0.5 0.5 0.5 0.5\n")
    (tmp_path / "data.yaml").write_text("names: [only]\n")
    r = load_dataset(tmp_path, None)
    assert len(r.dataset.gt) == 1
    assert any(p.where == "a.txt: line 2" and "not in the 1 class names" in p.message
               for p in r.problems)


def test_labelme_bad_shape_named(tmp_path):
    f = tmp_path / "a.json"
    f.write_text(json.dumps({"imagePath": "a.jpg", "imageWidth": 5, "imageHeight": 5,
                             "shapes": [{"label": "x", "points": [[1, 1]],
                                         "shape_type": "rectangle"}]}))
    with pytest.raises(InputError) as ei:
        load_dataset(None, f)
    assert ei.value.problems[0].where == "shape #0"
    assert "a.json" in ei.value.problems[0].path


def test_cvat_bad_box_named():
    from detview.io.formats.cvat import parse_cvat_xml

    with pytest.raises(InputError) as ei:
        parse_cvat_xml('<annotations><image id="0" name="a.jpg" width="5" height="5">'
                       '<box label="x" xtl="a" ytl="1" xbr="2" ybr="3"/></image></annotations>',
                       "c.xml")
    assert "<image> #0 (a.jpg), box 0" in str(ei.value)
