"""The list, the header, the status bar and the dialogs tell the truth after every edit,
filter and undo (issue 12, item 3). Each test failed on the code before the fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images
from detview.session import Session
from tests.gui.conftest import copy_demo

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def status(window: Any) -> str:
    return re.sub("<[^>]+>", "", window.status_label.text())


def visible_rows(window: Any) -> list[str]:
    m = window.model
    return [m.data(m.index(r, 0)) for r in range(m.rowCount())]


# ---------------------------------------------------------------------- header
def test_analysis_header_leaves_out_predictions_of_deleted_images(window: Any, qtbot: Any
                                                                  ) -> None:
    """After Ctrl+Del the header ("5 of 6 predictions") counts the images left."""
    title = window.analysis.title
    assert "5 of 6 predictions" in title.text()
    window.select_image(0)  # a.png: 2 predictions, both >= 0.5
    window.actions_by_name["delete_image"].trigger()
    qtbot.waitUntil(lambda: "3 of 4 predictions" in title.text(), timeout=3000)
    window.actions_by_name["undo"].trigger()
    qtbot.waitUntil(lambda: "5 of 6 predictions" in title.text(), timeout=3000)


# ---------------------------------------------------------------------- status bar
def test_status_position_follows_the_filter(window: Any, qtbot: Any) -> None:
    """The status bar's "row/count" follows a filter and its clearing."""
    window.sort_by("file_name", Qt.SortOrder.AscendingOrder)  # (it opens worst first)
    window.select_image(1)
    assert status(window).startswith("2/3 b.png")
    window.filter_edit.setText("b.png")
    qtbot.wait(5)
    assert status(window).startswith("1/1 b.png")
    window.filter_edit.clear()
    qtbot.wait(5)
    assert status(window).startswith("2/3 b.png"), status(window)
    window.sort_by("mean_iou", Qt.SortOrder.DescendingOrder)  # b.png (1.0) first
    assert status(window).startswith("1/3 b.png"), status(window)


# ---------------------------------------------------------------------- history
def test_history_entries_and_undo_text_name_the_image(window: Any, qtbot: Any) -> None:
    window.select_image(2)
    s = window.session
    s.delete_boxes([3])
    model = window.history_view.model()
    text = model.data(model.index(1, 0))
    assert "c.png" in text and "Delete 1 box" in text
    assert "c.png" in window.actions_by_name["undo"].text()
    s.set_images_deleted([0, 1], True)
    assert "2 images" in model.data(model.index(2, 0))


# ---------------------------------------------------------------------- wording
def test_one_box_is_one_box(window: Any) -> None:
    window.select_image(1)  # b.png has one ground-truth box
    header = window.viewer.gt_pane.header.text()
    assert "1 box" in header and "1 boxes" not in header


