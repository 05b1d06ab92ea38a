"""Issue 9, items 3-4 and 10: Ultralytics folders load everywhere, keep every split, and
exports pass Ultralytics' own dataset check from any working directory."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from detview.cli.main import main
from detview.io import load_dataset, write_dataset
from detview.io.errors import InputError

from .helpers import make_images

CHECK = Path(__file__).with_name("ultralytics_check.py")


def _ultralytics_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("ultralytics") is not None


def ultralytics_check(data_yaml: Path, cwd: Path) -> dict:
    r = subprocess.run([sys.executable, str(CHECK), str(data_yaml)], cwd=cwd,
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError(f"Ultralytics refused {data_yaml} from {cwd}:\n{r.stderr[-800:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def coco128_like(root: Path, split: str = "train2017") -> Path:
    """The layout of the issue: data.yaml with ``train: images/train2017``."""
    make_images(root / "images" / split, {"000000000009.jpg": (64, 48),
                                          "000000000025.jpg": (40, 40)})
    lab = root / "labels" / split
    lab.mkdir(parents=True)
    (lab / "000000000009.txt").write_text("0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.2 0.2\n")
    (lab / "000000000025.txt").write_text("1 0.5 0.5 0.4 0.4\n")
    (root / "data.yaml").write_text(f"path: .\ntrain: images/{split}\nval: images/{split}\n"
                                    "names:\n  0: person\n  1: bicycle\n")
    preds = root.parent / "preds.json"
    preds.write_text(json.dumps([
        {"image_id": 9, "category_id": 0, "bbox": [16, 12, 32, 24], "score": 0.9},
        {"image_id": 25, "category_id": 1, "bbox": [12, 12, 16, 16], "score": 0.8}]))
    return preds


def _cli(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def test_ultralytics_layout_loads_in_eval_coco_eval_and_convert(tmp_path):
    """Reproducer: eval/coco-eval on a folder whose data.yaml says
    ``train: images/train2017`` found no ground truth (every label "without an image",
    all -1, exit 0); convert --gt DIR --images DIR/images/train2017 wrote 0 boxes."""
    ds = tmp_path / "coco128"
    preds = coco128_like(ds)
    rc, out, err = _cli(["coco-eval", str(ds), "--pred", str(preds), "--json"])
    assert rc == 0, err
    res = json.loads(out)
    # person: 1 of 1 found, bicycle: 1 of 2 (one box of image 9 is not predicted)
    assert res["AR100"] == pytest.approx(0.75) and "without an image" not in err
    rc, out, err = _cli(["eval", str(ds), "--pred", str(preds), "--out", "-"])
    assert rc == 0 and "000000000009.jpg,2,1," in out.replace("train2017/", ""), out
    for images in (ds / "images" / "train2017", ds / "images", None):
        gt_out = tmp_path / f"gt_{images.name if images else 'none'}.json"
        argv = ["convert", "--gt", str(ds), "--to", "coco", "--out", str(gt_out)]
        if images is not None:
            argv += ["--images", str(images)]
        rc, _, err = _cli(argv)
        assert rc == 0, err
        assert len(json.loads(gt_out.read_text())["annotations"]) == 3, images


def test_coco128_real_folder_finds_its_929_boxes(realdata):
    c = realdata / "coco128"
    pred = realdata / "coco128_yolov5s_predictions" / "yolov5s_predictions.json"
    rc, out, err = _cli(["coco-eval", str(c), "--pred", str(pred), "--json"])
    assert rc == 0 and "without an image" not in err
    rc2, out2, _ = _cli(["coco-eval", "--gt", str(c / "labels" / "train2017"), "--images",
                         str(c / "images" / "train2017"), "--names", str(c / "data.yaml"),
                         "--pred", str(pred), "--json"])
    assert json.loads(out)["AP"] == json.loads(out2)["AP"] > 0.4
    r = load_dataset(None, c)
    assert len(r.dataset.gt) == 929 and len(r.dataset.images) == 128


def test_ground_truth_given_but_none_found_is_an_error(tmp_path):
    ds = tmp_path / "ds"
    coco128_like(ds)
    other = tmp_path / "other_images"
    make_images(other, {"zzz.jpg": (10, 10)})
    rc, _, err = _cli(["eval", "--gt", str(ds / "labels"), "--images", str(other), "--out", "-"])
    assert rc == 2 and "label file" in err and "pair" in err, err
    empty = tmp_path / "empty.yaml"
    empty.write_text("train: nowhere\nval: nowhere\nnames: [a]\n")
    rc, _, err = _cli(["eval", "--gt", str(empty), "--out", "-"])
    assert rc == 2 and "empty.yaml" in err, err


def test_predictions_that_match_no_image_or_no_class_are_errors(tmp_path):
    ds = tmp_path / "ds"
    coco128_like(ds)
    p = tmp_path / "wrong_images.json"
    p.write_text(json.dumps([{"image_id": 77, "category_id": 0, "bbox": [1, 1, 5, 5],
                              "score": 0.5}]))
    rc, _, err = _cli(["coco-eval", str(ds), "--pred", str(p)])
    assert rc == 2 and "none of the 1 predictions is on an image" in err, err
    p.write_text(json.dumps([{"image_id": 9, "category_id": 55, "bbox": [1, 1, 5, 5],
                              "score": 0.5}]))
    rc, _, err = _cli(["coco-eval", str(ds), "--pred", str(p)])
    assert rc == 2 and "has a class of the ground truth" in err, err


def three_splits(root: Path) -> None:
    for split, names in (("train", ["a.jpg", "b.jpg"]), ("val", ["c.jpg"]), ("test", ["d.jpg"])):
        make_images(root / "images" / split, {n: (32, 32) for n in names})
        (root / "labels" / split).mkdir(parents=True)
        for n in names:
            lab = root / "labels" / split / n.replace(".jpg", ".txt")
            lab.write_text("0 0.5 0.5 0.25 0.25\n")
    (root / "data.yaml").write_text("path: .\ntrain: images/train\nval: images/val\n"
                                    "test: images/test\nnames: [thing]\nlicense: CC-BY\n")


def test_every_split_is_kept_and_path_left_out(tmp_path):
    """Reproducer: train: images/train, val: images/val was written as train: images,
    val: images (validation leaked into training), with path: . (cwd-relative)."""
    src = tmp_path / "src"
    three_splits(src)
    ds = load_dataset(None, src / "data.yaml").dataset
    assert len(ds.images) == 4
    out = tmp_path / "out"
    write_dataset(ds, out, "yolo", images_mode="copy")
    y = yaml.safe_load((out / "data.yaml").read_text())
    assert "path" not in y
    assert (y["train"], y["val"], y["test"]) == ("images/train", "images/val", "images/test")
    assert y["license"] == "CC-BY" and y["names"] == {0: "thing"}
    for split, n in (("train", 2), ("val", 1), ("test", 1)):
        assert len(list((out / "images" / split).iterdir())) == n
        assert len(list((out / "labels" / split).iterdir())) == n
    # read back: the same splits
    back = load_dataset(None, out).dataset
    assert back.meta["yolo"]["splits"] == ds.meta["yolo"]["splits"]


@pytest.mark.skipif(not _ultralytics_installed(), reason="ultralytics is not installed "
                    "(pip install --no-deps ultralytics)")
def test_export_passes_ultralytics_dataset_check_from_any_working_directory(tmp_path):
    src = tmp_path / "src"
    three_splits(src)
    ds = load_dataset(None, src).dataset
    out = tmp_path / "exports" / "clean"
    write_dataset(ds, out, "yolo", images_mode="link")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for cwd in (out, tmp_path, elsewhere, Path("/")):
        yaml_arg = os.path.relpath(out / "data.yaml", cwd) if cwd != Path("/") \
            else str(out / "data.yaml")
        got = ultralytics_check(Path(yaml_arg), cwd)
        assert got["train"] == str((out / "images" / "train").resolve()), cwd
        assert got["val"] == str((out / "images" / "val").resolve())
        assert got["test"] == str((out / "images" / "test").resolve())
        assert got["nc"] == 1
    # the check can fail: the old export's "path: ." only works inside the export
    old = out / "old.yaml"
    old.write_text("path: .\ntrain: images/train\nval: images/val\nnames: [thing]\n")
    with pytest.raises(AssertionError, match="images not found"):
        ultralytics_check(old.resolve(), elsewhere)


def test_list_file_and_roboflow_splits(tmp_path):
    src = tmp_path / "rf"
    for split in ("train", "valid"):
        make_images(src / split / "images", {f"{split}1.jpg": (20, 20)})
        (src / split / "labels").mkdir(parents=True)
        (src / split / "labels" / f"{split}1.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (src / "train.txt").write_text("./train/images/train1.jpg\n")
    (src / "data.yaml").write_text("train: train.txt\nval: valid/images\nnames: [a]\n")
    ds = load_dataset(None, src / "data.yaml").dataset
    assert sorted(ds.images.file_names) == ["train/images/train1.jpg", "valid/images/valid1.jpg"]
    assert len(ds.gt) == 2
    out = tmp_path / "out"
    write_dataset(ds, out, "yolo", images_mode="copy")
    y = yaml.safe_load((out / "data.yaml").read_text())
    assert y["train"] == "train.txt" and y["val"] == "valid/images"
    assert (out / "train.txt").read_text() == "./train/images/train1.jpg\n"
    assert (out / "train" / "labels" / "train1.txt").is_file()
    back = load_dataset(None, out).dataset
    assert sorted(back.images.file_names) == sorted(ds.images.file_names)
    if _ultralytics_installed():
        got = ultralytics_check(out / "data.yaml", tmp_path)
        assert got["val"] == str((out / "valid" / "images").resolve())


def test_path_root_does_not_walk_the_filesystem(tmp_path, monkeypatch):
    """Reproducer: a data.yaml with ``path: /`` walked the whole filesystem."""
    src = tmp_path / "ds"
    three_splits(src)
    (src / "data.yaml").write_text("path: /\ntrain: .\nval: images/val\nnames: [thing]\n")
    scanned: list[str] = []
    real = os.scandir

    def spy(p="."):
        scanned.append(os.path.abspath(os.fspath(p)))
        return real(p)

    monkeypatch.setattr(os, "scandir", spy)
    r = load_dataset(None, src / "data.yaml")
    assert "/" not in scanned and not any(s in ("/usr", "/etc", "/proc") for s in scanned)
    assert any("filesystem root" in p.message for p in r.problems)
    for bad in ("train: /\nval: /\n", "train: ../../..\nval: ../..\n"):
        (src / "data.yaml").write_text(bad + "names: [thing]\n")
        scanned.clear()
        r = load_dataset(None, src / "data.yaml")  # falls back to images/ + labels/
        assert "/" not in scanned and len(r.dataset.images) == 4
        assert any(w in p.message for p in r.problems
                   for w in ("filesystem root", "outside its folder")), r.problems
    (src / "images").rename(src / "pictures")
    with pytest.raises(InputError, match="data.yaml"):
        load_dataset(None, src / "data.yaml")


def test_images_not_copied_are_announced_and_absolute_path_on_request(tmp_path, caplog):
    src = tmp_path / "src"
    three_splits(src)
    ds = load_dataset(None, src).dataset
    write_dataset(ds, tmp_path / "o", "yolo")
    assert "images not copied" in caplog.text
    write_dataset(ds, tmp_path / "abs", "yolo", options={"yolo_path": "absolute"})
    y = yaml.safe_load((tmp_path / "abs" / "data.yaml").read_text())
    assert y["path"] == str((tmp_path / "abs").resolve())
