"""The column cache: identical results, invalidated by any input change, never trusted
blindly (a damaged cache is ignored and rebuilt)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import orjson
import pytest

from detview.io import cache as cache_mod
from detview.io.cache import CacheMiss, cache_dir_for, cached_load, load_cached
from detview.io.errors import InputError
from detview.io.formats.coco import coco_gt_to_obj
from detview.io.spec import DatasetSpec, load_spec
from tests.io.test_coco import small_coco

BOX_COLUMNS = ("box_id", "image", "cls", "xyxy", "score", "iscrowd", "area", "alive", "offsets",
               "wh")


def make_dataset(root: Path, n_preds: int = 50) -> DatasetSpec:
    d = small_coco()
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    gt = root / "annotations" / "instances.json"
    gt.write_text(json.dumps(d))
    rng = np.random.default_rng(0)
    preds = [{"image_id": int(rng.choice([10, 20, 30, 99])),
              "category_id": int(rng.choice([1, 3])),
              "bbox": [round(float(v), 2) for v in rng.random(4) * 40],
              "score": float(rng.random())} for _ in range(n_preds)]
    (root / "preds.json").write_text(json.dumps(preds))
    return DatasetSpec.make(gt=gt, preds=[("model", root / "preds.json")])


def load(spec: DatasetSpec, log: list[str] | None = None):
    class Logger:
        def info(self, fmt, *a):
            if log is not None:
                log.append(fmt % a)

        warning = info

    return cached_load(spec, lambda: load_spec(spec, cache=False), min_bytes=0,
                       logger=Logger())  # type: ignore[arg-type]


def assert_same(a, b) -> None:
    da, db = a.dataset, b.dataset
    for name in ("gt", *da.runs):
        x = da.gt if name == "gt" else da.runs[name]
        y = db.gt if name == "gt" else db.runs[name]
        for c in BOX_COLUMNS:
            u, v = getattr(x, c), getattr(y, c)
            assert u.dtype == v.dtype and np.array_equal(u, v, equal_nan=u.dtype.kind == "f"), c
    assert list(da.runs) == list(db.runs)
    assert da.images.file_names == db.images.file_names
    for c in ("ids", "widths", "heights"):
        assert np.array_equal(getattr(da.images, c), getattr(db.images, c))
    assert da.classes.names == db.classes.names and da.classes.extras == db.classes.extras
    assert [str(p) for p in a.problems] == [str(p) for p in b.problems]
    assert a.summary == b.summary
    assert a.class_maps == b.class_maps
    assert orjson.dumps(coco_gt_to_obj(da)) == orjson.dumps(coco_gt_to_obj(db))


def test_reopen_maps_the_columns_and_gives_the_same_dataset(tmp_path):
    spec = make_dataset(tmp_path)
    fresh = load_spec(spec, cache=False)
    log: list[str] = []
    first = load(spec, log)
    folder = cache_dir_for(spec.to_json(), spec.root())
    assert (folder / "manifest.json").is_file() and folder.parent.name == ".detview"
    second = load(spec, log)
    assert any("from the cache" in m for m in log)
    assert isinstance(second.dataset.runs["model"].xyxy.base, np.memmap)  # mapped, not read
    assert not second.dataset.gt.extras.loaded  # extras still in the json
    assert_same(first, fresh)
    assert_same(second, fresh)


def test_an_edit_on_mapped_columns_changes_neither_the_cache_nor_other_loads(tmp_path):
    spec = make_dataset(tmp_path)
    load(spec)
    ds = load(spec).dataset
    from detview.core.edits import DeleteBoxes, MoveBoxes

    g = ds.gt
    old = tuple(float(v) for v in g.xyxy[0])
    ds.apply(MoveBoxes((int(g.box_id[0]),), (int(g.image[0]),), (old,), ((0.0, 0.0, 3.0, 3.0),)))
    ds.apply(DeleteBoxes((int(g.box_id[1]),), (int(g.image[1]),)))
    again = load(spec).dataset
    assert not np.array_equal(ds.gt.xyxy, again.gt.xyxy)
    assert again.gt.alive.all()
    assert_same(load(spec), load_spec(spec, cache=False))


@pytest.mark.parametrize("change", ["preds", "gt", "touch", "images"])
def test_any_input_change_is_a_miss(tmp_path, change):
    spec = make_dataset(tmp_path)
    load(spec)
    if change == "preds":
        p = Path(spec.preds[0][1])
        recs = json.loads(p.read_text())
        recs[0]["score"] = 0.123
        p.write_text(json.dumps(recs))
    elif change == "gt":
        d = small_coco()
        d["annotations"][0]["bbox"] = [1, 1, 2, 2]
        Path(spec.gt).write_text(json.dumps(d))
    elif change == "touch":  # same bytes, new time: re-read (cheap to be safe)
        st = os.stat(spec.gt)
        os.utime(spec.gt, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    else:  # an image folder appears beside the annotations
        (tmp_path / "annotations" / "images").mkdir()
    log: list[str] = []
    result = load(spec, log)
    assert not any("from the cache" in m for m in log), log
    assert any("cache not used" in m for m in log), log
    assert_same(result, load_spec(spec, cache=False))
    log.clear()
    load(spec, log)  # rewritten: the next open maps it
    assert any("from the cache" in m for m in log), log


def damage(folder: Path, how: str) -> None:
    col = folder / "run0.xyxy.npy"
    if how == "truncate":
        col.write_bytes(col.read_bytes()[:-9])
    elif how == "flip":
        b = bytearray(col.read_bytes())
        b[-5] ^= 0xFF
        col.write_bytes(bytes(b))
    elif how == "header":
        b = bytearray(col.read_bytes())
        b[:6] = b"NOTNPY"
        col.write_bytes(bytes(b))
    elif how == "missing":
        (folder / "gt.offsets.npy").unlink()
    elif how == "manifest":
        (folder / "manifest.json").write_bytes(b'{"version": 1, "spec": ')
    elif how == "shape":  # a consistent file of the wrong shape, manifest edited to match
        m = json.loads((folder / "manifest.json").read_text())
        a = np.load(folder / "gt.image.npy")
        a = a[::-1].copy()  # not sorted by image any more
        np.save(folder / "gt.image.npy", a)
        import zlib

        m["columns"]["gt.image"]["crc"] = zlib.crc32(a.tobytes())
        (folder / "manifest.json").write_text(json.dumps(m))


@pytest.mark.parametrize("how", ["truncate", "flip", "header", "missing", "manifest", "shape"])
def test_a_damaged_cache_is_ignored_and_rebuilt(tmp_path, how):
    spec = make_dataset(tmp_path)
    load(spec)
    folder = cache_dir_for(spec.to_json(), spec.root())
    damage(folder, how)
    with pytest.raises(CacheMiss):
        load_cached(folder, spec)
    log: list[str] = []
    result = load(spec, log)
    assert any("cache not used" in m for m in log), log
    assert_same(result, load_spec(spec, cache=False))
    load_cached(folder, spec)  # rebuilt and valid again


def test_a_read_only_dataset_folder_caches_in_the_user_data_dir(tmp_path, monkeypatch):
    spec = make_dataset(tmp_path / "ds")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(cache_mod, "_writable", lambda folder: False)
    folder = cache_dir_for(spec.to_json(), spec.root())
    assert folder.parent == tmp_path / "home" / "detview" / "cache"
    load(spec)
    assert (folder / "manifest.json").is_file()
    assert not (tmp_path / "ds" / ".detview").exists()


def test_small_inputs_and_folders_are_not_cached(tmp_path):
    spec = make_dataset(tmp_path)
    assert not cache_mod.cacheable(spec)  # a few kB: parsing is as fast as a cache
    assert cache_mod.cacheable(spec, min_bytes=0)
    folder_spec = DatasetSpec.make(gt=tmp_path / "annotations")
    assert not cache_mod.cacheable(folder_spec, min_bytes=0)


def test_export_from_the_cache_refuses_a_changed_json(tmp_path):
    spec = make_dataset(tmp_path)
    load(spec)
    ds = load(spec).dataset
    st = os.stat(spec.gt)
    d = small_coco()
    d["annotations"][0]["segmentation"] = [[0, 0, 1, 1, 2, 2]]
    Path(spec.gt).write_text(json.dumps(d))
    os.utime(spec.gt, ns=(st.st_atime_ns, st.st_mtime_ns))  # same time, new bytes
    with pytest.raises(InputError, match="changed since it was loaded"):
        coco_gt_to_obj(ds)
