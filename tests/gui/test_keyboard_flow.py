"""Keyboard only: from opening the demo to an exported, corrected dataset, every step a
key press sent to whatever widget has the focus (dialogs included)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit

from tests.gui.conftest import DEMO

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.skipif(not (DEMO / "images").is_dir(), reason="resources/demo is absent"),
]

NO = Qt.KeyboardModifier.NoModifier
CTRL = Qt.KeyboardModifier.ControlModifier
SHIFT = Qt.KeyboardModifier.ShiftModifier


def press(qtbot: Any, k: Any, mods: Any = NO, text: str | None = None) -> None:
    """One key press to the focused widget, as a user's keyboard sends it."""
    target = QApplication.focusWidget()
    assert target is not None, "no widget has the keyboard focus"
    if text is not None:
        QTest.keyClicks(target, text)
    else:
        QTest.keyClick(target, k, mods)
    qtbot.wait(2)


def in_modal(qtbot: Any, title: str, keys: Callable[[], None], seen: list[str]) -> None:
    """Once a modal dialog called ``title`` is up and focused, run ``keys``."""

    def go() -> None:
        dlg = QApplication.activeModalWidget()
        if dlg is None or dlg.windowTitle() != title or QApplication.focusWidget() is None \
                or QApplication.focusWidget().window() is not dlg:
            QTimer.singleShot(10, go)
            return
        seen.append(title)
        keys()

    QTimer.singleShot(0, go)


def open_demo(qtbot: Any) -> Any:
    from detview.gui.app import demo_spec
    from detview.gui.main_window import MainWindow

    w = MainWindow()
    w.use_journal = False  # nothing written into resources/demo
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)
    w.open_spec(demo_spec())  # what `detview demo` does
    qtbot.waitUntil(lambda: w.session is not None, timeout=30000)
    qtbot.waitUntil(lambda: not w.is_busy("load"), timeout=30000)
    assert QApplication.focusWidget() is w.table
    return w


