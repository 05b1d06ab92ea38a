"""The column cache: a loaded dataset's columns kept on disk, so reopening it is a
memory map instead of a parse.

Where: ``.detview/cache-<key>/`` beside the dataset (next to its journal), or the
user's data directory (``$XDG_DATA_HOME/detview/cache``) when that folder is not
writable. ``<key>`` is a hash of the spec (absolute paths and loading options).

What: one ``.npy`` file per column (images, ground truth, each run, the COCO originals
and per-image values) and ``manifest.json``: the cache format version, the spec, the
:class:`~detview.io.jsonstream.Fingerprint` of every input file (size, mtime in ns, a
hash of sampled blocks), the modification time of the folders whose listing the
loader looked at (the ground truth's folder, the image folder), the warnings, the
summary, the class mappings, the small metadata, and for each column its dtype, shape
and CRC-32.

Trust: nothing is taken on faith. A cache is used only when the manifest parses, its
version and spec are this ones, every input's fingerprint is unchanged, and every
column file has the header, size and CRC-32 the manifest gives (then the structure is
checked: offsets, index ranges). Anything else (an input edited, a column file
truncated or corrupt, a manifest from another version) is a miss: the dataset is
parsed again and the cache rewritten. Columns are memory-mapped copy-on-write
(``mmap_mode="c"``): pages are read from the file as used, edits change private
copies, the file is never written through a map. A cache is written whole in a
temporary folder and renamed into place. Pickle is never used.

Only datasets whose extras stay in their source file are cached (a COCO instances
file read by the streaming reader); the per-image formats (YOLO, VOC, LabelMe folders)
are read again each time. Small inputs (below ``min_bytes``) are not cached: parsing
them is as fast as checking a cache.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

from .classmap import ClassMapChoice
from .errors import Problem
from .jsonstream import Fingerprint, fingerprint

__all__ = ["CACHE_VERSION", "MIN_BYTES", "cache_dir_for", "load_cached", "save_cache"]

CACHE_VERSION = 2  # 2: the source box sizes (wh) cached
#: inputs smaller than this (bytes, all files together) are not cached
MIN_BYTES = 32 << 20

_BOX_COLS = ("box_id", "image", "cls", "xyxy", "score", "iscrowd", "area", "offsets", "wh")
_COCO_ARRAYS = ("orig_box_id", "orig_xywh", "orig_xyxy", "ann_order")


class CacheMiss(Exception):
    """The cache cannot be used (the reason is the message)."""


# ------------------------------------------------------------------ where
def _user_cache_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "detview" / "cache"


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


def cache_dir_for(spec_json: dict[str, Any], dataset_dir: Path | None) -> Path:
    """The cache folder of a dataset: ``<dataset_dir>/.detview/cache-<key>`` when
    writable, else in the user's data directory."""
    from .journal import source_key

    name = f"cache-{source_key(spec_json)}"
    if dataset_dir is not None:
        folder = Path(dataset_dir) / ".detview"
        if _writable(folder):
            return folder / name
    folder = _user_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


# ------------------------------------------------------------------ inputs
def _input_files(spec: Any) -> list[Path]:
    files = [spec.gt, *(p for _, p in spec.preds), spec.loss]
    if isinstance(spec.class_names, str):
        files.append(spec.class_names)
    return [Path(f) for f in files if f]


def _folders(spec: Any, ds: Dataset | None = None) -> list[Path]:
    """Folders whose listing the loader looks at (layout and image detection)."""
    out = []
    if spec.gt:
        out.append(Path(spec.gt).parent)
    for p in (spec.images, ds.meta.get("images_root") if ds is not None else None):
        if p:
            out.append(Path(p))
    return list(dict.fromkeys(out))


def cacheable(spec: Any, min_bytes: int = MIN_BYTES) -> bool:
    """A spec whose inputs are files, large enough to be worth a cache."""
    files = _input_files(spec)
    if not spec.gt or not files:
        return False
    try:
        if not all(f.is_file() for f in files):
            return False
        return sum(f.stat().st_size for f in files) >= min_bytes
    except OSError:
        return False


def _stamp(spec: Any, folders: list[Path]) -> dict[str, Any]:
    files = {str(f): fingerprint(f).to_json() for f in _input_files(spec)}
    dirs: dict[str, int | None] = {}
    for d in folders:
        try:
            dirs[str(d)] = os.stat(d).st_mtime_ns
        except OSError:
            dirs[str(d)] = None
    return {"files": files, "folders": dirs}


