"""Issue 9: every reader either loads a file or says, in one clean message naming the
file, what is wrong with it. Never another exception, never a numpy warning.

* one test per crash class of the issue, with its reproducer as input;
* a hypothesis property test per reader ("a clean message naming the file, or success");
* a bounded mutation fuzz over self-made and real files (a few seconds).
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detview.cli.main import main
from detview.io import load_dataset
from detview.io.errors import InputError

from .fuzzing import ADVERSARIAL, KINDS, Fixture, check_clean, coco_obj, mutate
from .helpers import make_images

HSET = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def fx(tmp_path_factory):
    return Fixture(tmp_path_factory.mktemp("fuzz"))


def run(fx: Fixture, kind: str, data: bytes, label: str = "") -> None:
    check_clean(lambda: fx.load(kind, data), fx.path_for(kind), label or kind, fx.given(kind))


def expect_error(fx: Fixture, kind: str, data: bytes, *words: str) -> str:
    """Loading must fail with a clean message naming the file and saying ``words``, or
    (a per-image format: one bad file does not stop a large load) report it as a
    problem of the result."""
    run(fx, kind, data)
    try:
        res = fx.load(kind, data)
    except InputError as exc:
        text = str(exc) + "\n" + "\n".join(str(p) for p in exc.problems)
    else:
        assert kind in ("yolo_txt", "yolo_preds"), f"{kind}: no error"
        text = "\n".join(str(p) for p in res.problems)
    assert fx.path_for(kind).name in text or any(str(g) in text for g in fx.given(kind))
    for w in words:
        assert w in text, text
    return text


# ---------------------------------------------------------------------- the crashes
def test_ids_and_sizes_beyond_int64_are_clean_errors(fx):
    """OverflowError before: ids or sizes >= 2^63, 1e19 or inf where an integer is due."""
    obj = coco_obj()
    obj["images"][0]["id"] = 2**63
    expect_error(fx, "coco", json.dumps(obj).encode(), "image #0", "within int64")
    obj = coco_obj()
    obj["categories"][1]["id"] = 2**64
    expect_error(fx, "coco", json.dumps(obj).encode(), "category #1")
    obj = coco_obj()
    obj["annotations"][0]["bbox"] = [1, 2, 10**400, 3]
    expect_error(fx, "coco", json.dumps(obj).encode(), "annotation #0", "'bbox'")
    obj = coco_obj()
    obj["images"][0]["width"] = 1e19  # a size: warned, read from the image instead
    run(fx, "coco", json.dumps(obj).encode())
    expect_error(fx, "yolo_txt", b"1e19 0.5 0.5 0.2 0.2\n", "a.txt", "line 1", "class must be")
    expect_error(fx, "yolo_txt", b"inf 0.5 0.5 0.2 0.2\n", "line 1")
    expect_error(fx, "results", json.dumps(
        [{"image_id": 2**64, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 1}]).encode(),
        "record #0")
    expect_error(fx, "cvat", b'<annotations><image id="1e19" name="a.jpg" width="64" '
                 b'height="48"/></annotations>', "<image> #0")
    # a box with inf: skipped with a warning naming the file and object
    voc = (b"<annotation><filename>a.jpg</filename><object><name>c</name>"
           b"<difficult>1e999</difficult><bndbox><xmin>1</xmin><ymin>1</ymin>"
           b"<xmax>inf</xmax><ymax>5</ymax></bndbox></object></annotation>")
    run(fx, "voc", voc)
    res = fx.load("voc", voc)
    assert any("a.xml: object 1" in p.where and "infinite" in p.message for p in res.problems)


def test_unknown_xml_encoding_is_a_clean_error(fx):
    """LookupError before: encoding="utf-1" in XML."""
    xml = b'<?xml version="1.0" encoding="utf-1"?><annotation/>'
    expect_error(fx, "voc", xml, "unknown XML encoding")
    expect_error(fx, "cvat", xml, "unknown XML encoding")


def test_data_yaml_names_key_09(fx):
    """KeyError before: a ``09:`` key in data.yaml names."""
    bad = b"train: images/train\nval: images/val\nnames:\n  0: a\n  09: b\n"
    expect_error(fx, "data_yaml", bad, "key 'names'")
    twice = b"train: images/train\nval: images/val\nnames:\n  0: a\n  1: b\n  '1': c\n"
    expect_error(fx, "data_yaml", twice, "given twice")


def test_over_long_names_and_paths(fx, tmp_path):
    """ENAMETOOLONG before: an over-long name in a file, or an over-long path given."""
    obj = coco_obj()
    obj["images"][0]["file_name"] = "x" * 300 + ".jpg"
    expect_error(fx, "coco", json.dumps(obj).encode(), "image #0", "longer than 255 bytes")
    with pytest.raises(InputError, match="not found|too long|cannot read"):
        load_dataset(None, tmp_path / ("y" * 5000 + ".json"))
    # found by the mutation fuzz: an over-long path: in a data.yaml
    run(fx, "data_yaml", b"path: " + b"1" * 400 + b"\ntrain: images/train\nval: images/val\n"
        b"names: [a, b]\n")
    run(fx, "data_yaml", b"train: /" + b"d" * 300 + b"/x\nval: images/val\nnames: [a, b]\n")
    assert main(["eval", "--gt", str(tmp_path / ("y" * 5000)), "--out", "-"]) == 2


def test_nul_in_names(fx):
    """ValueError (embedded null byte) before: NUL in a CSV image name."""
    expect_error(fx, "csv", b"file_name,x1,y1,x2,y2,label\na\x00.jpg,1,2,3,4,cat\n",
                 "line 2", "control character")
    lm = {"imagePath": "a\x00.jpg", "shapes": []}
    expect_error(fx, "labelme", json.dumps(lm).encode(), "imagePath")


def test_deeply_nested_json(fx, tmp_path):
    """RecursionError (file not named) before: deeply nested JSON."""
    deep = b"[" * 100_000 + b"]" * 100_000
    expect_error(fx, "coco", deep, "nested too deeply")
    expect_error(fx, "results", deep)
    expect_error(fx, "labelme", b'{"shapes": ' + deep + b"}")
    log = tmp_path / "c.jsonl"
    log.write_bytes(b'{"detview_corrections": 1}\n{"edit": ' + deep + b"}\n")
    from detview.io.corrections import read_corrections

    with pytest.raises(InputError, match="line 2"):
        read_corrections(log)


def test_nan_scores_and_huge_boxes_print_no_numpy_warning(fx):
    """RuntimeWarnings with source lines before: NaN scores, 1e308 boxes."""
    recs = [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 12], "score": 0.9},
            {"image_id": 1, "category_id": 1, "bbox": [1e308, 1e308, 1e308, 1e308],
             "score": 0.5},
            {"image_id": 2, "category_id": 2, "bbox": [3, 4, 8, 9], "score": float("nan")}]
    run(fx, "results", json.dumps(recs).encode())  # warnings are errors in run()
    obj = coco_obj()
    obj["annotations"][0]["bbox"] = [1e308, 2, 1e308, 3]
    run(fx, "coco", json.dumps(obj).encode())
    run(fx, "yolo_txt", b"0 1e308 0.5 1e308 0.2\n0 nan 0.5 0.2 0.2\n")
    run(fx, "yolo_preds", b"0 0.5 0.5 0.2 0.4 nan\n0 0.5 0.5 0.2 0.4 0.5\n")


def test_cli_prints_one_line_not_a_traceback(fx, capsys):
    obj = coco_obj()
    obj["images"][0]["id"] = 2**63
    p = fx.path_for("coco")
    p.write_text(json.dumps(obj))
    assert main(["eval", "--gt", str(p), "--images", str(fx.root / "images"), "--out", "-"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "OverflowError" not in err
    assert f"{p}: image #0" in err


# ---------------------------------------------------------------------- hypothesis
json_leaf = (st.none() | st.booleans() | st.integers() | st.floats()
             | st.sampled_from(ADVERSARIAL) | st.text(max_size=20))
json_value = st.recursive(json_leaf, lambda c: st.lists(c, max_size=4)
                          | st.dictionaries(st.text(max_size=8), c, max_size=4), max_leaves=12)
num = (st.integers() | st.floats() | st.sampled_from([2**63, 10**400, 1e308, -1, 0, 3.0])
       | json_value)


def _dumps(obj) -> bytes:
    return json.dumps(obj).encode("utf-8", "surrogatepass")


@HSET
@given(images=st.lists(st.fixed_dictionaries({"id": num, "file_name": json_value | st.sampled_from(
    ["a.jpg", "../../etc/x.jpg", "/abs.jpg", "C:x.jpg"]), "width": num, "height": num}),
    max_size=3),
    anns=st.lists(st.fixed_dictionaries({"id": num, "image_id": num, "category_id": num,
                                         "bbox": st.lists(num, min_size=0, max_size=5)
                                         | json_value, "area": num, "iscrowd": num}),
                  max_size=4),
    cats=st.lists(st.fixed_dictionaries({"id": num, "name": json_value}), max_size=3))
def test_property_coco_ground_truth(fx, images, anns, cats):
    run(fx, "coco", _dumps({"images": images, "annotations": anns, "categories": cats}))


@HSET
@given(recs=st.lists(st.fixed_dictionaries({"image_id": num, "category_id": num,
                                            "bbox": st.lists(num, max_size=5) | json_value,
                                            "score": num}), min_size=1, max_size=5))
def test_property_coco_results(fx, recs):
    run(fx, "results", _dumps(recs))


token = st.sampled_from(ADVERSARIAL + ["0", "1", "0.5", "0.25", "2", "0.9", "-0.5", "1.5"])
lines = st.lists(st.lists(token, min_size=0, max_size=8).map(" ".join), max_size=5)


@HSET
@given(text=lines)
def test_property_yolo_labels(fx, text):
    run(fx, "yolo_txt", "\n".join(text).encode("utf-8", "surrogatepass"))


@HSET
@given(text=lines)
def test_property_yolo_predictions(fx, text):
    run(fx, "yolo_preds", "\n".join(text).encode("utf-8", "surrogatepass"))


@HSET
@given(names=st.dictionaries(st.sampled_from(["0", "1", "09", "01", "-1", "1e19", "x", "2"]),
                             json_value, max_size=4) | st.lists(json_value, max_size=3)
       | json_value,
       train=json_value | st.sampled_from(["images/train", "../../..", "/", ".", "x.txt"]),
       path=json_value | st.sampled_from([".", "/", "..", "~", "../x"]))
def test_property_data_yaml(fx, names, train, path):
    import yaml

    try:
        text = yaml.safe_dump({"path": path, "train": train, "val": "images/val", "names": names})
    except (yaml.YAMLError, ValueError):
        return
    run(fx, "data_yaml", text.encode("utf-8", "surrogatepass"))


xml_text = st.sampled_from(ADVERSARIAL) | st.text(alphabet=st.characters(
    blacklist_categories=("Cs",), blacklist_characters="<&"), max_size=12)


@HSET
@given(fn=xml_text, w=xml_text, h=xml_text, name=xml_text, diff=xml_text,
       box=st.lists(xml_text, min_size=4, max_size=4))
def test_property_voc(fx, fn, w, h, name, diff, box):
    xml = (f"<annotation><filename>{fn}</filename><size><width>{w}</width><height>{h}"
           f"</height></size><object><name>{name}</name><difficult>{diff}</difficult><bndbox>"
           f"<xmin>{box[0]}</xmin><ymin>{box[1]}</ymin><xmax>{box[2]}</xmax>"
           f"<ymax>{box[3]}</ymax></bndbox></object></annotation>")
    run(fx, "voc", xml.encode("utf-8", "surrogatepass"))


attr = st.sampled_from(ADVERSARIAL) | st.text(alphabet=st.characters(
    blacklist_categories=("Cs",), blacklist_characters='<&"'), max_size=10)


@HSET
@given(iid=attr, name=attr, w=attr, h=attr, box=st.lists(attr, min_size=4, max_size=4),
       label=attr)
def test_property_cvat(fx, iid, name, w, h, box, label):
    xml = (f'<annotations><image id="{iid}" name="{name}" width="{w}" height="{h}">'
           f'<box label="{label}" xtl="{box[0]}" ytl="{box[1]}" xbr="{box[2]}" ybr="{box[3]}"/>'
           "</image></annotations>")
    run(fx, "cvat", xml.encode("utf-8", "surrogatepass"))


@HSET
@given(path=json_value | st.sampled_from(["a.jpg", "../../../x/evil.jpg", "/etc/x.jpg"]),
       w=num, h=num,
       shapes=st.lists(st.fixed_dictionaries({
           "label": json_value, "points": st.lists(st.lists(num, max_size=3), max_size=3)
           | json_value, "shape_type": st.sampled_from(["rectangle", "polygon", 7]),
           "score": num}), max_size=3))
def test_property_labelme(fx, path, w, h, shapes):
    run(fx, "labelme", _dumps({"imagePath": path, "imageWidth": w, "imageHeight": h,
                               "shapes": shapes}))


cell = st.sampled_from(ADVERSARIAL + ["a.jpg", "b.jpg", "cat", "1", "2.5", ""]) | st.text(
    max_size=8)


@HSET
@given(rows=st.lists(st.lists(cell, min_size=6, max_size=10), max_size=4))
def test_property_csv(fx, rows):
    import csv
    import io

    buf = io.StringIO()
    wr = csv.writer(buf)
    wr.writerow(["file_name", "x1", "y1", "x2", "y2", "label", "score", "width", "height"])
    for r in rows:
        wr.writerow(r)
    data = buf.getvalue().encode("utf-8", "surrogatepass")
    run(fx, "csv", data)
    run(fx, "csv_preds", data)


@HSET
@given(rows=st.lists(st.lists(cell, min_size=1, max_size=3), max_size=4))
def test_property_loss_csv(fx, rows):
    text = "file_name,loss,other\n" + "\n".join(",".join(r) for r in rows)
    run(fx, "loss", text.encode("utf-8", "surrogatepass"))


# ---------------------------------------------------------------------- mutation fuzz
def _seeds(fx: Fixture, realdata_root: Path | None) -> list[tuple[str, bytes]]:
    seeds = [(k, fx.seed(k)) for k in KINDS]
    demo = Path(__file__).resolve().parents[2] / "resources" / "demo"
    if (demo / "labels").is_dir():
        for f in sorted((demo / "labels").glob("*.txt"))[:3]:
            seeds.append(("yolo_txt", f.read_bytes()))
        seeds.append(("data_yaml", (demo / "data.yaml").read_bytes().replace(
            b"train:", b"train: images/train\nold_train:")))
    if realdata_root is not None:
        v = realdata_root / "voc100_review_odm"
        for f in sorted((v / "gts" / "pascalvoc_format").glob("*.xml"))[:3]:
            seeds.append(("voc", f.read_bytes()))
        cv = v / "gts" / "cvat_format" / "annotations.xml"
        if cv.is_file():
            seeds.append(("cvat", cv.read_bytes()[:20000]))
        coco = v / "gts" / "coco_format_v1" / "instances_default.json"
        if coco.is_file():
            obj = json.loads(coco.read_text())
            obj["images"] = [dict(i, file_name="a.jpg") for i in obj["images"][:2]]
            obj["annotations"] = obj["annotations"][:6]
            seeds.append(("coco", json.dumps(obj).encode()))
    return seeds


@pytest.mark.parametrize("seed", [1, 2])
def test_mutation_fuzz_real_and_self_made_files(fx, seed, request):
    """A few seconds of random mutations of real and self-made files of every format."""
    from tests.conftest import REALDATA

    seeds = _seeds(fx, REALDATA if REALDATA.is_dir() else None)
    rng = random.Random(seed)
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 3.0:
        kind, data = seeds[n % len(seeds)]
        n += 1
        run(fx, kind, mutate(data, rng), f"{kind} mutation #{n} (seed {seed})")
    assert n > 50


# ---------------------------------------------------------------------- a user's view
def test_error_names_file_and_record_in_every_format(tmp_path):
    make_images(tmp_path / "im", {"a.jpg": (20, 20)})
    bad = tmp_path / "bad.csv"
    bad.write_text("file_name,x1,y1,x2,y2,label\na.jpg,1,2,x,4,cat\n")
    with pytest.raises(InputError) as ei:
        load_dataset(tmp_path / "im", bad)
    assert str(ei.value).startswith(f"{bad}: line 2:")
