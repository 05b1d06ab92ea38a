"""Health check on files: a test set with one planted problem of each kind, built here;
the check finds exactly those, and nothing on the clean set."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from detview.core.health import KINDS, HealthOptions
from detview.io import load_dataset
from detview.io.errors import Cancelled, InputError
from detview.io.health import check_dataset, quick_check_file, quick_problems, scan_image

W, H = 160, 120


def picture(seed: int, w: int = W, h: int = H) -> Image.Image:
    """A smooth random picture (distinct perceptual hash per seed) with a little grain."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (5, 7, 3)).astype(np.uint8)
    im = Image.fromarray(small).resize((w, h), Image.Resampling.BICUBIC)
    arr = np.asarray(im).astype(np.int64) + rng.integers(-8, 9, (h, w, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def _save_jpeg(im: Image.Image, path: Path, **kw) -> None:
    im.save(path, "JPEG", quality=92, **kw)


class Planted:
    """The planted test set: ``root/images`` + ``root/annotations.json`` (COCO)."""

    def __init__(self, root: Path, clean: bool) -> None:
        self.root = root
        self.images = root / "images"
        self.images.mkdir(parents=True)
        self.expected: set[tuple[str, str, int]] = set()  # (kind, file name, box id)
        imgs: list[dict] = []
        anns: list[dict] = []
        cats = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]

        def image(name: str, w: int = W, h: int = H) -> int:
            imgs.append({"id": len(imgs) + 1, "file_name": name, "width": w, "height": h})
            return len(imgs)

        def box(img_id: int, cat: int, xywh: list[float]) -> int:
            anns.append({"id": 100 + len(anns), "image_id": img_id, "category_id": cat,
                         "bbox": xywh, "area": xywh[2] * xywh[3], "iscrowd": 0})
            return anns[-1]["id"]

        for k in range(6):  # the clean part: 6 images, 6 cat and 6 dog boxes
            _save_jpeg(picture(k), self.images / f"img{k}.jpg")
            i = image(f"img{k}.jpg")
            box(i, 1, [10 + k, 12, 40, 30])
            box(i, 2, [70, 50 + k, 50, 40])
        if clean:
            self.dataset_json(imgs, anns, cats)
            return
        cats.append({"id": 3, "name": "rare"})
        # boxes: outside, degenerate, tiny, rare class
        self.expected.add(("box_outside", "img2.jpg", box(3, 1, [150, 10, 30, 20])))
        self.expected.add(("degenerate_box", "img3.jpg", box(4, 2, [10, 10, 0, 20])))
        self.expected.add(("tiny_box", "img4.jpg", box(5, 1, [50, 50, 1.5, 1])))
        self.expected.add(("rare_class", "img5.jpg", box(6, 3, [20, 20, 30, 30])))
        # truncated JPEG: the first 60 % of the bytes
        _save_jpeg(picture(10), self.images / "truncated.jpg")
        data = (self.images / "truncated.jpg").read_bytes()
        (self.images / "truncated.jpg").write_bytes(data[: int(len(data) * 0.6)])
        box(image("truncated.jpg"), 1, [10, 10, 30, 30])
        self.expected.add(("truncated", "truncated.jpg", -1))
        # PNG without its IEND chunk (decodes, but ends early)
        picture(11).save(self.images / "noiend.png")
        data = (self.images / "noiend.png").read_bytes()
        (self.images / "noiend.png").write_bytes(data[:-12])
        box(image("noiend.png"), 1, [10, 10, 30, 30])
        self.expected.add(("truncated", "noiend.png", -1))
        # not an image at all, and a file that is not there
        (self.images / "garbage.jpg").write_bytes(np.random.default_rng(5).bytes(3000))
        box(image("garbage.jpg"), 2, [10, 10, 30, 30])
        self.expected.add(("unreadable", "garbage.jpg", -1))
        box(image("gone.jpg"), 2, [10, 10, 30, 30])
        self.expected.add(("missing", "gone.jpg", -1))
        # the annotations give the wrong size
        _save_jpeg(picture(12), self.images / "wrongsize.jpg")
        box(image("wrongsize.jpg", 200, 150), 1, [10, 10, 30, 30])
        self.expected.add(("size_mismatch", "wrongsize.jpg", -1))
        # stored 160x120 with EXIF "rotate 90° clockwise"; the labels used the rotated view
        exif = Image.Exif()
        exif[0x0112] = 6
        _save_jpeg(picture(13), self.images / "rotated.jpg", exif=exif.tobytes())
        box(image("rotated.jpg", H, W), 2, [10, 10, 30, 30])
        self.expected.add(("exif_rotated", "rotated.jpg", -1))
        # an exact copy of img0 and a 75 % re-encoded copy of img1
        shutil.copyfile(self.images / "img0.jpg", self.images / "dup.jpg")
        box(image("dup.jpg"), 1, [10, 12, 40, 30])
        self.expected.add(("duplicate", "dup.jpg", -1))
        Image.open(self.images / "img1.jpg").resize((120, 90), Image.Resampling.BILINEAR).save(
            self.images / "near.jpg", "JPEG", quality=80)
        box(image("near.jpg", 120, 90), 1, [8, 9, 30, 22])
        self.expected.add(("near_duplicate", "near.jpg", -1))
        # no labels at all
        _save_jpeg(picture(14), self.images / "unlabeled.jpg")
        image("unlabeled.jpg")
        self.expected.add(("unlabeled", "unlabeled.jpg", -1))
        self.dataset_json(imgs, anns, cats)

    def dataset_json(self, imgs: list[dict], anns: list[dict], cats: list[dict]) -> None:
        self.gt = self.root / "annotations.json"
        self.gt.write_text(json.dumps({"images": imgs, "annotations": anns,
                                       "categories": cats}))

    def load(self):
        return load_dataset(self.images, self.gt).dataset


@pytest.fixture
def planted(tmp_path: Path) -> Planted:
    return Planted(tmp_path / "planted", clean=False)


@pytest.fixture
def clean(tmp_path: Path) -> Planted:
    return Planted(tmp_path / "clean", clean=True)


def found(report) -> set[tuple[str, str, int]]:
    return {(f.kind, f.file_name, f.box_id) for f in report.findings}


def test_every_planted_problem_is_found_and_nothing_else(planted: Planted) -> None:
    ds = planted.load()
    report = check_dataset(ds)
    assert found(report) == planted.expected
    assert set(report.checked) == set(KINDS)
    # each finding names its image by index and file name, boxes by id and class
    names = ds.images.file_names
    for f in report.findings:
        assert names[f.image] == f.file_name
        if f.box_id >= 0:
            r = int(ds.gt.rows_of([f.box_id])[0])
            assert int(ds.gt.image[r]) == f.image and int(ds.gt.cls[r]) == f.cls
    dup = report.of_kind("duplicate")[0]
    assert dup.related == (names.index("img0.jpg"),) and "img0.jpg" in dup.message
    near = report.of_kind("near_duplicate")[0]
    assert near.related == (names.index("img1.jpg"),)
    rot = report.of_kind("exif_rotated")[0]
    assert "120 x 160" in rot.message and "160 x 120" in rot.message and "orientation 6" in \
        rot.message
    assert "200 x 150" in report.of_kind("size_mismatch")[0].message
    assert "right" in report.of_kind("box_outside")[0].message
    counts = report.counts()
    assert counts["truncated"] == 2 and counts["exif_orientation"] == 0
    mask = report.image_mask(["truncated"])
    assert sorted(np.flatnonzero(mask).tolist()) == sorted(
        names.index(n) for n in ("truncated.jpg", "noiend.png"))
    js = report.to_json()
    assert js["counts"]["duplicate"] == 1 and len(js["findings"]) == len(report.findings)
    json.dumps(js)
    df = report.frame()
    assert list(df["kind"]) == [f.kind for f in report.findings]
    assert df.loc[df["kind"] == "rare_class", "class_name"].tolist() == ["rare"]


def test_clean_set_has_no_findings(clean: Planted) -> None:
    report = check_dataset(clean.load(), options=HealthOptions())
    assert report.findings == []
    assert all(v == 0 for v in report.counts().values())
    assert report.n_images == 6 and report.n_boxes == 12


def test_same_findings_with_one_or_many_threads_and_progress(planted: Planted) -> None:
    ds = planted.load()
    calls: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> bool:
        calls.append((done, total))
        return True

    one = check_dataset(ds, workers=1, progress=progress)
    assert calls[-1] == (len(ds.images), len(ds.images))
    calls.clear()
    many = check_dataset(ds, workers=4, progress=progress)
    assert found(one) == found(many) == planted.expected
    assert calls and calls[-1][0] == calls[-1][1] == len(ds.images)


def test_cancel_through_progress(planted: Planted) -> None:
    ds = planted.load()
    for workers in (1, 3):
        with pytest.raises(Cancelled):
            check_dataset(ds, workers=workers, progress=lambda d, t: False)


def test_deleted_images_and_boxes_are_left_out(planted: Planted) -> None:
    ds = planted.load()
    names = ds.images.file_names
    for n in ("truncated.jpg", "dup.jpg", "unlabeled.jpg"):
        ds.images.deleted[names.index(n)] = True
    out_box = next(b for k, _, b in planted.expected if k == "box_outside")
    ds.gt.alive[ds.gt.rows_of([out_box])] = False
    got = found(check_dataset(ds))
    assert got == {e for e in planted.expected if e[1] not in ("truncated.jpg", "dup.jpg",
                                                                "unlabeled.jpg")
                   and e[0] != "box_outside"}


def test_only_some_kinds_and_options(planted: Planted) -> None:
    ds = planted.load()
    rep = check_dataset(ds, options=HealthOptions(kinds=frozenset({"truncated", "tiny_box"})))
    assert {f.kind for f in rep.findings} == {"truncated", "tiny_box"}
    assert set(rep.checked) == {"truncated", "tiny_box"}
    rep = check_dataset(ds, options=HealthOptions(tiny_px=0, min_boxes=0, near_distance=0,
                                                  outside_tolerance=25))
    kinds = {f.kind for f in rep.findings}
    assert not kinds & {"tiny_box", "rare_class", "near_duplicate", "box_outside"}
    rep = check_dataset(ds, options=HealthOptions(tiny_px=35))  # every 30-px box is tiny now
    assert len(rep.of_kind("tiny_box")) > 5
    with pytest.raises(ValueError, match="unknown check kinds"):
        check_dataset(ds, options=HealthOptions(kinds=frozenset({"bogus"})))


def test_without_an_image_folder_only_annotations_are_checked(planted: Planted) -> None:
    ds = planted.load()
    ds.meta.pop("images_root", None)
    rep = check_dataset(ds)
    assert {f.kind for f in rep.findings} == {"unlabeled", "box_outside", "degenerate_box",
                                               "tiny_box", "rare_class"}
    assert "truncated" not in rep.checked


def test_exif_orientation_with_matching_size_is_info(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    p = tmp_path / "o.jpg"
    _save_jpeg(picture(1), p, exif=exif.tobytes())
    s = scan_image(p)
    assert (s.status, s.width, s.height, s.orientation) == ("ok", W, H, 8)
    (tmp_path / "images").mkdir()
    shutil.move(p, tmp_path / "images" / "o.jpg")
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"images": [{"id": 1, "file_name": "o.jpg", "width": W,
                                          "height": H}],
                              "annotations": [{"id": 1, "image_id": 1, "category_id": 1,
                                               "bbox": [5, 5, 20, 20], "area": 400,
                                               "iscrowd": 0}],
                              "categories": [{"id": 1, "name": "a"}]}))
    ds = load_dataset(tmp_path / "images", gt).dataset
    rep = check_dataset(ds, options=HealthOptions(min_boxes=1))
    assert [(f.kind, f.severity) for f in rep.findings] == [("exif_orientation", "info")]


