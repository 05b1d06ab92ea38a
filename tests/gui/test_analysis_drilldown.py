"""Every plot leads to its images: mouse clicks on a confusion cell, an error-type bar,
histogram bins, the F1 plot and a PR curve, and the list (and selection) that results.

The fixture's expected matches (tests/session/_data.py): image 0 has a TP cat (pred
100, IoU 0.9025), a dog predicted on nothing (101, score 0.8) and a missed dog (GT 1);
image 1 a perfect person (102, 0.95); image 2 a cat predicted over a car (103, 0.7,
GT 3) and a perfect car (104, 0.6).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from detview.core.dataset import Dataset
from detview.core.tables import Classes, Images
from detview.gui.main_window import MainWindow
from detview.session import Session
from tests.core._coco_helpers import synthetic_coco, tables_from_coco
from tests.gui.conftest import sized


def click_plot(plot: Any, x: float, y: float) -> None:
    """A real left click at plot coordinates (x, y) of a pyqtgraph PlotWidget (after the
    double-click interval: two quick clicks would be one double click)."""
    QTest.qWait(QApplication.doubleClickInterval() + 30)
    vb = plot.getViewBox()
    pos = plot.mapFromScene(vb.mapViewToScene(QPointF(x, y)))
    QTest.mouseMove(plot.viewport(), pos)
    QTest.mouseClick(plot.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, pos)


def listed(w: MainWindow) -> list[int]:
    m = w.images.model
    return [m.image_at(r) for r in range(m.rowCount())]


def ready(qtbot: Any, w: MainWindow) -> None:
    qtbot.waitUntil(w.analysis.is_idle, timeout=30000)
    qtbot.waitUntil(lambda: w.session.derived.is_current("matches"), timeout=30000)


def test_confusion_cell_lists_its_images_and_selects_its_boxes(qtbot: Any, window: Any) -> None:
    w = window
    ready(qtbot, w)
    a = w.analysis
    a.tabs.setCurrentIndex(3)
    # every class (the default shows as many as fit the dock's height, most confused first)
    a.confusion.limit.setCurrentIndex(a.confusion.limit.findData(0))
    qtbot.waitUntil(lambda: len(a.cm_classes) == 5, timeout=5000)
    names = w.session.dataset.classes.names
    rows = [names[c] if c < len(names) else "bg" for c in a.cm_classes.tolist()]
    car, cat = rows.index("car"), rows.index("cat")
    click_plot(a.confusion.plot, cat + 0.5, car + 0.5)  # true car, predicted cat
    qtbot.waitUntil(lambda: listed(w) == [2], timeout=5000)
    assert w.current_image == 2
    assert w.viewer.gt_pane.selected == [3] and w.viewer.pred_pane.selected == [103]
    assert "true car → predicted cat" in w.panels.query.drill_label.text()
    assert w.panels.query.drill_label.isVisible()
    # a missed dog: row dog, column background
    dog, bg = rows.index("dog"), rows.index("bg")
    click_plot(a.confusion.plot, bg + 0.5, dog + 0.5)
    qtbot.waitUntil(lambda: listed(w) == [0], timeout=5000)
    assert w.viewer.gt_pane.selected == [1] and w.viewer.pred_pane.selected == []
    # ✕ shows every image again
    w.panels.query.drill_clear.click()
    assert sorted(listed(w)) == [0, 1, 2] and w.panels.hits is None


def test_error_bars_list_the_images_with_that_error(qtbot: Any, window: Any) -> None:
    w = window
    ready(qtbot, w)
    a = w.analysis
    a.tabs.setCurrentIndex(2)
    names = a.error_types.names
    assert names == ["Cls", "Loc", "Both", "Dupe", "Bkg", "Miss"]
    click_plot(a.error_types.bars_plot, 0.5, names.index("Cls"))
    qtbot.waitUntil(lambda: listed(w) == [2], timeout=5000)
    assert w.viewer.pred_pane.selected == [103]  # the cat on the car
    click_plot(a.error_types.bars_plot, 0.5, names.index("Bkg"))
    qtbot.waitUntil(lambda: listed(w) == [0], timeout=5000)
    assert w.viewer.pred_pane.selected == [101]
    click_plot(a.error_types.bars_plot, 0.5, names.index("Miss"))
    qtbot.waitUntil(lambda: listed(w) == [0] and w.viewer.gt_pane.selected == [1],
                    timeout=5000)
    # a type nobody has: an empty list, said so
    click_plot(a.error_types.bars_plot, 0.3, names.index("Dupe"))
    qtbot.waitUntil(lambda: listed(w) == [], timeout=5000)
    assert "none" in w.message_label.text()


def test_histogram_bins_filter_the_list(qtbot: Any, window: Any) -> None:
    w = window
    ready(qtbot, w)
    a = w.analysis
    a.tabs.setCurrentIndex(4)
    th = a.thresholds
    qtbot.waitUntil(lambda: th.curve is not None, timeout=5000)
    # scores: 20 bins; within a bin the TP bar is left, the FP bar right
    click_plot(th.scores.plot, 0.80 + 0.05 * 0.75, 0.05)  # FP, score 0.80-0.85
    qtbot.waitUntil(lambda: listed(w) == [0], timeout=5000)
    assert w.viewer.pred_pane.selected == [101]
    click_plot(th.scores.plot, 0.70 + 0.05 * 0.75, 0.05)  # FP, 0.70-0.75: the cat on the car
    qtbot.waitUntil(lambda: listed(w) == [2], timeout=5000)
    click_plot(th.scores.plot, 0.95 + 0.05 * 0.25, 0.05)  # TP, 0.95-1.00: the person
    qtbot.waitUntil(lambda: listed(w) == [1], timeout=5000)
    assert w.viewer.pred_pane.selected == [102] and w.viewer.gt_pane.selected == [2]
    # IoU of matched boxes over [0.5, 1], 20 bins: 0.9025 (image 0), 1.0 (images 1, 2)
    e = th.ious.hist.edges
    assert e[0] == 0.5 and len(e) == 21
    click_plot(th.ious.plot, 0.91, 0.5)
    qtbot.waitUntil(lambda: listed(w) == [0], timeout=5000)
    assert w.viewer.gt_pane.selected == [0] and w.viewer.pred_pane.selected == [100]
    click_plot(th.ious.plot, 0.99, 0.5)
    qtbot.waitUntil(lambda: sorted(listed(w)) == [1, 2], timeout=5000)
    click_plot(th.ious.plot, 0.6, 0.5)  # an empty bin: nothing changes
    assert sorted(listed(w)) == [1, 2]


def test_f1_plot_and_pr_points_set_the_threshold(qtbot: Any) -> None:
    gt, dets = synthetic_coco(5, n_images=30)
    g, d, k, ids, _ = tables_from_coco(gt, dets)
    images = Images(ids, [f"{i}.jpg" for i in ids], [640] * len(ids), [480] * len(ids))
    ds = Dataset(images, Classes.from_names([f"c{i}" for i in range(k)]), g, {"r": d})
    w = MainWindow()
    w.quiet = True
    qtbot.addWidget(w)
    w.set_session(Session(ds, name="synthetic"), "synthetic")
    sized(w, 1400, 900)
    w.show()
    qtbot.waitExposed(w)
    ready(qtbot, w)
    a = w.analysis
    a.tabs.setCurrentIndex(4)
    th = a.thresholds
    qtbot.waitUntil(lambda: th.curve is not None, timeout=5000)
    c = th.curve
    # the best threshold: the highest F1 over the toolbar's thresholds (0.00..1.00)
    f1 = np.nan_to_num(c.f1, nan=-1)
    assert c.best_f1 == f1.max()
    assert f"{c.best_threshold:.2f}" in th.best_button.text()
    click_plot(th.f1, 0.3, 0.5)
    qtbot.waitUntil(lambda: w.session.params.score_threshold == 0.3, timeout=5000)
    assert w.score_spin.value() == 0.3
    qtbot.waitUntil(w.analysis.is_idle, timeout=30000)
    th.best_button.click()
    qtbot.waitUntil(lambda: w.session.params.score_threshold == c.best_threshold,
                    timeout=5000)
    assert not th.best_button.isEnabled()  # already there
    # at the chosen threshold the summary counts equal the image list's totals
    s = w.session
    qtbot.waitUntil(w.analysis.is_idle, timeout=30000)
    assert f"{int(s.column('tp').sum())} TP, {int(s.column('fp').sum())} FP" in \
        th.summary.text()
    # a PR point: the highest threshold that still reaches that recall
    a.tabs.setCurrentIndex(1)
    qtbot.wait(50)
    click_plot(a.pr.plot, 0.2, 0.5)
    curve = th.curve
    want = float(curve.thresholds[np.flatnonzero(np.nan_to_num(curve.recall) >= 0.2 - 1e-9)
                                  [-1]])
    qtbot.waitUntil(lambda: abs(s.params.score_threshold - want) < 1e-9, timeout=5000)
    x, _y = a.pr.marker.getData()
    assert len(x) == 1  # the yellow dot shows where the threshold is
    w.session.history.mark_clean()


def _iou(a: list[float], b: list[float]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def test_a_drill_down_shows_exactly_its_boxes_in_the_objects_grid(
        qtbot: Any, window: Any) -> None:
    """A confusion cell (true car → predicted cat), then "Show in Objects grid": the
    grid holds exactly the ground-truth boxes and predictions the drill-down selects,
    found here from the boxes themselves (a car box and the cat prediction over it)."""
    w = window
    ready(qtbot, w)
    a = w.analysis
    a.tabs.setCurrentIndex(3)
    qtbot.waitUntil(lambda: {0, 3} <= set(a.cm_classes.tolist()), timeout=5000)
    names = w.session.dataset.classes.names
    rows = [names[c] if c < len(names) else "bg" for c in a.cm_classes.tolist()]
    car, cat = rows.index("car"), rows.index("cat")
    click_plot(a.confusion.plot, cat + 0.5, car + 0.5)
    qtbot.waitUntil(lambda: listed(w) == [2], timeout=5000)
    q = w.panels.query
    assert q.drill_grid.isVisible()
    # oracle: car GT boxes overlapped (IoU >= 0.5) by a cat prediction scoring >= 0.5
    ds = w.session.dataset
    gt, run = ds.gt, ds.runs[w.session.run]
    want: set[tuple[bool, int]] = set()
    for g in range(len(gt.cls)):
        for p in range(len(run.cls)):
            if (names[int(gt.cls[g])] == "car" and names[int(run.cls[p])] == "cat"
                    and int(gt.image[g]) == int(run.image[p]) and float(run.score[p]) >= 0.5
                    and _iou(gt.xyxy[g].tolist(), run.xyxy[p].tolist()) >= 0.5):
                want |= {(False, int(gt.box_id[g])), (True, int(run.box_id[p]))}
    assert want == {(False, 3), (True, 103)}
    q.drill_grid.click()
    grid = w.panels.grid
    qtbot.waitUntil(lambda: grid.model.objects is not None, timeout=5000)
    assert w.panels.grid_dock.isVisible()
    o = grid.model.objects
    got = {(bool(p), int(b)) for p, b in zip(o.is_pred.tolist(), o.box_id.tolist(),
                                             strict=True)}
    assert got == want and len(o) == len(want)
    assert grid.source.currentData() == "drill"
    assert "true car → predicted cat" in grid.source.currentText()
    assert "2 boxes" in grid.count.text()
    # another filter, then back: the drill-down stays one of the filters
    grid.choose("gt")
    assert len(grid.model.objects) == len(gt.cls)
    grid.choose("drill")
    assert {(bool(p), int(b)) for p, b in zip(grid.model.objects.is_pred.tolist(),
                                              grid.model.objects.box_id.tolist(),
                                              strict=True)} == want
