"""Per-image AP / TIDE / confusion columns, per-box error labels, PR curves, live COCO."""

from __future__ import annotations

import numpy as np
import pytest

from detview.core.analysis import LiveCOCO, error_analysis, pr_curves, present_classes
from detview.core.cocoeval import COCOEvaluator, evaluate, evaluate_run
from detview.core.dataset import Dataset
from detview.core.edits import DeleteBoxes, DeleteImages, MoveBoxes, RelabelBoxes
from detview.core.image_columns import (
    ERROR_COLUMNS,
    IMAGE_COLUMNS,
    ErrorLabels,
    above_threshold,
    image_columns,
)
from detview.core.tables import Boxes, Classes, Images
from detview.core.tide import confusion_matrix, tide_errors

from ._coco_helpers import synthetic_coco, tables_from_coco

NAMES = ["cat", "dog", "car"]


def hand_dataset() -> Dataset:
    """Hand-checked case (score threshold 0.5, IoU threshold 0.5).

    image 0: GT A cat [0,0,10,10], B dog [20,20,30,30], C car [50,50,60,60]
      p0 cat on A 0.9        -> TP
      p1 cat on A 0.85       -> Dupe (A already taken by p0)
      p2 cat on B 0.8        -> Cls (a dog), B is "FN·Cls"
      p3 car [50,50,60,54]   -> Loc, IoU 0.40 with C, C is "FN·Loc"
      p4 dog far away 0.6    -> Bkg
      p5 cat on A 0.3        -> under the threshold: not evaluated
    image 1: GT D dog, no prediction -> Miss
    image 2: no GT; p6 cat 0.9 -> Bkg
    """
    images = Images(np.arange(3), ["a.jpg", "b.jpg", "c.jpg"], [100] * 3, [100] * 3)
    gt = Boxes.build(3, image=[0, 0, 0, 1], cls=[0, 1, 2, 1],
                     xyxy=[[0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60], [0, 0, 10, 10]],
                     box_id=[10, 11, 12, 13])
    run = Boxes.build(
        3, image=[0, 0, 0, 0, 0, 0, 2], cls=[0, 0, 0, 2, 1, 0, 0],
        xyxy=[[0, 0, 10, 10], [0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 54],
              [80, 80, 90, 90], [0, 0, 10, 10], [0, 0, 5, 5]],
        score=[0.9, 0.85, 0.8, 0.7, 0.6, 0.3, 0.9], box_id=list(range(100, 107)))
    return Dataset(images, Classes.from_names(NAMES), gt, {"m": run})


def test_hand_case_columns() -> None:
    ds = hand_dataset()
    df = image_columns(ds, "m", score_threshold=0.5, iou_threshold=0.5)
    assert list(df.columns) == [*IMAGE_COLUMNS, "confusion"]
    assert df.loc[0, ERROR_COLUMNS].tolist() == [1, 1, 0, 1, 1, 0]
    assert df.loc[1, ERROR_COLUMNS].tolist() == [0, 0, 0, 0, 0, 1]
    assert df.loc[2, ERROR_COLUMNS].tolist() == [0, 0, 0, 0, 1, 0]
    # image 0: cat AP 1 (p0 first, perfect), dog 0 (only a far box), car 0 (IoU 0.4)
    assert df.loc[0, "ap"] == pytest.approx(1 / 3)
    assert df.loc[0, "ap50"] == pytest.approx(1 / 3)
    assert df.loc[1, "ap"] == 0.0
    assert np.isnan(df.loc[2, "ap"])  # no ground truth
    # class-agnostic matching: p2 (cat) takes dog B
    assert df["confusion"].tolist() == ["dog→cat", "", ""]


