"""``detview check`` end to end on the planted test set and the clean one; and
``detview eval`` saying a word about damaged image files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from detview.cli.main import main as cli_main
from detview.core.health import KINDS
from tests.conftest import REPO
from tests.io.test_health import Planted


@pytest.fixture
def planted(tmp_path: Path) -> Planted:
    return Planted(tmp_path / "planted", clean=False)


@pytest.fixture
def clean(tmp_path: Path) -> Planted:
    return Planted(tmp_path / "clean", clean=True)


def args(ds: Planted, *more: str) -> list[str]:
    return ["check", "--images", str(ds.images), "--gt", str(ds.gt), *more]


def test_json_report_finds_each_planted_problem(planted: Planted, capsys) -> None:
    rc = cli_main(args(planted, "--json"))
    out = capsys.readouterr()
    assert rc == 0
    data = json.loads(out.out)
    got = {(f["kind"], f["file_name"], f["box_id"]) for f in data["findings"]}
    assert got == planted.expected
    for f in data["findings"]:
        assert f["severity"] == KINDS[f["kind"]].severity
        assert isinstance(f["image"], int) and f["image"] >= 0
    assert data["images"] == 15 and data["failed"] == []
    assert set(data["counts"]) == set(KINDS)
    assert out.err.count("detview: warning") == 0  # --json: stdout only, loader quiet


def test_text_report_names_every_image(planted: Planted, capsys) -> None:
    rc = cli_main(args(planted))
    out = capsys.readouterr().out
    assert rc == 0
    for kind, name, box in planted.expected:
        assert f"[{kind}, {KINDS[kind].severity}]" in out
        assert name in out
        if box >= 0:
            assert f"box {box}" in out
    assert "13 findings" in out


@pytest.mark.parametrize("fail_on,rc,failed", [
    ("truncated", 1, ["truncated"]),
    ("unlabeled,duplicate", 1, ["duplicate", "unlabeled"]),
    ("exif_orientation", 0, []),
    ("errors", 1, ["degenerate_box", "exif_rotated", "missing", "size_mismatch", "truncated",
                   "unreadable"]),
    ("any", 1, None),  # every planted kind
])
def test_fail_on(planted: Planted, capsys, fail_on: str, rc: int, failed) -> None:
    got = cli_main(args(planted, "--json", "--fail-on", fail_on))
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert got == rc
    want = failed if failed is not None else sorted({k for k, _, _ in planted.expected})
    assert data["failed"] == want
    if rc:
        assert "check failed" in captured.err


def test_clean_set_passes_everything(clean: Planted, capsys, tmp_path: Path) -> None:
    out_json = tmp_path / "report.json"
    rc = cli_main(args(clean, "--fail-on", "any", "--out", str(out_json)))
    out = capsys.readouterr().out
    assert rc == 0
    assert "No problems found." in out and "Checked 6 images and 12 boxes" in out
    data = json.loads(out_json.read_text())
    assert data["findings"] == [] and not any(data["counts"].values())


def test_only_skip_and_thresholds(planted: Planted, capsys) -> None:
    assert cli_main(args(planted, "--json", "--only", "truncated,unreadable")) == 0
    data = json.loads(capsys.readouterr().out)
    assert {f["kind"] for f in data["findings"]} == {"truncated", "unreadable"}
    assert sorted(data["checked"]) == ["truncated", "unreadable"]
    assert cli_main(args(planted, "--json", "--skip", "near_duplicate,rare_class",
                         "--tiny", "0")) == 0
    data = json.loads(capsys.readouterr().out)
    kinds = {f["kind"] for f in data["findings"]}
    assert "near_duplicate" not in kinds and "rare_class" not in kinds and "tiny_box" not in \
        kinds and "truncated" in kinds
    assert cli_main(args(planted, "--json", "--min-boxes", "7")) == 0
    data = json.loads(capsys.readouterr().out)
    # cat and dog have 10 or more boxes each, rare 1
    assert {f["file_name"] for f in data["findings"] if f["kind"] == "rare_class"} == \
        {"img5.jpg"}


def test_limit(planted: Planted, capsys) -> None:
    cli_main(args(planted, "--tiny", "35", "--limit", "2"))
    out = capsys.readouterr().out
    assert "more (--limit 0 lists all)" in out


@pytest.mark.parametrize("bad,msg", [
    (["--fail-on", "truncate"], "unknown kind 'truncate'"),
    (["--only", "any"], "unknown kind 'any'"),
    (["--near-distance", "65"], "--near-distance between 0 and 64"),
])
def test_bad_options_exit_2(planted: Planted, capsys, bad: list[str], msg: str) -> None:
    assert cli_main(args(planted, *bad)) == 2
    err = capsys.readouterr().err
    assert msg in err and "Traceback" not in err


def test_check_as_a_process(planted: Planted) -> None:
    """The command users run: a whole process, JSON on stdout, exit status for CI."""
    p = subprocess.run([sys.executable, "-m", "detview", *args(planted, "--json", "--fail-on",
                                                                "truncated")],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert p.returncode == 1, p.stderr
    data = json.loads(p.stdout)
    assert {f["file_name"] for f in data["findings"] if f["kind"] == "truncated"} == {
        "truncated.jpg", "noiend.png"}


def test_eval_says_a_word_about_damaged_images(planted: Planted, clean: Planted,
                                               capsys) -> None:
    rc = cli_main(["eval", "--images", str(planted.images), "--gt", str(planted.gt),
                   "--out", "-"])
    err = capsys.readouterr().err
    assert rc == 0
    for name, what in (("truncated.jpg", "end-of-image"), ("noiend.png", "IEND"),
                       ("garbage.jpg", "not an image file")):
        line = next(ln for ln in err.splitlines() if name in ln and "warning" in ln)
        assert what in line and "detview check" in line
    assert "img0.jpg" not in err
    rc = cli_main(["eval", "--images", str(clean.images), "--gt", str(clean.gt), "--out", "-"])
    assert rc == 0 and "warning" not in capsys.readouterr().err
