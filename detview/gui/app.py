"""GUI entry point: ``detview open ...`` and ``detview demo``.

    detview open --images DIR --gt PATH --pred PATH [--pred NAME=PATH ...] [--loss PATH]
    detview open DIR                    (layout auto-detected)
    detview demo                        (the bundled demo dataset)
    ... --log PATH                      (training logs: the Graphs view; repeatable)
    ... --runs [--store PATH]           (the Runs window over the experiment store)
    ... --screenshot out.png            (render offscreen, save, exit)

``detview open`` takes every dataset option ``detview eval`` takes (``--names``,
``--gt-format``, ``--pred-format``, ``--class-map``...): both declare them with
:func:`detview.io.spec.add_dataset_options`.

Without a display (no ``DISPLAY``/``WAYLAND_DISPLAY`` and no ``QT_QPA_PLATFORM``) the
window is rendered offscreen to a PNG instead of aborting in Qt's plugin loader.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from detview.io.spec import DatasetSpec

__all__ = ["build_parser", "demo_spec", "error_text", "main", "render_screenshot",
           "render_start_page", "spec_of"]

REPO = Path(__file__).resolve().parents[2]

SCREENSHOT_SIZE = (1600, 1000)


def error_text(exc: object) -> str:
    """One line (per problem) naming the file, never a traceback."""
    try:
        from detview.io.errors import format_error
    except ImportError:  # pragma: no cover - io always ships with the GUI
        return f"{type(exc).__name__}: {exc}"
    if isinstance(exc, BaseException):
        return format_error(exc)
    return str(exc)


def resources_dir() -> Path:
    """The demo dataset and icons: ``resources/`` of a source checkout (or editable
    install, or the PyInstaller bundle, which keeps the same layout), else where a wheel
    put it (``<prefix>/share/detview/resources``, pyproject's data-files)."""
    for root in (REPO / "resources", Path(sys.prefix) / "share" / "detview" / "resources"):
        if (root / "demo" / "data.yaml").is_file():
            return root
    return REPO / "resources"


def demo_spec() -> DatasetSpec:
    """What ``detview demo`` opens: ``resources/demo`` (images, YOLO labels and
    data.yaml, every prediction file in ``predictions/``)."""
    from detview.io.spec import resolve_folder

    root = resources_dir() / "demo"
    if not root.is_dir():
        raise FileNotFoundError(root)
    images, gt, fmt = resolve_folder(root)
    preds = [(f.stem.replace("_predictions", ""), f)
             for f in sorted((root / "predictions").glob("*.json"))]
    return DatasetSpec.make(images=images, gt=gt, gt_format=fmt, preds=preds)


def build_parser() -> argparse.ArgumentParser:
    from detview.io.spec import add_dataset_options

    p = argparse.ArgumentParser(prog="detview", description="Error analysis and label fixing "
                                "for object-detection predictions (GUI)")
    sub = p.add_subparsers(dest="command", required=True)
    o = sub.add_parser("open", help="open a dataset",
                       description="Open a dataset: the same dataset options as detview eval.")
    add_dataset_options(o)
    d = sub.add_parser("demo", help="open the bundled demo dataset")
    st = sub.add_parser("start", help="the start page: recent datasets, open, demo (what "
                        "'detview' alone opens)")
    st.add_argument("--screenshot", metavar="PNG",
                    help="render the start page offscreen to this PNG and exit")
    for q in (o, d):
        q.add_argument("--screenshot", metavar="PNG",
                       help="render the window offscreen to this PNG and exit")
        q.add_argument("--score", type=float, default=None,
                       help="score threshold (default: the last one used, else 0.5)")
        q.add_argument("--iou", type=float, default=None,
                       help="IoU threshold (default: the last one used, else 0.5)")
        q.add_argument("--store", type=Path, metavar="PATH",
                       help="the experiment store the Runs window shows (default: "
                            "$DETVIEW_STORE, else runs.sqlite in the user data directory)")
        q.add_argument("--runs", action="store_true", help="open the Runs window too")
    return p


def spec_of(args: argparse.Namespace) -> DatasetSpec | None:
    """The dataset the command line names (None: ``open`` without one)."""
    from detview.io.spec import spec_from_args

    if args.command == "demo":
        return demo_spec()
    if args.command == "start":
        return None
    if args.dataset is None and args.images is None and args.gt is None:
        return None
    return spec_from_args(args, lambda text: print(f"detview: {text}", file=sys.stderr))


def _headless() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return False
    if sys.platform.startswith("linux"):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def _app():  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "detview"])
        app.setApplicationName("detview")
        app.setStyle("Fusion")
        from PySide6.QtGui import QIcon  # the window icon, and the desktop entry's name

        icons = resources_dir() / "icons"
        app.setWindowIcon(QIcon(str(icons / "detview.svg")))
        app.setDesktopFileName("detview")  # packaging/detview.desktop (Wayland's icon)
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major")
    return app


