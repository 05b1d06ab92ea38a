"""Progress bars: one per phase on a terminal (stderr), nothing through a pipe or with
--quiet; the same callbacks the GUI's task runner gets."""

from __future__ import annotations

import io
import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from detview.cli.progress import TerminalProgress, progress_from_args
from tests.conftest import REPO
from tests.io.test_coco import small_coco


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path]:
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(small_coco()))
    preds = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
              "score": 0.5} for a in small_coco()["annotations"]]
    p = tmp_path / "p.json"
    p.write_text(json.dumps(preds))
    return gt, p


def run_on_pty(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run ``detview argv`` with stderr on a pseudo-terminal; (rc, stdout, terminal)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "detview", *argv], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL,
                            env={**os.environ, "TERM": "xterm", "COLUMNS": "100"})
    os.close(slave)
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    out = proc.stdout.read().decode() if proc.stdout else ""
    rc = proc.wait(60)
    os.close(master)
    return rc, out, b"".join(chunks).decode(errors="replace")


@pytest.mark.parametrize("command", ["coco-eval", "eval"])
def test_a_terminal_gets_a_bar_per_phase(dataset, tmp_path, command):
    gt, p = dataset
    argv = [command, "--gt", str(gt), "--pred", str(p)]
    argv += ["--out", str(tmp_path / "t.csv")] if command == "eval" else []
    rc, out, term = run_on_pty(argv, REPO)
    assert rc == 0, term
    phases = ["load GT", "load preds", "match", "accumulate"] if command == "coco-eval" \
        else ["load GT", "load preds", "match", "write"]
    for name in phases:
        assert name in term, (name, term)
    assert "100%|" in term  # a bar that filled
    assert "\r" in term  # redrawn in place
    if command == "coco-eval":
        assert "Average Precision" in out and "load GT" not in out  # bars on stderr only


@pytest.mark.parametrize("command", ["coco-eval", "eval"])
def test_a_pipe_gets_no_bar(dataset, tmp_path, command):
    gt, p = dataset
    argv = [command, "--gt", str(gt), "--pred", str(p)]
    argv += ["--out", "-"] if command == "eval" else []
    r = subprocess.run([sys.executable, "-m", "detview", *argv], cwd=REPO, capture_output=True,
                       text=True, check=True)
    assert "\r" not in r.stderr and "%|" not in r.stderr
    assert "load GT" not in r.stderr and "match" not in r.stderr


@pytest.mark.parametrize("command", ["coco-eval", "eval"])
def test_quiet_draws_nothing_on_a_terminal(dataset, tmp_path, command):
    gt, p = dataset
    argv = [command, "--gt", str(gt), "--pred", str(p), "--quiet"]
    argv += ["--out", str(tmp_path / "t.csv")] if command == "eval" else []
    rc, out, term = run_on_pty(argv, REPO)
    assert rc == 0, term
    assert term.strip() == "", term


def test_the_bar_follows_the_callbacks():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    args = type("A", (), {"quiet": False})()
    bar = progress_from_args(args, stream)
    assert isinstance(bar, TerminalProgress)
    bar.phase("load GT")
    bar.phase("load GT", "B")  # the reader names the unit: the same bar
    assert bar(512, 1024) is True
    bar(1024, 1024)
    bar.phase("match")
    bar(3, 10)
    bar.finish()
    text = stream.getvalue()
    assert bar.phases == ["load GT", "match"]
    assert "1.00k" in text or "1.0k" in text  # bytes, scaled
    assert text.count("load GT") >= 1 and "10/10" in text  # closed phases are completed
    quiet = type("A", (), {"quiet": True})()
    assert progress_from_args(quiet, stream) is None
    assert progress_from_args(args, io.StringIO()) is None  # not a terminal


def test_export_draws_load_and_write_phases(dataset, tmp_path):
    gt, _ = dataset
    rc, _out, term = run_on_pty(["export", "--gt", str(gt), "--out", str(tmp_path / "out")],
                                REPO)
    assert rc == 0, term
    assert "load GT" in term and "write" in term and "\r" in term
    rc, _out, term = run_on_pty(["export", "--gt", str(gt), "--out", str(tmp_path / "out2"),
                                 "--quiet"], REPO)
    assert rc == 0 and term.strip() == "", term
