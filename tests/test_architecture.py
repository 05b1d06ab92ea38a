"""Layering: the engine, io and cli never load Qt; cli and gui never import each other."""

import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.parametrize("module", ["detview.core", "detview.io", "detview.cli", "detview.cli.main",
                                    "detview.launcher"])
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
