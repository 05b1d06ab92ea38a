"""Derived numbers kept by the session, checked against pycocotools and tidecv on the
edited data, and their keys: (run, parameters, revision)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from detview.core.dataset import Dataset
from detview.core.metrics import MetricParams, PerImageMetrics
from detview.core.tables import Classes, Images
from detview.session import Session
from tests.core._coco_helpers import STATS, pycocotools_eval, synthetic_coco, tables_from_coco

from ._data import as_coco

pytest.importorskip("pycocotools")


def synthetic_session(seed: int = 3, n_images: int = 50) -> Session:
    gt, dets = synthetic_coco(seed, n_images=n_images)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    # a second run: the same predictions, scores shuffled
    rng = np.random.default_rng(seed)
    d2 = type(d).build(g.n_images, d.image, d.cls, d.xyxy, score=rng.permutation(d.score))
    images = Images(ids, [f"{i}.jpg" for i in ids], [640] * len(ids), [480] * len(ids))
    ds = Dataset(images, Classes.from_names([f"c{i}" for i in range(k)]), g,
                 {"a": d, "b": d2})
    return Session(ds)


def edit_a_lot(s: Session) -> None:
    gt = s.dataset.gt
    rows = np.flatnonzero(gt.alive & ~gt.iscrowd)
    ids = [int(b) for b in gt.box_id[rows[:12]]]
    s.delete_boxes(ids[:2])
    s.relabel_boxes([ids[2]], (int(gt.cls[gt.rows_of([ids[2]])[0]]) + 1) % 4)
    for _ in range(3):
        s.nudge_boxes([ids[3]], 7, 0)
    r = gt.rows_of([ids[4]])[0]
    s.move_boxes([ids[4]], gt.xyxy[r] * np.array([1, 1, 1.3, 1.2]))
    s.set_images_deleted([int(gt.image[rows[20]])], True)
    s.accept_predictions(int(gt.image[rows[30]]),
                         [int(b) for b in s.dataset.runs[s.run].box_id[:1]]
                         if s.dataset.runs[s.run].image[0] == gt.image[rows[30]] else [])
    s.undo()
    s.redo()


@pytest.mark.parametrize("all_predictions", [True, False])
def test_coco_numbers_follow_edits_like_pycocotools(all_predictions: bool) -> None:
    s = synthetic_session()
    s.set_all_predictions(all_predictions)
    s.derived.compute("coco")  # built before the edits, then kept current
    edit_a_lot(s)
    got = s.derived.get("coco").result().as_dict()
    want = pycocotools_eval(*as_coco(s.dataset, "a",
                                     None if all_predictions else s.params.score_threshold))
    for name, v in zip(STATS, (want["stats"][n] for n in STATS), strict=True):
        assert got[name] == pytest.approx(v, abs=1e-12), name


def test_error_types_follow_edits_like_tidecv() -> None:
    tide_mod = pytest.importorskip("tidecv")
    from tests.core.test_tide import _tidecv

    assert tide_mod is not None
    s = synthetic_session(5)
    s.set_params(MetricParams(0.3, 0.5))
    s.derived.want("errors")
    s.runner.wait_all(60)
    edit_a_lot(s)
    assert not s.derived.is_current("errors")  # stale after the edits
    s.derived.refresh()
    s.runner.wait_all(60)
    assert s.derived.is_current("errors")
    ea = s.errors()
    assert ea is not None
    gt, dets = as_coco(s.dataset, "a", 0.3)
    _ap, _dap, counts = _tidecv(gt, dets)
    assert ea.tide_kept.counts == counts
    # the per-image columns sum to the same counts; every FP of the viewer has a type
    for col, name in zip(("err_cls", "err_loc", "err_both", "err_dupe", "err_bkg", "err_miss"),
                         ("Cls", "Loc", "Both", "Dupe", "Bkg", "Miss"), strict=True):
        assert int(np.nansum(s.column(col))) == counts[name], col
    i = int(np.argmax(s.column("err_bkg")))
    v = s.image_view(i)
    assert any(t.startswith("FP·Bkg") for t in v.pred_tag)
    # a typed tag comes with its explanation (plain "FP": TIDE did not evaluate it)
    assert all(h for t, h in zip(v.pred_tag, v.pred_help, strict=True) if t not in ("", "FP"))


def test_metrics_follow_edits_and_thresholds() -> None:
    s = synthetic_session(7)
    edit_a_lot(s)
    for params in (MetricParams(0.5, 0.5), MetricParams(0.2, 0.7)):
        s.set_params(params)  # 50 images: at once, on this thread
        fresh = PerImageMetrics(s.dataset, s.run, params)
        for c in ("n_gt", "n_pred", "tp", "fp", "fn", "mean_iou"):
            np.testing.assert_array_equal(s.column(c), fresh.column(c), err_msg=c)
        assert s.current.params == params


def test_switching_back_reuses_the_kept_evaluator_caught_up_with_edits() -> None:
    s = synthetic_session(2)
    s.derived.want("coco")
    s.runner.wait_all(60)
    first = s.derived.get("coco")
    started: list[str] = []
    s.runner.subscribe(lambda e: started.append(e.task.slot) if e.what == "started" else None)
    s.set_run("b")
    s.runner.wait_all(60)
    assert started == ["recompute:coco"]
    edit_a_lot(s)  # edits while run "a"'s evaluator is parked
    s.set_run("a")
    assert started == ["recompute:coco"]  # no new work: the parked one came back
    assert s.derived.get("coco") is first
    got = first.result().as_dict()
    thr = s.params.score_threshold
    want = pycocotools_eval(*as_coco(s.dataset, "a", thr))["stats"]
    for name in STATS:
        assert got[name] == pytest.approx(want[name], abs=1e-12), name


def test_requests_while_one_runs_coalesce_into_one_rerun() -> None:
    s = synthetic_session(4)
    s.derived.want("errors")
    task = s.derived.request("errors")
    assert task is not None and not task.done
    s.delete_boxes([int(s.dataset.gt.box_id[0])])
    assert s.derived.request("errors") is task  # same key: no second thread
    s.runner.wait_all(60)
    assert s.derived.is_current("errors")  # the rerun brought it up to the edit


def test_columns_keep_showing_the_same_runs_numbers_while_recomputing() -> None:
    s = synthetic_session(6)
    s.derived.compute("errors")
    before = s.column("err_loc").copy()
    s.update_settings(params=MetricParams(0.4, 0.5))  # errors not wanted: not recomputed
    np.testing.assert_array_equal(s.column("err_loc"), before)
    s.set_run("b")
    assert np.isnan(s.column("err_loc")).all()  # another run: nothing to show yet
    assert s.errors() is None


def test_a_new_derived_value_is_one_producer() -> None:
    """How label-quality scores (or any per-image number) join the session: a producer
    with a key, work built from a snapshot, and columns; the session recomputes it when
    the data or its key changes and serves its columns like any other."""
    from collections.abc import Callable

    from detview.session import Producer
    from detview.session.derived import Key

    class BoxesPerImage(Producer[np.ndarray]):
        name = "boxes_per_image"
        columns = ("n_alive_gt",)

        def key(self, s: Session) -> Key | None:
            return (s.run,)

        def build(self, s: Session) -> Callable[[Any], np.ndarray]:
            gt = s.dataset.gt.copy()
            n = s.dataset.n_images
            return lambda progress: np.bincount(gt.image[gt.alive], minlength=n)

        def column(self, value: np.ndarray, name: str, s: Session) -> np.ndarray:
            return value.astype(np.float64)

    s = synthetic_session(1)
    s.derived.register(BoxesPerImage())
    assert np.isnan(s.column("n_alive_gt")).all()  # known, not computed yet
    stale: list[str] = []
    s.subscribe(lambda e: stale.append(e.name) if e.kind == "stale" else None)
    s.derived.want("boxes_per_image")
    s.runner.wait_all(30)
    gt = s.dataset.gt
    want = np.bincount(gt.image[gt.alive], minlength=s.dataset.n_images)
    np.testing.assert_array_equal(s.column("n_alive_gt"), want)
    r = int(np.flatnonzero(gt.alive)[0])
    s.delete_boxes([int(gt.box_id[r])])
    assert stale == ["boxes_per_image"]
    s.derived.refresh()
    s.runner.wait_all(30)
    want[int(gt.image[r])] -= 1
    np.testing.assert_array_equal(s.column("n_alive_gt"), want)


def test_a_column_read_without_flush_never_does_the_lazy_update() -> None:
    """``column(name, flush=False)`` (the status bar's read) is None while the live COCO
    numbers still owe edits, and never brings them up to date itself; a plain
    ``column`` does, and then gives the image's AP as pycocotools computes it alone."""
    s = synthetic_session()
    s.derived.compute("coco")
    assert s.derived.column("ap", flush=False) is not None  # nothing owed yet
    gt = s.dataset.gt
    row = int(np.flatnonzero(gt.alive & ~gt.iscrowd)[0])
    img = int(gt.image[row])
    s.delete_boxes([int(gt.box_id[row])])
    assert s.derived.column("ap", flush=False) is None
    assert s.derived.column("ap", flush=False) is None  # still owed: not done by reading
    ap = s.derived.column("ap")
    assert ap is not None and s.derived.column("ap", flush=False) is not None
    gt_d, dets = as_coco(s.dataset, "a", None)
    iid = int(s.dataset.images.ids[img])
    one = {**gt_d, "images": [im for im in gt_d["images"] if im["id"] == iid],
           "annotations": [a for a in gt_d["annotations"] if a["image_id"] == iid]}
    assert one["annotations"]  # the image still has ground truth: its AP is a number
    want = pycocotools_eval(one, [d for d in dets if d["image_id"] == iid])
    assert ap[img] == pytest.approx(want["stats"]["AP"], abs=1e-12)
