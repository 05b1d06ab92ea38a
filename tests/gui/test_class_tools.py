"""Class rename and merge (F2), box attributes (I), next unreviewed (U) and the
auto-advance after Space, driven through the window's actions (issue 12, item 4)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def answer_class_dialog(row: int, name: str, seen: dict[str, Any]) -> None:
    def go() -> None:
        dlg = QApplication.activeModalWidget()
        if dlg is None or dlg.objectName() != "ClassEditDialog":
            QTimer.singleShot(10, go)
            return
        dlg.list.setCurrentRow(row)
        dlg.name.selectAll()
        QTest.keyClicks(dlg.name, name)
        seen["button"] = dlg.buttons.buttons()[0].text()
        seen["note"] = dlg.note.text()
        QTest.keyClick(dlg.name, Qt.Key.Key_Return)

    QTimer.singleShot(0, go)


def labels(window: Any) -> list[str]:
    return list(window.viewer.gt_pane.boxes.labels)


def test_f2_renames_a_class_everywhere_in_one_undo_step(window: Any, qtbot: Any) -> None:
    s = window.session
    window.select_image(0)  # a.png: a cat and a dog
    seen: dict[str, Any] = {}
    answer_class_dialog(0, "kitten", seen)
    QTest.keyClick(window.viewer.gt_pane.view, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: s.dataset.classes.names[0] == "kitten", timeout=3000)
    assert seen["button"] == "&Rename"
    assert any("kitten" in t for t in labels(window))  # the viewer follows
    model = window.history_view.model()
    assert model.data(model.index(1, 0)) == "Rename class 'cat' to 'kitten'"
    window.filter_edit.setText("class:kitten")
    assert window.model.rowCount() == 1
    window.filter_edit.clear()
    window.actions_by_name["undo"].trigger()
    assert s.dataset.classes.names[0] == "cat"
    assert not any("kitten" in t for t in labels(window))


def test_f2_with_a_taken_name_merges(window: Any, qtbot: Any) -> None:
    s = window.session
    gt = s.dataset.gt
    cars = int(np.count_nonzero(gt.cls == 3))
    seen: dict[str, Any] = {}
    answer_class_dialog(3, "cat", seen)  # car -> cat
    window.actions_by_name["rename_class"].trigger()
    qtbot.waitUntil(lambda: not np.any(s.dataset.gt.cls == 3), timeout=3000)
    assert seen["button"] == "&Merge" and "stays in the class list" in seen["note"]
    assert int(np.count_nonzero(s.dataset.gt.cls == 0)) == 1 + cars
    assert len(s.history) == 1  # one step for the whole dataset
    assert s.current.column("n_gt").sum() == 5
    window.actions_by_name["undo"].trigger()
    assert int(np.count_nonzero(s.dataset.gt.cls == 3)) == cars


def test_attribute_menu_sets_and_clears_on_the_selection(window: Any, qtbot: Any) -> None:
    s = window.session
    window.select_image(2)
    pane = window.viewer.gt_pane
    pane.set_selected([3, 4], emit=True)
    m = window.attribute_menu()
    acts = {a.data(): a for a in m.actions()}
    assert set(acts) == {"iscrowd", "difficult", "truncated", "occluded"}
    assert not any(a.isChecked() for a in acts.values())
    acts["difficult"].trigger()
    assert s.box_attribute([3, 4], "difficult") == [1, 1]
    pane.set_selected([3], emit=True)
    acts = {a.data(): a for a in window.attribute_menu().actions()}
    assert acts["difficult"].isChecked()
    acts["iscrowd"].trigger()
    assert s.box_attribute([3], "iscrowd") == [1]
    assert s.current.column("fn")[2] == 0  # a crowd region is not missed
    window.actions_by_name["undo"].trigger()
    window.actions_by_name["undo"].trigger()
    assert s.box_attribute([3, 4], "difficult") == [None, None]
    assert s.current.column("fn")[2] == 1
    pane.set_selected([], emit=True)
    assert window.attribute_menu() is None  # says to select boxes first


def test_next_unreviewed_and_auto_advance(window: Any, qtbot: Any) -> None:
    s = window.session
    window.sort_by("mean_iou", Qt.SortOrder.AscendingOrder, select_first=True)
    order = [window.model.image_at(r) for r in range(3)]
    assert window.current_image == order[0]
    assert window.auto_advance  # the default
    QTest.keyClick(window.viewer.gt_pane.view, Qt.Key.Key_Space)
    assert s.dataset.images.reviewed[order[0]]
    assert window.current_image == order[1]  # on to the next unreviewed
    s.set_reviewed([order[2]], True)
    QTest.keyClick(window.viewer.gt_pane.view, Qt.Key.Key_U)
    assert window.current_image == order[1]  # the only one left (wraps around)
    QTest.keyClick(window.viewer.gt_pane.view, Qt.Key.Key_Space)
    assert s.dataset.images.reviewed.all()
    assert "Every image in the list is reviewed" in window.message_label.text()
    window.auto_advance_action.setChecked(False)
    s.set_reviewed([order[0]], False)
    window.select_image(order[0])
    QTest.keyClick(window.viewer.gt_pane.view, Qt.Key.Key_Space)
    assert window.current_image == order[0]  # stays
    from detview.gui.settings import AppSettings

    assert AppSettings().flag("auto_advance", True) is False  # remembered


def test_next_unreviewed_skips_deleted_images(window: Any) -> None:
    s = window.session
    s.set_images_deleted([1], True)
    s.set_reviewed([0], True)
    window.select_image(0)
    assert window.next_unreviewed() and window.current_image == 2
