"""The analysis panel inside the main window: numbers, edits, image list, viewer tags."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from detview.core.cocoeval import evaluate, evaluate_run
from detview.core.image_columns import above_threshold


def _idle(window: Any, qtbot: Any) -> None:
    qtbot.waitUntil(window.analysis.is_idle, timeout=30000)


def _thr_stats(ds: Any, run: str, thr: float) -> dict[str, float]:
    return evaluate(ds.gt, above_threshold(ds.runs[run], thr), len(ds.classes),
                    ~ds.images.deleted, image_ids=ds.images.ids).as_dict()


def test_panel_numbers_follow_mode_and_a_deleted_box(window: Any, qtbot: Any) -> None:
    p = window.analysis
    _idle(window, qtbot)
    s = window.session
    ds = s.dataset
    assert p.coco_values() == _thr_stats(ds, s.run, s.params.score_threshold)
    p.mode_all.click()
    _idle(window, qtbot)
    assert p.coco_values() == evaluate_run(ds, s.run).as_dict()
    # delete GT box 2 (person, image 1) with the keyboard: numbers follow at once
    window.select_image(1)
    pane = window.viewer.gt_pane
    pane.view.setFocus()
    pane.set_selected([2], emit=True)
    before = p.coco_values()
    QTest.keyClick(pane.view, Qt.Key.Key_Delete)
    assert not ds.gt.alive[ds.gt.rows_of([2])[0]]
    want = evaluate_run(ds, s.run).as_dict()
    assert want != before
    qtbot.waitUntil(lambda: p.coco_values() == want, timeout=2000)
    _idle(window, qtbot)
    QTest.keyClick(pane.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: p.coco_values() == before, timeout=2000)
    _idle(window, qtbot)


def test_viewer_tags_each_box_with_its_error_type(window: Any, qtbot: Any) -> None:
    _idle(window, qtbot)
    window.select_image(2)  # pred cat 103 over car GT 3: a classification error
    v = window.viewer.view
    tags = dict(zip(v.pred_ids.tolist(), window.viewer.pred_pane.boxes.tags, strict=True))
    assert tags[103] == "FP·Cls(car)"
    assert tags[104] == ""
    k = v.pred_ids.tolist().index(103)
    assert "Classification error" in window.viewer.pred_pane.tooltips[k]
    gtags = dict(zip(v.gt_ids.tolist(), window.viewer.gt_pane.boxes.tags, strict=True))
    assert gtags[3] == "FN·Cls"
    window.select_image(0)
    v = window.viewer.view
    gtags = dict(zip(v.gt_ids.tolist(), window.viewer.gt_pane.boxes.tags, strict=True))
    ptags = dict(zip(v.pred_ids.tolist(), window.viewer.pred_pane.boxes.tags, strict=True))
    assert gtags[1] == "FN·Miss" and ptags[101] == "FP·Bkg"


def test_image_list_columns_and_class_filter(window: Any, qtbot: Any) -> None:
    _idle(window, qtbot)
    m = window.model
    keys = [c.key for c in m.columns]
    c = keys.index("err_cls")
    assert m.data(m.index(m.row_of(2), c)) == "1"
    window._on_header_clicked(keys.index("err_miss"))  # the most missed first
    assert m.image_at(0) == 0
    # clicking a class in the per-class table lists the images that contain it
    p = window.analysis
    names = [p.per_class.item(r, 0).text() for r in range(p.per_class.rowCount())]
    p._on_class_cell(names.index("person"), 0)
    assert window.filter_edit.text() == "class:person"
    assert [m.image_at(r) for r in range(m.rowCount())] == [1]
    window.filter_edit.clear()
    assert m.rowCount() == 3
