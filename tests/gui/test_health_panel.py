"""The Health panel on a dataset the test plants problems in: the check runs in the
session's task runner (progress, Cancel), every planted problem is listed, and each
finding is one click away from its image (and box)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images
from detview.gui.main_window import MainWindow
from detview.session import Session
from tests.gui.conftest import sized

FILES = ["ok.jpg", "broken.jpg", "gone.jpg", "empty.jpg", "twin_a.jpg", "twin_b.jpg",
         "outside.jpg"]


def planted(root: Path, n_extra: int = 0) -> Dataset:
    """7 images: a good one, a truncated file, a missing file, one without labels, two
    identical files, one with a box beyond its right edge (and a tiny box)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    names = list(FILES) + [f"extra_{k:04d}.jpg" for k in range(n_extra)]
    for k, name in enumerate(names):
        if name == "gone.jpg":
            continue
        arr = rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)
        im = Image.fromarray(arr).resize((160, 120))
        if name == "twin_b.jpg":
            (root / name).write_bytes((root / "twin_a.jpg").read_bytes())
            continue
        im.save(root / name, quality=90)
        if name == "broken.jpg":
            data = (root / name).read_bytes()
            (root / name).write_bytes(data[: len(data) // 2])
        del k
    n = len(names)
    img = [0, 1, 2, 4, 5, 6, 6] + list(range(7, n))
    xyxy = [[10, 10, 60, 60], [20, 20, 80, 80], [5, 5, 50, 50], [30, 30, 90, 90],
            [30, 30, 90, 90], [120, 40, 175, 90], [40, 40, 41.2, 70]] + \
        [[10, 10, 60, 60]] * (n - 7)
    gt = Boxes.build(n, img, [0] * len(img), xyxy, box_id=np.arange(len(img)) + 50)
    images = Images(np.arange(n), names, [160] * n, [120] * n)
    return Dataset(images, Classes.from_names(["thing"]), gt, meta={"images_root": str(root)})


@pytest.fixture
def health_window(qtbot: Any, tmp_path: Path) -> MainWindow:
    w = MainWindow()
    w.quiet = True
    qtbot.addWidget(w)
    root = tmp_path / "images"
    w.set_session(Session(planted(root), image_root=root, name="planted"), "planted")
    sized(w, 1366, 768)
    w.show()
    qtbot.waitExposed(w)
    return w


def test_health_panel_lists_every_planted_problem(qtbot: Any, health_window: Any) -> None:
    w = health_window
    p = w.panels.health
    w.panels.health_dock.show()
    w.panels.health_dock.raise_()
    assert "Not checked yet" in p.status.text()
    task = p.run()
    assert task is not None and p.progress.isVisible() and p.cancel_button.isVisible()
    assert not p.run_button.isEnabled()
    qtbot.waitUntil(p.is_idle, timeout=60000)
    qtbot.waitUntil(lambda: p.report is not None, timeout=5000)
    assert not p.progress.isVisible()
    shown = dict(p.items())
    titles = list(shown)
    # problems first (errors, then warnings), the clean checks in one line at the end
    assert any(t.startswith("Truncated images (1)") for t in titles)
    assert any(t.startswith("Missing image files (1)") for t in titles)
    assert any(t.startswith("Exact duplicates") for t in titles)
    assert any(t.startswith("Images without labels (1)") for t in titles)
    assert any(t.startswith("Boxes outside the image (1)") for t in titles)
    assert any(t.startswith("Tiny boxes (1)") for t in titles)
    assert titles[-1].startswith("✓ No problem found by")
    first_warning = next(k for k, t in enumerate(titles) if t.startswith("Images without"))
    assert titles.index(next(t for t in titles if t.startswith("Truncated"))) < first_warning
    outside = next(v for t, v in shown.items() if t.startswith("Boxes outside"))
    assert "right edge" in outside[0]
    assert "problems" in p.status.text() and p.run_button.text() == "Run again"
    # a finding is a click away from its image, the box selected
    tree = p.tree
    top = next(tree.topLevelItem(k) for k in range(tree.topLevelItemCount())
               if tree.topLevelItem(k).text(0).startswith("Boxes outside"))
    child = top.child(0)
    tree.scrollToItem(child)
    rect = tree.visualItemRect(child)
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, rect.center())
    assert w.current_image == 6
    assert w.viewer.gt_pane.selected == [55]  # the box beyond the right edge
    # a kind lists its images
    top = next(tree.topLevelItem(k) for k in range(tree.topLevelItemCount())
               if tree.topLevelItem(k).text(0).startswith("Exact duplicates"))
    rect = tree.visualItemRect(top)
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton,
                     Qt.KeyboardModifier.NoModifier, rect.center())
    m = w.images.model
    assert sorted(m.image_at(r) for r in range(m.rowCount())) == [4, 5]
    assert "duplicates" in w.panels.query.drill_label.text()
    # an edit makes the report out of date; Run again checks again
    w.session.delete_boxes([55])
    assert "edited since" in p.status.text()
    p.run()
    qtbot.waitUntil(p.is_idle, timeout=60000)
    assert not any(t.startswith("Boxes outside") for t, _ in p.items())
    assert "edited since" not in p.status.text()
    w.session.history.mark_clean()


def test_health_check_can_be_cancelled(qtbot: Any, tmp_path: Path) -> None:
    w = MainWindow()
    w.quiet = True
    qtbot.addWidget(w)
    root = tmp_path / "many"
    w.set_session(Session(planted(root, n_extra=600), image_root=root), "many")
    w.show()
    p = w.panels.health
    task = p.run()
    assert task is not None
    QTest.mouseClick(p.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(p.is_idle, timeout=60000)
    assert task.cancelled and p.report is None
    assert "cancelled" in p.status.text().lower()
    assert p.run_button.isEnabled() and not p.cancel_button.isVisible()
    assert p.tree.topLevelItemCount() == 0
    # and runs to the end when not cancelled
    p.run()
    qtbot.waitUntil(lambda: p.report is not None, timeout=60000)
    assert p.report.n_images == 607
