"""The desktop app (issue 12, items 1 and 5): the window fits the screen (laptop and
large, HiDPI), its layout is remembered, every panel can be closed and reopened, the start
page, recent datasets, drops, themes, About."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QPalette
from PySide6.QtWidgets import QApplication

from tests.gui.conftest import DEMO, REPO, copy_demo

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

# A window on a screen of the given geometry (Qt's offscreen platform, configured), the
# demo opened: what a user sees, as numbers.
CHILD = r"""
import json, sys, time
from PySide6.QtWidgets import QApplication
app = QApplication([])
from detview.gui.app import _app, demo_spec
_app()
from detview.gui.main_window import MainWindow
from detview.session import load
w = MainWindow()
w.quiet = True
w.use_journal = False
w.show()
w.open_loaded(load(demo_spec()))
for _ in range(30):
    app.processEvents()
    time.sleep(0.01)
scr = w.screen().availableGeometry()
fg, g = w.frameGeometry(), w.geometry()
sb = w.statusBar()
table = w.images.table
print(json.dumps({
    "screen": [scr.x(), scr.y(), scr.width(), scr.height()],
    "frame": [fg.x(), fg.y(), fg.width(), fg.height()],
    "window": [g.width(), g.height()],
    "maximized": bool(w.isMaximized()),
    "status_bottom": sb.mapTo(w, sb.rect().bottomRight()).y(),
    "status_visible": sb.isVisible(),
    "viewer": [w.viewer.width(), w.viewer.height()],
    "list": w.images.width(),
    "dock": w.analysis_dock.height(),
    "row": table.verticalHeader().defaultSectionSize(),
    "font": table.fontMetrics().height(),
    "dpr": w.devicePixelRatioF(),
    "grab": [w.grab().width(), w.grab().height()],
    "min": [w.minimumSizeHint().width(), w.minimumSizeHint().height()],
}))
"""


def _run_on_screen(tmp_path: Path, width: int, height: int, dpr: float = 1.0,
                   dpi: int = 96, scale: int = 1) -> dict[str, Any]:
    """``width`` x ``height`` device pixels; ``scale``: Qt's scale factor (2: a HiDPI
    screen showing width/2 x height/2 logical pixels)."""
    if not (DEMO / "images").is_dir():
        pytest.skip("resources/demo is absent")
    cfg = tmp_path / f"screen-{width}x{height}-{dpr}-{dpi}.json"
    cfg.write_text(json.dumps({"screens": [{
        "name": "screen", "x": 0, "y": 0, "width": width, "height": height,
        "logicalDpi": dpi, "logicalBaseDpi": 96, "dpr": dpr}]}))
    env = {**os.environ, "QT_QPA_PLATFORM": f"offscreen:configfile={cfg}",
           "PYTHONPATH": str(REPO), "DETVIEW_SETTINGS": str(tmp_path / f"s{width}.ini"),
           "QT_SCALE_FACTOR": str(scale)}
    r = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True,
                       env=env, cwd=REPO, timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_laptop_screen_shows_everything(tmp_path: Path) -> None:
    """1366x768: maximised, nothing off-screen (the status bar neither), the images get
    most of the space, the analysis under 30% of the height."""
    m = _run_on_screen(tmp_path, 1366, 768)
    sx, sy, sw, sh = m["screen"]
    fx, fy, fw, fh = m["frame"]
    assert m["maximized"]
    assert fx >= sx and fy >= sy and fx + fw <= sx + sw and fy + fh <= sy + sh, m
    assert m["status_visible"] and m["status_bottom"] <= m["window"][1]
    assert m["viewer"][0] >= 0.55 * m["window"][0], m
    assert m["dock"] <= 0.30 * m["window"][1], m
    assert m["viewer"][1] >= 0.5 * m["window"][1], m
    assert m["min"][0] <= 1024 and m["min"][1] <= 600, m  # fits smaller screens too


def test_large_screen_gets_a_large_centred_window(tmp_path: Path) -> None:
    m = _run_on_screen(tmp_path, 1920, 1200)
    sx, sy, sw, sh = m["screen"]
    fx, fy, fw, fh = m["frame"]
    assert not m["maximized"]
    assert fw >= 0.8 * sw and fh >= 0.8 * sh and fx + fw <= sw and fy + fh <= sh, m
    assert abs((fx - sx) - (sx + sw - fx - fw)) <= 20  # centred
    assert m["viewer"][0] >= 0.6 * m["window"][0] and m["dock"] <= 0.3 * m["window"][1]


def test_hidpi_rows_fit_their_text_and_pixels_double(tmp_path: Path) -> None:
    big_font = _run_on_screen(tmp_path, 1920, 1200, dpi=144)  # a 150% font setting
    assert big_font["row"] >= big_font["font"] + 4, big_font
    retina = _run_on_screen(tmp_path, 2880, 1800, scale=2)  # 1440x900 logical
    assert retina["dpr"] == 2.0 and retina["screen"][2:] == [1440, 900]
    assert retina["grab"] == [2 * retina["window"][0], 2 * retina["window"][1]]
    assert retina["frame"][2] <= 1440 and retina["frame"][3] <= 900
    assert retina["status_bottom"] <= retina["window"][1]


# ---------------------------------------------------------------------- layout
def test_every_panel_closes_and_reopens_from_the_view_menu(window: Any, qtbot: Any) -> None:
    view = window.menus["&View"]
    panels = next(a.menu() for a in view.actions() if a.menu() and "Panels" in a.text())
    panels.aboutToShow.emit()  # filled as it opens: docks added by others too
    titles = [a.text() for a in panels.actions()]
    assert {"Analysis", "Summary", "History", "Messages", "Objects", "Health",
            "Compare and checkpoints"} <= set(titles)
    for d in window._docks():
        d.close()
        qtbot.waitUntil(lambda d=d: not d.isVisible(), timeout=1000)
        window.panel_actions[d.objectName()].trigger()
        qtbot.waitUntil(lambda d=d: d.isVisible(), timeout=1000)
    window.analysis_dock.setFloating(True)
    window.reset_layout()
    assert not window.analysis_dock.isFloating() and window.analysis_dock.isVisible()


def test_layout_is_remembered(qtbot: Any, private_settings: Path, dataset: Any,
                              tmp_path: Path) -> None:
    from detview.gui.main_window import MainWindow
    from detview.session import Session

    def window() -> Any:
        w = MainWindow()
        w.quiet = True
        qtbot.addWidget(w)
        w.show()
        w.set_session(Session(dataset.copy(), image_root=tmp_path / "images"), "fixture")
        qtbot.wait(20)
        return w

    a = window()
    a.setWindowState(Qt.WindowState.WindowNoState)
    for d in a._docks():  # the wide ones closed: the window fits the test screen
        if d.minimumSizeHint().width() > 600:
            d.close()
    a.resize(777, 555)  # within the test screen (offscreen: 800x800)
    a.history_dock.close()
    a.summary_dock.setFloating(True)
    a.splitter.setSizes([333, 400])
    qtbot.wait(20)
    sizes = a.splitter.sizes()
    size = (a.width(), a.height())  # 777 wide, or the window's minimum if wider
    assert size[1] == 555
    a.close()
    assert private_settings.is_file()
    b = window()
    assert (b.width(), b.height()) == size
    assert not b.history_dock.toggleViewAction().isChecked()
    assert not b.analysis_dock.toggleViewAction().isChecked()
    assert b.messages_dock.toggleViewAction().isChecked() and b.summary_dock.isFloating()
    assert b.splitter.sizes() == sizes
    b.close()
    # a window with no dataset yet: the start page hides the panels, then shows them
    # back as they were
    c = MainWindow()
    qtbot.addWidget(c)
    c.show()
    assert c.start_page_shown and not c.messages_dock.isVisible()
    assert not c.toolbar.isVisible()
    c.set_session(Session(dataset.copy(), image_root=tmp_path / "images"), "fixture")
    assert c.messages_dock.toggleViewAction().isChecked() and c.toolbar.isVisible()
    assert not c.history_dock.toggleViewAction().isChecked()
    c.close()


# ---------------------------------------------------------------------- start page
def test_start_page_recent_datasets_and_demo(qtbot: Any, tmp_path: Path) -> None:
    from detview.core.metrics import MetricParams
    from detview.gui.main_window import MainWindow
    from detview.session import load

    w = MainWindow()
    w.quiet = True
    qtbot.addWidget(w)
    w.show()
    assert w.start_page_shown and w.start_page.empty_note.isVisible()
    spec = copy_demo(tmp_path / "demo")
    w.open_loaded(load(spec, MetricParams()))
    assert not w.start_page_shown
    recent = w.settings.recent()
    assert [r.spec for r in recent] == [spec] and recent[0].name == "demo"
    assert w.recent_menu.actions()[0].text() == "&1 demo"
    # a new window: the start page lists it; activating it opens it
    w2 = MainWindow()
    w2.quiet = True
    qtbot.addWidget(w2)
    w2.show()
    assert w2.start_page_shown and w2.start_page.recent.count() == 1
    item = w2.start_page.recent.item(0)
    assert "demo" in item.text() and "just now" in item.text()
    w2.start_page.recent.itemActivated.emit(item)
    qtbot.waitUntil(lambda: w2.session is not None, timeout=30000)
    assert w2.session.spec == spec and not w2.start_page_shown
    # the demo button
    w3 = MainWindow()
    w3.quiet = True
    w3.use_journal = False
    qtbot.addWidget(w3)
    w3.start_page.demo_button.click()
    qtbot.waitUntil(lambda: w3.session is not None, timeout=30000)
    assert w3.session.dataset.n_images == 40
    for x in (w, w2, w3):
        x.close()


def test_a_recent_dataset_that_is_gone_says_so(window: Any, tmp_path: Path) -> None:
    from detview.io.spec import DatasetSpec

    gone = DatasetSpec.make(images=tmp_path / "nope", gt=tmp_path / "nope.json")
    window.settings.add_recent("nope", gone)
    window.refresh_recent()
    assert "missing" in window.start_page.recent.item(0).text()
    window.open_recent(gone)
    assert any("no longer there" in t for t in window.messages.texts("warning"))
    assert window.session.name == "fixture"  # nothing else happened


def test_bare_detview_starts_the_gui_and_help_prints_usage(monkeypatch: Any,
                                                           capsys: Any) -> None:
    import detview.gui.app as gui_app
    from detview import launcher

    seen: list[list[str]] = []
    monkeypatch.setattr(gui_app, "main", lambda argv: seen.append(list(argv)) or 0)
    monkeypatch.setenv("DISPLAY", ":99")
    assert launcher.main([]) == 0 and seen == [["start"]]
    assert launcher.main(["--help"]) == 0
    assert "usage: detview COMMAND" in capsys.readouterr().out
    monkeypatch.delenv("DISPLAY")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert launcher.main([]) == 2 and seen == [["start"]]  # no display: the usage
    assert "usage: detview COMMAND" in capsys.readouterr().out


def test_start_page_screenshot(tmp_path: Path, qapp: Any, capsys: Any) -> None:
    from PIL import Image

    from detview.gui.app import main

    out = tmp_path / "start.png"
    assert main(["start", "--screenshot", str(out)]) == 0
    im = Image.open(out)
    assert im.size == (1600, 1000)
    assert len(set(im.convert("L").getdata())) > 20  # text drawn, not a blank


# ---------------------------------------------------------------------- drops
def _drop(window: Any, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    ev = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime,
                    Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    window.dropEvent(ev)


def test_dropping_a_dataset_folder_opens_it(window: Any, qtbot: Any, tmp_path: Path) -> None:
    copy_demo(tmp_path / "demo")
    window.use_journal = False
    _drop(window, [tmp_path / "demo"])
    qtbot.waitUntil(lambda: window.session is not None and window.session.name == "demo",
                    timeout=30000)
    assert window.session.dataset.n_images == 40


def test_dropping_files_fills_the_open_dialog(window: Any, tmp_path: Path,
                                              monkeypatch: Any) -> None:
    from detview.gui.desktop import plan_drop

    spec = copy_demo(tmp_path / "demo")
    pred = Path(spec.preds[0][1])
    images = Path(spec.images)
    shown: list[Any] = []
    monkeypatch.setattr(window, "open_dialog", lambda s=None: shown.append(s))
    _drop(window, [images, Path(spec.gt), pred, tmp_path / "demo" / "ATTRIBUTION.md"])
    got = shown[-1]
    assert got.images == str(images) and got.gt == spec.gt
    assert [p for _, p in got.preds] == [str(pred)]
    assert any("ATTRIBUTION.md" in t for t in window.messages.texts("warning"))
    # only predictions dropped on an open dataset: its sources plus them
    plan = plan_drop([pred])
    assert plan.preds == [pred] and plan.gt is None and plan.folder is None


# ---------------------------------------------------------------------- look
def test_themes_and_their_setting(window: Any, private_settings: Path) -> None:
    from detview.gui.settings import AppSettings
    from detview.gui.themes import is_dark, system_is_dark

    app = QApplication.instance()
    window.theme_actions["dark"].trigger()
    assert app.palette().color(QPalette.ColorRole.Window).lightness() < 80
    assert AppSettings().theme() == "dark"
    window.theme_actions["light"].trigger()
    assert app.palette().color(QPalette.ColorRole.Window).lightness() > 180
    window.theme_actions["system"].trigger()
    assert is_dark() == system_is_dark()
    assert AppSettings().theme() == "system"


def test_about_and_messages(window: Any) -> None:
    from detview import __version__

    assert f"detview {__version__}" in window.about_text()
    window.show_about()
    assert window._about_box.isVisible()
    window._about_box.close()
    window.flash("first")
    window.flash("second")
    assert window.messages.texts()[-2:] == ["first", "second"]


def test_damaged_settings_give_defaults(private_settings: Path) -> None:
    from detview.gui.settings import AppSettings

    private_settings.write_text("[params]\nscore=banana\niou=7\n[recent]\ndatasets=[{]\n"
                                "[view]\ntheme=purple\n")
    s = AppSettings()
    assert (s.params().score_threshold, s.params().iou_threshold) == (0.5, 0.5)
    assert s.recent() == [] and s.theme() == "system"
    s.save_view_record({"overlay": True, "brightness": 0.2})
    assert AppSettings().view_record() == {"overlay": True, "brightness": 0.2}


def test_thresholds_persist(window: Any, qtbot: Any) -> None:
    from detview.gui.settings import AppSettings

    window.score_spin.setValue(0.35)
    qtbot.waitUntil(lambda: AppSettings().params().score_threshold == 0.35, timeout=2000)


def test_view_settings_record_is_remembered(qtbot: Any, dataset: Any, tmp_path: Path) -> None:
    """The viewer's settings (class colours and visibility by class name, layout,
    brightness) are saved and given to the next session, of any dataset."""
    from detview.gui.main_window import MainWindow
    from detview.session import Session

    a = MainWindow()
    a.quiet = True
    qtbot.addWidget(a)
    s1 = Session(dataset.copy(), image_root=tmp_path / "images")
    a.set_session(s1, "a")
    dog = s1.dataset.classes.names.index("dog")
    look = s1.view_settings.with_color(dog, "#123456").with_visible([dog], False)
    s1.update_view(look, layout="overlay", brightness=0.25)
    a.close()
    b = MainWindow()
    b.quiet = True
    qtbot.addWidget(b)
    s2 = Session(dataset.copy(), image_root=tmp_path / "images")
    b.set_session(s2, "b")
    v = s2.view_settings
    assert v.layout == "overlay" and v.brightness == 0.25
    assert v.color_of(dog) == "#123456" and not v.is_visible(dog)
    b.close()


def test_open_action_and_a_prefilled_open_dialog(window: Any, monkeypatch: Any,
                                                 tmp_path: Path) -> None:
    from detview.gui.dialogs import OpenDialog
    from detview.io.spec import DatasetSpec

    seen: list[Any] = []

    def fake_exec(dlg: Any) -> int:
        seen.append(dlg.spec())
        return 0  # cancelled

    monkeypatch.setattr(OpenDialog, "exec", fake_exec)
    window.actions_by_name["open"].trigger()  # Ctrl+O: an empty dialog
    assert seen[-1].gt is None and seen[-1].images is None
    spec = DatasetSpec.make(images=tmp_path / "imgs", gt=tmp_path / "gt.json",
                            preds=[("m", tmp_path / "p.json")], class_map="index")
    window.open_dialog(spec)
    assert seen[-1] == spec


def test_saved_views_are_remembered(qtbot: Any) -> None:
    from detview.core.query import SavedView
    from detview.gui.main_window import MainWindow

    a = MainWindow()
    qtbot.addWidget(a)
    n = len(a.panels.views.views)
    a.panels.views.save(SavedView("worst dogs", "fp[dog] > 2", (("mean_iou", True),)))
    a.close()
    b = MainWindow()
    qtbot.addWidget(b)
    names = b.panels.views.names()
    assert len(names) == n + 1 and names[-1] == "worst dogs"
    assert b.panels.views.get("worst dogs").expression == "fp[dog] > 2"
    b.close()
