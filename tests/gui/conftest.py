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

import pytest

from detview.core.dataset import Dataset
from detview.io.spec import DatasetSpec
from tests.session._data import make_dataset

__all__ = ["DEMO", "REPO", "copy_demo", "make_dataset", "sized"]


def sized(w, width: int, height: int) -> None:  # type: ignore[no-untyped-def]
    """Give a main window this size. A new window is fitted to the screen (maximised on
    the 800x800 offscreen test screen), which a plain ``resize`` does not undo."""
    from PySide6.QtCore import Qt

    w.setWindowState(Qt.WindowState.WindowNoState)
    w.resize(width, height)


@pytest.fixture(autouse=True)
def private_settings(tmp_path_factory: pytest.TempPathFactory,
                     monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test (and every process it starts) reads and writes its own settings
    file, never the user's."""
    path = tmp_path_factory.mktemp("settings") / "detview.ini"
    monkeypatch.setenv("DETVIEW_SETTINGS", str(path))
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> Dataset:
    return make_dataset(tmp_path / "images")


@pytest.fixture
def window(qtbot, dataset: Dataset, tmp_path: Path) -> Iterator:  # type: ignore[no-untyped-def]
    from detview.gui.main_window import MainWindow
    from detview.session import Session

    w = MainWindow()
    w.quiet = True
    qtbot.addWidget(w)
    w.set_session(Session(dataset, image_root=tmp_path / "images", name="fixture"), "fixture")
    sized(w, 1400, 900)
    w.show()
    qtbot.waitExposed(w)
    yield w
    if w.session is not None:
        w.session.history.mark_clean()


REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "resources" / "demo"


def copy_demo(dest: Path) -> DatasetSpec:
    """Copy ``resources/demo`` to ``dest`` and return the spec ``detview demo`` would
    open there (so journals and exports stay under ``dest``)."""
    import shutil

    from detview.gui.app import demo_spec

    if not (DEMO / "images").is_dir():
        pytest.skip("resources/demo is absent")
    # not the journal a local `detview demo` may have left there
    shutil.copytree(DEMO, dest, ignore=shutil.ignore_patterns(".detview"))
    spec = demo_spec()

    def moved(p: str | None) -> str | None:
        return None if p is None else str(dest / Path(p).relative_to(DEMO))

    return DatasetSpec(images=moved(spec.images), gt=moved(spec.gt), gt_format=spec.gt_format,
                       preds=tuple((n, str(moved(p))) for n, p in spec.preds))