def test_hand_case_confusion_and_labels() -> None:
    ds = hand_dataset()
    ea = error_analysis(ds.gt, ds.runs["m"], 3, np.ones(3, bool), NAMES, "m",
                        all_predictions=False, score_threshold=0.5)
    m = ea.confusion
    assert m[0, 0] == 1 and m[1, 0] == 1  # cat→cat, dog→cat
    assert m[2, 3] == 1 and m[1, 3] == 1  # car C missed, dog D missed
    assert m[3, 0] == 2 and m[3, 2] == 1 and m[3, 1] == 1  # p1, p6; p3; p4
    assert m.sum() == 8
    assert (m == confusion_matrix(ds.gt, ds.runs["m"], 3, score_thresh=0.5)).all()
    assert present_classes(m).tolist() == [0, 1, 2]
    lab = ea.labels
    tags = [lab.pred_tag(r) for r in range(7)]
    assert tags == ["", "FP·Dupe", "FP·Cls(dog)", "FP·Loc 0.40", "FP·Bkg", "", "FP·Bkg"]
    assert "dog" in lab.pred_help(2) and "0.40" in lab.pred_help(3)
    assert [lab.gt_tag(b) for b in (10, 11, 12, 13)] == ["", "FN·Cls", "FN·Loc", "FN·Miss"]
    t = ea.error_table()
    assert t["count"].to_dict() == {"Cls": 1, "Loc": 1, "Both": 0, "Dupe": 1, "Bkg": 2,
                                    "Miss": 1}


@pytest.mark.parametrize("seed", [0, 5])
def test_per_image_tide_counts_sum_to_dataset_counts(seed: int) -> None:
    gt, dets = synthetic_coco(seed)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    mask = np.ones(g.n_images, bool)
    mask[3] = False
    for thr in (0.0, 0.4):
        kept = above_threshold(d, thr)
        tide = tide_errors(g, kept, k, mask)
        ea = error_analysis(g, d, k, mask, [str(i) for i in range(k)], "r",
                            all_predictions=False, score_threshold=thr)
        for col, name in zip(ERROR_COLUMNS, ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss"),
                             strict=True):
            assert int(ea.images[col].sum()) == tide.counts[name], (col, thr)
            assert ea.images[col].iloc[3] == 0
        assert ea.tide_kept.counts == tide.counts
        # per-image confusion text counts = off-diagonal class cells of the matrix
        m = ea.confusion
        off = m[:k, :k].sum() - np.trace(m[:k, :k])
        n_txt = sum(int(p.split("×")[1]) if "×" in p else 1
                    for s in ea.images["confusion"] if s for p in s.split("; "))
        assert n_txt == off


def test_threshold_mode_equals_evaluating_the_kept_predictions() -> None:
    gt, dets = synthetic_coco(2)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    keep = d.score >= 0.5
    sub = d.select(keep)
    r_sub = evaluate(g, sub, k, image_ids=ids)
    live = LiveCOCO(g, d, k, np.ones(g.n_images, bool), ids, [str(i) for i in range(k)],
                    all_predictions=False, score_threshold=0.5)
    assert np.array_equal(live.result().stats, r_sub.stats)
    assert not np.array_equal(r_sub.stats, evaluate(g, d, k, image_ids=ids).stats)


def test_pr_curves_average_to_the_ap_numbers() -> None:
    gt, dets = synthetic_coco(1)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    r = evaluate(g, d, k, image_ids=ids)
    c = pr_curves(r)
    assert c["recall"].shape == (101,)
    assert np.nanmean(c["0.50"]) == pytest.approx(r.AP50, abs=1e-12)
    assert np.nanmean(c["0.75"]) == pytest.approx(r.AP75, abs=1e-12)
    assert np.nanmean(c["0.50:0.95"]) == pytest.approx(r.AP, abs=1e-12)
    one = pr_curves(r, cls=0)
    assert np.mean(one["0.50"]) == pytest.approx(r.per_class.loc[0, "AP50"], abs=1e-12)
    assert np.isnan(pr_curves(r, cls=k - 1)["0.50"]).all()  # the class with no GT


