"""Render the application icon's PNGs from its SVG with Qt's SVG renderer.

    .venv/bin/python packaging/render_icons.py          # writes resources/icons/detview-*.png
                                                        # (48, 128 and 256 px)
    .venv/bin/python packaging/render_icons.py --check  # exit 1 when a PNG is not the SVG's render
    ... [--dir DIR]                                     # another folder with detview.svg

Run it after editing resources/icons/detview.svg; tests/test_packaging.py checks that the
committed PNGs are the SVG's current renders.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ICONS = Path(__file__).resolve().parents[1] / "resources" / "icons"
SVG = ICONS / "detview.svg"
SIZES = (48, 128, 256)


def png_path(size: int, folder: Path = ICONS) -> Path:
    return folder / f"detview-{size}.png"


def render(size: int, svg: Path = SVG):  # type: ignore[no-untyped-def]  # -> QImage
    """The SVG drawn on a transparent ``size`` x ``size`` ARGB image, antialiased."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not a valid SVG")
    img = QImage(size, size, QImage.Format.Format_ARGB32)
    img.fill(Qt.GlobalColor.transparent)
    painter = QPainter(img)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return img


def main(argv: list[str]) -> int:
    folder = Path(argv[argv.index("--dir") + 1]) if "--dir" in argv else ICONS
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication, QImage

    app = QGuiApplication.instance() or QGuiApplication(["render_icons"])  # noqa: F841
    stale = []
    for size in SIZES:
        img = render(size, folder / "detview.svg")
        path = png_path(size, folder)
        if "--check" in argv:
            old = QImage(str(path)).convertToFormat(QImage.Format.Format_ARGB32)
            if old.isNull() or old != img:
                stale.append(str(path))
        elif not img.save(str(path), "PNG"):
            print(f"render_icons: cannot write {path}", file=sys.stderr)
            return 1
        else:
            print(path)
    if stale:
        print("render_icons: not the SVG's render (run packaging/render_icons.py): "
              + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
