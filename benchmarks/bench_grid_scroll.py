"""Object grid smoothness at 50,000 crops: frame times while scrolling, jumps, acting.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_grid_scroll.py [--boxes 50000]

Builds a seeded dataset (500 images of 640x480: symlinks to 8 generated JPEGs, 100
ground-truth boxes each), opens it in the real MainWindow at 1366x768, shows the
Objects dock with every box (50,000 crops; floated at 1300x700, or ``--docked``) and
measures on the GUI thread:

* opening the set (model reset, layout, first paint);
* scrolling by mouse wheel, one notch (3 lines) per frame, 300 frames: the time from
  the wheel event to the end of the repaint, while the workers decode what comes on
  screen (cold: empty thumbnail cache; the crops scrolled past before they are made
  are dropped), then over the same range again once every crop of it is in memory
  (warm); the median, 95th percentile and worst frame against one 60 Hz frame;
* jumping (the scrollbar dragged to 20 places): the first paint (placeholders) and the
  time until every visible crop is drawn, with an empty and then a filled disk cache;
* Ctrl+A, Delete (one undo step) and Undo at 50,000 boxes;
* how many crops were decoded in all (only what came on screen).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FRAME_MS = 1000 / 60


def dataset(folder: Path, n_boxes: int, per_image: int = 100, seed: int = 0) -> Any:
    from PIL import Image

    from detview.core.dataset import Dataset
    from detview.core.tables import Boxes, Classes, Images

    rng = np.random.default_rng(seed)
    W, H = 640, 480  # noqa: N806
    n_images = max(1, n_boxes // per_image)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(8):
        yy, xx = np.mgrid[0:H, 0:W]
        arr = np.stack([(xx + 30 * k) % 256, (yy * 2) % 256,
                        ((xx * yy) // 97 + 40 * k) % 256], -1).astype(np.uint8)
        Image.fromarray(arr).save(folder / f"base{k}.jpg", quality=85)
    names = []
    for i in range(n_images):
        link = folder / f"{i:06d}.jpg"
        if not link.exists():
            link.symlink_to(f"base{i % 8}.jpg")
        names.append(link.name)
    img = np.repeat(np.arange(n_images), per_image)[:n_boxes]
    xy = rng.uniform(0, [W - 60, H - 60], (img.size, 2))
    wh = rng.uniform(10, 160, (img.size, 2))
    gt = Boxes.build(n_images, img, rng.integers(0, 20, img.size),
                     np.hstack([xy, np.minimum(xy + wh, [W, H])]))
    images = Images(np.arange(n_images), names, [W] * n_images, [H] * n_images)
    return Dataset(images, Classes.from_names([f"class{k}" for k in range(20)]), gt,
                   meta={"images_root": str(folder)})


def stats(ms: list[float]) -> str:
    a = np.asarray(ms)
    over = int(np.count_nonzero(a > FRAME_MS))
    return (f"median {statistics.median(ms):6.1f} ms · p95 {np.percentile(a, 95):6.1f} ms · "
            f"worst {a.max():6.1f} ms · {over}/{a.size} over {FRAME_MS:.1f} ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--boxes", type=int, default=50_000)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--docked", action="store_true",
                    help="measure the dock as laid out at 1366x768 (default: the dock "
                         "floated at 1300x700, the most crops per frame)")
    args = ap.parse_args()
    from PySide6.QtCore import QPoint, QPointF, Qt
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    tmp = Path(tempfile.mkdtemp(prefix="detview-grid-"))
    os.environ["DETVIEW_CACHE_DIR"] = str(tmp / "cache")
    app = QApplication.instance() or QApplication([])
    from detview.gui.main_window import MainWindow
    from detview.session import Session

    ds = dataset(tmp / "images", args.boxes)
    w = MainWindow()
    w.quiet = True
    w.use_journal = False
    w.set_session(Session(ds, image_root=tmp / "images", name="bench"), "bench")
    w.setWindowState(Qt.WindowState.WindowNoState)  # not fitted to the screen
    w.resize(1366, 768)
    w.show()
    app.processEvents()
    g = w.panels.grid
    w.panels.grid_dock.show()
    w.panels.grid_dock.raise_()
    if not args.docked:
        w.panels.grid_dock.setFloating(True)
        w.panels.grid_dock.resize(1300, 700)
        w.panels.grid_dock.show()
        app.processEvents()
    t = time.perf_counter()
    g.choose("gt", sort="area")
    g.view.viewport().repaint()
    app.processEvents()
    print(f"detview object grid: {g.model.rowCount():,} crops of {ds.n_images} images "
          f"({os.cpu_count()} CPUs, {g.service._n_workers} decoding workers), "
          f"{g.view.viewport().width()}x{g.view.viewport().height()} px of crops")
    print(f"  open the set (layout + first paint)      {1000 * (time.perf_counter() - t):7.1f} ms")
    vp = g.view.viewport()

    def wheel() -> float:
        t0 = time.perf_counter()
        ev = QWheelEvent(QPointF(vp.width() / 2, vp.height() / 2),
                         QPointF(vp.mapToGlobal(QPoint(vp.width() // 2, vp.height() // 2))),
                         QPoint(0, 0), QPoint(0, -120), Qt.MouseButton.NoButton,
                         Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
        QApplication.sendEvent(vp, ev)
        vp.repaint()
        app.processEvents()
        return 1000 * (time.perf_counter() - t0)

    def settle(limit: float = 30.0) -> float:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < limit:
            app.processEvents()
            rows = g.visible_rows()
            if all(g.service.get(g.model.thumb(r)) is not None for r in rows):
                break
            time.sleep(0.002)
        return 1000 * (time.perf_counter() - t0)

    settle()
    sb = g.view.verticalScrollBar()
    start = sb.value()
    cold = [wheel() for _ in range(args.frames)]
    sb.setValue(start)  # the same range once more, slowly: every crop decoded
    for _ in range(args.frames):
        wheel()
        settle()
    sb.setValue(start)
    settle()
    warm = [wheel() for _ in range(args.frames)]
    print(f"  wheel scroll, decoding (cold)   {stats(cold)}")
    print(f"  wheel scroll, in memory (warm)  {stats(warm)}")
    rng = np.random.default_rng(1)
    spots = rng.integers(0, sb.maximum(), 20)
    for label in ("empty disk cache", "filled disk cache"):
        first, full = [], []
        if label.startswith("filled"):
            g.service.clear_memory()
        for v in spots:
            t0 = time.perf_counter()
            sb.setValue(int(v))
            vp.repaint()
            app.processEvents()
            first.append(1000 * (time.perf_counter() - t0))
            full.append(first[-1] + settle())
        print(f"  jump, first paint ({label:17s}) {stats(first)}")
        print(f"  jump, every crop drawn ({label:12s}) median {statistics.median(full):6.1f} "
              f"ms · worst {max(full):6.1f} ms")
    s = w.session
    g.view.setFocus()
    t0 = time.perf_counter()
    QTest.keyClick(g.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    app.processEvents()
    print(f"  Ctrl+A ({len(g.selected_rows()):,} crops)              "
          f"{1000 * (time.perf_counter() - t0):7.1f} ms")
    g.select_rows(range(10_000, 20_000))
    t0 = time.perf_counter()
    QTest.keyClick(g.view, Qt.Key.Key_Delete)
    g.refresh()
    vp.repaint()
    app.processEvents()
    print(f"  Delete 10,000 boxes (one step) + grid rebuilt  "
          f"{1000 * (time.perf_counter() - t0):7.1f} ms ({g.model.rowCount():,} left)")
    t0 = time.perf_counter()
    s.undo()
    g.refresh()
    vp.repaint()
    app.processEvents()
    print(f"  Undo + grid rebuilt                            "
          f"{1000 * (time.perf_counter() - t0):7.1f} ms ({g.model.rowCount():,} crops)")
    print(f"  crops decoded in all: {g.service.decoded:,} of {g.model.rowCount():,} "
          f"(read back from the disk cache: {g.service.from_disk:,})")
    g.service.shutdown()
    s.history.mark_clean()
    w.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