def test_live_coco_follows_edits_and_attach_catches_up() -> None:
    gt, dets = synthetic_coco(4)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    images = Images(ids, [f"{i}.jpg" for i in ids], [640] * len(ids), [480] * len(ids))
    ds = Dataset(images, Classes.from_names([str(i) for i in range(k)]), g, {"r": d})
    for all_preds in (True, False):
        copy_gt = ds.gt.copy()
        revisions = ds.image_revisions.copy()
        live = LiveCOCO(copy_gt, d, k, ~ds.images.deleted, ids, ds.classes.names,
                        all_predictions=all_preds, score_threshold=0.5)
        # edits while the evaluator was built on the copy
        rows = np.flatnonzero(ds.gt.alive & ~ds.gt.iscrowd)
        b = int(ds.gt.box_id[rows[0]])
        ds.apply(DeleteBoxes((b,), (int(ds.gt.image[rows[0]]),)))
        live.attach(ds, revisions)
        r2 = int(rows[5])
        old = tuple(ds.gt.xyxy[r2])
        touched = ds.apply(MoveBoxes((int(ds.gt.box_id[r2]),), (int(ds.gt.image[r2]),),
                                     (old,), ((old[0] + 4, old[1], old[2] + 4, old[3]),)))
        live.update(ds, touched)
        r3 = int(rows[9])
        touched = ds.apply(RelabelBoxes((int(ds.gt.box_id[r3]),), (int(ds.gt.image[r3]),),
                                        (int(ds.gt.cls[r3]),), ((int(ds.gt.cls[r3]) + 1) % k,)))
        live.update(ds, touched)
        touched = ds.apply(DeleteImages((7,)))
        res = live.update(ds, touched)
        src = d if all_preds else above_threshold(d, 0.5)
        fresh = COCOEvaluator(ds.gt, src, k, ~ds.images.deleted, image_ids=ids)
        assert np.array_equal(res.stats, fresh.result().stats)
        want = fresh.per_image_ap()
        assert np.allclose(live.per_image_ap()["AP"].to_numpy(), want["AP"].to_numpy(),
                           equal_nan=True)
        assert np.allclose(live.ap, want["AP"].to_numpy(), equal_nan=True)
        assert np.allclose(live.ap50, want["AP50"].to_numpy(), equal_nan=True)
        if all_preds:
            assert np.array_equal(res.stats, evaluate_run(ds, "r").stats)


def test_error_labels_survive_row_shifts_by_box_id() -> None:
    from detview.core.edits import AddBoxes, RemoveBoxes

    ds = hand_dataset()
    tide = tide_errors(ds.gt, above_threshold(ds.runs["m"], 0.5), 3)
    lab = ErrorLabels.from_tide(tide, ds.gt, ds.runs["m"], NAMES)
    before = ds.gt.rows_of([11, 12, 13]).tolist()
    # two boxes added on image 0, one removed again: every later row moves
    new = ds.new_box_ids(2)
    ds.apply(AddBoxes(new, (0, 0), (0, 1), ((1.0, 1.0, 5.0, 5.0), (2.0, 2.0, 6.0, 6.0))))
    ds.apply(RemoveBoxes(new[:1], (0,), (0,), ((1.0, 1.0, 5.0, 5.0),)))
    after = ds.gt.rows_of([11, 12, 13]).tolist()
    assert after != before and ds.gt.rows_of([13]).tolist() == [4]
    # the labels follow the boxes, not the rows
    assert [lab.gt_tag(b) for b in (10, 11, 12, 13)] == ["", "FN·Cls", "FN·Loc", "FN·Miss"]
    assert lab.gt_tag(new[1]) == "" and lab.gt_tag(999) == ""
    assert lab.gt_help(13).startswith("Missed")
    assert lab.gt_help(12).startswith("Found by a prediction of the right class")


def test_per_image_metrics_carry_extra_columns() -> None:
    from detview.core.metrics import PerImageMetrics

    ds = hand_dataset()
    pim = PerImageMetrics(ds, "m")
    df = image_columns(ds, "m")
    assert not pim.has_column("ap")
    pim.set_columns({c: df[c].to_numpy() for c in IMAGE_COLUMNS})
    assert pim.has_column("err_loc") and pim.column("err_loc").tolist() == [1, 0, 0]
    with pytest.raises(ValueError):
        pim.set_columns({"ap": np.zeros(2)})
    with pytest.raises(KeyError):
        pim.column("nope")


def test_most_confused_classes() -> None:
    from detview.core.analysis import most_confused_classes

    m = np.zeros((5, 5), dtype=np.int64)  # 4 classes + background
    m[0, 0] = 50  # class 0: all right
    m[1, 2] = 3  # 1 taken for 2
    m[3, 4] = 5  # 3 missed 5 times
    assert most_confused_classes(m, 2).tolist() == [1, 2]  # class confusions first
    assert most_confused_classes(m, 3).tolist() == [1, 2, 3]
    assert most_confused_classes(m, 10).tolist() == [0, 1, 2, 3]


