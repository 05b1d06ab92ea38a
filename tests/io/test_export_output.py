"""Issue 9, items 7-8: exports that survive anything and behave like other programs'.

* a killed export leaves nothing that looks complete; the folder appears under its
  name only when every file is on disk, with ``.detview-export.json`` last;
* a non-empty folder that is not a detview export is refused without --overwrite;
* file modes come from the umask; an input written over keeps its mode;
* backups are numbered, never overwritten, never followed through a symbolic link.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from detview.cli.main import main
from detview.core.edits import DeleteBoxes, DeleteImages
from detview.io import EXPORT_MARKER, check_export, export_dataset, load_dataset, write_dataset
from detview.io.errors import InputError

from .helpers import make_images

REPO = Path(__file__).resolve().parents[2]
DETVIEW = [sys.executable, "-c", "import sys; from detview.cli.main import main; "
           "sys.exit(main(sys.argv[1:]))"]


def _coco(tmp: Path, n: int = 3) -> Path:
    names = {f"img{i:05d}.jpg": (16, 12) for i in range(n)}
    make_images(tmp / "images", names)
    obj = {"images": [{"id": i + 1, "file_name": f, "width": 16, "height": 12}
                      for i, f in enumerate(names)],
           "categories": [{"id": 1, "name": "x"}],
           "annotations": [{"id": i + 1, "image_id": i + 1, "category_id": 1,
                            "bbox": [1, 1, 5, 5], "area": 25, "iscrowd": 0}
                           for i in range(n)]}
    gt = tmp / "gt.json"
    gt.write_text(json.dumps(obj))
    return gt


def test_export_folder_is_complete_or_absent_after_kill_9(tmp_path):
    """Reproducer: kill -9 during an export left a complete-looking annotations.json,
    a third of the images, no corrections.jsonl and no sign it was incomplete."""
    gt = _coco(tmp_path, 1500)
    out = tmp_path / "export"
    cmd = [*DETVIEW, "export", "--gt", str(gt), "--images", str(tmp_path / "images"),
           "--format", "coco", "--out", str(out), "--copy-images"]
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.DEVNULL)
    staging = None
    t0 = time.monotonic()
    while time.monotonic() - t0 < 60 and proc.poll() is None:
        parts = [p for p in tmp_path.iterdir() if ".detview-partial-" in p.name]
        if parts and (parts[0] / "images").is_dir() and \
                len(list((parts[0] / "images").iterdir())) > 20:
            staging = parts[0]
            break
        time.sleep(0.005)
    if staging is None:
        proc.wait()
        pytest.fail("the export finished before it could be killed: make it bigger")
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # nothing under the name the user asked for
    assert staging.name.startswith(".export.detview-partial-")  # hidden, says what it is
    assert check_export(out) and "not a folder" in check_export(out)[0]
    # the next export cleans up after the killed one and completes
    assert main(["export", "--gt", str(gt), "--images", str(tmp_path / "images"),
                 "--format", "coco", "--out", str(out)]) == 0
    assert not staging.exists()
    assert check_export(out) == []
    marker = json.loads((out / EXPORT_MARKER).read_text())
    assert marker["complete"] is True and "annotations.json" in marker["files"]
    assert (out / "corrections.jsonl").is_file()


def test_check_export_finds_missing_and_changed_files(tmp_path, capsys):
    gt = _coco(tmp_path)
    out = tmp_path / "e"
    assert main(["export", "--gt", str(gt), "--images", str(tmp_path / "images"),
                 "--format", "yolo", "--out", str(out), "--copy-images"]) == 0
    assert main(["check-export", str(out)]) == 0
    lab = out / "labels" / "img00001.txt"
    lab.write_text(lab.read_text().replace("0", "1", 1))  # same size, other bytes
    (out / "images" / "img00002.jpg").unlink()
    assert main(["check-export", str(out)]) == 1
    err = capsys.readouterr().err
    assert "img00001.txt: content differs" in err and "img00002.jpg: missing" in err
    (out / EXPORT_MARKER).unlink()
    assert "not a complete detview export" in check_export(out)[0]


def test_refuses_a_foreign_non_empty_folder_and_replaces_a_previous_export(tmp_path):
    gt = _coco(tmp_path)
    ds = load_dataset(tmp_path / "images", gt).dataset
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(InputError, match="not empty and is not a previous detview export"):
        write_dataset(ds, mine, "voc")
    assert sorted(os.listdir(mine)) == ["thesis.tex"]
    # --overwrite: the files are added, the user's file stays
    write_dataset(ds, mine, "voc", overwrite=True)
    assert (mine / "thesis.tex").read_text() == "precious"
    assert check_export(mine) == []
    # an empty folder is fine; a previous export is replaced (its stale files go)
    empty = tmp_path / "empty"
    empty.mkdir()
    write_dataset(ds, empty, "yolo")
    assert (empty / "data.yaml").is_file()
    ds.apply(DeleteImages((0,)))
    write_dataset(ds, empty, "yolo")
    assert not (empty / "labels" / "img00000.txt").exists()
    assert check_export(empty) == []
    assert [p.name for p in tmp_path.iterdir() if "detview-" in p.name] == []


def _run_umask(umask: int, argv: list[str]) -> None:
    old = os.umask(umask)
    try:
        assert main(argv) == 0
    finally:
        os.umask(old)


@pytest.mark.parametrize("umask,fmode,dmode", [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750),
                                               (0o002, 0o664, 0o775)])
def test_file_modes_follow_the_umask(tmp_path, umask, fmode, dmode):
    """Reproducer: every output file was 0600 (mkstemp), whatever the umask."""
    gt = _coco(tmp_path)
    out = tmp_path / "out"
    _run_umask(umask, ["convert", "--gt", str(gt), "--images", str(tmp_path / "images"),
                       "--to", "yolo", "--out", str(out), "--copy-images", "--quiet"])
    files = [p for p in out.rglob("*") if p.is_file()]
    dirs = [out, *(p for p in out.rglob("*") if p.is_dir())]
    assert files and {stat.S_IMODE(p.stat().st_mode) for p in files} == {fmode}
    assert {stat.S_IMODE(p.stat().st_mode) for p in dirs} == {dmode}
    single = tmp_path / "one.json"
    _run_umask(umask, ["convert", "--gt", str(gt), "--to", "coco", "--out", str(single),
                       "--quiet"])
    assert stat.S_IMODE(single.stat().st_mode) == fmode


def test_overwrite_keeps_the_inputs_mode_and_numbers_backups(tmp_path):
    """Reproducers: --overwrite turned an input from 0644 into 0600; a second
    --overwrite overwrote gt.json.bak (the original was lost); a planted .bak symlink
    was written through."""
    gt = _coco(tmp_path)
    os.chmod(gt, 0o644)
    original = gt.read_bytes()
    victim = tmp_path / "victim.txt"
    victim.write_text("not yours")
    (tmp_path / "gt.json.bak.1").symlink_to(victim)  # planted
    args = ["convert", "--gt", str(gt), "--images", str(tmp_path / "images"), "--to", "coco",
            "--out", str(gt), "--overwrite", "--quiet"]
    assert main(args) == 0
    assert stat.S_IMODE(gt.stat().st_mode) == 0o644
    assert victim.read_text() == "not yours"  # the link was not followed
    assert (tmp_path / "gt.json.bak.2").read_bytes() == original
    first = gt.read_bytes()
    assert main(args) == 0
    assert (tmp_path / "gt.json.bak.2").read_bytes() == original  # never overwritten
    assert (tmp_path / "gt.json.bak.3").read_bytes() == first
    assert main(args[:-2] + ["--quiet"]) == 2  # without --overwrite: refused


def test_export_writes_dataset_and_log_together(tmp_path):
    """The GUI and detview export/apply share io.export_dataset: the log is inside the
    export before it is renamed into place, and apply writes the same bytes."""
    gt = _coco(tmp_path)
    ds = load_dataset(tmp_path / "images", gt).dataset
    edits = [DeleteBoxes((1,), (0,)), DeleteImages((2,))]
    out = tmp_path / "gui"
    written, summary = export_dataset(ds, edits, out, "coco", source={"gt": str(gt)},
                                      meta=[{"time": 1.0, "user": "u"}] * 2)
    assert summary["boxes_deleted"] == 1 and summary["images_deleted"] == 1
    assert out / "corrections.jsonl" in written and check_export(out) == []
    obj = json.loads((out / "annotations.json").read_text())
    assert len(obj["images"]) == 2 and len(obj["annotations"]) == 1
    other = tmp_path / "cli"
    assert main(["apply", "--corrections", str(out / "corrections.jsonl"), "--gt", str(gt),
                 "--images", str(tmp_path / "images"), "--out", str(other)]) == 0
    for name in ("annotations.json", "corrections.jsonl", EXPORT_MARKER):
        a, b = (out / name).read_bytes(), (other / name).read_bytes()
        if name == "corrections.jsonl":  # the header's source differs (absolute paths)
            a, b = a.split(b"\n", 1)[1], b.split(b"\n", 1)[1]
        assert a == b, name
