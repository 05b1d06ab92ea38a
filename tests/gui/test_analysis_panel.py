"""The analysis panel driven offscreen: numbers equal the engine's, follow edits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from detview.core.cocoeval import STAT_NAMES, evaluate, evaluate_run
from detview.core.dataset import Dataset
from detview.core.image_columns import above_threshold
from detview.core.tables import Classes, Images
from detview.gui.analysis_panel import AnalysisPanel, fmt_stat
from detview.gui.session import QtSession
from detview.session import Session
from tests.core._coco_helpers import synthetic_coco, tables_from_coco


def synthetic_dataset(seed: int = 3) -> Dataset:
    gt, dets = synthetic_coco(seed, n_images=40)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    images = Images(ids, [f"{i}.jpg" for i in ids], [640] * len(ids), [480] * len(ids))
    return Dataset(images, Classes.from_names([f"c{i}" for i in range(k)]), g, {"r": d})


def _panel(qtbot: Any, session: Session) -> AnalysisPanel:
    p = AnalysisPanel()
    qtbot.addWidget(p)
    p.resize(900, 400)
    p.show()
    p.set_session(QtSession(session, parent=p))
    qtbot.waitUntil(p.is_idle, timeout=30000)
    return p


def _threshold_stats(ds: Dataset, run: str, thr: float) -> dict[str, float]:
    return evaluate(ds.gt, above_threshold(ds.runs[run], thr), len(ds.classes),
                    ~ds.images.deleted, image_ids=ds.images.ids).as_dict()


def test_numbers_equal_the_engine_and_follow_the_mode_toggle(qtbot: Any) -> None:
    ds = synthetic_dataset()
    s = Session(ds, name="synthetic")
    p = _panel(qtbot, s)
    assert not p.all_predictions  # default: follow the score threshold
    thr = s.params.score_threshold
    shown = p.coco_values()
    assert list(shown) == list(STAT_NAMES)
    assert shown == _threshold_stats(ds, "r", thr)
    assert f"score ≥ {thr:.2f}" in p.title.text()
    for name in STAT_NAMES:  # text shown = the number, named and explained beside it
        r, c = p.stat_cell(name)
        assert p.coco.item(r, c - 1).text() == name
        assert p.coco.item(r, c).text() == fmt_stat(shown[name])
        assert len(p.coco.item(r, c + 1).text()) > 20
        assert name in p.coco.item(r, c).toolTip()
    r, c = p.stat_cell("APs")
    assert "-1 = no ground-truth objects of that size" in p.coco.item(r, c).toolTip()
    # one click: all predictions, as pycocotools prints them
    p.mode_all.click()
    qtbot.waitUntil(p.is_idle, timeout=30000)
    allv = p.coco_values()
    assert allv == evaluate_run(ds, "r").as_dict()
    assert allv != shown
    assert "all" in p.title.text()
    p.mode_thr.click()
    qtbot.waitUntil(p.is_idle, timeout=30000)
    assert p.coco_values() == shown


def test_numbers_update_after_an_edit_without_recompute(qtbot: Any) -> None:
    ds = synthetic_dataset(5)
    s = Session(ds, name="synthetic")
    p = _panel(qtbot, s)
    for mode_all in (False, True):
        p.set_all_predictions(mode_all)
        qtbot.waitUntil(p.is_idle, timeout=30000)
        before = p.coco_values()
        rows = np.flatnonzero(ds.gt.alive & ~ds.gt.iscrowd)
        r = int(rows[len(rows) // 2])
        assert s.delete_boxes([int(ds.gt.box_id[r])])
        # the 12 numbers follow (incremental, on the GUI thread, just after the edit)
        want = (evaluate_run(ds, "r").as_dict() if mode_all
                else _threshold_stats(ds, "r", s.params.score_threshold))
        assert want != before
        assert not s.derived.is_busy("coco")  # no re-computation in a worker
        qtbot.waitUntil(lambda w=want: p.coco_values() == w, timeout=2000)
        qtbot.waitUntil(p.is_idle, timeout=30000)
        s.undo()
        assert p.coco_values() == before
    s.history.mark_clean()


def test_error_breakdown_labels_and_columns(qtbot: Any, dataset: Dataset, tmp_path: Path) -> None:
    s = Session(dataset, image_root=tmp_path / "images", name="fixture")
    p = _panel(qtbot, s)
    assert p.errors is not None
    lab = p.errors.labels
    run = dataset.runs["model"]
    row = int(run.rows_of([103])[0])  # the cat predicted over car GT 3 (image 2)
    assert lab.pred_tag(row) == "FP·Cls(car)"
    assert lab.pred_tag(int(run.rows_of([101])[0])) == "FP·Bkg"  # dog far from anything
    assert lab.pred_tag(int(run.rows_of([100])[0])) == ""  # a true positive
    assert lab.gt_tag(1) == "FN·Miss"  # the dog nobody found (image 0)
    assert lab.gt_tag(3) == "FN·Cls"
    # the per-image columns are the session's, for the image list
    assert s.column("err_cls").tolist() == [0, 0, 1]
    assert s.column("err_bkg").tolist() == [1, 0, 0]
    assert s.column("err_miss").tolist() == [1, 0, 0]
    assert np.isfinite(s.column("ap")).all()
    assert p.confusion_text(2) == "car→cat"
    # error table: counts with explanations
    counts = {p.err_table.item(r, 0).text().split()[0]: int(p.err_table.item(r, 1).text())
              for r in range(p.err_table.rowCount())}
    assert counts == {"Cls": 1, "Loc": 0, "Both": 0, "Dupe": 0, "Bkg": 1, "Miss": 1}
    assert "wrong class" in p.err_table.item(0, 0).toolTip()
    # confusion matrix (drawn when its tab is shown): classes present + background
    p.tabs.setCurrentIndex(3)
    names = dataset.classes.names
    shown = [names[c] if c < len(names) else "bg" for c in p.cm_classes.tolist()]
    assert shown == ["cat", "dog", "person", "car", "bg"]
    assert p.confusion_cell_text(3, 0) == "1 car box(es) predicted as cat"
    s.history.mark_clean()


def test_class_click_and_pr_curves(qtbot: Any, dataset: Dataset, tmp_path: Path) -> None:
    s = Session(dataset, image_root=tmp_path / "images", name="fixture")
    p = _panel(qtbot, s)
    seen: list[int] = []
    p.classClicked.connect(seen.append)
    p.tabs.setCurrentIndex(1)
    names = [p.per_class.item(r, 0).text() for r in range(p.per_class.rowCount())]
    r = names.index("car")
    p._on_class_cell(r, 0)
    assert seen == [3]
    assert p.pr_class.currentText() == "car"
    items = p.pr_plot.getPlotItem().listDataItems()
    assert len(items) == 3 and all(len(it.xData) == 101 for it in items)


def test_no_run_shows_a_hint(qtbot: Any, dataset: Dataset, tmp_path: Path) -> None:
    dataset.runs.clear()
    s = Session(dataset, image_root=tmp_path / "images", name="gt only")
    p = _panel(qtbot, s)
    assert p.coco.rowCount() == 0 and "No prediction run" in p.status.text()


def test_image_list_gets_the_analysis_columns(qtbot: Any, dataset: Dataset,
                                              tmp_path: Path) -> None:
    from PySide6.QtCore import Qt

    from detview.gui.image_table import ImageTableModel

    s = Session(dataset, image_root=tmp_path / "images", name="fixture")
    qs = QtSession(s)
    model = ImageTableModel(qs)
    keys = [c.key for c in model.columns]
    for k in ("ap", "ap50", "err_cls", "err_loc", "err_both", "err_dupe", "err_bkg",
              "err_miss"):
        assert k in keys
    c_cls = keys.index("err_cls")
    assert model.data(model.index(0, c_cls)) == ""  # not computed yet: empty, no error
    model.sort(keys.index("ap"), Qt.SortOrder.AscendingOrder)  # sorting NaN is fine
    p = AnalysisPanel()
    qtbot.addWidget(p)
    p.set_session(qs)  # the panel wants the analysis; the model hears it arrive
    qtbot.waitUntil(p.is_idle, timeout=30000)
    model.cell_tip = lambda key, i: p.confusion_text(i) if key == "err_cls" else ""
    row2 = model.row_of(2)
    assert model.data(model.index(row2, c_cls)) == "1"
    assert model.data(model.index(row2, c_cls), Qt.ItemDataRole.ToolTipRole) == "car→cat"
    assert "wrong class" in model.headerData(c_cls, Qt.Orientation.Horizontal,
                                             Qt.ItemDataRole.ToolTipRole)
    model.sort(keys.index("err_miss"), Qt.SortOrder.DescendingOrder)
    assert model.image_at(0) == 0  # image 0 has the missed dog
    ap = s.column("ap")
    model.sort(keys.index("ap"), Qt.SortOrder.AscendingOrder)
    assert [model.image_at(r) for r in range(3)] == list(np.argsort(ap, kind="stable"))
    # class filter: images with a ground-truth car
    model.set_filter("class:car")
    assert [model.image_at(r) for r in range(model.rowCount())] == [2]
    model.set_filter("class:nothing")
    assert model.rowCount() == 0
    model.set_filter("")
    s.history.mark_clean()


def test_gt_only_session_has_no_analysis_columns(dataset: Dataset, tmp_path: Path) -> None:
    from detview.gui.image_table import ImageTableModel

    dataset.runs.clear()
    model = ImageTableModel(QtSession(Session(dataset, image_root=tmp_path / "images")))
    assert "ap" not in [c.key for c in model.columns]


def test_minus_one_is_shown_and_explained() -> None:
    assert fmt_stat(-1.0) == "-1 (none)"
    assert fmt_stat(0.4567) == "0.457"
    assert fmt_stat(float("nan")) == "–"


def test_switching_runs_keeps_evaluators_current(qtbot: Any, dataset: Dataset,
                                                 tmp_path: Path) -> None:
    s = Session(dataset, image_root=tmp_path / "images", name="fixture")
    p = _panel(qtbot, s)
    thr = s.params.score_threshold
    assert p.coco_values() == _threshold_stats(dataset, "model", thr)
    model_live = s.derived.get("coco")
    s.set_run("other")
    qtbot.waitUntil(p.is_idle, timeout=30000)
    assert p.coco_values() == _threshold_stats(dataset, "other", thr)
    assert s.delete_boxes([0])  # the cat of image 0, while "model" is not shown
    qtbot.waitUntil(p.is_idle, timeout=30000)
    assert p.coco_values() == _threshold_stats(dataset, "other", thr)
    s.set_run("model")
    qtbot.waitUntil(p.is_idle, timeout=30000)
    assert s.derived.get("coco") is model_live  # kept, not rebuilt
    assert p.coco_values() == _threshold_stats(dataset, "model", thr)
    assert p.errors is not None and p.errors.labels.gt_tag(1) == "FN·Miss"
    s.history.mark_clean()
