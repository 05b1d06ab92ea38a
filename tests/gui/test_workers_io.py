"""Work off the GUI thread: loading, export, the analysis; the journal through the
window."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detview.gui.app import demo_spec

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "resources" / "demo"


def test_export_writes_dataset_and_corrections(window: Any, qtbot: Any, tmp_path: Path) -> None:
    s = window.session
    window.select_image(0)
    s.delete_boxes([1])
    s.set_images_deleted([1], True)
    assert window.isWindowModified()
    out = tmp_path / "export"
    task = window.start_export(out, "coco")
    assert task is not None
    qtbot.waitUntil(lambda: task.done, timeout=20000)
    assert task.ok and not window.isWindowModified(), window.last_error
    obj = json.loads((out / "annotations.json").read_text())
    assert len(obj["images"]) == 2  # the deleted image is left out
    assert len(obj["annotations"]) == 3  # 5 boxes - 1 deleted - 1 on the deleted image
    log = (out / "corrections.jsonl").read_text().splitlines()
    assert len(log) == 3  # header + 2 edits


@pytest.mark.skipif(not (DEMO / "images").is_dir(), reason="resources/demo is absent")
def test_open_demo_in_worker(qtbot: Any) -> None:
    from detview.gui.main_window import MainWindow

    w = MainWindow()
    w.quiet = True
    w.use_journal = False  # nothing written into resources/
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.sessionChanged, timeout=60000):
        w.open_spec(demo_spec())
    ds = w.session.dataset
    assert ds.n_images >= 10 and ds.runs
    assert w.model.rowCount() == ds.n_images
    assert w.current_image >= 0
    # the image is decoded off the GUI thread and arrives in the viewer
    qtbot.waitUntil(lambda: w.viewer.gt_pane.image_item.image is not None
                    and w.viewer.gt_pane.image_item.image.ndim == 3, timeout=10000)
    # the COCO numbers, computed by the session in a worker, in the analysis dock
    qtbot.waitUntil(w.analysis.is_idle, timeout=60000)
    ap = w.analysis.coco_values()["AP"]
    assert 0.0 < ap <= 1.0
    r, c = w.analysis.stat_cell("AP")
    assert "IoU" in w.analysis.coco.item(r, c).toolTip()


def test_load_error_is_a_message_not_a_traceback(qtbot: Any, tmp_path: Path) -> None:
    from detview.gui.main_window import MainWindow
    from detview.io.spec import DatasetSpec

    w = MainWindow()
    w.quiet = True
    qtbot.addWidget(w)
    bad = tmp_path / "gt.json"
    bad.write_text("{ not json", encoding="utf-8")
    w.open_spec(DatasetSpec.make(images=tmp_path, gt=bad))
    qtbot.waitUntil(lambda: bool(getattr(w, "last_error", "")), timeout=20000)
    assert "gt.json" in w.last_error
    assert "Traceback" not in w.last_error
    assert w.session is None


def _loaded(root: Path) -> Any:
    from detview.core.metrics import MetricParams
    from detview.io.spec import DatasetSpec
    from detview.session import Loaded
    from detview.session.derived import build_metrics
    from tests.gui.conftest import make_dataset

    ds = make_dataset(root / "images")
    p = MetricParams()
    return Loaded(ds, DatasetSpec.make(images=root / "images", gt=root / "gt.json"),
                  build_metrics(ds, p), p)


def test_journal_restores_edits_after_a_crash(qtbot: Any, tmp_path: Path) -> None:
    from detview.gui.main_window import MainWindow

    w = MainWindow()
    w.quiet = True
    qtbot.addWidget(w)
    w.open_loaded(_loaded(tmp_path))
    assert w.session.journal is not None
    assert w.journal_path.parent == tmp_path / ".detview"
    s = w.session
    s.delete_boxes([1])
    for _ in range(3):
        s.nudge_boxes([0], 1, 0)  # merged into one undo step
    s.set_reviewed([2], True)
    w.undo()  # reviewed -> redo list
    w.undo()  # the three nudges, one step
    assert len(s.history) == 3 and s.history.index == 1
    # "crash": a new window opens the same files, the old one never closed
    w2 = MainWindow()
    w2.quiet = True
    qtbot.addWidget(w2)
    w2.open_loaded(_loaded(tmp_path))
    s2 = w2.session
    ds = s2.dataset
    assert not ds.gt.alive[ds.gt.rows_of([1])[0]]
    np.testing.assert_allclose(ds.gt.xyxy[ds.gt.rows_of([0])[0]], [10, 10, 50, 50])
    assert not ds.images.reviewed[2]
    assert s2.history.index == 1 and s2.history.can_redo
    assert len(s2.history) == 3  # the merged nudges are one step again
    assert w2.isWindowModified()
    s2.redo()  # the three nudges at once
    assert ds.gt.xyxy[ds.gt.rows_of([0])[0]][0] == 13
    s2.redo()
    assert ds.images.reviewed[2]
    assert ds.gt.xyxy[ds.gt.rows_of([0])[0]][0] == 13
    # closing (edits discarded on purpose) archives the journal: nothing to restore
    w2.close()
    w.close()
    w3 = MainWindow()
    w3.quiet = True
    qtbot.addWidget(w3)
    w3.open_loaded(_loaded(tmp_path))
    assert len(w3.session.history) == 0
