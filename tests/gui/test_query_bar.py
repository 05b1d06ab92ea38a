"""The query bar over the image list, driven by keys: plain text and queries in one
line, completion, the inline error, saved views, the list that results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from detview.gui.main_window import MainWindow
from detview.gui.query_bar import looks_like_query
from detview.session import Session
from detview.session.views import SavedViews
from tests.session._data import make_dataset


def listed(w: MainWindow) -> list[int]:
    m = w.images.model
    return [m.image_at(r) for r in range(m.rowCount())]


def type_in(qtbot: Any, w: MainWindow, text: str) -> None:
    """Ctrl+F, clear, type ``text`` key by key, let the bar settle."""
    popup = w.panels.query.completer.popup()
    if popup.isVisible():
        QTest.keyClick(popup, Qt.Key.Key_Escape)
    w.activateWindow()  # a popup took the activation (offscreen gives it back late)
    qtbot.waitUntil(w.isActiveWindow, timeout=2000)
    QTest.keyClick(w, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    e = w.filter_edit
    assert e.hasFocus()
    e.clear()
    QTest.keyClicks(e, text)
    qtbot.wait(250)  # the bar waits for typing to pause
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=2000)


def test_plain_text_and_queries_in_one_bar(qtbot: Any, window: Any) -> None:
    w = window
    bar = w.panels.query
    assert w.filter_edit is bar.edit  # the list's filter box became the bar
    type_in(qtbot, w, "b.png")
    assert bar.mode == "text" and listed(w) == [1]
    type_in(qtbot, w, "fp >= 1")  # image 0: a dog on nothing; image 2: a cat on a car
    assert bar.mode == "query" and listed(w) == [0, 2]
    assert bar.mode_chip.text() == "query"
    type_in(qtbot, w, 'class == "person"')
    assert listed(w) == [1]
    type_in(qtbot, w, "fn > 0 and mean_iou < 0.5")
    assert listed(w) == [0]
    type_in(qtbot, w, "fp[cat] >= 1 or reviewed")
    assert listed(w) == [2]
    assert "2 images" not in w.images.count.text() and "1 of 3" in w.images.count.text()
    # the same language as `detview eval --where`: per-class counts, lists, negation
    type_in(qtbot, w, 'not class in ["cat", "person"]')
    assert listed(w) == [2]
    popup = w.panels.query.completer.popup()
    if popup.isVisible():  # Esc closes the completion first
        QTest.keyClick(popup, Qt.Key.Key_Escape)
        w.activateWindow()
        qtbot.waitUntil(w.isActiveWindow, timeout=2000)
    QTest.keyClick(w.filter_edit, Qt.Key.Key_Escape)  # back to the list
    assert w.table.hasFocus()
    for text, q in (("b.png", False), ("#review", False), ("class:dog", False),
                    ("reviewed", False), ("fp > 1", True), ("tag == 'x'", True),
                    ("not deleted", True), ("fp[dog]", True)):
        assert looks_like_query(text) == q, text


def test_completion_offers_columns_classes_and_inserts(qtbot: Any, window: Any) -> None:
    w = window
    bar = w.panels.query
    type_in(qtbot, w, "mean_iou < 0.5 and f")
    QTest.keyClick(w.filter_edit, Qt.Key.Key_Space, Qt.KeyboardModifier.ControlModifier)
    got = bar.completions()
    assert {"fp", "fn", "file_name"} <= set(got)
    assert "mean_iou" not in got  # only what starts with (or contains) "f"
    assert bar.completer.popup().isVisible()
    bar.insert_completion("fp")
    assert w.filter_edit.text() == "mean_iou < 0.5 and fp "
    # after class ==: the class names, quoted
    e = w.filter_edit
    e.setText("class == ")
    e.setCursorPosition(len(e.text()))
    bar._complete(auto=False)
    assert bar.completions() == ['"cat"', '"dog"', '"person"', '"car"']
    bar.insert_completion('"dog"')
    assert e.text() == 'class == "dog" '
    qtbot.wait(250)
    assert listed(w) == [0]
    # inside fp[: class names closing the bracket; typing a prefix narrows them
    e.setText("fp[c")
    e.setCursorPosition(4)
    bar._complete(auto=False)
    assert bar.completions()[:2] == ["cat]", "car]"]
    # typed as keys: the popup comes by itself once the text is a query
    e.clear()
    QTest.keyClicks(e, "fn > 0 and me")
    assert bar.completer.popup().isVisible() and "mean_iou" in bar.completions()
    QTest.keyClick(bar.completer.popup(), Qt.Key.Key_Return)
    assert e.text() == "fn > 0 and mean_iou "


def test_a_bad_expression_is_an_inline_error_and_keeps_the_list(qtbot: Any,
                                                               window: Any) -> None:
    w = window
    bar = w.panels.query
    type_in(qtbot, w, "fp >= 1")
    assert listed(w) == [0, 2]
    w.table.setFocus()  # an error is shown in full once the typing stopped
    w.filter_edit.setText("mea_iou < 0.5 and fp >= 1")
    qtbot.wait(250)
    assert listed(w) == [0, 2]  # unchanged while the expression is broken
    assert bar.error is not None and (bar.error.start, bar.error.end) == (0, 7)
    text = bar.error_label.text()
    assert bar.error_label.isVisible() and "mea_iou" in text and "mean_iou" in text
    assert "characters 1–7" in text and "#ffcdd2" in text  # the bad part highlighted
    assert "c62828" in w.filter_edit.styleSheet()
    w.filter_edit.setText("fp >= 1 and (fn > 0")
    qtbot.wait(250)
    assert bar.error is not None and bar.error.start >= 11
    w.filter_edit.setText("fp >= 1 and fn > 0")
    qtbot.wait(250)
    assert bar.error is None and not bar.error_label.isVisible() and listed(w) == [0, 2]


def test_injection_attempts_are_errors_not_code(qtbot: Any, window: Any,
                                               tmp_path: Path) -> None:
    w = window
    bar = w.panels.query
    marker = tmp_path / "pwned"
    for text in (f"__import__('os').system('touch {marker}')",
                 f"fp > 0 or open('{marker}', 'w')", "fp.__class__.__bases__ > 0",
                 "[x for x in ().__class__.__base__.__subclasses__()]"):
        w.filter_edit.setText(text)
        qtbot.wait(250)
        assert bar.error is not None, text
    assert not marker.exists()


def test_saved_view_round_trip(qtbot: Any, window: Any, tmp_path: Path) -> None:
    w = window
    bar = w.panels.query
    type_in(qtbot, w, "n_gt >= 1")
    w.sort_by("mean_iou", Qt.SortOrder.AscendingOrder)
    assert listed(w) == [0, 2, 1]
    view = bar.save_view("Worst first")
    assert view is not None and view.sort == (("mean_iou", True),)
    assert "Worst first" in w.panels.views.names()
    bar._fill_views_menu()
    titles = [a.text() for a in bar.views_menu.actions()]
    assert "Worst first" in titles and "Save current view…" in titles
    # what the window's settings store: plain data, back in another window
    stored = w.panels.views.to_json()
    other = MainWindow()
    other.quiet = True
    qtbot.addWidget(other)
    other.panels.views.load(stored)
    other.set_session(Session(make_dataset(tmp_path / "b"), image_root=tmp_path / "b"), "b")
    other.show()
    assert other.panels.query.apply_view("Worst first")
    assert other.filter_edit.text() == "n_gt >= 1" and listed(other) == [0, 2, 1]
    # a built-in view, sorted descending by a column
    assert other.panels.query.apply_view("Most false positives")
    assert sorted(listed(other)) == [0, 2]
    # a view whose column this dataset lacks is offered but disabled, with the reason
    views = SavedViews([])
    views.load(stored + [{"name": "Needs loss", "expression": "loss > 1", "sort": []}])
    fits = dict((v.name, why) for v, why in views.applicable(
        __import__("detview.session.views", fromlist=["query_table"]).query_table(
            other.session)))
    assert fits["Worst first"] == "" and "loss" in fits["Needs loss"]
    other.session.history.mark_clean()


def test_query_follows_edits_and_keeps_the_image_being_worked_on(qtbot: Any,
                                                                window: Any) -> None:
    w = window
    type_in(qtbot, w, "fn > 0")
    assert listed(w) == [0, 2]
    w.select_image(0)
    # accept the missed dog's... no: delete it; image 0 no longer has a miss
    w.session.delete_boxes([1])
    qtbot.wait(800)  # the metrics follow at once; the bar filters again once it settles
    assert w.session.column("fn")[0] == 0
    assert 0 in listed(w)  # the image on screen stays in the list
    w.select_image(2)
    qtbot.wait(50)
    w.panels.query.apply()
    assert listed(w) == [2]
    # a drill-down and a query together: both must hold
    from detview.core.drilldown import Hits

    w.panels.show_hits(Hits.of("test", np.array([0, 1, 2])))
    assert listed(w) == [2]
    w.filter_edit.clear()
    qtbot.wait(50)
    assert sorted(listed(w)) == [0, 1, 2]
