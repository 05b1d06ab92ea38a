"""A tiny dataset built from core tables (3 images written with Pillow, GT, 2 runs).

Expected matching at score 0.5 / IoU 0.5 (run "model"):

* image 0 (a.png): GT 0 cat, GT 1 dog; pred cat ~ GT 0 (TP), pred dog far away (FP),
  GT 1 missed (FN). mean IoU 0.45.
* image 1 (b.png): GT 2 person; a perfect prediction (TP). mean IoU 1.0.
* image 2 (c.png): GT 3 car, GT 4 car; pred *cat* over GT 3 (FP, GT 3 missed), pred car
  on GT 4 (TP), a car at score 0.3 (not kept). mean IoU 0.5.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

CLASSES = ["cat", "dog", "person", "car"]
SIZES = [(120, 90), (100, 80), (80, 60)]
FILES = ["a.png", "b.png", "c.png"]


def make_dataset(root: Path) -> Dataset:
    root.mkdir(parents=True, exist_ok=True)
    for k, (name, (w, h)) in enumerate(zip(FILES, SIZES, strict=True)):
        yy, xx = np.mgrid[0:h, 0:w]
        arr = np.stack([(xx * 2 + k * 40) % 256, (yy * 3) % 256,
                        np.full_like(xx, 90 + 50 * k)], axis=-1).astype(np.uint8)
        Image.fromarray(arr).save(root / name)
    images = Images(np.arange(3), list(FILES), [s[0] for s in SIZES], [s[1] for s in SIZES])
    gt = Boxes.build(
        3,
        image=[0, 0, 1, 2, 2],
        cls=[0, 1, 2, 3, 3],
        xyxy=[[10, 10, 50, 50], [60, 20, 110, 80], [20, 20, 60, 70],
              [5, 5, 40, 40], [45, 10, 75, 50]],
    )
    model = Boxes.build(
        3,
        image=[0, 0, 1, 2, 2, 2],
        cls=[0, 1, 2, 0, 3, 3],
        xyxy=[[12, 12, 50, 50], [0, 0, 20, 20], [20, 20, 60, 70],
              [6, 6, 41, 41], [45, 10, 75, 50], [0, 0, 10, 10]],
        score=[0.9, 0.8, 0.95, 0.7, 0.6, 0.3],
        box_id=[100, 101, 102, 103, 104, 105],
    )
    other = Boxes.build(3, image=[0, 1], cls=[0, 2], xyxy=[[10, 10, 50, 50], [0, 0, 30, 30]],
                        score=[0.99, 0.9], box_id=[200, 201])
    return Dataset(images, Classes.from_names(CLASSES), gt, {"model": model, "other": other},
                   meta={"images_root": str(root)})


@pytest.fixture
def dataset(tmp_path: Path) -> Dataset:
    return make_dataset(tmp_path / "images")


@pytest.fixture
def window(qtbot, dataset: Dataset, tmp_path: Path) -> Iterator:  # type: ignore[no-untyped-def]
    from detview.gui.main_window import MainWindow
    from detview.gui.session import Session

    w = MainWindow()
    w.quiet = True
    qtbot.addWidget(w)
    w.set_session(Session(dataset, tmp_path / "images", name="fixture"), "fixture")
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    yield w
    if w.session is not None:
        w.session.undo_stack.setClean()


REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "resources" / "demo"


def copy_demo(dest: Path) -> Any:
    """Copy ``resources/demo`` to ``dest`` and return the OpenSpec ``detview demo``
    would use there (so journals and exports stay under ``dest``)."""
    import shutil

    from detview.gui.loading import OpenSpec, demo_paths

    if not (DEMO / "images").is_dir():
        pytest.skip("resources/demo is absent")
    shutil.copytree(DEMO, dest)
    spec = demo_paths()

    def moved(p: Path | None) -> Path | None:
        return None if p is None else dest / p.relative_to(DEMO)

    return OpenSpec(images=moved(spec.images), gt=moved(spec.gt),
                    preds=[(n, dest / p.relative_to(DEMO)) for n, p in spec.preds],
                    loss=moved(spec.loss), folder=moved(spec.folder))
