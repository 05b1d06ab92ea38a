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


def test_open_takes_every_dataset_option_eval_takes(qapp: Any, tmp_path: Path) -> None:
    """One parser: ``detview open`` and ``detview eval`` accept the same dataset options
    and make the same spec from them; the open dialog makes it too."""
    from detview.cli.common import spec_from_args as cli_spec
    from detview.cli.main import build_parser as cli_parser
    from detview.gui.app import build_parser, spec_of
    from detview.gui.dialogs import OpenDialog

    def options(p: Any, command: str) -> set[str]:
        sub = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction")
        return {o for a in sub.choices[command]._actions for o in a.option_strings}

    gui_open, cli_eval = options(build_parser(), "open"), options(cli_parser(), "eval")
    loading = {"--images", "--gt", "--gt-format", "--names", "--pred", "--pred-format",
               "--class-map", "--loss"}
    assert loading <= cli_eval and loading <= gui_open
    (tmp_path / "names.txt").write_text("cat\ndog\n")
    argv = ["--images", str(tmp_path / "imgs"), "--gt", str(tmp_path / "gt"), "--gt-format",
            "yolo", "--names", str(tmp_path / "names.txt"), "--pred", str(tmp_path / "p.json"),
            "--pred", f"big={tmp_path / 'q.json'}", "--pred-format", "coco", "--class-map",
            "index", "--loss", str(tmp_path / "loss.csv")]
    gui = spec_of(build_parser().parse_args(["open", *argv]))
    cli = cli_spec(cli_parser().parse_args(["eval", *argv, "--out", "-"]), quiet=True)
    assert gui == cli
    assert gui is not None and gui.gt_format == "yolo" and gui.class_map == "index"
    assert gui.pred_format == "coco" and gui.class_names == str(tmp_path / "names.txt")
    assert [n for n, _ in gui.preds] == [None, "big"]
    names = spec_of(build_parser().parse_args(["open", "--gt", "g.json", "--names", "a, b"]))
    assert names is not None and names.class_names == ("a", "b")
    with pytest.raises(SystemExit):  # a mapping that does not exist is refused
        build_parser().parse_args(["open", "--gt", "g.json", "--class-map", "nope"])
    assert spec_of(build_parser().parse_args(["open"])) is None  # the empty window
    # the open dialog: the same fields, the class mapping among them
    dlg = OpenDialog()
    dlg.images.setText(str(tmp_path / "imgs"))
    dlg.gt.setText(str(tmp_path / "gt"))
    dlg.preds.setText(f"{tmp_path / 'p.json'}; big={tmp_path / 'q.json'}")
    dlg.names.setText(str(tmp_path / "names.txt"))
    dlg.loss.setText(str(tmp_path / "loss.csv"))
    keys = [dlg.class_map.itemData(i) for i in range(dlg.class_map.count())]
    assert keys == ["auto", "ids", "index", "names"]
    dlg.class_map.setCurrentIndex(keys.index("index"))
    d = dlg.spec()
    assert (d.images, d.gt, d.preds, d.loss, d.class_map, d.class_names) == (
        gui.images, gui.gt, gui.preds, gui.loss, "index", gui.class_names)
    dlg.class_map.setCurrentIndex(0)
    assert dlg.spec().class_map is None  # auto


def test_open_with_a_folder_auto_detects_it(qapp: Any) -> None:
    from detview.gui.app import build_parser, spec_of
    from tests.gui.conftest import DEMO

    if not (DEMO / "images").is_dir():
        pytest.skip("resources/demo is absent")
    spec = spec_of(build_parser().parse_args(["open", str(DEMO), "--class-map", "ids"]))
    assert spec is not None and spec.gt_format == "yolo"
    assert spec.images == str(DEMO / "images") and spec.class_map == "ids"


def test_real_coco128_screenshot(realdata: Path, tmp_path: Path, capsys: Any, qapp: Any) -> None:
    out = tmp_path / "coco128.png"
    preds = realdata / "coco128_yolov5s_predictions" / "yolov5s_predictions.json"
    rc = main(["open", str(realdata / "coco128"), "--pred", f"yolov5s={preds}",
               "--screenshot", str(out)])
    assert rc == 0, capsys.readouterr().err
    _check_png(out)
