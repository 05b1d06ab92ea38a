"""Layering: the engine, io, the session layer and cli never load Qt; cli and gui never
import each other; the headless commands run where the GUI libraries are not installed at
all; GUI modules stay small enough to read."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

DEMO = REPO / "resources" / "demo"
DEMO_PRED = DEMO / "predictions" / "yolov5s.json"

# Put first on sys.meta_path by a sitecustomize: every import of a GUI library fails as
# it does where the library is not installed, and is written down.
NO_GUI_SITECUSTOMIZE = """\
import os, sys

class _NoGuiLibraries:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("PySide6", "shiboken6", "pyqtgraph"):
            with open(os.environ["DETVIEW_GUI_IMPORTS"], "a", encoding="utf-8") as f:
                f.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _NoGuiLibraries())
"""


@pytest.mark.parametrize("module", ["detview.core", "detview.io", "detview.session",
                                    "detview.session.pipeline", "detview.cli",
                                    "detview.cli.main", "detview.launcher"])
def test_headless_modules_do_not_load_qt(module):
    code = (
        f"import sys, importlib; importlib.import_module('{module}');"
        "import detview.cli.main as m; m.build_parser();"
        "bad=[x for x in ('PySide6','pyqtgraph','detview.gui') if x in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         check=True)
    assert out.stdout.strip() == ""


def test_core_imports_only_numpy_and_pandas():
    code = (
        "import sys; before=set(sys.modules); import detview.core, detview.core.metrics;"
        "import detview.core.edits, detview.core.geometry, detview.core.matching;"
        "new={m.split('.')[0] for m in set(sys.modules)-before};"
        "print(sorted(new - {'detview','numpy','pandas'} - set(sys.stdlib_module_names)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         check=True)
    allowed = {"dateutil", "pytz", "six", "tzdata"}  # pandas' own dependencies
    new = {m for m in eval(out.stdout) if not m.startswith("_") and not m.startswith("cython")}
    assert new - allowed == set()


def test_import_linter_contracts_hold():
    pytest.importorskip("importlinter")
    lint = REPO / ".venv" / "bin" / "lint-imports"
    exe = str(lint) if lint.exists() else "lint-imports"
    out = subprocess.run([exe], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stdout + out.stderr


def test_session_layer_runs_a_session_without_qt():
    code = (
        "import sys; from detview.session import Session, TaskRunner;"
        "from detview.core.dataset import Dataset; from detview.core.tables import *;"
        "import numpy as np;"
        "im = Images(np.arange(1), ['a.jpg'], [10], [10]);"
        "gt = Boxes.build(1, [0], [0], [[0, 0, 5, 5]]);"
        "s = Session(Dataset(im, Classes.from_names(['x']), gt)); s.delete_boxes([0]);"
        "s.undo(); assert s.history.can_redo;"
        "print(','.join(m for m in ('PySide6', 'pyqtgraph', 'detview.gui', 'detview.cli')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         check=True)
    assert out.stdout.strip() == ""


def test_gui_modules_are_short_or_say_why():
    """No file in detview/gui over ~600 lines unless its opening comment says why."""
    for path in sorted((REPO / "detview" / "gui").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        n = text.count("\n")
        head = text[:2000].lower()
        assert n <= 620 or "long because" in head, f"{path.name}: {n} lines"


def test_main_window_keeps_layout_and_wiring_only():
    """The window computes nothing and reads no file: no engine computation, no format
    parsing, no metrics, no journal handling of its own."""
    text = (REPO / "detview" / "gui" / "main_window.py").read_text(encoding="utf-8")
    for name in ("detview.core.cocoeval", "detview.core.tide", "detview.core.analysis",
                 "detview.io.journal", "detview.io.loader", "PerImageMetrics", "Journal(",
                 "threading", ".wait("):
        assert name not in text, name


@pytest.fixture
def no_gui(tmp_path):
    """(run, attempts): run(*args) runs the ``detview`` command in a process where
    PySide6, shiboken6 and pyqtgraph cannot be imported; ``attempts`` lists the imports
    of them that were tried."""
    site = tmp_path / "no-gui-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NO_GUI_SITECUSTOMIZE, encoding="utf-8")
    attempts = tmp_path / "gui-imports.txt"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)]),
           "DETVIEW_GUI_IMPORTS": str(attempts)}
    script = Path(sys.executable).with_name("detview")
    cmd = [str(script)] if script.is_file() else [sys.executable, "-m", "detview"]

    def run(*args: str, blocked: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run([*cmd, *args], capture_output=True, text=True, cwd=REPO,
                              env=env if blocked else os.environ, timeout=120)

    def tried() -> list[str]:
        return attempts.read_text(encoding="utf-8").split() if attempts.exists() else []

    run.tried = tried
    return run


def test_no_gui_site_really_hides_the_gui_libraries(no_gui, tmp_path):
    site = tmp_path / "no-gui-site"
    env = {**os.environ, "PYTHONPATH": str(site), "DETVIEW_GUI_IMPORTS": str(tmp_path / "x")}
    for mod in ("PySide6", "PySide6.QtCore", "pyqtgraph", "shiboken6"):
        out = subprocess.run([sys.executable, "-c", f"import {mod}"], capture_output=True,
                             text=True, env=env)
        assert out.returncode == 1 and "ModuleNotFoundError" in out.stderr, mod
    assert (tmp_path / "x").read_text().split() == ["PySide6", "PySide6", "pyqtgraph",
                                                    "shiboken6"]
    # and the unblocked interpreter does have them (the test would prove nothing otherwise)
    subprocess.run([sys.executable, "-c", "import PySide6.QtCore, pyqtgraph"], check=True)


def test_coco_eval_runs_without_gui_libraries(no_gui):
    args = ("coco-eval", str(DEMO), "--pred", str(DEMO_PRED), "--json")
    out = no_gui(*args)
    assert out.returncode == 0, out.stderr
    assert no_gui.tried() == []
    ref = no_gui(*args, blocked=False)
    assert ref.returncode == 0, ref.stderr
    assert json.loads(out.stdout) == json.loads(ref.stdout)
    assert 0.3 < json.loads(out.stdout)["AP"] < 0.7


def test_eval_runs_without_gui_libraries(no_gui, tmp_path):
    csv = tmp_path / "per_image.csv"
    out = no_gui("eval", str(DEMO), "--pred", str(DEMO_PRED), "--more", "--out", str(csv))
    assert out.returncode == 0, out.stderr
    assert no_gui.tried() == []
    lines = csv.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("file_name,n_gt,n_pred,tp,fp,fn,mean_iou")
    assert len(lines) == 1 + len(list((DEMO / "images").glob("*.jpg")))


def test_convert_runs_without_gui_libraries(no_gui, tmp_path):
    gt = tmp_path / "gt.json"
    out = no_gui("convert", "--from", "yolo", "--to", "coco", "--gt", str(DEMO / "labels"),
                 "--images", str(DEMO / "images"), "--names", str(DEMO / "data.yaml"),
                 "--out", str(gt))
    assert out.returncode == 0, out.stderr
    assert no_gui.tried() == []
    coco = json.loads(gt.read_text(encoding="utf-8"))
    assert len(coco["images"]) == 40 and len(coco["annotations"]) > 40


def _cli_commands() -> list[str]:
    import argparse

    from detview.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return list(sub.choices)


@pytest.mark.parametrize("command", _cli_commands())
def test_every_headless_command_starts_without_gui_libraries(no_gui, command):
    out = no_gui(command, "--help")
    assert out.returncode == 0 and "usage: detview" in out.stdout, out.stderr
    assert no_gui.tried() == []


def test_demo_without_gui_libraries_says_how_to_install_them(no_gui):
    out = no_gui("demo", "--screenshot", "never-written.png")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "the GUI cannot start" in out.stderr
    assert "pip install 'PySide6-Essentials>=6.5,!=6.12.0' 'pyqtgraph>=0.13.7'" in out.stderr
    assert "coco-eval" in out.stderr  # says what still works
    assert no_gui.tried()  # it did try, and failed cleanly
    assert not (REPO / "never-written.png").exists()
