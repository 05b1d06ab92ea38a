"""Installing like an app: the GUI in the default dependencies, the icon, the desktop
entry and its per-user install, the window icon, and the bundle's screenshot check.

The bundle itself is built and checked by ``bash packaging/smoke_bundle.sh`` (minutes;
not part of this suite)."""

from __future__ import annotations

import configparser
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from tests.conftest import REPO

PACKAGING = REPO / "packaging"
ICONS = REPO / "resources" / "icons"
DESKTOP = PACKAGING / "detview.desktop"
ICON_BG = (0x22, 0x38, 0x5A)  # the icon's rounded square, in resources/icons/detview.svg


def _load(name: str) -> ModuleType:
    """A script of packaging/ as a module (the folder is not a package, and its name is
    taken by the ``packaging`` library)."""
    spec = importlib.util.spec_from_file_location(f"_detview_packaging_{name}",
                                                  PACKAGING / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # the standard library from Python 3.11
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


# ------------------------------------------------------------------ dependencies
def test_gui_libraries_are_default_dependencies():
    from packaging.requirements import Requirement

    deps = {r.name.lower(): r for r in map(Requirement, _pyproject()["project"]["dependencies"])}
    qt = deps["pyside6-essentials"]
    assert not qt.specifier.contains("6.12.0"), "6.12.0 aborts the process (see _pyside_fix.py)"
    assert qt.specifier.contains("6.11.3") and qt.specifier.contains("6.12.1")
    assert "pyqtgraph" in deps
    assert "pyside6" not in deps  # the full PySide6 adds 400 MB detview does not use
    for r in deps.values():
        assert r.marker is None and not r.extras, r


def test_gui_extra_is_an_alias_that_adds_nothing():
    project = _pyproject()["project"]
    assert "gui" in project["optional-dependencies"]
    assert project["optional-dependencies"]["gui"] == []  # all of it is in the default install


def test_installed_metadata_has_the_gui_by_default():
    """What pip resolved for this checkout: the GUI without any extra."""
    from packaging.requirements import Requirement

    reqs = [Requirement(r) for r in importlib.metadata.requires("detview") or []]
    plain = {r.name.lower() for r in reqs if r.marker is None}
    assert {"pyside6-essentials", "pyqtgraph"} <= plain
    assert "gui" in (importlib.metadata.metadata("detview").get_all("Provides-Extra") or [])


# ------------------------------------------------------------------ icon
def test_icon_pngs_are_renders_of_the_svg():
    out = subprocess.run([sys.executable, str(PACKAGING / "render_icons.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for n in (48, 128, 256):
        with Image.open(ICONS / f"detview-{n}.png") as im:
            assert im.format == "PNG" and im.size == (n, n)
            rgba = np.asarray(im.convert("RGBA")).astype(int)
        assert rgba[0, 0, 3] == 0 and rgba[-1, -1, 3] == 0  # rounded: transparent corners
        assert tuple(rgba[n // 2, n // 2, :3]) == ICON_BG  # the gap between the two panes
        rgb = rgba[..., :3][rgba[..., 3] == 255]
        green = ((rgb[:, 1] > 150) & (rgb[:, 0] < 90) & (rgb[:, 2] < 140)).mean()
        orange = ((rgb[:, 0] > 230) & (rgb[:, 1] > 110) & (rgb[:, 1] < 170)
                  & (rgb[:, 2] < 80)).mean()
        assert green > 0.02 and orange > 0.02, (n, green, orange)  # both boxes are drawn


def test_render_icons_check_finds_a_stale_png(tmp_path):
    for f in ICONS.iterdir():
        shutil.copy(f, tmp_path / f.name)
    script = [sys.executable, str(PACKAGING / "render_icons.py"), "--dir", str(tmp_path)]
    assert subprocess.run([*script, "--check"], capture_output=True, timeout=120).returncode == 0
    svg = tmp_path / "detview.svg"
    svg.write_text(svg.read_text(encoding="utf-8").replace("#ff8a1f", "#1f8aff"), encoding="utf-8")
    out = subprocess.run([*script, "--check"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "detview-48.png" in out.stderr


def test_the_app_window_icon_is_the_detview_icon():
    code = (
        "from detview.gui.app import _app\n"
        "from PySide6.QtGui import QImage\n"
        "app = _app()\n"
        "icon = app.windowIcon()\n"
        "img = icon.pixmap(256, 256).toImage().convertToFormat(QImage.Format.Format_ARGB32)\n"
        "ref = QImage(r'%s').convertToFormat(QImage.Format.Format_ARGB32)\n"
        "print(icon.isNull(), app.desktopFileName(), img.size().width(), img == ref)\n"
    ) % (ICONS / "detview-256.png")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "detview", "256", "True"]


# ------------------------------------------------------------------ desktop entry
def _entry(path: Path) -> dict[str, str]:
    cp = configparser.RawConfigParser(delimiters=("=",), comment_prefixes=("#",),
                                      interpolation=None, strict=True)
    cp.optionxform = str  # keys are case-sensitive
    cp.read(path, encoding="utf-8")
    assert cp.sections() == ["Desktop Entry"]
    return dict(cp["Desktop Entry"])


def _exec_args(value: str) -> list[str]:
    """The arguments of an Exec value, by the Desktop Entry Specification: first the
    string escapes (\\s \\n \\t \\r \\\\), then the quoting of the Exec key."""
    escapes = {"s": " ", "n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
    text, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value) and value[i + 1] in escapes:
            text.append(escapes[value[i + 1]])
            i += 2
        else:
            text.append(value[i])
            i += 1
    s, args, cur, quoted, started, i = "".join(text), [], [], False, False, 0
    while i < len(s):
        c = s[i]
        if quoted:
            if c == "\\" and i + 1 < len(s) and s[i + 1] in '"`$\\':
                cur.append(s[i + 1])
                i += 1
            elif c == '"':
                quoted = False
            else:
                cur.append(c)
        elif c == '"':
            quoted = started = True
        elif c == " ":
            if cur or started:
                args.append("".join(cur))
            cur, started = [], False
        else:
            cur.append(c)
        i += 1
    assert not quoted, f"unbalanced quotes in {value!r}"
    if cur or started:
        args.append("".join(cur))
    return [a.replace("%%", "%") for a in args]  # %% is a literal %; field codes (%f) stay


def _validate(path: Path) -> None:
    if shutil.which("desktop-file-validate"):
        out = subprocess.run(["desktop-file-validate", str(path)], capture_output=True,
                             text=True)
        assert out.returncode == 0 and "error" not in out.stdout, out.stdout + out.stderr


def test_desktop_entry_template():
    e = _entry(DESKTOP)
    assert e["Type"] == "Application" and e["Name"] == "detview"
    assert e["Icon"] == "detview" and e["Terminal"] == "false"
    assert _exec_args(e["Exec"]) == ["detview", "open", "%f"]
    assert e["Categories"].endswith(";") and e["Comment"]
    _validate(DESKTOP)


def test_desktop_file_validate_finds_a_broken_entry(tmp_path):
    """The validator the tests rely on does catch mistakes (skipped without it)."""
    if not shutil.which("desktop-file-validate"):
        pytest.skip("desktop-file-validate is not installed (apt package desktop-file-utils)")
    bad = tmp_path / "bad.desktop"
    bad.write_text(DESKTOP.read_text(encoding="utf-8").replace("Type=Application\n", ""),
                   encoding="utf-8")
    assert subprocess.run(["desktop-file-validate", str(bad)], capture_output=True).returncode


def test_install_desktop_writes_entry_and_icons_then_uninstall_removes_them(tmp_path):
    data = tmp_path / "data home"
    bindir = tmp_path / 'my apps $HOME `x` "q" 100%'
    bindir.mkdir()
    exe = bindir / "detview"
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    env = {**os.environ, "XDG_DATA_HOME": str(data)}
    script = [sys.executable, str(PACKAGING / "install_desktop.py")]
    out = subprocess.run([*script, "--exec", str(exe)], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    entry = data / "applications" / "detview.desktop"
    e = _entry(entry)
    assert _exec_args(e["Exec"]) == [str(exe), "open", "%f"]
    assert e["TryExec"] == str(exe) and e["Icon"] == "detview"
    _validate(entry)
    hicolor = data / "icons" / "hicolor"
    assert (hicolor / "scalable" / "apps" / "detview.svg").read_bytes() == \
        (ICONS / "detview.svg").read_bytes()
    for n in (48, 128, 256):
        assert (hicolor / f"{n}x{n}" / "apps" / "detview.png").read_bytes() == \
            (ICONS / f"detview-{n}.png").read_bytes()
    out = subprocess.run([*script, "--uninstall"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert out.returncode == 0 and out.stdout.count("removed ") == 5
    assert [p for p in data.rglob("*") if p.is_file()] == []
    out = subprocess.run([*script, "--uninstall"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert "nothing to remove" in out.stdout


def test_install_desktop_refuses_a_missing_command(tmp_path):
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    missing = tmp_path / "nowhere" / "detview"
    out = subprocess.run([sys.executable, str(PACKAGING / "install_desktop.py"), "--exec",
                          str(missing)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 2 and str(missing) in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "data").exists()


# ------------------------------------------------------------------ launcher message
def test_gui_import_error_messages():
    from detview.launcher import gui_import_error

    missing = gui_import_error(ModuleNotFoundError("No module named 'pyqtgraph'",
                                                   name="pyqtgraph"))
    assert "pyqtgraph is not installed" in missing and "pip install" in missing
    lib = gui_import_error(ImportError("libEGL.so.1: cannot open shared object file: "
                                       "No such file or directory"))
    assert "libEGL.so.1" in lib and "apt-get install" in lib and "libegl1" in lib
    assert "pip install" not in lib  # pip cannot install a system library


# ------------------------------------------------------------------ bundle screenshot check
def test_check_screenshot_tells_a_render_from_a_blank(tmp_path, qapp, capsys):
    from detview.gui.app import main

    check = _load("check_screenshot")
    shot = tmp_path / "shot.png"
    assert main(["demo", "--screenshot", str(shot)]) == 0
    assert check.problems(shot)[0] == []
    assert check.problems(shot, like=shot)[0] == []
    blank = tmp_path / "blank.png"
    Image.new("RGB", check.SIZE, (239, 239, 239)).save(blank)
    assert len(check.problems(blank)[0]) == 3
    # a window whose image panes stayed empty: the UI without the photos
    with Image.open(shot) as im:
        arr = np.asarray(im.convert("RGB")).copy()
    arr[60:670, 545:1600] = (30, 30, 36)
    hollow = tmp_path / "hollow.png"
    Image.fromarray(arr).save(hollow)
    found = check.problems(hollow, like=shot)[0]
    assert any("differ from" in p for p in found), found
    small = tmp_path / "small.png"
    Image.open(shot).resize((800, 500)).save(small)
    assert any("expected 1600x1000" in p for p in check.problems(small)[0])
    jpeg = tmp_path / "shot.jpg"
    Image.open(shot).convert("RGB").save(jpeg)
    assert any("not PNG" in p for p in check.problems(jpeg)[0])
    assert check.main([str(blank)]) == 1 and check.main([str(shot)]) == 0


@pytest.mark.timeout(600)
def test_a_wheel_install_opens_the_demo_without_the_source_tree(tmp_path):
    """``pip install detview`` (not editable) carries the demo dataset and the icons:
    ``detview demo`` finds them under the environment's ``share/detview/resources``."""
    import sysconfig

    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                            str(wheels), str(REPO)], capture_output=True, text=True,
                           cwd=tmp_path)  # build isolation: the setuptools pyproject asks for
    if build.returncode != 0 and "No matching distribution found for setuptools" in build.stderr:
        pytest.skip("no package index to fetch setuptools from")
    assert build.returncode == 0, build.stderr
    env_dir = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    inst = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install",
                           "--no-deps", "-q", *map(str, wheels.glob("*.whl"))],
                          capture_output=True, text=True)
    assert inst.returncode == 0, inst.stderr
    demo = env_dir / "share" / "detview" / "resources" / "demo"
    assert (demo / "ATTRIBUTION.md").is_file() and len(list((demo / "images").glob("*.jpg"))) \
        == len(list((REPO / "resources" / "demo" / "images").glob("*.jpg")))
    # the installed package, run from elsewhere, with this environment's libraries after it
    code = ("import sys; sys.path.append(sys.argv[1]); import detview.gui.app as a; "
            "print(a.__file__); print(a.resources_dir()); print(a.demo_spec().images)")
    out = subprocess.run([str(py), "-c", code, sysconfig.get_paths()["purelib"]],
                         capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0, out.stderr
    file, res, images = out.stdout.splitlines()
    assert Path(file).is_relative_to(env_dir)  # not this checkout
    assert Path(res) == demo.parent
    assert Path(images).is_relative_to(demo)
