"""``detview convert`` between every pair of formats on the real VOC set."""

from __future__ import annotations

import itertools

import pytest

from detview.cli.main import main
from detview.io import load_dataset
from tests.io.helpers import boxes_by_file, make_images

FORMATS = ("coco", "yolo", "voc", "labelme", "cvat", "csv")


def _out(tmp, fmt, tag):
    return tmp / f"{tag}_{fmt}" / {"coco": "instances.json", "cvat": "annotations.xml",
                                   "csv": "gt.csv"}.get(fmt, "")


def _gt_path(out, fmt):
    return {"yolo": out / "labels", "voc": out / "Annotations"}.get(fmt, out)


@pytest.fixture(scope="module")
def voc100_sources(tmp_path_factory):
    from tests.conftest import REALDATA

    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is absent")
    v = REALDATA / "voc100_review_odm"
    tmp = tmp_path_factory.mktemp("conv")
    src = {}
    for fmt in FORMATS:  # one file set per format, from the COCO v1 ground truth
        out = _out(tmp, fmt, "src")
        assert main(["convert", "--to", fmt, "--gt", str(v / "gts/coco_format_v1/"
                     "instances_default.json"), "--images", str(v / "images"),
                     "--out", str(out), "--quiet"]) == 0
        src[fmt] = _gt_path(out, fmt)
    ref = boxes_by_file(load_dataset(v / "images", v / "gts/coco_format_v1/"
                                     "instances_default.json").dataset)
    return v, tmp, src, ref


@pytest.mark.parametrize("a,b", list(itertools.product(FORMATS, FORMATS)))
def test_convert_every_pair_same_boxes(voc100_sources, a, b):
    v, tmp, src, ref = voc100_sources
    out = _out(tmp, b, f"from_{a}")
    rc = main(["convert", "--from", a, "--to", b, "--gt", str(src[a]), "--images",
               str(v / "images"), "--out", str(out), "--quiet"])
    assert rc == 0
    ds = load_dataset(v / "images", _gt_path(out, b), gt_format=b).dataset
    assert len(ds.images) == 100 and len(ds.gt) == 273
    dec = 0 if "yolo" in (a, b) else None
    assert boxes_by_file(ds, decimals=dec) == ref


def test_convert_voc_zero_based_flag(tmp_path, realdata):
    v = realdata / "voc100_review_odm"
    out = tmp_path / "c.json"
    assert main(["convert", "--from", "voc", "--to", "coco",
                 "--gt", str(v / "gts/pascalvoc_format"), "--images", str(v / "images"),
                 "--out", str(out), "--voc-zero-based", "--quiet"]) == 0
    ref = boxes_by_file(load_dataset(v / "images", v / "gts/coco_format_v1/"
                                     "instances_default.json").dataset)
    assert boxes_by_file(load_dataset(v / "images", out).dataset) == ref


def test_convert_bad_input_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"images": [}')
    make_images(tmp_path / "im", {"a.jpg": (4, 4)})
    rc = main(["convert", "--to", "yolo", "--gt", str(bad), "--out", str(tmp_path / "o")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "bad.json: line 1, column 13: malformed JSON" in err
