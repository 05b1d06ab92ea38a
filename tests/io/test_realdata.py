"""Real public data (../shared/realdata): every format of one dataset agrees."""

from __future__ import annotations

import numpy as np
import pytest

from detview.io import load_dataset, write_dataset

from .helpers import boxes_by_file

VOC_GTS = [
    ("gts/coco_format_v1/instances_default.json", None, {}),
    ("gts/coco_format_v2/instances_v2.json", None, {}),
    ("gts/cvat_format/annotations.xml", None, {}),
    ("gts/yolo_format/obj_train_data", None, {}),
    # these VOC files hold 0-based values (CVAT/Datumaro export), see detview.io.formats.voc
    ("gts/pascalvoc_format", "voc", {"voc_one_based": False}),
    ("gts/imagenet_format/Annotations", "voc", {"voc_one_based": False}),
]


@pytest.fixture
def voc100(realdata):
    return realdata / "voc100_review_odm"


@pytest.mark.parametrize("gt,fmt,opts", VOC_GTS)
def test_voc100_every_format_same_boxes(voc100, gt, fmt, opts):
    ref = load_dataset(voc100 / "images", voc100 / VOC_GTS[0][0]).dataset
    r = load_dataset(voc100 / "images", voc100 / gt, gt_format=fmt, options=opts)
    ds = r.dataset
    assert len(ds.images) == 100 and len(ds.gt) == 273
    assert not [p for p in r.problems if "outside" in p.message]
    dec = 0 if "yolo" in gt else None  # YOLO: 6 decimals; rounded pixels are exact
    assert boxes_by_file(ds, decimals=dec) == boxes_by_file(ref)


def test_voc100_default_voc_convention_is_one_based(voc100):
    ref = load_dataset(voc100 / "images", voc100 / VOC_GTS[0][0]).dataset
    ds = load_dataset(voc100 / "images", voc100 / "gts/pascalvoc_format").dataset
    assert sum(int(e.get("difficult", 0)) for e in ds.gt.extras.values()) == 38
    a, b = boxes_by_file(ds), boxes_by_file(ref)
    for k in b:
        for ra, rb in zip(a[k], b[k], strict=True):
            assert ra[0] == rb[0]
            np.testing.assert_array_equal(np.array(ra[1:]) + [1, 1, 0, 0], rb[1:])


def test_voc100_predictions_every_layout(voc100):
    preds = [(None, voc100 / "dets/coco_format/coco_dets.json")]
    r = load_dataset(voc100 / "images", voc100 / VOC_GTS[1][0], preds)
    assert len(r.dataset.runs["coco_dets"]) == 452
    assert "classes matched by names" in r.summary
    ref = boxes_by_file(r.dataset, "coco_dets", decimals=2)
    for folder, cols in [("rel_xywh", "cls conf cx cy w h"), ("abs_xywh", "cls conf x y w h"),
                         ("abs_xyx2y2", "cls conf x1 y1 x2 y2")]:
        opts = {"yolo_pred_columns": cols, "yolo_normalized": folder.startswith("rel")}
        rr = load_dataset(voc100 / "images", voc100 / VOC_GTS[1][0], [("r", voc100 / "dets" /
                                                                     folder)], options=opts)
        run = rr.dataset.runs["r"]
        assert len(run) == 452, folder
        assert "classes matched by names" in rr.summary  # through ../../voc.names
        got = boxes_by_file(rr.dataset, "r", decimals=0)
        want = {k: [(c, *np.round(v).tolist()) for c, *v in rows] for k, rows in ref.items()}
        assert got == want, folder


def test_coco128_yolo_with_predictions(realdata):
    r = load_dataset(None, realdata / "coco128",
                     [(None, realdata / "coco128_yolov5s_predictions/yolov5s_predictions.json")])
    ds = r.dataset
    assert len(ds.images) == 128 and len(ds.gt) == 929
    assert int((np.diff(ds.gt.offsets) == 0).sum()) == 2
    assert len(ds.classes) == 80 and len(np.unique(ds.gt.cls)) == 71
    run = ds.runs["yolov5s_predictions"]
    assert len(run) == 22284
    assert "int(file stem)" in r.summary and "classes matched by ids" in r.summary
    assert run.score.min() == pytest.approx(0.001) and run.score.max() == pytest.approx(0.962)


def test_coco128_yolo_round_trip(realdata, tmp_path):
    ds = load_dataset(None, realdata / "coco128").dataset
    write_dataset(ds, tmp_path / "out")
    src = realdata / "coco128" / "labels" / "train2017"
    for f in sorted(src.glob("*.txt"))[:40]:
        want = [[float(v) for v in ln.split()] for ln in f.read_text().split("\n") if ln.strip()]
        got = [[float(v) for v in ln.split()] for ln in
               (tmp_path / "out" / "labels" / "train2017" / f.name).read_text().split("\n")
               if ln.strip()]
        assert got == want, f.name


def test_coco_gt_with_yolo_index_predictions(realdata, tmp_path):
    """COCO GT (sparse ids) written from coco128 beside 0-based YOLO predictions."""
    ds = load_dataset(None, realdata / "coco128").dataset
    coco91 = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23,
              24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47,
              48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70,
              72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90]
    from detview.core.tables import Classes

    ds.classes = Classes.from_names(ds.classes.names, coco91)
    gt = write_dataset(ds, tmp_path / "instances.json", "coco")[0]
    r = load_dataset(realdata / "coco128" / "images" / "train2017", gt,
                     [(None, realdata / "coco128_yolov5s_predictions/yolov5s_predictions.json")])
    assert "classes matched by index" in r.summary
    assert len(r.dataset.runs["yolov5s_predictions"]) == 22284