def test_scan_image_never_raises(tmp_path: Path) -> None:
    cases = {
        "empty.jpg": b"",
        "text.png": b"hello",
        "header_only.jpg": b"\xff\xd8\xff\xe0" + b"\x00" * 20,
        "png_sig_only.png": b"\x89PNG\r\n\x1a\n",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        s = scan_image(tmp_path / name)
        assert s.status in ("unreadable", "truncated"), (name, s)
        assert s.message
    (tmp_path / "dir.jpg").mkdir()
    assert scan_image(tmp_path / "dir.jpg").status == "unreadable"
    assert scan_image(tmp_path / "nope.jpg").status == "missing"
    assert scan_image(None).status == "missing"


def test_file_names_cannot_leave_the_image_folder(tmp_path: Path) -> None:
    root = tmp_path / "images"
    root.mkdir()
    _save_jpeg(picture(0), tmp_path / "secret.jpg")
    _save_jpeg(picture(1), root / "a.jpg")
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"images": [{"id": 1, "file_name": "../secret.jpg", "width": W,
                                          "height": H},
                                         {"id": 2, "file_name": str(tmp_path / "secret.jpg"),
                                          "width": W, "height": H},
                                         {"id": 3, "file_name": "a.jpg", "width": W,
                                          "height": H}],
                              "annotations": [], "categories": [{"id": 1, "name": "a"}]}))
    # the loader refuses such names itself (detview.io.paths), naming file and record
    with pytest.raises(InputError, match=r"image #0 \(id 1\).*outside its folder") as ei:
        load_dataset(root, gt)
    assert any("image #1 (id 2)" in str(p) and "absolute" in str(p) for p in ei.value.problems)