# ------------------------------------------------------------------ columns
def _crc(a: np.ndarray) -> int:
    if a.size == 0:
        return 0
    return zlib.crc32(np.ascontiguousarray(a).reshape(-1).view(np.uint8).data)


class _Writer:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.columns: dict[str, dict[str, Any]] = {}

    def put(self, name: str, a: np.ndarray) -> None:
        a = np.ascontiguousarray(a)
        if a.dtype.kind not in "biuf":
            raise TypeError(f"{name}: {a.dtype} is not cached")
        np.save(self.folder / f"{name}.npy", a, allow_pickle=False)
        self.columns[name] = {"dtype": a.dtype.str, "shape": list(a.shape), "crc": _crc(a)}


class _Reader:
    def __init__(self, folder: Path, columns: dict[str, Any]) -> None:
        self.folder, self.columns = folder, columns

    def get(self, name: str) -> np.ndarray:
        info = self.columns.get(name)
        if not isinstance(info, dict):
            raise CacheMiss(f"column {name} not in the manifest")
        path = self.folder / f"{name}.npy"
        try:
            a = np.load(path, mmap_mode="c", allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise CacheMiss(f"{path.name}: {exc}") from None
        if a.dtype.str != info.get("dtype") or list(a.shape) != info.get("shape"):
            raise CacheMiss(f"{path.name}: dtype or shape differ from the manifest")
        if _crc(a) != info.get("crc"):
            raise CacheMiss(f"{path.name}: checksum mismatch (corrupt)")
        return np.asarray(a)  # a plain array on the map (np.memmap slows every slice)


def _strings(w: _Writer, name: str, values: list[str]) -> None:
    enc = [s.encode("utf-8", "surrogatepass") for s in values]
    lens = np.fromiter(map(len, enc), np.int64, len(enc))
    off = np.zeros(len(enc) + 1, dtype=np.int64)
    np.cumsum(lens, out=off[1:])
    w.put(f"{name}.offsets", off)
    w.put(f"{name}.bytes", np.frombuffer(b"".join(enc), dtype=np.uint8))


def _read_strings(r: _Reader, name: str) -> list[str]:
    off = r.get(f"{name}.offsets")
    blob = bytes(r.get(f"{name}.bytes"))
    if off.ndim != 1 or off.shape[0] < 1 or off[0] != 0 or off[-1] != len(blob) \
            or (np.diff(off) < 0).any():
        raise CacheMiss(f"{name}: bad string offsets")
    o = off.tolist()
    try:
        return [blob[o[k]:o[k + 1]].decode("utf-8", "surrogatepass") for k in range(len(o) - 1)]
    except UnicodeDecodeError:
        raise CacheMiss(f"{name}: not UTF-8") from None


def _put_boxes(w: _Writer, name: str, b: Boxes) -> None:
    for c in _BOX_COLS:
        w.put(f"{name}.{c}", getattr(b, c))


def _get_boxes(r: _Reader, name: str, n_images: int, n_classes: int) -> Boxes:
    cols = {c: r.get(f"{name}.{c}") for c in _BOX_COLS}
    n = cols["box_id"].shape[0]
    off = cols["offsets"]
    ok = (off.shape == (n_images + 1,) and off[0] == 0 and off[-1] == n
          and all(cols[c].shape[:1] == (n,) for c in _BOX_COLS if c != "offsets")
          and cols["xyxy"].shape == (n, 4) and cols["wh"].shape == (n, 2)
          and not (np.diff(off) < 0).any())
    if ok and n:
        img, cls = cols["image"], cols["cls"]
        ok = bool(img.min() >= 0 and img.max() < n_images and cls.min() >= 0
                  and cls.max() < max(n_classes, 1) and (np.diff(img) >= 0).all()
                  and np.array_equal(np.bincount(img, minlength=n_images), np.diff(off)))
    if not ok:
        raise CacheMiss(f"{name}: inconsistent columns")
    return Boxes(alive=np.ones(n, dtype=bool), extras={}, **cols)


# ------------------------------------------------------------------ JSON parts
def _choice_json(c: ClassMapChoice) -> dict[str, Any]:
    return {"method": c.method, "mapping": [[k, v] for k, v in c.mapping.items()],
            "agreement": c.agreement, "evidence": c.evidence,
            "alternatives": [list(a) for a in c.alternatives], "explanation": c.explanation,
            "automatic": c.automatic, "unmapped": list(c.unmapped)}


def _choice_from(d: dict[str, Any]) -> ClassMapChoice:
    return ClassMapChoice(d["method"], {k: v for k, v in d["mapping"]}, d["agreement"],
                          d["evidence"], tuple(tuple(a) for a in d["alternatives"]),
                          d["explanation"], d["automatic"], tuple(d["unmapped"]))


def _check_cacheable(ds: Dataset) -> str | None:
    """Why this dataset cannot be cached (None: it can)."""
    from .formats.coco import CocoSource

    coco = ds.meta.get("coco")
    if ds.meta.get("format") != "coco" or not isinstance(coco, dict):
        return "only COCO ground truth is cached"
    if not isinstance(coco.get("source"), CocoSource):
        return "its extra fields were parsed into memory"
    if any(run.extras for run in ds.runs.values()):
        return "predictions with extra fields"
    known = {"format", "coco", "gt_path", "images_root", "image_values", "sources"}
    if set(ds.meta) - known:
        return f"metadata {sorted(set(ds.meta) - known)}"
    if any(c for c in ds.classes.extras if not isinstance(c, dict)):
        return "class extras"
    return None


# ------------------------------------------------------------------ save / load
def save_cache(folder: Path, spec: Any, result: Any, stamp: dict[str, Any]) -> bool:
    """Write ``result`` (a :class:`~detview.io.loader.LoadResult`) as the cache in
    ``folder``; False (nothing written) when it cannot be cached."""
    ds: Dataset = result.dataset
    if _check_cacheable(ds) is not None:
        return False
    coco = ds.meta["coco"]
    src = coco["source"]
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        w = _Writer(tmp)
        im = ds.images
        w.put("images.ids", im.ids)
        w.put("images.widths", im.widths)
        w.put("images.heights", im.heights)
        _strings(w, "images.file_names", list(im.file_names))
        w.put("classes.source_ids", ds.classes.source_ids)
        _put_boxes(w, "gt", ds.gt)
        runs = list(ds.runs)
        for k, name in enumerate(runs):
            _put_boxes(w, f"run{k}", ds.runs[name])
        for c in _COCO_ARRAYS:
            w.put(f"coco.{c}", coco[c])
        w.put("coco.source.rows", src.rows)
        w.put("coco.source.box_ids", src.box_ids)
        values = ds.meta.get("image_values", {})
        for k, (_key, v) in enumerate(values.items()):
            w.put(f"values{k}", np.asarray(v, dtype=np.float64))
        manifest = {
            "version": CACHE_VERSION,
            "spec": spec.to_json(),
            "inputs": stamp,
            "written": time.time(),
            "classes": {"names": list(ds.classes.names), "extras": list(ds.classes.extras)},
            "runs": runs,
            "image_values": list(values),
            "meta": {k: ds.meta[k] for k in ("format", "gt_path", "images_root", "sources")
                     if k in ds.meta},
            "coco": {"ids_are_annotation_ids": coco["ids_are_annotation_ids"],
                     "top": coco["top"], "key_order": coco["key_order"],
                     "source": src.to_json()},
            "problems": [[p.path, p.where, p.message, p.severity] for p in result.problems],
            "summary": result.summary,
            "class_maps": {k: _choice_json(v) for k, v in result.class_maps.items()},
            "columns": w.columns,
        }
        import orjson

        (tmp / "manifest.json").write_bytes(orjson.dumps(manifest))
        old = folder.with_name(f".{folder.name}-old-{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
        return True
    except (OSError, TypeError, ValueError):
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def load_cached(folder: Path, spec: Any) -> Any:
    """The :class:`~detview.io.loader.LoadResult` cached in ``folder`` for ``spec``;
    raises :class:`CacheMiss` (saying why) when it is absent, stale or damaged."""
    import orjson

    from .formats.coco import CocoSource, lazy_gt_extras
    from .loader import LoadResult

    try:
        manifest = orjson.loads((folder / "manifest.json").read_bytes())
    except FileNotFoundError:
        raise CacheMiss("no cache") from None
    except (OSError, orjson.JSONDecodeError) as exc:
        raise CacheMiss(f"manifest: {exc}") from None
    try:
        if manifest.get("version") != CACHE_VERSION:
            raise CacheMiss("another cache version")
        if manifest.get("spec") != json.loads(json.dumps(spec.to_json())):
            raise CacheMiss("another dataset")
        stamp = manifest["inputs"]
        for f, fp in stamp["files"].items():
            try:
                now = fingerprint(Path(f)).to_json()
            except OSError:
                raise CacheMiss(f"{f} cannot be read") from None
            if now != fp:
                raise CacheMiss(f"{f} changed")
        for d, mt in stamp["folders"].items():
            try:
                now_mt: int | None = os.stat(d).st_mtime_ns
            except OSError:
                now_mt = None
            if now_mt != mt:
                raise CacheMiss(f"folder {d} changed")
        r = _Reader(folder, manifest["columns"])
        names = _read_strings(r, "images.file_names")
        n = len(names)
        ids, w, h = r.get("images.ids"), r.get("images.widths"), r.get("images.heights")
        if not (ids.shape == w.shape == h.shape == (n,)):
            raise CacheMiss("image columns differ in length")
        cn = manifest["classes"]
        classes = Classes(tuple(cn["names"]), r.get("classes.source_ids"),
                          tuple(dict(e) for e in cn["extras"]))
        if classes.source_ids.shape != (len(classes.names),):
            raise CacheMiss("class columns differ in length")
        gt = _get_boxes(r, "gt", n, len(classes))
        runs = {name: _get_boxes(r, f"run{k}", n, len(classes))
                for k, name in enumerate(manifest["runs"])}
        c = manifest["coco"]
        sj = c["source"]
        fp = Fingerprint.from_json(sj["fingerprint"])
        if fp is None:
            raise CacheMiss("bad source fingerprint")
        src = CocoSource(sj["path"], fp, r.get("coco.source.rows"),
                         r.get("coco.source.box_ids"), bool(sj["unique"]))
        img_extras, gt.extras = lazy_gt_extras(src, n)
        images = Images(ids, names, w, h, extras=img_extras)  # type: ignore[arg-type]
        meta_coco: dict[str, Any] = {k: r.get(f"coco.{k}") for k in _COCO_ARRAYS}
        meta_coco.update(ids_are_annotation_ids=bool(c["ids_are_annotation_ids"]),
                         top=c["top"], key_order=list(c["key_order"]), source=src)
        meta: dict[str, Any] = dict(manifest["meta"])
        meta["coco"] = meta_coco
        meta["image_values"] = {key: r.get(f"values{k}")
                                for k, key in enumerate(manifest["image_values"])}
        ds = Dataset(images, classes, gt, runs, meta)
        problems = [Problem(*p) for p in manifest["problems"]]
        maps = {k: _choice_from(v) for k, v in manifest["class_maps"].items()}
        return LoadResult(ds, problems, manifest["summary"], maps)
    except CacheMiss:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise CacheMiss(f"manifest: {type(exc).__name__}: {exc}") from None


def cached_load(spec: Any, load: Callable[[], Any], *, min_bytes: int = MIN_BYTES,
                logger: logging.Logger | None = None, progress: Any = None) -> Any:
    """``load()`` through the cache: the cached result when it is valid, else the
    result of ``load()``, then cached (failures to write a cache are logged, never
    raised)."""
    from detview.core.progress import phase

    if not cacheable(spec, min_bytes):
        return load()
    folder = cache_dir_for(spec.to_json(), spec.root())
    phase(progress, "open cache")
    try:
        result = load_cached(folder, spec)
        if logger is not None:
            logger.info("columns from the cache %s", folder)
        return result
    except CacheMiss as exc:
        if logger is not None:
            logger.info("cache not used (%s): reading the files", exc)
    before = _stamp(spec, _folders(spec))
    result = load()
    try:
        after = _stamp(spec, _folders(spec, result.dataset))
        if after["files"] == before["files"]:  # an input that changed while read: no cache
            save_cache(folder, spec, result, after)
    except (OSError, TypeError, ValueError) as exc:
        if logger is not None:
            logger.warning("the column cache could not be written in %s: %s", folder, exc)
    return result