def test_error_labels_look_up_predictions_by_box_id() -> None:
    ds = hand_dataset()
    tide = tide_errors(ds.gt, above_threshold(ds.runs["m"], 0.5), 3)
    lab = ErrorLabels.from_tide(tide, ds.gt, ds.runs["m"], NAMES)
    rows = lab.pred_rows([103, 102, 999])
    assert rows.tolist() == [3, 2, -1]
    assert [lab.pred_tag(int(r)) for r in rows] == ["FP·Loc 0.40", "FP·Cls(dog)", ""]
    assert lab.pred_help(-1) == ""


@pytest.mark.parametrize("seed", [0, 7])
def test_per_image_ap_of_a_subset_equals_the_full_computation(seed: int) -> None:
    gt, dets = synthetic_coco(seed)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    mask = np.ones(g.n_images, bool)
    mask[5] = False
    ev = COCOEvaluator(g, d, k, mask, image_ids=ids)
    full = ev.per_image_ap()
    sub = [0, 3, 5, 11, 12, 40, g.n_images - 1]
    part = ev.per_image_ap(images=sub)
    for c in ("AP", "AP50", "n_gt", "n_det"):
        assert np.allclose(part[c].to_numpy()[sub], full[c].to_numpy()[sub], equal_nan=True), c
    others = np.setdiff1d(np.arange(g.n_images), sub)
    assert np.isnan(part["AP"].to_numpy()[others]).all()
    assert ev.per_image_ap(images=[]).shape[0] == g.n_images


def _tidecv_counts(gt: dict, dets: list[dict], pos: float) -> dict[str, int]:
    """Error counts of the tidecv package at foreground IoU ``pos``."""
    from tidecv import TIDE, Data
    from tidecv.errors.main_errors import (
        BackgroundError,
        BoxError,
        ClassError,
        DuplicateError,
        MissedError,
        OtherError,
    )

    names = {ClassError: "Cls", BoxError: "Loc", OtherError: "Both", DuplicateError: "Dupe",
             BackgroundError: "Bkg", MissedError: "Miss"}  # fmt: skip
    g, p = Data("gt"), Data("pred")
    for im in gt["images"]:
        g.add_image(im["id"], str(im["id"]))
    for a in gt["annotations"]:
        if a.get("iscrowd", 0):
            g.add_ignore_region(a["image_id"], a["category_id"], a["bbox"])
        else:
            g.add_ground_truth(a["image_id"], a["category_id"], a["bbox"])
    for d in dets:
        p.add_detection(d["image_id"], d["category_id"], d["score"], d["bbox"])
    run = TIDE(pos_threshold=pos).evaluate(g, p, mode=TIDE.BOX)
    return {names[k]: v for k, v in run.count_errors().items()}


@pytest.mark.parametrize("iou", [0.05, 0.3, 0.75, 0.95])
def test_error_analysis_at_any_iou_threshold(iou: float) -> None:
    """TIDE types at the chosen IoU threshold, against tidecv at that threshold: all
    predictions (the panel's table) and those >= the score threshold (the columns)."""
    pytest.importorskip("tidecv")
    gt, dets = synthetic_coco(6)
    g, d, k, ids, cat_ids = tables_from_coco(gt, dets)
    ea = error_analysis(g, d, k, np.ones(g.n_images, bool), [str(i) for i in range(k)], "r",
                        all_predictions=True, score_threshold=0.3, iou_threshold=iou)
    known = set(cat_ids)
    dets = [x for x in dets if x["category_id"] in known]
    assert ea.tide.counts == _tidecv_counts(gt, dets, iou)
    kept = [x for x in dets if x["score"] >= 0.3]
    want = _tidecv_counts(gt, kept, iou)
    assert ea.tide_kept.counts == want
    for col, name in zip(ERROR_COLUMNS, ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss"),
                         strict=True):
        assert int(ea.images[col].sum()) == want[name], col
    assert ea.confusion.sum() > 0
