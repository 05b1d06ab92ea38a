"""GUI entry point: ``detview open ...`` and ``detview demo``.

    detview open --images DIR --gt PATH --pred PATH [--pred NAME=PATH ...] [--loss PATH]
    detview open DIR                    (layout auto-detected)
    detview demo                        (the bundled demo dataset)
    ... --screenshot out.png            (render offscreen, save, exit)

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

__all__ = ["main", "demo_paths", "error_text", "render_screenshot"]

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


def demo_paths():  # type: ignore[no-untyped-def]  # -> OpenSpec
    """What ``detview demo`` opens (``resources/demo``)."""
    from .loading import demo_paths as _demo

    return _demo()


def _pred_arg(text: str) -> tuple[str | None, Path]:
    if "=" in text:
        name, _, path = text.partition("=")
        if name and not os.path.exists(text):
            return name, Path(path).expanduser()
    return None, Path(text).expanduser()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="detview", description="Error analysis and label fixing "
                                "for object-detection predictions (GUI)")
    sub = p.add_subparsers(dest="command", required=True)
    o = sub.add_parser("open", help="open a dataset")
    o.add_argument("folder", nargs="?", help="dataset folder (layout auto-detected)")
    o.add_argument("--images", help="image folder")
    o.add_argument("--gt", help="ground truth file or folder")
    o.add_argument("--pred", action="append", default=[], metavar="[NAME=]PATH",
                   help="prediction file (repeat for several runs)")
    o.add_argument("--loss", help="per-image loss CSV")
    d = sub.add_parser("demo", help="open the bundled demo dataset")
    for q in (o, d):
        q.add_argument("--screenshot", metavar="PNG",
                       help="render the window offscreen to this PNG and exit")
        q.add_argument("--score", type=float, default=0.5, help="score threshold (0.5)")
        q.add_argument("--iou", type=float, default=0.5, help="IoU threshold (0.5)")
    return p


def _headless() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return False
    if sys.platform.startswith("linux"):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False


def _spec_from_args(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from .loading import OpenSpec

    if args.command == "demo":
        return demo_paths()
    preds = [_pred_arg(t) for t in args.pred]
    if args.folder and not (args.images or args.gt):
        return OpenSpec(folder=Path(args.folder).expanduser(), preds=preds,
                        loss=Path(args.loss).expanduser() if args.loss else None)
    images = Path(args.images or args.folder).expanduser() if (args.images or args.folder) \
        else None
    return OpenSpec(images=images, gt=Path(args.gt).expanduser() if args.gt else None,
                    preds=preds, loss=Path(args.loss).expanduser() if args.loss else None)


def _app():  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "detview"])
        app.setApplicationName("detview")
        app.setStyle("Fusion")
        from PySide6.QtGui import QIcon  # the window icon, and the desktop entry's name

        icons = Path(__file__).resolve().parents[2] / "resources" / "icons"
        app.setWindowIcon(QIcon(str(icons / "detview.svg")))
        app.setDesktopFileName("detview")  # packaging/detview.desktop (Wayland's icon)
    import pyqtgraph as pg

    pg.setConfigOptions(imageAxisOrder="row-major")
    return app


def render_screenshot(window, path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Lay out ``window`` at a fixed size, show the first image by lowest mean IoU and
    save a PNG."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    window.resize(*SCREENSHOT_SIZE)
    window.show()
    QApplication.processEvents()
    if window.session is not None and window.session.run_names:
        window.sort_by("mean_iou", Qt.SortOrder.AscendingOrder, select_first=True)
    elif window.model is not None:  # ground truth only: the busiest image first
        window.sort_by("n_gt", Qt.SortOrder.DescendingOrder, select_first=True)
    window.load_current_image_now()
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
        spec = _spec_from_args(args)
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        print(f"detview: error: {error_text(exc)}", file=sys.stderr)
        return 2
    from detview.core.metrics import MetricParams

    params = MetricParams(args.score, args.iou)
    app = _app()
    from .main_window import MainWindow

    window = MainWindow()
    if screenshot is not None:
        from .loading import load

        try:
            loaded = load(spec, params)
        except Exception as exc:  # noqa: BLE001 - one line, no traceback
            print(f"detview: error: {error_text(exc)}", file=sys.stderr)
            return 2
        window.quiet = True
        window.auto_coco = False  # computed synchronously by render_screenshot
        window.use_journal = False  # a screenshot writes nothing beside the dataset
        window.open_loaded(loaded)
        try:
            out = render_screenshot(window, screenshot)
        except OSError as exc:
            print(f"detview: error: {error_text(exc)}", file=sys.stderr)
            return 2
        print(out)
        window.session.undo_stack.setClean()  # nothing to ask on close
        window.close()
        app.processEvents()
        return 0
    window.show()
    if spec.folder or spec.images or spec.gt or spec.preds:
        window.open_spec(spec, params)
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
