"""Label-quality hints in the viewer: a likely missing label is a ghost box on the
ground-truth side that one key accepts, a likely swap says "likely <class>" and one key
applies it, a likely badly placed box snaps onto its prediction. The scores come from
the session's one derived value (the same the image list reads)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import Qt

from detview.session.label_quality import LQ_COLUMNS
from tests.gui.conftest import sized
from tests.gui.test_main_window import key
from tests.session._lq_data import (
    BAD,
    BAD_PRED_XY,
    BAD_XY,
    GHOST_XY,
    SWAP,
    lq_dataset,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

@pytest.fixture
def win(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    from detview.gui.main_window import MainWindow
    from detview.session import Session

    w = MainWindow()
    w.quiet = True
    w.use_journal = False
    qtbot.addWidget(w)
    w.set_session(Session(lq_dataset(tmp_path / "img"), image_root=tmp_path / "img"), "lq")
    sized(w, 1400, 900)
    w.show()
    qtbot.waitExposed(w)
    w.select_image(0)
    yield w
    assert all(la.boxes.paint_errors == 0 for la in w.viewer.layers.values())
    if w.session is not None:
        w.session.history.mark_clean()


def _tags(layer: Any) -> dict[int, str]:
    return dict(zip(layer.ids.tolist(), layer.boxes.tags, strict=True))


def test_hints_show_on_the_ground_truth_and_one_key_applies_each(win: Any, qtbot: Any) -> None:
    s, viewer = win.session, win.viewer
    gt, ghost = viewer.gt_pane, viewer.ghost_layer
    # off by default: nothing computed, nothing shown
    assert s.label_quality() is None and len(ghost.ids) == 0
    assert "likely" not in " ".join(_tags(gt).values())
    key(qtbot, gt.view, Qt.Key.Key_L,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert s.view_settings.lq_hints and viewer.bar.lq_button.isChecked()
    lq = s.label_quality()
    assert lq is not None  # 30 images: computed at once
    # the planted problems, as the engine flags them
    assert lq.likely_class(SWAP) == 1 and lq.snap_target(BAD) == 1001
    assert lq.overlooked_box_ids(0).tolist() == [1002]
    # ... and as the viewer draws them
    tags = _tags(gt)
    assert tags[SWAP] == "likely dog" and tags[BAD] == "snap?"
    assert ghost.ids.tolist() == [1002] and ghost.host is gt.host  # on the GT side
    np.testing.assert_allclose(ghost.boxes.xyxy, [GHOST_XY])
    assert "quality 0.00, 3 hints" in gt.header.text()
    tips = [gt.tooltips[k] for k in range(len(gt.ids))] + list(ghost.tooltips)
    assert sum("did not train" in t for t in tips) == 3
    assert "did not train" in viewer.bar.lq_button.toolTip()
    ds = s.dataset
    # J: the hinted boxes in reading order; Y relabels the likely swap
    key(qtbot, gt.view, Qt.Key.Key_J)
    assert gt.selected == [SWAP]
    key(qtbot, gt.view, Qt.Key.Key_Y)
    assert int(ds.gt.cls[ds.gt.rows_of([SWAP])[0]]) == 1
    assert len(s.history) == 1
    assert _tags(gt)[SWAP] == ""  # fixed: the hint is gone (scores updated)
    # J again: the badly placed box; R snaps it onto its prediction
    gt.set_selected([], emit=True)
    key(qtbot, gt.view, Qt.Key.Key_J)
    assert gt.selected == [BAD]
    key(qtbot, gt.view, Qt.Key.Key_R)
    np.testing.assert_allclose(ds.gt.xyxy[ds.gt.rows_of([BAD])[0]], BAD_PRED_XY)
    assert len(s.history) == 2
    # J: the ghost; A accepts it as ground truth
    key(qtbot, gt.view, Qt.Key.Key_J)
    assert ghost.selected == [1002] and gt.selected == []
    n = len(ds.gt)
    key(qtbot, gt.view, Qt.Key.Key_A)
    assert len(ds.gt) == n + 1
    (new,) = gt.selected  # the accepted box, selected
    np.testing.assert_allclose(ds.gt.xyxy[ds.gt.rows_of([new])[0]], GHOST_XY)
    assert len(ghost.ids) == 0  # no longer missing
    assert s.view_settings.lq_hints
    # the live scores equal a fresh computation on the edited data
    from detview.core.label_quality import dataset_label_quality

    fresh = dataset_label_quality(ds, "model")
    live = s.label_quality()
    for name in ("swap", "badloc", "overlooked", "label_quality", *LQ_COLUMNS):
        np.testing.assert_allclose(getattr(live, name), getattr(fresh, name), rtol=0,
                                   atol=1e-12, err_msg=name)
    for name in LQ_COLUMNS:  # the image list's columns read the same value
        np.testing.assert_allclose(s.column(name), np.asarray(getattr(fresh, name), float))
    # undo everything: the hints come back
    for _ in range(3):
        win.undo()
    tags = _tags(gt)
    assert tags[SWAP] == "likely dog" and tags[BAD] == "snap?"
    assert ghost.ids.tolist() == [1002]


def test_y_applies_the_suggestions_of_several_boxes_as_one_step(win: Any, qtbot: Any) -> None:
    s, viewer = win.session, win.viewer
    s.update_view(lq_hints=True)
    viewer.gt_pane.set_selected([SWAP, BAD], emit=True)
    key(qtbot, viewer.gt_pane.view, Qt.Key.Key_Y)
    ds = s.dataset
    assert int(ds.gt.cls[ds.gt.rows_of([SWAP])[0]]) == 1
    np.testing.assert_allclose(ds.gt.xyxy[ds.gt.rows_of([BAD])[0]], BAD_PRED_XY)
    assert len(s.history) == 1
    win.undo()
    assert int(ds.gt.cls[ds.gt.rows_of([SWAP])[0]]) == 0
    np.testing.assert_allclose(ds.gt.xyxy[ds.gt.rows_of([BAD])[0]], BAD_XY)
    # a box without a suggestion: nothing happens, a message says why
    win.select_image(1)
    viewer.gt_pane.set_selected(viewer.gt_pane.ids[:1].tolist(), emit=True)
    key(qtbot, viewer.gt_pane.view, Qt.Key.Key_Y)
    assert s.history.index == 0 and s.history.can_redo  # nothing new
    assert "No label-quality suggestion" in win.message_label.text()