def timing(event: str) -> None:
    """With ``DETVIEW_TIMING`` set, one stderr line when the app reaches ``event`` (a
    wall-clock time, read by benchmarks/bench_load.py: list shown, analysis done)."""
    if os.environ.get("DETVIEW_TIMING"):
        import time

        print(f"detview: timing: {event} {time.time():.3f}", file=sys.stderr, flush=True)


def render_screenshot(window, path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Lay out ``window`` at a fixed size, show the first image by lowest mean IoU and
    save a PNG."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    window.setWindowState(Qt.WindowState.WindowNoState)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    window.apply_default_layout()
    QApplication.processEvents()
    if window.session is not None and window.session.run_names:
        window.sort_by("mean_iou", Qt.SortOrder.AscendingOrder, select_first=True)
    elif window.model is not None:  # ground truth only: the busiest image first
        window.sort_by("n_gt", Qt.SortOrder.DescendingOrder, select_first=True)
    window.load_current_image_now()
    QApplication.processEvents()
    timing("list")  # the ranked list is shown and its first image drawn
    analysis = getattr(window, "analysis", None)
    if analysis is not None:  # the analysis panel computes in workers: wait for them
        import time

        deadline = time.monotonic() + 300
        while not analysis.is_idle() and time.monotonic() < deadline:
            QApplication.processEvents()
            time.sleep(0.005)
    for _ in range(5):
        QApplication.processEvents()
    window.fit_view()
    QApplication.processEvents()
    timing("analysis")
    pix = window.grab()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not pix.save(str(path), "PNG"):
        raise OSError(f"{path}: cannot write the PNG")
    return path


def render_start_page(window, path: Path) -> Path:  # type: ignore[no-untyped-def]
    """The start page at the screenshot size, saved as a PNG."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    window.setWindowState(Qt.WindowState.WindowNoState)
    window.resize(*SCREENSHOT_SIZE)
    window.show()
    window.show_start_page(True)
    for _ in range(5):
        QApplication.processEvents()
    pix = window.grab()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not pix.save(str(path), "PNG"):
        raise OSError(f"{path}: cannot write the PNG")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    screenshot = Path(args.screenshot).expanduser() if args.screenshot else None
    if _headless():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        if screenshot is None:
            screenshot = Path(tempfile.gettempdir()) / "detview-screenshot.png"
            print("detview: no display (DISPLAY is not set): rendering offscreen to "
                  f"{screenshot} instead of opening a window", file=sys.stderr)
    elif screenshot is not None and not os.environ.get("QT_QPA_PLATFORM"):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    try:
        spec = spec_of(args)
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        print(f"detview: error: {error_text(exc)}", file=sys.stderr)
        return 2
    from detview.core.metrics import MetricParams

    if screenshot is not None and not os.environ.get("DETVIEW_SETTINGS"):
        # a screenshot shows the defaults: none of the user's settings read or written
        os.environ["DETVIEW_SETTINGS"] = str(Path(tempfile.mkdtemp(prefix="detview-")) /
                                             "settings.ini")
    app = _app()
    from .main_window import MainWindow
    from .themes import apply_theme

    window = MainWindow()
    window.store_path = getattr(args, "store", None)
    apply_theme(window.settings.theme())
    remembered = window.settings.params()
    score = args.score if getattr(args, "score", None) is not None else (
        remembered.score_threshold)
    iou = args.iou if getattr(args, "iou", None) is not None else remembered.iou_threshold
    params = MetricParams(score, iou)
    if screenshot is not None and args.command == "start":
        window.quiet = True
        try:
            out = render_start_page(window, screenshot)
        except OSError as exc:
            print(f"detview: error: {error_text(exc)}", file=sys.stderr)
            return 2
        print(out)
        window.close()
        app.processEvents()
        return 0
    if screenshot is not None:
        from detview.session import load

        if spec is None:
            print("detview: error: --screenshot needs a dataset", file=sys.stderr)
            return 2
        timing("start")
        try:
            loaded = load(spec, params)
        except Exception as exc:  # noqa: BLE001 - one line, no traceback
            print(f"detview: error: {error_text(exc)}", file=sys.stderr)
            return 2
        timing("loaded")
        window.quiet = True
        window.use_journal = False  # a screenshot writes nothing beside the dataset
        window.open_loaded(loaded)
        try:
            out = render_screenshot(window, screenshot)
        except OSError as exc:
            print(f"detview: error: {error_text(exc)}", file=sys.stderr)
            return 2
        print(out)
        window.close()
        app.processEvents()
        return 0
    window.show()
    if spec is not None:
        window.open_spec(spec, params)
    if getattr(args, "runs", False):
        window.show_runs_window()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
