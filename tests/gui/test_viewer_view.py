"""The viewer's display settings: overlay mode, per-class visibility and colour,
brightness/contrast. Their state is the session's ViewSettings; what is drawn is
checked in the rendered pixels where it matters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from tests.gui.test_main_window import click_box, key, show_first_by_iou

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _pixels(pane: Any) -> np.ndarray:
    """The pane's viewport as rendered: (h, w, 3) uint8."""
    pane.view.viewport().repaint()
    img = pane.view.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
    w, h = img.width(), img.height()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=img.bytesPerLine() * h)
    return buf.reshape(h, img.bytesPerLine())[:, : 3 * w].reshape(h, w, 3).copy()


def test_overlay_puts_ground_truth_and_predictions_in_one_pane(window: Any, qtbot: Any) -> None:
    show_first_by_iou(window)
    s, viewer = window.session, window.viewer
    assert len(viewer.shown_panes()) == 2
    key(qtbot, viewer.gt_pane.view, Qt.Key.Key_O)
    assert s.view_settings.layout == "overlay"
    assert viewer.bar.layout_buttons["overlay"].isChecked()
    (pane,) = viewer.shown_panes()
    assert viewer.gt_pane.host is pane and viewer.pred_pane.host is pane
    assert sorted(viewer.pred_pane.ids.tolist()) == [100, 101]
    # one click on the FP prediction (far from any GT box) selects it; A accepts it
    click_box(qtbot, viewer.pred_pane, 10, 10)
    assert viewer.pred_pane.selected == [101] and viewer.gt_pane.selected == []
    n = len(s.dataset.gt)
    key(qtbot, pane.view, Qt.Key.Key_A)
    assert len(s.dataset.gt) == n + 1
    # the new GT box is selected, in the same pane
    assert len(viewer.gt_pane.selected) == 1
    # a selected GT box still moves by drag in the overlay
    from tests.gui.test_main_window import drag

    click_box(qtbot, viewer.gt_pane, 30, 20)  # GT 0 (cat), its label-free part
    assert viewer.gt_pane.selected == [0]
    drag(qtbot, viewer.gt_pane, (30, 20), (40, 20))
    b = s.dataset.gt.xyxy[s.dataset.gt.rows_of([0])[0]]
    assert abs(b[0] - 20) < 1.5
    # the toolbar button goes back
    viewer.bar.layout_buttons["side"].click()
    assert s.view_settings.layout == "side" and len(viewer.shown_panes()) == 2
    assert viewer.pred_pane.host is not viewer.gt_pane.host


def test_class_visibility_lives_in_the_session(window: Any, qtbot: Any) -> None:
    show_first_by_iou(window)
    s, viewer = window.session, window.viewer
    assert sorted(viewer.gt_pane.ids.tolist()) == [0, 1]
    # untick "dog" in the bar's class list
    lst = viewer.bar.classes.list
    dog = lst.item(1)
    assert dog.text() == "dog"
    dog.setCheckState(Qt.CheckState.Unchecked)
    assert s.view_settings.hidden_classes == {1}
    assert viewer.gt_pane.ids.tolist() == [0]  # the dog is not drawn
    assert viewer.pred_pane.ids.tolist() == [100]  # nor the dog prediction
    assert "1 hidden" in viewer.gt_pane.header.text()
    assert "hidden" in viewer.bar.classes_button.text()
    assert len(s.dataset.gt) == 5  # nothing deleted
    # the session's change shows in the widget too (another front end, a restored setting)
    s.update_view(hidden_classes=frozenset())
    assert sorted(viewer.gt_pane.ids.tolist()) == [0, 1]
    assert lst.item(1).checkState() == Qt.CheckState.Checked


def test_class_colour_is_drawn(window: Any, qtbot: Any) -> None:
    show_first_by_iou(window)
    s, viewer = window.session, window.viewer
    window.fit_view()
    pane = viewer.panes[0]
    x1, y1 = 10, 10  # GT 0, the cat: its left edge halfway down
    p = viewer.gt_pane.widget_point(x1, 30)
    before = _pixels(pane)[p.y() - 2:p.y() + 3, p.x() - 2:p.x() + 3].reshape(-1, 3)
    assert not np.any(np.all(before == [0, 255, 0], axis=1))
    s.update_view(class_colors=((0, "#00ff00"),))
    assert viewer.gt_pane.boxes.color_of(0).name() == "#00ff00"
    after = _pixels(pane)[p.y() - 2:p.y() + 3, p.x() - 2:p.x() + 3].reshape(-1, 3)
    assert np.any(np.all(after == [0, 255, 0], axis=1))
    assert y1 == 10
    # the swatch in the class list follows
    icon = viewer.bar.classes.list.item(0).icon().pixmap(14, 14).toImage()
    assert icon.pixelColor(7, 7).name() == "#00ff00"


