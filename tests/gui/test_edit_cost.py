"""An edit re-computes only the images it touched and never re-sorts the image list on
the GUI thread; large datasets re-compute thresholds in a worker."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from detview.core.metrics import PerImageMetrics

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_an_edit_recomputes_only_its_image(window: Any, qtbot: Any, monkeypatch: Any) -> None:
    window.sort_by("mean_iou", Qt.SortOrder.AscendingOrder, select_first=True)
    assert window.current_image == 0
    computed: list[int] = []
    orig_update, orig_result = PerImageMetrics.update, PerImageMetrics.image_result

    def spy_update(self: Any, images: Any, progress: Any = None) -> Any:
        images = [int(i) for i in images]
        computed.extend(images)
        return orig_update(self, images, progress)

    def spy_result(self: Any, i: int) -> Any:
        computed.append(i)
        return orig_result(self, i)

    def no_resort() -> None:
        raise AssertionError("the image list was re-sorted by an edit")

    monkeypatch.setattr(PerImageMetrics, "update", spy_update)
    monkeypatch.setattr(PerImageMetrics, "image_result", spy_result)
    monkeypatch.setattr(window.model, "_apply_order", no_resort)
    order = window.model.order.copy()
    pane = window.viewer.gt_pane
    pane.view.setFocus()
    pane.set_selected([1], emit=True)
    QTest.keyClick(pane.view, Qt.Key.Key_Delete)
    qtbot.wait(5)
    assert window.session.dataset.gt.alive.sum() == 4
    assert set(computed) == {0}  # two runs, plus the viewer's match records: image 0 only
    assert (window.model.order == order).all()  # rows stay where they are
    computed.clear()
    QTest.keyClick(pane.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    qtbot.wait(5)
    assert set(computed) == {0}


def test_threshold_change_on_a_large_dataset_runs_in_a_worker(window: Any, qtbot: Any,
                                                             monkeypatch: Any) -> None:
    from detview.session.derived import MetricsProducer

    monkeypatch.setattr(MetricsProducer, "sync_max_images", 2)  # 3 images: "large"
    s = window.session
    started: list[str] = []
    window.runner.subscribe(lambda ev: started.append(ev.task.slot)
                            if ev.what == "started" else None)
    window.score_spin.setValue(0.25)
    qtbot.waitUntil(lambda: s.current.params.score_threshold == 0.25, timeout=5000)
    assert "recompute:metrics" in started
    assert s.current.column("n_pred")[2] == 3
