"""The object grid: 50,000 crops of images the test writes (scroll, select, act, undo,
only what is on screen decoded, the disk cache), and in the window: a click opens the
box, one key acts on many boxes as one undo step, the image thumbnails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images
from detview.gui.object_grid import ObjectGrid
from detview.gui.session import QtSession
from detview.gui.thumbnails import Thumb, ThumbnailService, make_thumbnail
from detview.session import Session

N_IMAGES, PER_IMAGE = 250, 200  # 50,000 boxes


@pytest.fixture
def big(tmp_path: Path) -> Session:
    rng = np.random.default_rng(0)
    root = tmp_path / "images"
    root.mkdir()
    for i in range(N_IMAGES):
        small = rng.integers(0, 255, (12, 16, 3), dtype=np.uint8)
        Image.fromarray(small).resize((320, 240)).save(root / f"{i:04d}.jpg", quality=80)
    img = np.repeat(np.arange(N_IMAGES), PER_IMAGE)
    xy = rng.uniform(0, [290, 210], (img.shape[0], 2))
    wh = rng.uniform(8, 40, (img.shape[0], 2))
    gt = Boxes.build(N_IMAGES, img, rng.integers(0, 5, img.shape[0]),
                     np.hstack([xy, np.minimum(xy + wh, [320, 240])]))
    images = Images(np.arange(N_IMAGES), [f"{i:04d}.jpg" for i in range(N_IMAGES)],
                    [320] * N_IMAGES, [240] * N_IMAGES)
    ds = Dataset(images, Classes.from_names(list("abcde")), gt,
                 meta={"images_root": str(root)})
    return Session(ds, image_root=root)


def all_on_screen(g: ObjectGrid) -> bool:
    rows = g.visible_rows()
    return len(rows) > 0 and all(g.service.get(g.model.thumb(r)) is not None for r in rows)


def test_fifty_thousand_crops_scroll_select_act_undo(qtbot: Any, big: Session,
                                                     tmp_path: Path) -> None:
    s = big
    cache = tmp_path / "cache"
    g = ObjectGrid(ThumbnailService(cache_dir=cache))
    qtbot.addWidget(g)
    g.resize(1000, 640)
    g.show()
    qtbot.waitExposed(g)
    g.set_session(QtSession(s, parent=g))
    assert g.source.currentData() == "gt"  # no run: the boxes of the ground truth
    assert g.model.rowCount() == 50_000
    assert "50,000 boxes" in g.count.text()
    qtbot.waitUntil(lambda: all_on_screen(g), timeout=30000)
    first_screen = len(g.visible_rows())
    assert 10 < first_screen < 200
    want = [g.model.thumb(r) for r in range(3)]  # decoded, and written to the cache
    assert g.service.decoded <= 2 * first_screen  # only what is on screen
    # scroll: to the middle, a few wheel steps, to the end
    sb = g.view.verticalScrollBar()
    sb.setValue(sb.maximum() // 2)
    qtbot.waitUntil(lambda: all_on_screen(g), timeout=30000)
    mid = g.visible_rows()
    assert 20_000 < mid.start < 30_000
    for _ in range(5):
        QTest.qWait(10)
        sb.setValue(sb.value() + sb.singleStep() * 3)
    sb.setValue(sb.maximum())
    qtbot.waitUntil(lambda: all_on_screen(g), timeout=30000)
    assert g.visible_rows().stop == 50_000
    assert g.service.decoded < 1_000  # 50,000 crops, a few screens decoded
    # select 10,000 crops, one key: one undo step
    sb.setValue(sb.maximum() // 2)
    g.select_rows(range(20_000, 30_000))
    assert "10,000 selected" in g.selection_label.text()
    chosen = g.model.objects.box_id[20_000:30_000].copy()
    g.view.setFocus()
    QTest.keyClick(g.view, Qt.Key.Key_Delete)
    assert len(s.history) == 1
    assert "Delete 10000 boxes" in s.step_text(s.history.done[-1])
    gt = s.dataset.gt
    assert not gt.alive[np.isin(gt.box_id, chosen)].any()
    qtbot.waitUntil(lambda: g.model.rowCount() == 40_000, timeout=10000)
    s.undo()
    qtbot.waitUntil(lambda: g.model.rowCount() == 50_000, timeout=10000)
    assert gt.alive.all()
    # relabel a few, sorted by area: one step, undone
    g.choose("gt", cls=2, sort="area")
    n2 = int(np.count_nonzero(gt.cls == 2))
    assert g.model.rowCount() == n2
    area = g.model.objects.area()
    assert list(area) == sorted(area)  # smallest first
    g.select_rows([0, 1, 2, 5])
    ids = g.model.objects.box_id[[0, 1, 2, 5]].copy()
    assert g.relabel_selected(4)
    assert (gt.cls[gt.rows_of(ids)] == 4).all() and len(s.history) == 1
    s.undo()
    assert (gt.cls[gt.rows_of(ids)] == 2).all()
    # the disk cache: another service reads what this one decoded, decodes nothing
    again = ThumbnailService(cache_dir=cache, parent=g)
    for t in want:
        again.get(t)
    qtbot.waitUntil(lambda: all(again.get(t) is not None for t in want), timeout=20000)
    assert again.from_disk == 3 and again.decoded == 0
    # one file per decoded thumbnail (written by the workers: wait for the last ones)
    qtbot.waitUntil(lambda: len(list(cache.rglob("*.jpg"))) >= g.service.decoded - 5,
                    timeout=20000)
    # a file changed on disk: a new key, never the stale picture
    path = want[0].path
    Image.new("RGB", (320, 240), (255, 0, 0)).save(path)
    again.clear_memory()
    again.get(want[0])
    qtbot.waitUntil(lambda: again.get(want[0]) is not None, timeout=20000)
    px = again.get(want[0]).pixelColor(5, 5)
    assert px.red() > 200 and px.green() < 60 and px.blue() < 60
    again.shutdown()
    g.service.shutdown()


def test_make_thumbnail_crops_the_box_with_context(tmp_path: Path) -> None:
    arr = np.zeros((400, 600, 3), np.uint8)
    arr[100:200, 300:400] = (0, 200, 0)  # a green square
    p = tmp_path / "a.jpg"
    Image.fromarray(arr).save(p, quality=95)
    q = make_thumbnail(str(p), (300.0, 100.0, 400.0, 200.0), 96)
    assert (q.width(), q.height()) == (96, 96)
    c = q.pixelColor(48, 48)
    assert c.green() > 150 and c.red() < 60  # the box in the middle
    edge = q.pixelColor(2, 48)
    assert edge.green() < 60  # context around it, not the box
    whole = make_thumbnail(str(p), None, 96)
    assert (whole.width(), whole.height()) == (96, 64)
    # boxes the health check would flag still make a crop: outside, flat, reversed, NaN
    for box in ((550.0, 350.0, 700.0, 500.0), (10.0, 50.0, 10.0, 80.0),
                (400.0, 200.0, 300.0, 100.0), (float("nan"), 5.0, 20.0, 30.0)):
        t = make_thumbnail(str(p), box, 64)
        assert 0 < t.width() <= 64 and 0 < t.height() <= 64, box
    with pytest.raises(Exception):  # noqa: B017 - any decoding error, named
        make_thumbnail(str(tmp_path / "missing.jpg"), None, 96)
    svc = ThumbnailService(cache_dir=tmp_path / "c", workers=1)
    bad = Thumb(str(tmp_path / "missing.jpg"), None, 96)
    svc.get(bad)
    import time

    end = time.monotonic() + 10
    from PySide6.QtWidgets import QApplication

    while not svc.error(bad) and time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)
    assert "missing.jpg" in svc.error(bad) or "No such file" in svc.error(bad)
    svc.shutdown()


def test_grid_in_the_window_opens_boxes_and_acts(qtbot: Any, window: Any) -> None:
    w = window
    p = w.panels
    p.grid_dock.show()
    p.grid_dock.raise_()
    qtbot.waitUntil(lambda: w.analysis.is_idle(), timeout=30000)
    g = p.grid
    g.choose("fp", sort="score")
    qtbot.waitUntil(lambda: g.model.rowCount() == 2, timeout=10000)
    o = g.model.objects
    assert o.is_pred.all() and o.box_id.tolist() == [101, 103]  # score 0.8, then 0.7
    # a click on the second crop: its image, the box selected
    rect = g.view.visualRect(g.model.index(1))
    QTest.mouseClick(g.view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, rect.center())
    assert w.current_image == 2 and w.viewer.pred_pane.selected == [103]
    # both, A: accepted as ground truth in one step
    g.view.setFocus()
    QTest.keyClick(g.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert g.selected_rows() == [0, 1]
    n = len(w.session.dataset.gt)
    QTest.keyClick(g.view, Qt.Key.Key_A)
    s = w.session
    assert len(s.dataset.gt) == n + 2 and len(s.history) == 1
    assert "Accept 2 predictions" in s.step_text(s.history.done[-1])
    w.undo()
    assert len(s.dataset.gt) == n
    # missed objects, deleted together with one key
    g.choose("fn")
    qtbot.waitUntil(lambda: g.model.rowCount() == 2, timeout=10000)
    assert sorted(g.model.objects.box_id.tolist()) == [1, 3]
    g.select_rows([0, 1])
    g.view.setFocus()
    QTest.keyClick(g.view, Qt.Key.Key_Delete)
    assert len(s.history) == 1 and not s.dataset.gt.alive[s.dataset.gt.rows_of([1, 3])].any()
    w.undo()
    # a TIDE type: the cat predicted on the car
    g.choose("err:Cls")
    qtbot.waitUntil(lambda: g.model.rowCount() == 1, timeout=10000)
    assert g.model.objects.box_id.tolist() == [103]
    # the image list as thumbnails, in its order; a click opens the image
    w.sort_by("mean_iou", Qt.SortOrder.AscendingOrder)
    g.set_mode("images")
    p._push_order()
    assert g.model.images.tolist() == [w.images.model.image_at(r) for r in range(3)]
    rect = g.view.visualRect(g.model.index(2))
    QTest.mouseClick(g.view.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, rect.center())
    assert w.current_image == g.model.images[2]
    assert g.view.indexAt(QPoint(rect.center())).row() == 2
    g.service.shutdown()
