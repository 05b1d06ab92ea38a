"""pytest-qt drives the main window; after each gesture the engine's data is checked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from detview.core.edits import AddBoxes, Composite

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


# ---------------------------------------------------------------------- helpers
def gt_row(ds: Any, box_id: int) -> int:
    return int(ds.gt.rows_of([box_id])[0])


def click_box(qtbot: Any, pane: Any, x: float, y: float, mods: Any = Qt.KeyboardModifier.NoModifier
              ) -> None:
    pos = pane.widget_point(x, y)
    QTest.mouseClick(pane.view.viewport(), Qt.MouseButton.LeftButton, mods, pos)
    qtbot.wait(5)


def _mouse(widget: Any, kind: QEvent.Type, pos: QPoint, buttons: Any, mods: Any) -> None:
    button = Qt.MouseButton.NoButton if kind == QEvent.Type.MouseMove else (
        Qt.MouseButton.LeftButton)
    ev = QMouseEvent(kind, QPointF(pos), QPointF(widget.mapToGlobal(pos)), button, buttons,
                     mods)
    QApplication.sendEvent(widget, ev)


def drag(qtbot: Any, pane: Any, start: tuple[float, float], end: tuple[float, float],
         mods: Any = Qt.KeyboardModifier.NoModifier) -> None:
    """A real press - moves - release sequence (QTest.mouseMove carries no buttons)."""
    vp = pane.view.viewport()
    a = pane.widget_point(*start)
    b = pane.widget_point(*end)
    left = Qt.MouseButton.LeftButton
    _mouse(vp, QEvent.Type.MouseButtonPress, a, left, mods)
    for t in np.linspace(0.1, 1.0, 6):
        p = QPoint(int(a.x() + (b.x() - a.x()) * t), int(a.y() + (b.y() - a.y()) * t))
        _mouse(vp, QEvent.Type.MouseMove, p, left, mods)
        qtbot.wait(2)
    _mouse(vp, QEvent.Type.MouseButtonRelease, b, Qt.MouseButton.NoButton, mods)
    qtbot.wait(5)


def key(qtbot: Any, widget: Any, k: Any, mods: Any = Qt.KeyboardModifier.NoModifier) -> None:
    QTest.keyClick(widget, k, mods)
    qtbot.wait(2)


def answer_picker(text: str) -> None:
    """Type into the class picker as soon as it is open, then press Enter."""

    def go() -> None:
        dlg = QApplication.activeModalWidget()
        if dlg is None or dlg.objectName() != "ClassPicker":
            QTimer.singleShot(10, go)
            return
        QTest.keyClicks(dlg.edit, text)
        QTest.keyClick(dlg.edit, Qt.Key.Key_Return)

    QTimer.singleShot(0, go)


def show_first_by_iou(window: Any) -> None:
    window.sort_by("mean_iou", Qt.SortOrder.AscendingOrder, select_first=True)
    assert window.current_image == 0


# ---------------------------------------------------------------------- tests
def test_open_sort_and_navigate(window: Any, qtbot: Any) -> None:
    m = window.model
    assert m.rowCount() == 3
    # it opens ranked worst first (lowest mean IoU first), on the worst image
    iou = window.session.current.column("mean_iou")
    assert [m.image_at(r) for r in range(3)] == sorted(range(3), key=lambda i: iou[i]) \
        == [0, 2, 1]
    assert window.current_image == 0
    col = [c.key for c in m.columns].index("file_name")
    hh = window.table.horizontalHeader()
    pos = QPoint(hh.sectionViewportPosition(col) + 5, hh.height() // 2)
    QTest.mouseClick(hh.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     pos)  # file order is one click
    names = window.session.dataset.images.file_names
    assert [names[m.image_at(r)] for r in range(3)] == sorted(names)
    col = [c.key for c in m.columns].index("mean_iou")
    pos = QPoint(hh.sectionViewportPosition(col) + 5, hh.height() // 2)
    QTest.mouseClick(hh.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     pos)  # lowest IoU first is one click
    assert [m.image_at(r) for r in range(3)] == [0, 2, 1]
    window.select_row(0)
    assert window.current_image == 0
    assert window.viewer.view.index == 0
    # PageDown / Down in the list move the selection; the viewer follows
    key(qtbot, window.table, Qt.Key.Key_PageDown)
    assert window.current_image == 2
    window.table.setFocus()
    key(qtbot, window.table, Qt.Key.Key_Down)
    assert window.current_image == 1
    key(qtbot, window.table, Qt.Key.Key_PageUp)
    assert window.current_image == 2
    # second click: descending
    QTest.mouseClick(hh.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     pos)
    assert [m.image_at(r) for r in range(3)] == [1, 2, 0]
    assert "fixture" in window.windowTitle()


def test_click_box_delete_undo_redo(window: Any, qtbot: Any) -> None:
    ds = window.session.dataset
    show_first_by_iou(window)
    pane = window.viewer.gt_pane
    click_box(qtbot, pane, 100, 70)  # GT 1 (dog), away from GT 0
    assert pane.selected == [1]
    assert window.session.current.column("fn")[0] == 1
    key(qtbot, pane.view, Qt.Key.Key_Delete)
    assert not ds.gt.alive[gt_row(ds, 1)]
    assert window.session.current.column("fn")[0] == 0  # metrics updated at once
    assert window.session.current.column("n_gt")[0] == 1
    assert window.isWindowModified()
    assert 1 not in window.viewer.gt_pane.ids.tolist()
    key(qtbot, pane.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ds.gt.alive[gt_row(ds, 1)]
    assert window.session.current.column("fn")[0] == 1
    assert not window.isWindowModified()
    key(qtbot, pane.view, Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert not ds.gt.alive[gt_row(ds, 1)]
    key(qtbot, pane.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ds.gt.alive[gt_row(ds, 1)]
    key(qtbot, pane.view, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert not ds.gt.alive[gt_row(ds, 1)]
    assert len(window.session.history) == 1


def test_delete_and_restore_image(window: Any, qtbot: Any) -> None:
    ds = window.session.dataset
    show_first_by_iou(window)
    key(qtbot, window.table, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)
    assert ds.images.deleted[0]
    c = [col.key for col in window.model.columns].index("status")
    assert "✗" in window.model.data(window.model.index(0, c))
    assert "deleted" in window.model.data(window.model.index(0, c), Qt.ItemDataRole.ToolTipRole)
    assert window.session.run_totals()[0]["images"] == 2
    key(qtbot, window.table, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)
    assert not ds.images.deleted[0]  # restored (a second step)
    assert len(window.session.history) == 2
    window.undo()
    window.undo()
    assert not ds.images.deleted[0]
    assert window.session.history.index == 0


def test_keyboard_nudges_merge(window: Any, qtbot: Any) -> None:
    ds = window.session.dataset
    show_first_by_iou(window)
    pane = window.viewer.gt_pane
    click_box(qtbot, pane, 20, 20)  # GT 0
    assert pane.selected == [0]
    before = ds.gt.xyxy[gt_row(ds, 0)].copy()
    key(qtbot, pane.view, Qt.Key.Key_Right)
    np.testing.assert_allclose(ds.gt.xyxy[gt_row(ds, 0)], before + [1, 0, 1, 0])
    key(qtbot, pane.view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_allclose(ds.gt.xyxy[gt_row(ds, 0)], before + [1, 10, 1, 10])
    key(qtbot, pane.view, Qt.Key.Key_Left)
    np.testing.assert_allclose(ds.gt.xyxy[gt_row(ds, 0)], before + [0, 10, 0, 10])
    assert len(window.session.history) == 1  # consecutive nudges: one step
    window.undo()
    np.testing.assert_allclose(ds.gt.xyxy[gt_row(ds, 0)], before)


def test_relabel_with_picker(window: Any, qtbot: Any) -> None:
    ds = window.session.dataset
    show_first_by_iou(window)
    pane = window.viewer.gt_pane
    click_box(qtbot, pane, 100, 70)
    answer_picker("pers")
    key(qtbot, pane.view, Qt.Key.Key_C)
    assert ds.gt.cls[gt_row(ds, 1)] == 2  # person
    answer_picker("ca")  # "car" and "cat": prefix match, first in class order = cat
    key(qtbot, pane.view, Qt.Key.Key_L)
    assert ds.gt.cls[gt_row(ds, 1)] == 0
    window.undo()
    assert ds.gt.cls[gt_row(ds, 1)] == 2
    assert "Relabel" in window.actions_by_name["undo"].text()


def test_accept_prediction(window: Any, qtbot: Any) -> None:
    ds = window.session.dataset
    show_first_by_iou(window)
    pred = window.viewer.pred_pane
    n = len(ds.gt)
    click_box(qtbot, pred, 10, 5)  # the FP dog prediction (id 101)
    assert pred.selected == [101]
    key(qtbot, pred.view, Qt.Key.Key_A)
    assert len(ds.gt) == n + 1
    edit = window.session.history.edits()[-1]
    assert isinstance(edit, AddBoxes)
    assert edit.sources == ("pred:model:101",)
    new = edit.box_ids[0]
    r = gt_row(ds, new)
    assert ds.gt.cls[r] == 1 and ds.gt.image[r] == 0
    np.testing.assert_allclose(ds.gt.xyxy[r], [0, 0, 20, 20])
    assert window.session.current.column("fp")[0] == 0  # that prediction is now a TP
    assert window.viewer.gt_pane.selected == [new]
    window.undo()
    assert len(ds.gt) == n


def test_replace_with_prediction(window: Any, qtbot: Any) -> None:
    ds = window.session.dataset
    window.select_image(2)
    pane = window.viewer.gt_pane
    click_box(qtbot, pane, 8, 8)  # GT 3, a car missed; a "cat" prediction covers it
    assert pane.selected == [3]
    key(qtbot, pane.view, Qt.Key.Key_R)
    r = gt_row(ds, 3)
    assert ds.gt.cls[r] == 0
    np.testing.assert_allclose(ds.gt.xyxy[r], [6, 6, 41, 41])
    edit = window.session.history.edits()[-1]
    assert isinstance(edit, Composite) and len(edit.edits) == 2
    assert len(window.session.history) == 1
    assert window.session.current.column("fn")[2] == 0
    window.undo()
    assert ds.gt.cls[r] == 3


def test_mouse_move_and_resize(window: Any, qtbot: Any) -> None:
    ds = window.session.dataset
    show_first_by_iou(window)
    pane = window.viewer.gt_pane
    click_box(qtbot, pane, 30, 30)  # only a selected box moves
    drag(qtbot, pane, (30, 30), (40, 35))  # drag GT 0 by about (10, 5)
    b = ds.gt.xyxy[gt_row(ds, 0)]
    assert abs(b[0] - 20) < 1.5 and abs(b[1] - 15) < 1.5
    assert abs((b[2] - b[0]) - 40) < 1e-6  # size kept
    assert len(window.session.history) == 1  # one step per drag
    # resize from the bottom-right corner handle
    x2, y2 = b[2], b[3]
    drag(qtbot, pane, (x2, y2), (x2 + 10, y2 + 8))
    b2 = ds.gt.xyxy[gt_row(ds, 0)]
    assert abs(b2[2] - (x2 + 10)) < 1.5 and abs(b2[3] - (y2 + 8)) < 1.5
    assert abs(b2[0] - b[0]) < 1e-6
    assert len(window.session.history) == 2
    window.undo()
    window.undo()
    np.testing.assert_allclose(ds.gt.xyxy[gt_row(ds, 0)], [10, 10, 50, 50])


def test_draw_duplicate_and_multiselect(window: Any, qtbot: Any) -> None:
    ds = window.session.dataset
    show_first_by_iou(window)
    pane = window.viewer.gt_pane
    n = len(ds.gt)
    key(qtbot, pane.view, Qt.Key.Key_N)
    assert pane.draw_mode
    answer_picker("dog")
    drag(qtbot, pane, (60, 5), (90, 15))
    assert len(ds.gt) == n + 1
    edit = window.session.history.edits()[-1]
    assert isinstance(edit, AddBoxes) and edit.sources == ("drawn",) and edit.cls == (1,)
    assert abs(edit.xyxy[0][0] - 60) < 1.5 and abs(edit.xyxy[0][3] - 15) < 1.5
    # Shift+click adds to the selection; Ctrl+D duplicates both
    click_box(qtbot, pane, 20, 20)
    click_box(qtbot, pane, 100, 70, Qt.KeyboardModifier.ShiftModifier)
    assert sorted(pane.selected) == [0, 1]
    key(qtbot, pane.view, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert len(ds.gt) == n + 3
    assert len(pane.selected) == 2
    # rubber band (Shift+drag on empty space) selects the boxes inside it
    key(qtbot, pane.view, Qt.Key.Key_Escape)
    assert pane.selected == []
    drag(qtbot, pane, (5, 5), (55, 55), Qt.KeyboardModifier.ShiftModifier)
    assert 0 in pane.selected and 1 not in pane.selected


def test_tab_cycles_boxes(window: Any, qtbot: Any) -> None:
    show_first_by_iou(window)
    pane = window.viewer.gt_pane
    pane.view.setFocus()
    key(qtbot, pane.view, Qt.Key.Key_Tab)
    assert pane.selected == [0]  # reading order: GT 0 is higher up
    key(qtbot, pane.view, Qt.Key.Key_Tab)
    assert pane.selected == [1]
    key(qtbot, pane.view, Qt.Key.Key_Backtab, Qt.KeyboardModifier.ShiftModifier)
    assert pane.selected == [0]


def test_reviewed_tags_and_filter(window: Any, qtbot: Any, monkeypatch: Any) -> None:
    ds = window.session.dataset
    window.auto_advance_action.setChecked(False)  # Space toggles on the same image
    show_first_by_iou(window)
    key(qtbot, window.viewer.gt_pane.view, Qt.Key.Key_Space)
    assert ds.images.reviewed[0]
    key(qtbot, window.viewer.gt_pane.view, Qt.Key.Key_V)
    assert not ds.images.reviewed[0]
    key(qtbot, window.viewer.gt_pane.view, Qt.Key.Key_Space)
    monkeypatch.setattr(window, "ask_tags", lambda current: "hard, occluded")
    key(qtbot, window.viewer.gt_pane.view, Qt.Key.Key_T)
    assert ds.images.tags[0] == frozenset({"hard", "occluded"})
    c = [col.key for col in window.model.columns].index("status")
    status = window.model.data(window.model.index(window.model.row_of(0), c))
    assert "✓" in status and "#hard+1" in status
    tip = window.model.data(window.model.index(window.model.row_of(0), c),
                            Qt.ItemDataRole.ToolTipRole)
    assert "#hard #occluded" in tip
    window.filter_edit.setText("#hard")
    assert window.model.rowCount() == 1 and window.model.image_at(0) == 0
    window.filter_edit.setText("unreviewed")
    assert window.model.rowCount() == 2
    window.filter_edit.setText("c.png")
    assert window.model.rowCount() == 1 and window.current_image == 2
    window.filter_edit.clear()
    assert window.model.rowCount() == 3


def test_thresholds_and_run_switch(window: Any, qtbot: Any) -> None:
    s = window.session
    show_first_by_iou(window)
    window.score_spin.setValue(0.25)
    qtbot.waitUntil(lambda: s.params.score_threshold == 0.25, timeout=2000)
    assert s.current.column("n_pred")[2] == 3
    assert window.score_slider.value() == 25
    window.iou_spin.setValue(0.95)
    qtbot.waitUntil(lambda: s.params.iou_threshold == 0.95, timeout=2000)
    assert s.current.column("tp")[0] == 0  # 0.90 IoU is no longer a match
    window.run_combo.setCurrentText("other")
    assert s.run == "other"
    assert window.viewer.view.run == "other"
    assert len(window.viewer.pred_pane.ids) == 1


def test_undo_elsewhere_shows_that_image(window: Any, qtbot: Any) -> None:
    show_first_by_iou(window)
    window.session.delete_boxes([2])  # on image 1
    window.select_image(0)
    window.undo()
    assert window.current_image == 1


def test_history_panel_and_shortcut_help(window: Any, qtbot: Any) -> None:
    show_first_by_iou(window)
    window.session.delete_boxes([0])
    model = window.history_view.model()
    assert model is window.qs.history_model
    assert model.rowCount() == 2  # <opened> + one edit
    assert model.index(1, 0).data() == "Delete 1 box · a.png"  # names the image
    assert window.history_view.currentIndex().row() == 1
    # a click on <opened> goes back there (undo); on the edit, forward again (redo)
    window.history_view.clicked.emit(model.index(0, 0))
    assert window.session.history.index == 0 and window.session.dataset.gt.alive.all()
    assert window.history_view.currentIndex().row() == 0
    window.history_view.clicked.emit(model.index(1, 0))
    assert window.session.history.index == 1
    window.show_shortcuts()
    table = window._shortcuts_dialog.table
    texts = {table.item(r, 1).text() for r in range(table.rowCount())}
    assert {"Del / Backspace", "C / L", "A", "R", "Ctrl+D", "Space / V"} <= texts
    window._shortcuts_dialog.close()


def test_close_with_unsaved_changes_asks(window: Any, qtbot: Any, monkeypatch: Any) -> None:
    asked: list[bool] = []
    monkeypatch.setattr(window, "confirm_discard", lambda **_kw: asked.append(True) or False)
    window.session.delete_boxes([0])
    window.close()
    assert asked and window.isVisible()


def test_pan_and_zoom_are_linked(window: Any, qtbot: Any) -> None:
    show_first_by_iou(window)
    gt, pred = window.viewer.gt_pane, window.viewer.pred_pane
    window.fit_view()
    qtbot.wait(5)
    before = gt.vb.viewRange()
    drag(qtbot, gt, (115, 85), (100, 85))  # empty space: pans, no edit
    after = gt.vb.viewRange()
    assert after[0][0] > before[0][0] + 5
    assert len(window.session.history) == 0
    np.testing.assert_allclose(pred.vb.viewRange()[0], after[0], atol=1e-6)
    gt.vb.scaleBy((0.5, 0.5))
    qtbot.wait(5)
    np.testing.assert_allclose(pred.vb.viewRange()[0], gt.vb.viewRange()[0], atol=1e-6)
    np.testing.assert_allclose(pred.vb.viewRange()[1], gt.vb.viewRange()[1], atol=1e-6)


def test_box_tooltips_explain_the_match(window: Any) -> None:
    show_first_by_iou(window)
    gt_tips = window.viewer.gt_pane.tooltips
    pred_tips = window.viewer.pred_pane.tooltips
    assert any("missed" in t and "dog" in t for t in gt_tips)
    assert any("matched by prediction #100" in t for t in gt_tips)
    assert any("false positive" in t for t in pred_tips)
    assert any("true positive" in t and "IoU 0.90" in t for t in pred_tips)


def test_typing_in_the_filter_triggers_no_shortcut(window: Any, qtbot: Any) -> None:
    ds = window.session.dataset
    show_first_by_iou(window)
    window.viewer.gt_pane.set_selected([0], emit=True)
    window.filter_edit.setFocus()
    QTest.keyClicks(window.filter_edit, "a d c")  # A, D, C and Space are shortcuts too
    key(qtbot, window.filter_edit, Qt.Key.Key_Backspace)
    key(qtbot, window.filter_edit, Qt.Key.Key_Delete)
    assert window.filter_edit.text() == "a d "
    assert len(window.session.history) == 0
    assert ds.gt.alive.all() and not ds.images.reviewed.any()
    assert not window.viewer.gt_pane.draw_mode


def test_drag_moves_every_selected_box_in_one_step(window: Any, qtbot: Any) -> None:
    ds = window.session.dataset
    show_first_by_iou(window)
    pane = window.viewer.gt_pane
    click_box(qtbot, pane, 20, 20)
    click_box(qtbot, pane, 100, 70, Qt.KeyboardModifier.ShiftModifier)
    drag(qtbot, pane, (30, 30), (25, 35))  # by about (-5, +5)
    b0, b1 = ds.gt.xyxy[gt_row(ds, 0)], ds.gt.xyxy[gt_row(ds, 1)]
    assert abs(b0[0] - 5) < 1.5 and abs(b0[1] - 15) < 1.5
    assert abs(b1[0] - 55) < 1.5 and abs(b1[3] - 85) < 1.5
    assert len(window.session.history) == 1
    # a move past the border keeps the size and stops at the edge
    window.undo()
    pane.set_selected([0], emit=True)
    drag(qtbot, pane, (30, 30), (5, 30))
    b0 = ds.gt.xyxy[gt_row(ds, 0)]
    assert b0[0] == 0 and abs((b0[2] - b0[0]) - 40) < 1e-6


def test_accepting_a_true_positive_adds_nothing(window: Any, qtbot: Any) -> None:
    ds = window.session.dataset
    show_first_by_iou(window)
    pred = window.viewer.pred_pane
    click_box(qtbot, pred, 30, 45)  # the TP cat (id 100)
    assert pred.selected == [100]
    n = len(ds.gt)
    key(qtbot, pred.view, Qt.Key.Key_A)
    assert len(ds.gt) == n and len(window.session.history) == 0
    assert "TP" in window.message_label.text()
