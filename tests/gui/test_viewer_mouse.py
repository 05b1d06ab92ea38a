"""Mouse semantics of the viewer, as in the labeling tools: a drag on empty space or on an
unselected box pans, only a selected box moves or resizes, Shift+drag rubber-bands, a
click on a label selects that label's box, a tiny selected box moves from its inside.
Real mouse events go to the pane's viewport (press, moves, release)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt

from detview.core.dataset import Dataset
from detview.core.edits import MoveBoxes
from detview.core.tables import Boxes, Classes, Images
from tests.gui.conftest import sized
from tests.gui.test_main_window import click_box, drag

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

W, H = 400, 300
#: id -> xyxy: a large box (L) holding a box (U) with a small one (Y) just above it, and
#: a tiny box (S) far from the others
L, U, Y, S = 0, 1, 2, 3
GT = {L: [20, 40, 380, 280], U: [40, 100, 140, 180], Y: [45, 84, 70, 99],
      S: [300, 200, 306, 206]}


def _dataset(root: Path) -> Dataset:
    root.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:H, 0:W]
    Image.fromarray(np.stack([xx % 256, yy % 256, np.full_like(xx, 120)], -1).astype(
        np.uint8)).save(root / "a.png")
    images = Images(np.arange(1), ["a.png"], [W], [H])
    gt = Boxes.build(1, image=[0] * 4, cls=[0, 1, 2, 3], xyxy=[GT[k] for k in (L, U, Y, S)],
                     box_id=[L, U, Y, S])
    preds = Boxes.build(1, image=[0, 0], cls=[0, 1], xyxy=[GT[L], GT[U]], score=[0.9, 0.8],
                        box_id=[100, 101])
    return Dataset(images, Classes.from_names(["person", "dog", "cup", "ant"]), gt,
                   {"model": preds}, meta={"images_root": str(root)})


@pytest.fixture
def win(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    from detview.gui.main_window import MainWindow
    from detview.session import Session

    ds = _dataset(tmp_path / "images")
    w = MainWindow()
    w.quiet = True
    w.use_journal = False
    qtbot.addWidget(w)
    w.set_session(Session(ds, image_root=tmp_path / "images", name="mouse"), "mouse")
    sized(w, 1400, 900)
    w.show()
    qtbot.waitExposed(w)
    w.select_image(0)
    w.load_current_image_now()
    w.fit_view()
    qtbot.wait(20)
    yield w
    assert all(la.boxes.paint_errors == 0 for la in w.viewer.layers.values())
    if w.session is not None:
        w.session.history.mark_clean()


def _xy(ds: Dataset, box_id: int) -> np.ndarray:
    return ds.gt.xyxy[ds.gt.rows_of([box_id])[0]].copy()


def _centre(box_id: int) -> tuple[float, float]:
    b = GT[box_id]
    return (b[0] + b[2]) / 2, (b[1] + b[3]) / 2


def test_drag_on_an_unselected_box_pans_and_edits_nothing(win: Any, qtbot: Any) -> None:
    gt = win.viewer.gt_pane
    before_range = gt.vb.viewRange()
    before = _xy(win.session.dataset, L)
    assert gt.selected == []
    drag(qtbot, gt, (300, 100), (260, 80))  # inside L, which is not selected
    assert len(win.session.history) == 0
    np.testing.assert_array_equal(_xy(win.session.dataset, L), before)
    after = gt.vb.viewRange()
    assert after[0][0] > before_range[0][0] + 20  # the view moved right (content left)
    # the prediction pane follows
    np.testing.assert_allclose(win.viewer.pred_pane.vb.viewRange()[0], after[0], atol=1e-6)


def test_drag_on_empty_space_pans(win: Any, qtbot: Any) -> None:
    gt = win.viewer.gt_pane
    before_range = gt.vb.viewRange()
    drag(qtbot, gt, (10, 20), (10, 5))  # outside every box
    assert len(win.session.history) == 0
    assert gt.vb.viewRange()[1][0] > before_range[1][0] + 5


def test_only_a_selected_box_moves(win: Any, qtbot: Any) -> None:
    ds = win.session.dataset
    gt = win.viewer.gt_pane
    click_box(qtbot, gt, 300, 100)  # select L
    assert gt.selected == [L]
    range_before = gt.vb.viewRange()
    drag(qtbot, gt, (300, 100), (310, 90))
    assert len(win.session.history) == 1
    assert isinstance(win.session.history.edits()[-1], MoveBoxes)
    b = _xy(ds, L)
    assert abs(b[0] - 30) < 1.5 and abs(b[1] - 30) < 1.5
    assert abs((b[2] - b[0]) - 360) < 1e-6  # moved, not resized
    np.testing.assert_allclose(gt.vb.viewRange(), range_before)  # no pan meanwhile
    # pressing on another (unselected) box inside the selected one: the selected one
    # moves (it is under the pointer too); U stays
    u = _xy(ds, U)
    drag(qtbot, gt, (90, 140), (80, 150))
    np.testing.assert_array_equal(_xy(ds, U), u)
    np.testing.assert_allclose(_xy(ds, L), b + [-10, 10, -10, 10], atol=1.5)
    assert len(win.session.history) == 2


def test_a_selected_box_resizes_by_its_handle(win: Any, qtbot: Any) -> None:
    ds = win.session.dataset
    gt = win.viewer.gt_pane
    click_box(qtbot, gt, *_centre(U))
    assert gt.selected == [U]
    drag(qtbot, gt, (140, 180), (150, 190))  # bottom-right corner handle
    b = _xy(ds, U)
    assert abs(b[2] - 150) < 1.5 and abs(b[3] - 190) < 1.5
    assert b[0] == 40 and b[1] == 100


def test_shift_drag_rubber_bands_without_panning(win: Any, qtbot: Any) -> None:
    gt = win.viewer.gt_pane
    before = gt.vb.viewRange()
    drag(qtbot, gt, (30, 75), (150, 190), Qt.KeyboardModifier.ShiftModifier)
    assert sorted(gt.selected) == [U, Y]
    np.testing.assert_allclose(gt.vb.viewRange(), before)
    assert len(win.session.history) == 0


def test_a_click_on_a_label_selects_its_own_box(win: Any, qtbot: Any) -> None:
    gt = win.viewer.gt_pane
    gt.view.viewport().repaint()
    chips = {int(gt.ids[r]): rect for rect, r in gt.boxes.painted_chips}
    assert U in chips, "U's label is drawn"
    rect = chips[U]
    vp = QPoint(int(rect.center().x()), int(rect.center().y()))
    # the label lies over other boxes (Y and L): a click there used to pick one of them
    pt = gt.vb.mapSceneToView(gt.view.mapToScene(vp))
    b = np.array([GT[k] for k in (L, Y)], dtype=float)
    under = [k for k, bb in zip((L, Y), b, strict=True)
             if bb[0] <= pt.x() <= bb[2] and bb[1] <= pt.y() <= bb[3]]
    assert under, "the label covers another box"
    from PySide6.QtTest import QTest

    QTest.mouseClick(gt.view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, vp)
    qtbot.wait(5)
    assert gt.selected == [U]
    # Y's own label selects Y
    click_box(qtbot, gt, 300, 100)
    assert gt.selected == [L]
    rect = next(rect for rect, r in gt.boxes.painted_chips if int(gt.ids[r]) == Y)
    QTest.mouseClick(gt.view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier,
                     QPoint(int(rect.center().x()), int(rect.center().y())))
    assert gt.selected == [Y]
    # and a click inside boxes (not on a label) selects the smallest box there
    click_box(qtbot, gt, 110, 160)
    assert gt.selected == [U]


def test_a_tiny_selected_box_moves_from_its_inside(win: Any, qtbot: Any) -> None:
    ds = win.session.dataset
    gt = win.viewer.gt_pane
    x, y = _centre(S)
    click_box(qtbot, gt, x, y)
    assert gt.selected == [S]
    # on screen the box is a few pixels wide: smaller than a resize handle
    a, b = gt.widget_point(GT[S][0], GT[S][1]), gt.widget_point(GT[S][2], GT[S][3])
    assert b.x() - a.x() < 28
    drag(qtbot, gt, (x + 1, y + 1), (x + 21, y + 11))
    new = _xy(ds, S)
    np.testing.assert_allclose(new[2:] - new[:2], [6, 6])  # size kept: moved, not resized
    assert abs(new[0] - 320) < 1.5 and abs(new[1] - 210) < 1.5
    # its corner handle (just outside it) still resizes it
    win.undo()
    gt.set_selected([S], emit=True)
    qtbot.wait(5)
    corner = gt.widget_point(GT[S][2], GT[S][3])
    px = gt.pixel_size()
    drag(qtbot, gt, (GT[S][2] + 3 * px, GT[S][3] + 3 * px),
         (GT[S][2] + 3 * px + 10, GT[S][3] + 3 * px + 10))
    new = _xy(ds, S)
    assert new[0] == GT[S][0] and new[1] == GT[S][1]
    assert new[2] > GT[S][2] + 8 and new[3] > GT[S][3] + 8
    assert corner.x() > 0


def test_predictions_never_move(win: Any, qtbot: Any) -> None:
    pred = win.viewer.pred_pane
    click_box(qtbot, pred, *_centre(U))
    assert pred.selected == [101]
    before = pred.vb.viewRange()
    drag(qtbot, pred, _centre(U), (_centre(U)[0] - 30, _centre(U)[1]))
    assert len(win.session.history) == 0
    assert pred.vb.viewRange()[0][0] > before[0][0] + 10  # panned

