"""Issue 9, items 1-2: a name from an annotation file never leads outside its folder.

The one place (``detview.io.paths``) is tested with ``../``, absolute, drive-letter,
NUL and over-long names and a symlinked subfolder; then traversal names are planted in
every format and detview, through its command line, is watched: it must never write
outside the folder it was given, nor open a file outside the dataset's folders.
"""

from __future__ import annotations

import builtins
import io
import json
import os
from pathlib import Path

import pytest

from detview.cli.main import main
from detview.io.errors import InputError
from detview.io.images import list_images
from detview.io.paths import Root, safe_name, unsafe_reason

from .helpers import make_images


@pytest.mark.parametrize("name,want", [
    ("a.jpg", "a.jpg"),
    ("sub\\x.jpg", "sub/x.jpg"),
    ("./a//b.jpg", "a/b.jpg"),
    ("a/../b.jpg", "b.jpg"),
    ("a/./b/../c.jpg", "a/c.jpg"),
])
def test_safe_names_are_normalised(name, want):
    assert safe_name(name) == want


@pytest.mark.parametrize("name,why", [
    ("../x.jpg", "outside its folder"),
    ("a/../../x.jpg", "outside its folder"),
    ("..", "outside its folder"),
    ("/etc/hostname", "absolute"),
    ("\\\\server\\share\\x.jpg", "absolute"),
    ("C:\\Windows\\x.jpg", "drive letter"),
    ("C:x.jpg", "drive letter"),
    ("c:/x.jpg", "drive letter"),
    ("a\x00b.jpg", "control character"),
    ("a\nb.jpg", "control character"),
    ("x" * 256 + ".jpg", "longer than 255 bytes"),
    ("d/" * 600 + "x.jpg", "too long"),
    ("", "empty"),
    (".", "folder itself"),
    (42, "must be text"),
])
def test_unsafe_names_are_refused_with_file_and_record(name, why):
    assert why in (unsafe_reason(name) or "")
    with pytest.raises(InputError) as ei:
        safe_name(name, "ann.json", "image #3 (id 7)")
    assert str(ei.value).startswith("ann.json: image #3 (id 7): ")


def test_relative_base_of_a_labelme_file():
    assert safe_name("../images/a.jpg", base="ann") == "images/a.jpg"
    with pytest.raises(InputError):
        safe_name("../../a.jpg", base="ann")


def test_symlinked_subfolder(tmp_path):
    root = tmp_path / "ds"
    make_images(root / "real", {"a.jpg": (8, 8)})
    make_images(tmp_path / "outside", {"secret.jpg": (8, 8)})
    (root / "inside_link").symlink_to(root / "real", target_is_directory=True)
    (root / "outside_link").symlink_to(tmp_path / "outside", target_is_directory=True)
    (root / "file_link.jpg").symlink_to(tmp_path / "outside" / "secret.jpg")
    r = Root(root)
    assert r.file("inside_link/a.jpg") == root / "inside_link" / "a.jpg"
    for name in ("outside_link/secret.jpg", "file_link.jpg"):
        with pytest.raises(InputError, match="symbolic link"):
            r.file(name, "ann.json", "image #0")
    # listed once, where it is; nothing through the links that lead outside
    assert list_images(root) == ["real/a.jpg"]
    # the root itself may be a link (a user's images/ -> /data/...)
    (tmp_path / "alias").symlink_to(root, target_is_directory=True)
    assert Root(tmp_path / "alias").file("real/a.jpg").is_file()


# ---------------------------------------------------------------------- planted names
class Watch:
    """Record every file detview opens and every path created while it runs."""

    def __init__(self, monkeypatch, root: Path) -> None:
        self.opened: list[str] = []
        real_open, real_io_open, real_os_open = builtins.open, io.open, os.open

        def rec(p):
            if isinstance(p, (str, bytes, os.PathLike)):
                self.opened.append(os.path.abspath(os.fsdecode(p)))

        def b_open(file, *a, **k):
            rec(file)
            return real_open(file, *a, **k)

        def i_open(file, *a, **k):
            rec(file)
            return real_io_open(file, *a, **k)

        def o_open(path, *a, **k):
            if k.get("dir_fd") is None:
                rec(path)
            return real_os_open(path, *a, **k)

        monkeypatch.setattr(builtins, "open", b_open)
        monkeypatch.setattr(io, "open", i_open)
        monkeypatch.setattr(os, "open", o_open)
        self.root = root
        self.before = self.tree()

    def tree(self) -> set[str]:
        out = set()
        for d, dirs, files in os.walk(self.root):
            for n in dirs + files:
                out.add(os.path.join(d, n))
        return out

    def created(self) -> set[str]:
        return self.tree() - self.before


