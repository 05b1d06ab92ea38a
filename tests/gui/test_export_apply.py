"""What the GUI exports is what ``detview apply`` writes from its corrections log: the
same files, byte for byte (dataset files and corrections.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.gui.conftest import copy_demo

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _edit_in_gui(w: Any, qtbot: Any) -> None:
    from detview.session import PRED_FP

    s = w.session
    ds = s.dataset
    pick = next(i for i in range(ds.n_images)
                if len(s.image_view(i).gt_ids) >= 3
                and np.count_nonzero(s.image_view(i).pred_state == PRED_FP))
    w.select_image(pick)
    gt, pred = w.viewer.gt_pane, w.viewer.pred_pane
    v = w.viewer.view
    ids = [int(b) for b in v.gt_ids]

    def key(widget: Any, k: Any, mods: Any = Qt.KeyboardModifier.NoModifier) -> None:
        QTest.keyClick(widget, k, mods)
        qtbot.wait(1)

    gt.view.setFocus()
    gt.set_selected([ids[0]], emit=True)
    key(gt.view, Qt.Key.Key_Delete)
    gt.set_selected([ids[1]], emit=True)
    w.pick_class = lambda title, current: (current + 7) % len(ds.classes)
    key(gt.view, Qt.Key.Key_C)
    gt.set_selected([ids[2]], emit=True)
    key(gt.view, Qt.Key.Key_Left, Qt.KeyboardModifier.ShiftModifier)
    key(gt.view, Qt.Key.Key_Up)
    pred.set_selected([int(v.pred_ids[np.flatnonzero(v.pred_state == PRED_FP)[0]])], emit=True)
    key(pred.view, Qt.Key.Key_A)
    gt.view.setFocus()
    key(gt.view, Qt.Key.Key_Space)  # reviewed
    w.ask_tags = lambda current: "blurry, check"
    key(gt.view, Qt.Key.Key_T)
    w.step_image(1)
    key(gt.view, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)  # delete an image
    w.step_image(1)
    key(gt.view, Qt.Key.Key_Delete, Qt.KeyboardModifier.ControlModifier)
    key(gt.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undone: not exported
    st = s.history
    assert (len(st), st.index) == (8, 7), [s.step_text(x) for x in st.steps]


@pytest.mark.parametrize("fmt,images_mode", [("yolo", "none"), ("coco", "copy"),
                                             ("voc", "none")])
def test_gui_export_equals_apply_byte_for_byte(qtbot: Any, tmp_path: Path, fmt: str,
                                               images_mode: str) -> None:
    from detview.cli.main import main
    from detview.core.metrics import MetricParams
    from detview.gui.main_window import MainWindow
    from detview.session import load

    spec = copy_demo(tmp_path / "demo")
    w = MainWindow()
    w.quiet = True
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow)  # window shortcuts need the active window
    w.open_loaded(load(spec, MetricParams()))
    _edit_in_gui(w, qtbot)
    out = tmp_path / "gui_export"
    task = w.start_export(out, fmt, images_mode)
    assert task is not None
    qtbot.waitUntil(lambda: task.done, timeout=30000)
    assert w.last_error == ""
    assert w.session.history.is_clean
    log = out / "corrections.jsonl"
    records = [json.loads(x) for x in log.read_text().splitlines()]
    assert records[0]["n_edits"] == 7
    assert [r["action"] for r in records[1:]] == [
        "delete_boxes", "relabel_boxes", "move_boxes", "add_boxes", "set_reviewed",
        "set_tags", "delete_images"]
    for r in records[1:]:  # who and when: the GUI's edit metadata
        assert isinstance(r["time"], float) and r["time"] > 1e9 and "user" in r
    times = [r["time"] for r in records[1:]]
    assert times == sorted(times)

    other = tmp_path / "other"
    argv = ["apply", "--corrections", str(log), "--out", str(other), "--format", fmt]
    if images_mode == "copy":
        argv.append("--copy-images")
    assert main(argv) == 0
    a, b = _files(out), _files(other)
    assert sorted(a) == sorted(b)
    assert "corrections.jsonl" in a and len(a) > 2
    for name in a:
        assert a[name] == b[name], f"{name} differs"
    w.close()
