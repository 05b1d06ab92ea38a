"""Three checkpoints of one training (the demo's real YOLOv5s predictions and two perturbed
copies written here), any two of {ground truth, A, B} or three panes, and the checkpoint
slider (one: the Compare strip's, under the panes): moving it switches run A and keeps
the image, the zoom and the selection. The panes are checked against the prediction
files read with ``json``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QRectF, Qt
from PySide6.QtTest import QTest

from detview.io.spec import DatasetSpec
from tests.gui.conftest import copy_demo, sized

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RUNS = ("preds_step100", "preds_step200", "preds_step300")
THR = 0.5


def _write_checkpoints(dest: Path) -> dict[str, list[dict[str, Any]]]:
    """step300: the real predictions; step200: every third one dropped, the others 3 px
    to the right; step100: every score x0.8, boxes 6 px to the right."""
    real = json.loads((dest / "predictions" / "yolov5s.json").read_text(encoding="utf-8"))
    s200 = [dict(d, bbox=[d["bbox"][0] + 3, *d["bbox"][1:]])
            for k, d in enumerate(real) if k % 3 != 2]
    s100 = [dict(d, bbox=[d["bbox"][0] + 6, *d["bbox"][1:]], score=round(d["score"] * 0.8, 5))
            for d in real]
    files = {"preds_step100": s100, "preds_step200": s200, "preds_step300": real}
    (dest / "ckpt").mkdir()
    for name, rows in files.items():
        (dest / "ckpt" / f"{name}.json").write_text(json.dumps(rows), encoding="utf-8")
    return files


def _expected(rows: list[dict[str, Any]], image_id: int, w: int, h: int) -> np.ndarray:
    """(cls, score, x1, y1, x2, y2) of one image's predictions >= THR, sorted: from the
    file, independently of the loader."""
    out = []
    for d in rows:
        if d["image_id"] == image_id and d["score"] >= THR:
            x, y, bw, bh = d["bbox"]
            out.append([d["category_id"], d["score"], min(max(x, 0), w), min(max(y, 0), h),
                        min(max(x + bw, 0), w), min(max(y + bh, 0), h)])
    a = np.array(out, dtype=np.float64).reshape(-1, 6)
    return a[np.lexsort(a.T[::-1])]


def _shown(layer: Any) -> np.ndarray:
    b = layer.boxes
    score = [float(t.rsplit(" ", 1)[1]) for t in b.labels]
    a = np.column_stack([b.cls, score, b.xyxy]) if len(b.cls) else np.zeros((0, 6))
    return a[np.lexsort(a.T[::-1])]


def _check(layer: Any, rows: list[dict[str, Any]], image_id: int, w: int, h: int) -> None:
    want, got = _expected(rows, image_id, w, h), _shown(layer)
    assert got.shape == want.shape, (layer.title, got.shape, want.shape)
    np.testing.assert_allclose(got[:, 0], want[:, 0])
    np.testing.assert_allclose(got[:, 1], want[:, 1], atol=0.006)  # labels say 2 decimals
    np.testing.assert_allclose(got[:, 2:], want[:, 2:], atol=1e-3)


@pytest.fixture
def ckpt(qtbot: Any, tmp_path: Path) -> Iterator[tuple[Any, dict[str, list[dict[str, Any]]]]]:
    from detview.core.metrics import MetricParams
    from detview.gui.main_window import MainWindow
    from detview.session import load

    base = copy_demo(tmp_path / "demo")
    files = _write_checkpoints(tmp_path / "demo")
    spec = DatasetSpec.make(images=base.images, gt=base.gt, gt_format=base.gt_format,
                            preds=[(n, tmp_path / "demo" / "ckpt" / f"{n}.json") for n in RUNS])
    w = MainWindow()
    w.quiet = True
    w.use_journal = False
    qtbot.addWidget(w)
    sized(w, 1600, 1000)
    w.show()
    qtbot.waitExposed(w)
    w.open_loaded(load(spec, MetricParams(THR, 0.5)))
    yield w, files
    assert all(la.boxes.paint_errors == 0 for la in w.viewer.layers.values())


def _busy_image(w: Any) -> int:
    s = w.session
    n = np.diff(s.dataset.runs["preds_step300"].offsets)
    return int(np.argmax(n))


def test_the_session_groups_the_checkpoints(ckpt: Any) -> None:
    w, _files = ckpt
    s = w.session
    t = s.training_of()
    assert t is not None and t.steps == (100, 200, 300) and t.runs == RUNS
    assert s.run == "preds_step100"
    assert s.show_checkpoint(300) == "preds_step300" and s.run == "preds_step300"
    with pytest.raises(KeyError):
        s.show_checkpoint(250)


def test_slider_switches_run_a_keeping_image_zoom_and_selection(ckpt: Any, qtbot: Any
                                                                ) -> None:
    w, files = ckpt
    s = w.session
    strip = w.compare
    slider = strip.slider
    # one checkpoint slider: the strip's, shown under the viewer's panes; none in its bar
    assert strip.isVisible() and slider.isVisible()
    assert w.viewer_split.indexOf(w.viewer) == 0 and w.viewer_split.indexOf(strip) == 1
    from PySide6.QtWidgets import QSlider

    adjust = w.viewer.bar.adjust  # brightness / contrast: the bar's only sliders
    assert [sl for sl in w.viewer.bar.findChildren(QSlider)
            if sl not in (adjust.brightness, adjust.contrast)] == []
    assert (slider.minimum(), slider.maximum(), slider.value()) == (0, 2, 0)
    i = _busy_image(w)
    w.select_image(i)
    im = s.dataset.images
    image_id, iw, ih = int(Path(im.file_names[i]).stem), int(im.widths[i]), int(im.heights[i])
    gt, a = w.viewer.gt_pane, w.viewer.pred_pane
    _check(a, files["preds_step100"], image_id, iw, ih)
    # zoom somewhere, select a ground-truth box and a matched prediction
    gt.show_rect(QRectF(100, 80, 200, 150))
    qtbot.wait(10)
    zoom = [list(r) for r in gt.vb.viewRange()]
    v = w.viewer.view
    later = s.image_view(i, run="preds_step200")  # matched at both checkpoints
    k = int(np.flatnonzero((v.gt_partner >= 0) & (later.gt_partner >= 0))[0])
    g_id, p_id = int(v.gt_ids[k]), int(v.gt_partner[k])
    gt.set_selected([g_id], emit=True)
    a.set_selected([p_id], emit=True)
    # the slider, by keyboard: one step right
    slider.setFocus()
    QTest.keyClick(slider, Qt.Key.Key_Right)
    qtbot.wait(10)
    assert s.run == "preds_step200" and slider.value() == 1
    assert "step 200" in strip.step_label.text()
    assert w.current_image == i
    np.testing.assert_allclose(gt.vb.viewRange(), zoom)
    assert gt.selected == [g_id]
    _check(a, files["preds_step200"], image_id, iw, ih)
    v2 = w.viewer.view
    assert v2.run == "preds_step200"
    # the selected prediction followed its object: the new run's match of the same box
    assert a.selected == [int(v2.gt_partner[v2.gt_ids == g_id][0])] != [p_id]
    assert w.run_combo.currentText() == "preds_step200"  # the toolbar follows
    # the last step by the slider's own mouse-less API, then back with Ctrl+[ and Ctrl+]
    slider.setValue(2)
    assert s.run == "preds_step300"
    _check(a, files["preds_step300"], image_id, iw, ih)
    ctrl = Qt.KeyboardModifier.ControlModifier
    QTest.keyClick(gt.view, Qt.Key.Key_BracketLeft, ctrl)
    assert s.run == "preds_step200" and slider.value() == 1
    QTest.keyClick(gt.view, Qt.Key.Key_BracketRight, ctrl)
    QTest.keyClick(gt.view, Qt.Key.Key_BracketRight, ctrl)  # already the last: stays
    assert s.run == "preds_step300"
    np.testing.assert_allclose(gt.vb.viewRange(), zoom)
    assert gt.selected == [g_id] and w.current_image == i
    # the Graphs view's call: a point at step S
    s.show_checkpoint(100)
    assert slider.value() == 0
    _check(a, files["preds_step100"], image_id, iw, ih)
    # hidden (View > Panels), the strip comes back under the panes on Ctrl+]
    strip.set_shown(False)
    QTest.keyClick(gt.view, Qt.Key.Key_BracketRight, ctrl)
    assert strip.isVisible() and s.run == "preds_step200" and slider.value() == 1
    assert gt.selected == [g_id] and w.current_image == i


def test_any_two_sources_and_three_panes(ckpt: Any, qtbot: Any) -> None:
    w, files = ckpt
    s = w.session
    viewer = w.viewer
    i = _busy_image(w)
    w.select_image(i)
    im = s.dataset.images
    image_id, iw, ih = int(Path(im.file_names[i]).stem), int(im.widths[i]), int(im.heights[i])
    s.update_view(run_b="preds_step300")
    # three panes: GT | A | B, linked zoom
    QTest.keyClick(viewer.gt_pane.view, Qt.Key.Key_3)
    assert s.view_settings.layout == "three"
    panes = viewer.shown_panes()
    assert len(panes) == 3
    assert [la.source for p in panes for la in p.layers] == ["gt", "ghost", "a", "b"]
    _check(viewer.pred_pane, files["preds_step100"], image_id, iw, ih)
    _check(viewer.b_layer, files["preds_step300"], image_id, iw, ih)
    assert "preds_step100" in panes[1].header.text()
    assert "preds_step300" in panes[2].header.text()
    panes[0].show_rect(QRectF(50, 50, 100, 100))
    qtbot.wait(10)
    for p in panes[1:]:  # (aspect locked: panes a pixel wider show a little more)
        np.testing.assert_allclose(p.vb.viewRange(), panes[0].vb.viewRange(), atol=0.5)
    # a ground-truth box selected: its matches in A and B are highlighted
    v_b = viewer.views["b"]
    k = int(np.flatnonzero((viewer.view.gt_partner >= 0) & (v_b.gt_partner >= 0))[0])
    g = int(viewer.view.gt_ids[k])
    viewer.gt_pane.set_selected([g], emit=True)
    assert viewer.pred_pane.partner_ids == {int(viewer.view.gt_partner[k])}
    assert viewer.b_layer.partner_ids == {int(v_b.gt_partner[k])}
    # the slider moves A, B stays
    w.compare.slider.setValue(1)
    _check(viewer.pred_pane, files["preds_step200"], image_id, iw, ih)
    _check(viewer.b_layer, files["preds_step300"], image_id, iw, ih)
    # two panes: A | B (no ground truth shown)
    QTest.keyClick(viewer.gt_pane.view, Qt.Key.Key_3)
    assert s.view_settings.layout == "side"
    s.update_view(panes=("a", "b"))
    panes = viewer.shown_panes()
    assert [[la.source for la in p.layers] for p in panes] == [["a"], ["b"]]
    assert not viewer.gt_pane.shown and viewer.gt_pane.selected == []
    _check(viewer.b_layer, files["preds_step300"], image_id, iw, ih)
    # ground truth | B: the ground truth's FN marks are those against B
    s.update_view(panes=("gt", "b"))
    assert viewer.gt_view is viewer.views["b"]
    # overlay of GT and A in one pane (O), and back
    s.update_view(panes=("gt", "a"))
    QTest.keyClick(viewer.pred_pane.view, Qt.Key.Key_O)
    panes = viewer.shown_panes()
    assert len(panes) == 1
    assert [la.source for la in panes[0].layers] == ["gt", "ghost", "a"]
    assert viewer.pred_pane.boxes.secondary and not viewer.gt_pane.boxes.secondary
    _check(viewer.pred_pane, files["preds_step200"], image_id, iw, ih)
    assert "Overlay" in panes[0].header.text()
    QTest.keyClick(panes[0].view, Qt.Key.Key_O)
    assert len(viewer.shown_panes()) == 2