def _layouts(tmp: Path) -> dict[str, list[str]]:
    """One dataset per format with a traversal name planted; returns CLI arguments."""
    ds = tmp / "datasets"
    make_images(ds / "images", {"a.jpg": (32, 24)})
    secret = tmp / "outside" / "secret.jpg"
    make_images(secret.parent, {"secret.jpg": (8, 8)})
    (tmp / "sysdir").mkdir()
    bad = "../../../outside/secret.jpg"
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "width": 32, "height": 24},
                       {"id": 2, "file_name": "../../../sysdir/hostname", "width": 8,
                        "height": 8}],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [1, 1, 2, 2]}]}
    (ds / "coco.json").write_text(json.dumps(coco))
    lm = ds / "labelme"
    lm.mkdir()
    (lm / "a.json").write_text(json.dumps({
        "imagePath": "../../../x/evil.jpg", "imageWidth": 8, "imageHeight": 8,
        "shapes": [{"label": "x", "points": [[1, 1], [3, 3]], "shape_type": "rectangle"}]}))
    voc = ds / "Annotations"
    voc.mkdir()
    (voc / "a.xml").write_text(f"<annotation><filename>{bad}</filename><size><width>8</width>"
                               "<height>8</height></size><object><name>x</name><bndbox>"
                               "<xmin>1</xmin><ymin>1</ymin><xmax>3</xmax><ymax>3</ymax>"
                               "</bndbox></object></annotation>")
    (ds / "cvat.xml").write_text(f'<annotations><image id="0" name="{bad}" width="8" '
                                 'height="8"><box label="x" xtl="1" ytl="1" xbr="3" ybr="3"/>'
                                 "</image></annotations>")
    (ds / "gt.csv").write_text(f"file_name,x1,y1,x2,y2,label\n{bad},1,1,3,3,x\n")
    y = ds / "yolo"
    make_images(y / "images" / "train", {"a.jpg": (32, 24)})
    (y / "labels" / "train").mkdir(parents=True)
    (y / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (y / "train.txt").write_text(f"./images/train/a.jpg\n{bad}\n/etc/hostname\n")
    (y / "data.yaml").write_text("train: train.txt\nval: ../../../outside\ntest: /\n"
                                 "names: [x]\n")
    images = str(ds / "images")
    return {
        "coco": ["--gt", str(ds / "coco.json"), "--images", images],
        "labelme": ["--gt", str(lm), "--from", "labelme"],
        "voc": ["--gt", str(voc), "--images", images],
        "cvat": ["--gt", str(ds / "cvat.xml"), "--images", images],
        "csv": ["--gt", str(ds / "gt.csv"), "--images", images],
        "yolo": ["--gt", str(y / "data.yaml")],
    }


@pytest.mark.parametrize("src", ["coco", "labelme", "voc", "cvat", "csv", "yolo"])
def test_planted_traversal_names_never_escape(tmp_path, monkeypatch, capsys, src):
    """Reproducers: a COCO file_name of ../../../sysdir/hostname converted to YOLO and
    LabelMe created hostname.txt in that folder; a LabelMe imagePath of
    ../../../x/evil.jpg exported outside --out; --copy-images copied files from
    outside the image folder. Now every output stays in --out and nothing outside the
    dataset's folders is opened."""
    args = _layouts(tmp_path)[src]
    out_root = tmp_path / "work" / "a" / "b"
    out_root.mkdir(parents=True)
    watch = Watch(monkeypatch, tmp_path)
    outside = [str(tmp_path / "outside"), str(tmp_path / "sysdir"), "/etc", str(tmp_path / "x")]
    for dst in ("yolo", "labelme", "voc", "coco", "cvat", "csv"):
        out = out_root / f"{src}_to_{dst}"
        rc = main(["convert", *args, "--to", dst, "--out", str(out), "--copy-images"])
        err = capsys.readouterr().err
        created = watch.created()
        stray = [p for p in created if not p.startswith(str(out_root) + os.sep)
                 and not p.startswith(str(out_root.parent / "."))]
        assert not stray, f"{src} -> {dst}: created outside --out: {stray}"
        assert not [p for p in watch.opened if any(p.startswith(o) for o in outside)], (
            f"{src} -> {dst}: opened {[p for p in watch.opened if 'outside' in p]}")
        if rc != 0:
            assert "Traceback" not in err and err.startswith("detview: error: ")
            assert any(k in err for k in ("outside its folder", "absolute", "leads outside",
                                           "not found", "no label file", "skipped")), err
        else:  # loaded without the planted names: they were refused with a warning
            assert "warning" in err, err


def test_copy_images_refuses_a_non_image(tmp_path, capsys):
    """Reproducer: convert --to voc --copy-images copied an arbitrary non-image file."""
    make_images(tmp_path / "images", {"a.jpg": (16, 16)})
    (tmp_path / "images" / "notes.txt").write_text("private")
    coco = {"images": [{"id": 1, "file_name": "notes.txt", "width": 16, "height": 16}],
            "categories": [{"id": 1, "name": "x"}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2]}]}
    (tmp_path / "gt.json").write_text(json.dumps(coco))
    out = tmp_path / "out"
    rc = main(["convert", "--gt", str(tmp_path / "gt.json"), "--images",
               str(tmp_path / "images"), "--to", "voc", "--out", str(out), "--copy-images"])
    assert rc == 2 and "not an image file" in capsys.readouterr().err
    assert not out.exists()  # nothing half-written either


def test_writes_never_follow_a_planted_symlink(tmp_path):
    """--overwrite into a folder whose labels/ is a link to elsewhere: refused."""
    from detview.io import load_dataset, write_dataset

    make_images(tmp_path / "ds" / "images", {"a.jpg": (16, 16)})
    (tmp_path / "ds" / "labels").mkdir()
    (tmp_path / "ds" / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    (tmp_path / "ds" / "classes.txt").write_text("x\n")
    ds = load_dataset(tmp_path / "ds", None).dataset
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user file")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (out / "labels").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(InputError, match="symbolic link"):
        write_dataset(ds, out, "yolo", overwrite=True)
    assert list(elsewhere.iterdir()) == []
    # a link planted where a single output file goes is replaced, its target untouched
    target = tmp_path / "victim.txt"
    target.write_text("untouched")
    (tmp_path / "o.csv").symlink_to(target)
    write_dataset(ds, tmp_path / "o.csv", "csv")
    assert target.read_text() == "untouched" and not (tmp_path / "o.csv").is_symlink()