def test_quick_check_finds_damaged_files_without_decoding(planted: Planted) -> None:
    ds = planted.load()
    bad = {Path(p.path).name: p.message for p in quick_problems(ds)}
    assert set(bad) == {"truncated.jpg", "noiend.png", "garbage.jpg"}
    assert "end-of-image" in bad["truncated.jpg"] and "IEND" in bad["noiend.png"]
    for name in ("img0.jpg", "rotated.jpg", "near.jpg"):
        assert quick_check_file(planted.images / name) is None
    # a big JPEG with data after its end marker is fine; a cut one is not
    big = planted.root / "big.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (600, 800, 3), dtype=np.uint8)
                    ).save(big, "JPEG", quality=95)
    assert big.stat().st_size > 1 << 16
    data = big.read_bytes()
    big.write_bytes(data + b"\x00" * 100)
    assert quick_check_file(big) is None
    big.write_bytes(data[:-5000])
    assert "end-of-image" in quick_check_file(big)


def test_coco128_real_images(realdata: Path) -> None:
    """coco128 (real photos): the two empty label files are the only unlabeled images,
    and no image is broken or duplicated."""
    root = realdata / "coco128"
    ds = load_dataset(root / "images" / "train2017", root / "labels" / "train2017",
                      class_names=root / "data.yaml").dataset
    rep = check_dataset(ds)
    assert {f.file_name for f in rep.of_kind("unlabeled")} == {"000000000250.jpg",
                                                               "000000000508.jpg"}
    for kind in ("missing", "unreadable", "truncated", "size_mismatch", "exif_rotated",
                 "duplicate", "near_duplicate", "degenerate_box"):
        assert rep.of_kind(kind) == [], kind


def test_names_given_without_their_sub_folder_are_found(tmp_path: Path) -> None:
    from detview.io.health import resolve_paths

    root = tmp_path / "images"
    (root / "train").mkdir(parents=True)
    _save_jpeg(picture(0), root / "train" / "a.jpg")
    _save_jpeg(picture(1), root / "b.jpg")
    got = resolve_paths(root, ["a.jpg", "b.jpg", "x/../b.jpg", "../b.jpg", "/etc/passwd",
                               "C:\\\\x.jpg", "nope.jpg"])
    assert got[:3] == [str(root / "train" / "a.jpg"), str(root / "b.jpg"), str(root / "b.jpg")]
    assert got[3:6] == [None, None, None]
    assert got[6] == str(root / "nope.jpg")
    assert scan_image(got[0]).status == "ok" and scan_image(got[6]).status == "missing"