def test_export_failure_says_what_to_do_not_oserror(window: Any, qtbot: Any,
                                                    tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    window.session.delete_boxes([0])
    task = window.start_export(blocker / "out", "coco")
    qtbot.waitUntil(lambda: task.done, timeout=20000)
    qtbot.waitUntil(lambda: bool(window.last_error), timeout=5000)
    text = window.last_error
    assert "Errno" not in text and "OSError" not in text and "Error:" not in text, text
    assert "Cannot export" in text and "a-file" in text
    assert any("Export failed" in m for m in window.messages.texts("error"))


# ---------------------------------------------------------------------- quit dialog
def _answer_unsaved(button: str, seen: dict[str, Any]) -> None:
    def go() -> None:
        box = QApplication.activeModalWidget()
        if box is None or box.objectName() != "UnsavedChanges":
            QTimer.singleShot(10, go)
            return
        seen["buttons"] = [b.text() for b in box.buttons()]
        seen["text"] = box.text()
        seen["escape"] = box.escapeButton().text() if box.escapeButton() else ""
        getattr(box, f"{button}_button").click()

    QTimer.singleShot(0, go)


def test_quit_dialog_offers_export_with_accelerators(window: Any, qtbot: Any,
                                                     monkeypatch: Any) -> None:
    window.quiet = False
    window.session.delete_boxes([0])
    seen: dict[str, Any] = {}
    _answer_unsaved("cancel", seen)
    assert window.close() is False  # Cancel keeps the window
    assert set(seen["buttons"]) >= {"&Export…", "&Discard", "&Cancel"}
    assert seen["escape"] == "&Cancel"
    assert "1 edit not exported" in seen["text"]
    # Export: the export dialog, then the export; the window closes when it is done
    asked: list[bool] = []
    monkeypatch.setattr(window, "ask_export", lambda: asked.append(True) or object())
    _answer_unsaved("export", seen)
    assert window.close() is False and asked == [True] and window._close_after_export
    window.quiet = True


def test_unsaved_count_is_the_edits_after_the_export(window: Any) -> None:
    s = window.session
    s.delete_boxes([0])
    s.delete_boxes([1])
    s.history.mark_clean()
    assert s.unexported_text() == ""
    s.delete_boxes([2])
    assert s.unexported_text() == "1 edit not exported"
    s.undo()
    s.undo()
    assert s.unexported_text() == "1 exported edit undone since the export"


# ---------------------------------------------------------------------- export folder
def test_default_export_folder_is_beside_the_dataset(window: Any, tmp_path: Path,
                                                     qtbot: Any) -> None:
    from detview.core.metrics import MetricParams
    from detview.gui.files import default_export_dir
    from detview.session import load

    spec = copy_demo(tmp_path / "demo")
    window.open_loaded(load(spec, MetricParams()))
    out = default_export_dir(window.session)
    assert out == tmp_path / "demo-cleaned"
    for p in (spec.images, spec.gt):
        assert not str(out).startswith(str(Path(p).parent) + "/") or Path(p).parent != (
            tmp_path / "demo"), out
    out.mkdir()
    assert default_export_dir(window.session) == tmp_path / "demo-cleaned-2"


# ---------------------------------------------------------------------- load messages
def test_every_line_of_a_load_is_in_the_messages_panel(window: Any, qtbot: Any,
                                                       tmp_path: Path) -> None:
    from detview.core.metrics import MetricParams
    from detview.session import load

    spec = copy_demo(tmp_path / "demo")
    loaded = load(spec, MetricParams())
    loaded.problems.append("labels/x.txt line 3: a warning for the test")
    window.open_loaded(loaded)
    texts = window.messages.texts()
    for line in loaded.summary.splitlines():
        assert line in texts
    assert any("classes matched" in t for t in texts)  # the class-matching line
    assert "labels/x.txt line 3: a warning for the test" in window.messages.texts("warning")
    assert "1 warning" in window.message_label.toolTip()
    window.messages_button.click()
    assert window.messages_dock.isVisible()


def test_no_progress_bar_behind_the_restore_question(qtbot: Any, tmp_path: Path) -> None:
    from dataclasses import replace

    from detview.core.metrics import MetricParams
    from detview.gui.main_window import MainWindow
    from detview.session import load

    # ground truth only: no analysis starts on opening, nothing else hides the bar
    spec = replace(copy_demo(tmp_path / "demo"), preds=())
    first = load(spec, MetricParams()).session()
    first.recover(lambda _o: True)
    first.delete_boxes([int(first.dataset.gt.box_id[0])])  # then "crash": journal left
    w = MainWindow()
    qtbot.addWidget(w)
    w.show()
    seen: list[bool] = []

    def ask(_offer: Any) -> bool:
        seen.append(w.progress.isVisible())
        return True

    w.ask_restore = ask  # type: ignore[method-assign]
    w.open_spec(spec, MetricParams())
    qtbot.waitUntil(lambda: bool(seen), timeout=30000)
    assert seen == [False]
    w.quiet = True
    w.close()
    first.close()


# ---------------------------------------------------------------------- ranking
def _with_background(root: Path) -> Dataset:
    """The fixture's three images and a fourth with nothing on it (correctly empty)."""
    from tests.session._data import make_dataset

    ds = make_dataset(root)
    im = ds.images
    images = Images(np.arange(4), [*im.file_names, "empty.png"],
                    [*im.widths.tolist(), 50], [*im.heights.tolist(), 50])
    gt = Boxes.build(4, ds.gt.image, ds.gt.cls, ds.gt.xyxy)
    runs = {k: Boxes.build(4, r.image, r.cls, r.xyxy, r.score, box_id=r.box_id)
            for k, r in ds.runs.items()}
    return Dataset(images, Classes.from_names(list(ds.classes.names)), gt, runs, dict(ds.meta))


def test_background_image_shows_a_dash_and_ranks_last(qtbot: Any, tmp_path: Path) -> None:
    from detview.gui.main_window import MainWindow

    w = MainWindow()
    w.quiet = True
    qtbot.addWidget(w)
    w.set_session(Session(_with_background(tmp_path / "images"), image_root=tmp_path /
                          "images"), "bg")
    m = w.model
    col = [c.key for c in m.columns].index("mean_iou")
    w.sort_by("mean_iou", Qt.SortOrder.AscendingOrder, select_first=True)  # worst first
    assert visible_rows(w)[-1] == "empty.png"
    assert m.data(m.index(m.rowCount() - 1, col)) == "—"
    w.select_image(3)
    assert "mean IoU —" in status(w)
    w.sort_by("mean_iou", Qt.SortOrder.DescendingOrder)
    assert visible_rows(w)[-1] == "empty.png"


def test_deleted_images_leave_the_ranking_unless_filtered_for(window: Any, qtbot: Any
                                                              ) -> None:
    window.sort_by("mean_iou", Qt.SortOrder.AscendingOrder, select_first=True)
    assert visible_rows(window) == ["a.png", "c.png", "b.png"]
    window.session.set_images_deleted([0], True)  # the worst image
    assert visible_rows(window)[0] == "a.png"  # rows keep their place after the edit
    window.sort_by("mean_iou", Qt.SortOrder.AscendingOrder)
    assert visible_rows(window) == ["c.png", "b.png", "a.png"]
    assert "listed last" in window.images.count.text()
    window.filter_edit.setText("deleted")
    assert visible_rows(window) == ["a.png"]
    window.session.set_images_deleted([2], True)
    window.filter_edit.setText("")
    window.filter_edit.setText("deleted")
    assert visible_rows(window) == ["a.png", "c.png"]  # ranked among themselves
