"""The entry point: screenshots, the headless fallback, errors on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from detview.gui.app import main, render_screenshot

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "resources" / "demo"


def _check_png(path: Path, size: tuple[int, int] = (1600, 1000)) -> np.ndarray:
    assert path.is_file()
    im = Image.open(path).convert("RGB")
    assert im.size == size
    arr = np.asarray(im)
    assert arr.std() > 20  # not blank
    colors = np.unique(arr.reshape(-1, 3)[::7], axis=0)
    assert len(colors) > 500  # a photo and anti-aliased text, not flat panels
    return arr


def test_fonts_draw_real_glyphs(qapp: Any) -> None:
    """Without a font Qt draws every glyph as the same box: widths would not differ."""
    from PySide6.QtGui import QColor, QFont, QFontDatabase, QFontMetrics, QImage, QPainter

    assert QFontDatabase.families(), "no font installed (install fonts-dejavu-core)"
    font = QFont()
    font.setPixelSize(20)
    fm = QFontMetrics(font)
    assert fm.horizontalAdvance("iiii") < fm.horizontalAdvance("WWWW")
    img = QImage(200, 40, QImage.Format.Format_RGB32)
    img.fill(QColor(255, 255, 255))
    p = QPainter(img)
    p.setFont(font)
    p.setPen(QColor(0, 0, 0))
    p.drawText(5, 30, "detview")
    p.end()
    ink = np.array([[img.pixelColor(x, y).red() < 128 for x in range(200)] for y in range(40)])
    assert 50 < ink.sum() < 2000


def test_screenshot_of_fixture(window: Any, tmp_path: Path) -> None:
    out = render_screenshot(window, tmp_path / "shot.png")
    arr = _check_png(out)
    assert window.current_image == 0  # lowest mean IoU first
    assert arr.shape == (1000, 1600, 3)


@pytest.mark.skipif(not (DEMO / "images").is_dir(), reason="resources/demo is absent")
def test_demo_screenshot(tmp_path: Path, capsys: Any, qapp: Any) -> None:
    out = tmp_path / "demo.png"
    assert main(["demo", "--screenshot", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    _check_png(out)


def test_bad_input_is_one_line(tmp_path: Path, capsys: Any, qapp: Any) -> None:
    (tmp_path / "imgs").mkdir()
    bad = tmp_path / "broken.json"
    bad.write_text('{"images": [ }', encoding="utf-8")
    rc = main(["open", "--images", str(tmp_path / "imgs"), "--gt", str(bad),
               "--screenshot", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert rc == 2
    assert "broken.json" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    missing = tmp_path / "nope.json"
    rc = main(["open", "--gt", str(missing), "--screenshot", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert rc == 2 and "nope.json" in err and "Traceback" not in err


@pytest.mark.skipif(not (DEMO / "images").is_dir(), reason="resources/demo is absent")
def test_no_display_falls_back_to_offscreen(tmp_path: Path) -> None:
    """A real process with neither DISPLAY nor QT_QPA_PLATFORM must not abort in Qt."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["TMPDIR"] = str(tmp_path)
    r = subprocess.run([sys.executable, "-m", "detview.gui.app", "demo"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "offscreen" in r.stderr
    png = Path(r.stdout.strip().splitlines()[-1])
    assert png.is_file() and png.parent == tmp_path


def test_open_arguments_and_dialog_make_the_same_spec(qapp: Any, tmp_path: Path) -> None:
    from detview.gui.app import _spec_from_args, build_parser
    from detview.gui.dialogs import OpenDialog

    args = build_parser().parse_args(["open", "--images", "imgs", "--gt", "gt.json",
                                      "--pred", "p.json", "--pred", "big=q.json",
                                      "--loss", "loss.csv"])
    spec = _spec_from_args(args)
    assert spec.images == Path("imgs") and spec.gt == Path("gt.json")
    assert spec.preds == [(None, Path("p.json")), ("big", Path("q.json"))]
    assert spec.loss == Path("loss.csv")
    folder = _spec_from_args(build_parser().parse_args(["open", str(tmp_path)]))
    assert folder.folder == tmp_path and folder.gt is None
    dlg = OpenDialog()
    dlg.images.setText("imgs")
    dlg.gt.setText("gt.json")
    dlg.preds.setText("p.json; big=q.json")
    d = dlg.spec()
    assert d.images == spec.images and d.gt == spec.gt and d.preds == spec.preds
    assert d.loss is None


def test_real_coco128_screenshot(realdata: Path, tmp_path: Path, capsys: Any, qapp: Any) -> None:
    out = tmp_path / "coco128.png"
    preds = realdata / "coco128_yolov5s_predictions" / "yolov5s_predictions.json"
    rc = main(["open", str(realdata / "coco128"), "--pred", f"yolov5s={preds}",
               "--screenshot", str(out)])
    assert rc == 0, capsys.readouterr().err
    _check_png(out)