def test_keyboard_only_from_demo_to_export(qtbot: Any, tmp_path: Path) -> None:
    from detview.session import PRED_FP

    w = open_demo(qtbot)
    s = w.session
    ds = s.dataset
    names = ds.classes.names
    m = w.model

    # Ctrl+1: worst mean IoU first, first row shown
    press(qtbot, Qt.Key.Key_1, CTRL)
    miou = s.current.column("mean_iou")
    assert m.rowCount() == ds.n_images and np.all(np.diff(miou[m.order]) >= 0)
    assert w.table.horizontalHeader().sortIndicatorSection() == [
        c.key for c in m.columns].index("mean_iou")
    assert w.current_image == m.image_at(0)
    # Down / PgDown / PgUp in the list move through the images
    press(qtbot, Qt.Key.Key_Down)
    assert w.current_image == m.image_at(1)
    press(qtbot, Qt.Key.Key_PageDown)
    assert w.current_image == m.image_at(2)
    press(qtbot, Qt.Key.Key_PageUp)
    press(qtbot, Qt.Key.Key_PageUp)
    assert w.current_image == m.image_at(0)
    # down the list to the first image with 3+ boxes and a false positive
    while not (len(w.viewer.view.gt_ids) >= 3
               and np.count_nonzero(w.viewer.view.pred_state == PRED_FP)):
        press(qtbot, Qt.Key.Key_Down)
    img = w.current_image
    gt = w.viewer.gt_pane

    # Tab: the first box in reading order, the focus moves to the image
    press(qtbot, Qt.Key.Key_Tab)
    assert len(gt.selected) == 1 and QApplication.focusWidget() is gt.view
    press(qtbot, Qt.Key.Key_Tab)
    victim = gt.selected[0]
    width = np.diff(gt.vb.viewRange()[0])[0]
    press(qtbot, Qt.Key.Key_Z)  # zoom to it
    assert np.diff(gt.vb.viewRange()[0])[0] < width
    press(qtbot, Qt.Key.Key_F)  # and back to the whole image
    assert abs(np.diff(gt.vb.viewRange()[0])[0] - width) < 1
    press(qtbot, Qt.Key.Key_Delete)
    assert not ds.gt.alive[ds.gt.rows_of([victim])[0]]

    # Tab, C, type a class, Enter
    press(qtbot, Qt.Key.Key_Tab)
    relabeled = gt.selected[0]
    old = int(ds.gt.cls[ds.gt.rows_of([relabeled])[0]])
    target = "zebra" if names[old] != "zebra" else "giraffe"
    seen: list[str] = []
    in_modal(qtbot, "Class of 1 box", lambda: (
        QTest.keyClicks(QApplication.focusWidget(), target),
        QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)), seen)
    press(qtbot, Qt.Key.Key_C)
    assert seen == ["Class of 1 box"]
    assert names[int(ds.gt.cls[ds.gt.rows_of([relabeled])[0]])] == target
    assert QApplication.focusWidget() is gt.view  # back on the image after the picker

    # nudges: 1 px right, 10 px down, one undo step
    before = ds.gt.xyxy[ds.gt.rows_of([relabeled])[0]].copy()
    n_steps = len(s.history)
    press(qtbot, Qt.Key.Key_Right)
    press(qtbot, Qt.Key.Key_Down, SHIFT)
    after = ds.gt.xyxy[ds.gt.rows_of([relabeled])[0]]
    np.testing.assert_allclose(after - before, [1, 10, 1, 10])
    assert len(s.history) == n_steps + 1

    # P selects a false positive, A accepts it as ground truth
    press(qtbot, Qt.Key.Key_P)
    pred = w.viewer.pred_pane
    v = w.viewer.view
    assert len(pred.selected) == 1
    k = int(np.flatnonzero(v.pred_ids == pred.selected[0])[0])
    assert v.pred_state[k] == PRED_FP
    accepted_xyxy = v.pred_xyxy[k].copy()
    n_alive = int(ds.gt.alive.sum())
    press(qtbot, Qt.Key.Key_A)
    assert int(ds.gt.alive.sum()) == n_alive + 1
    assert "Accept" in w.actions_by_name["undo"].text()

    # the next image: deleted whole with Ctrl+Del
    press(qtbot, Qt.Key.Key_PageDown)
    gone = w.current_image
    assert gone != img
    press(qtbot, Qt.Key.Key_Delete, CTRL)
    assert ds.images.deleted[gone]

    # Ctrl+E, type the folder, Enter
    out = tmp_path / "exported"
    seen.clear()

    def fill_export() -> None:
        f = QApplication.focusWidget()
        assert isinstance(f, QLineEdit)
        QTest.keyClick(f, Qt.Key.Key_A, CTRL)
        QTest.keyClicks(f, str(out))
        QTest.keyClick(f, Qt.Key.Key_Return)

    in_modal(qtbot, "Export dataset", fill_export, seen)
    press(qtbot, Qt.Key.Key_E, CTRL)
    assert seen == ["Export dataset"]
    qtbot.waitUntil(lambda: (out / "corrections.jsonl").is_file()
                    and not w.is_busy("export"), timeout=30000)
    assert w.last_error == ""
    assert s.history.is_clean and not w.isWindowModified()

    # the exported dataset (YOLO, as it came) has every correction
    labels = out / "labels"
    stem = Path(ds.images.file_names[img]).stem
    assert not (labels / f"{Path(ds.images.file_names[gone]).stem}.txt").exists()
    w_img, h_img = int(ds.images.widths[img]), int(ds.images.heights[img])
    rows = [ln.split() for ln in (labels / f"{stem}.txt").read_text().splitlines()]
    got = {(int(r[0]),) + tuple(round(float(x), 4) for x in r[1:]) for r in rows}

    def yolo(c: int, b: np.ndarray) -> tuple:
        return (c, round((b[0] + b[2]) / 2 / w_img, 4), round((b[1] + b[3]) / 2 / h_img, 4),
                round((b[2] - b[0]) / w_img, 4), round((b[3] - b[1]) / h_img, 4))

    sl = ds.gt.image_slice(img)
    alive = [r for r in range(sl.start, sl.stop) if ds.gt.alive[r]]
    assert len(rows) == len(alive)
    assert yolo(names.index(target), after) in got
    assert any(abs(g[1] - yolo(0, accepted_xyxy)[1]) < 1e-3
               and abs(g[3] - yolo(0, accepted_xyxy)[3]) < 1e-3 for g in got)
    log = [json.loads(x) for x in (out / "corrections.jsonl").read_text().splitlines()]
    assert [r["action"] for r in log[1:]] == ["delete_boxes", "relabel_boxes", "move_boxes",
                                              "add_boxes", "delete_images"]
    assert log[0]["summary"]["images_deleted"] == 1
    w.close()


def test_keys_typed_in_the_filter_stay_in_the_filter(qtbot: Any) -> None:
    w = open_demo(qtbot)
    s = w.session
    press(qtbot, Qt.Key.Key_Tab)  # from the list: selects a box
    gt = w.viewer.gt_pane
    assert len(gt.selected) == 1
    picked = list(gt.selected)
    press(qtbot, Qt.Key.Key_F, CTRL)
    assert QApplication.focusWidget() is w.filter_edit
    press(qtbot, None, text="0000000000 ac")  # letters that are shortcuts elsewhere
    press(qtbot, Qt.Key.Key_Backspace)
    press(qtbot, Qt.Key.Key_Backspace)
    press(qtbot, Qt.Key.Key_Backspace)
    assert w.filter_edit.text() == "0000000000"
    press(qtbot, Qt.Key.Key_Tab)  # leaves the filter; no box cycling
    assert gt.selected == picked or gt.selected == []
    assert QApplication.focusWidget() is w.table
    assert len(s.history) == 0
    press(qtbot, Qt.Key.Key_F, CTRL)
    press(qtbot, Qt.Key.Key_Escape)  # Esc too: back to the list, the filter kept
    assert QApplication.focusWidget() is w.table and w.filter_edit.text() == "0000000000"
    press(qtbot, Qt.Key.Key_F, CTRL)
    press(qtbot, Qt.Key.Key_Return)
    assert QApplication.focusWidget() is w.table
    w.close()