def test_brightness_and_contrast_change_the_display_only(window: Any, qtbot: Any) -> None:
    show_first_by_iou(window)
    window.load_current_image_now()
    s, viewer = window.session, window.viewer
    pane = viewer.panes[0]
    window.fit_view()
    # the image's inside, away from boxes
    p = viewer.gt_pane.widget_point(100, 85)
    patch = (slice(p.y() - 3, p.y() + 3), slice(p.x() - 3, p.x() + 3))
    base = _pixels(pane)[patch].astype(float).mean()
    revision = s.dataset.revision
    key(qtbot, viewer.gt_pane.view, Qt.Key.Key_B)  # brighter
    key(qtbot, viewer.gt_pane.view, Qt.Key.Key_B)
    assert s.view_settings.brightness == pytest.approx(0.2)
    assert pane.image_item.levels is not None
    np.testing.assert_allclose(pane.image_item.levels, s.view_settings.levels())
    brighter = _pixels(pane)[patch].astype(float).mean()
    assert brighter > base + 30
    key(qtbot, viewer.gt_pane.view, Qt.Key.Key_K)  # more contrast
    assert s.view_settings.contrast == pytest.approx(1.25)
    assert viewer.bar.image_button.text().endswith("●")
    key(qtbot, viewer.gt_pane.view, Qt.Key.Key_B,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)  # reset
    assert s.view_settings.brightness == 0 and s.view_settings.contrast == 1
    assert abs(_pixels(pane)[patch].astype(float).mean() - base) < 2
    # display only: no edit, nothing in the history
    assert s.dataset.revision == revision and len(s.history) == 0
    # the sliders of the bar do the same
    viewer.bar.adjust.brightness.setValue(-40)
    assert s.view_settings.brightness == pytest.approx(-0.4)
    assert _pixels(pane)[patch].astype(float).mean() < base - 30
    # a new image keeps the adjustment
    window.step_image(1)
    window.load_current_image_now()
    np.testing.assert_allclose(pane.image_item.levels, s.view_settings.levels())


def test_a_class_score_threshold_from_the_class_list(window: Any, qtbot: Any) -> None:
    """The class list's "Own score threshold" for dog: its 0.8 prediction goes from the
    pane and from image 0's FP count; the cat's stays; unticking brings it back."""
    show_first_by_iou(window)
    s, viewer = window.session, window.viewer
    run = s.dataset.runs["model"]
    fp_before = s.column("fp").copy()
    cl = viewer.bar.classes
    cl.list.setCurrentRow(1)  # dog
    assert not cl.thr_check.isChecked() and cl.thr_spin.value() == 0.5  # the global one
    cl.thr_check.setChecked(True)
    cl.thr_spin.setValue(0.85)
    assert s.view_settings.class_thresholds == ((1, 0.85),)

    def oracle(i: int, per_class: dict[int, float]) -> list[int]:
        return sorted(int(run.box_id[r]) for r in range(len(run.cls))
                      if int(run.image[r]) == i and run.alive[r]
                      and float(run.score[r]) >= per_class.get(int(run.cls[r]), 0.5))

    assert sorted(viewer.pred_pane.ids.tolist()) == oracle(0, {1: 0.85}) == [100]
    assert cl.list.item(1).text().startswith("dog") and "0.85" in cl.list.item(1).text()
    assert "own threshold" in viewer.bar.classes_button.text()
    header = viewer.pred_pane.header
    assert "own threshold: 1 class" in header.text() and "dog ≥ 0.85" in header.toolTip()
    fp = s.column("fp")
    assert fp[0] == fp_before[0] - 1  # the dog prediction was image 0's FP
    assert (fp[1:] == fp_before[1:]).all()  # no dog prediction elsewhere
    # another class keeps the global threshold; the override is per class
    cl.list.setCurrentRow(0)
    assert not cl.thr_check.isChecked()
    cl.list.setCurrentRow(1)
    assert cl.thr_check.isChecked() and abs(cl.thr_spin.value() - 0.85) < 1e-9
    cl.thr_check.setChecked(False)  # back to the global threshold
    assert s.view_settings.class_thresholds == ()
    assert sorted(viewer.pred_pane.ids.tolist()) == oracle(0, {}) == [100, 101]
    assert (s.column("fp") == fp_before).all()
    assert "own threshold" not in viewer.pred_pane.header.text()
