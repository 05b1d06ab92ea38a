"""Writing the cleaned dataset in any supported format.

Boxes with ``alive == False`` and images with ``images.deleted`` are left out;
everything else is written as it came in (ids, order, passthrough fields). Every file
is written atomically (temp file in the same folder, then ``os.replace``); an input
file is never written over unless ``overwrite=True``, and then a ``.bak`` copy of it
is kept.

Output paths per format (``out``):

* ``coco``: a ``.json`` file (a folder gets ``annotations.json``); images to ``images/``
* ``cvat``: an ``.xml`` file (a folder gets ``annotations.xml``)
* ``csv``: a ``.csv`` file (a folder gets ``annotations.csv``)
* ``yolo``: a folder: ``labels/<stem>.txt`` (empty for images without boxes),
  ``data.yaml``; images to ``images/``
* ``voc``: a folder: ``Annotations/<stem>.xml``; images to ``JPEGImages/``
* ``labelme``: a folder: ``<stem>.json`` beside the images (copied there when asked)
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from detview.core.dataset import Dataset

from ._common import Progress, atomic_write_bytes, get_logger
from .errors import Cancelled, InputError

__all__ = ["FORMATS", "write_dataset", "write_predictions"]

FORMATS = ("coco", "yolo", "voc", "labelme", "cvat", "csv")


class _Out:
    def __init__(self, ds: Dataset, overwrite: bool) -> None:
        self.overwrite = overwrite
        self.written: list[Path] = []
        prot: list[Path] = []
        for p in [ds.meta.get("gt_path"), *(ds.meta.get("sources") or {}).values()]:
            if p:
                prot.append(Path(p).resolve())
        self.protected = prot

    def _is_protected(self, target: Path) -> bool:
        t = target.resolve()
        for p in self.protected:
            if t == p:
                return True
            if p.is_dir() and p in t.parents:
                return True
        return False

    def write(self, path: Path, data: bytes) -> None:
        prot = [path] if self._is_protected(path) else []
        self.written.append(atomic_write_bytes(path, data, protected=prot,
                                               overwrite=self.overwrite))


def _single(out: Path, default_name: str, suffixes: tuple[str, ...]) -> Path:
    if out.suffix.lower() in suffixes:
        return out
    return out / default_name


def _copy_images(ds: Dataset, root: Path | None, dest: Path, mode: str,
                 flat: bool = False) -> list[Path]:
    if mode == "none":
        return []
    if mode not in ("copy", "link"):
        raise ValueError(f"images_mode must be 'none', 'copy' or 'link', got {mode!r}")
    if root is None:
        raise InputError("(images)", "", "images_root is needed to copy or link images")
    out = []
    for i in np.flatnonzero(~ds.images.deleted).tolist():
        fn = ds.images.file_names[i]
        src = Path(root) / fn
        dst = dest / (fn.rsplit("/", 1)[-1] if flat else fn)
        if dst.exists() and dst.resolve() == src.resolve():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if not src.is_file():
            raise InputError(src, "", "image file not found (cannot copy it)")
        if dst.exists() or dst.is_symlink():
            dst.unlink()
        if mode == "copy":
            shutil.copy2(src, dst)
        else:
            try:
                os.link(src, dst)
            except OSError:
                os.symlink(src.resolve(), dst)
        out.append(dst)
    return out


def _stem_path(fn: str) -> str:
    return fn.rsplit(".", 1)[0] if "." in fn.rsplit("/", 1)[-1] else fn


def write_dataset(
    dataset: Dataset,
    out: Path,
    format: str | None = None,
    *,
    images_mode: str = "none",
    images_root: Path | None = None,
    overwrite: bool = False,
    options: dict[str, Any] | None = None,
    logger: logging.Logger | None = None,
    progress: Progress = None,
) -> list[Path]:
    """Write the cleaned dataset; returns the files written (images included).

    ``format`` None = the format it came in (``dataset.meta["format"]``).
    ``options``: ``voc_one_based`` (default: as read, else True).
    """
    log = get_logger(logger)
    options = options or {}
    fmt = (format or dataset.meta.get("format") or "").lower()
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; one of {FORMATS}")
    out = Path(out)
    w = _Out(dataset, overwrite)
    ds = dataset
    root = Path(images_root) if images_root is not None else (
        Path(ds.meta["images_root"]) if ds.meta.get("images_root") else None)
    im = ds.images
    keep_img = np.flatnonzero(~im.deleted)
    gt = ds.gt
    total = len(keep_img)

    def tick(k: int) -> None:
        if progress is not None and k % 64 == 0 and progress(k, total) is False:
            raise Cancelled("cancelled")

    if fmt == "coco":
        from .coco import coco_gt_to_obj

        path = _single(out, "annotations.json", (".json",))
        obj = coco_gt_to_obj(ds, progress)
        w.write(path, orjson.dumps(obj))
        w.written += _copy_images(ds, root, path.parent / "images", images_mode)
    elif fmt == "cvat":
        from .cvat import cvat_xml

        path = _single(out, "annotations.xml", (".xml",))
        w.write(path, cvat_xml(ds))
        w.written += _copy_images(ds, root, path.parent / "images", images_mode)
    elif fmt == "csv":
        from .csvfmt import csv_text

        path = _single(out, "annotations.csv", (".csv",))
        w.write(path, csv_text(ds).encode("utf-8"))
        w.written += _copy_images(ds, root, path.parent / "images", images_mode)
    elif fmt == "yolo":
        from .yolo import yolo_lines

        for k, i in enumerate(keep_img.tolist()):
            tick(k)
            sl = gt.image_slice(i)
            a = gt.alive[sl]
            if (im.widths[i] <= 0 or im.heights[i] <= 0) and a.any():
                raise InputError(im.file_names[i], "", "image size unknown: cannot write "
                                 "normalised YOLO coordinates")
            txt = yolo_lines(gt.cls[sl][a], gt.xyxy[sl][a], int(im.widths[i]) or 1,
                             int(im.heights[i]) or 1)
            w.write(out / "labels" / (_stem_path(im.file_names[i]) + ".txt"),
                    txt.encode("utf-8"))
        names = {k: n for k, n in enumerate(ds.classes.names)}
        data = {"path": ".", "train": "images", "val": "images", "names": names}
        w.write(out / "data.yaml", yaml.safe_dump(data, sort_keys=False,
                                                 allow_unicode=True).encode("utf-8"))
        w.written += _copy_images(ds, root, out / "images", images_mode)
    elif fmt == "voc":
        from .voc import voc_xml

        one = options.get("voc_one_based", (ds.meta.get("voc") or {}).get("one_based", True))
        for k, i in enumerate(keep_img.tolist()):
            tick(k)
            sl = gt.image_slice(i)
            rows = [r for r in range(sl.start, sl.stop) if gt.alive[r]]
            xml = voc_xml(im.file_names[i], int(im.widths[i]), int(im.heights[i]),
                          [ds.classes.names[int(gt.cls[r])] for r in rows], gt.xyxy[rows],
                          [gt.extras.get(int(gt.box_id[r]), {}) for r in rows],
                          im.extras[i], one_based=bool(one))
            w.write(out / "Annotations" / (_stem_path(im.file_names[i]).rsplit("/", 1)[-1]
                                           + ".xml"), xml)
        w.written += _copy_images(ds, root, out / "JPEGImages", images_mode, flat=True)
    elif fmt == "labelme":
        from .labelme import labelme_obj

        for k, i in enumerate(keep_img.tolist()):
            tick(k)
            sl = gt.image_slice(i)
            rows = [r for r in range(sl.start, sl.stop) if gt.alive[r]]
            obj = labelme_obj(im.file_names[i], int(im.widths[i]), int(im.heights[i]),
                              [ds.classes.names[int(gt.cls[r])] for r in rows], gt.xyxy[rows],
                              [gt.extras.get(int(gt.box_id[r]), {}) for r in rows],
                              im.extras[i])
            w.write(out / (_stem_path(im.file_names[i]) + ".json"),
                    orjson.dumps(obj, option=orjson.OPT_INDENT_2))
        w.written += _copy_images(ds, root, out, images_mode)
    log.info("wrote %d files (%s) to %s", len(w.written), fmt, out)
    return w.written


def write_predictions(
    dataset: Dataset,
    run: str,
    out: Path,
    format: str = "coco",
    *,
    overwrite: bool = False,
    logger: logging.Logger | None = None,
) -> list[Path]:
    """Write one prediction run: ``coco`` (results list json), ``csv`` (with a score
    column) or ``yolo`` (a folder of ``cls cx cy w h conf`` txt files)."""
    if run not in dataset.runs:
        raise KeyError(f"no prediction run {run!r}")
    w = _Out(dataset, overwrite)
    out = Path(out)
    fmt = format.lower()
    if fmt == "coco":
        from .coco import coco_results_to_obj

        w.write(_single(out, f"{run}.json", (".json",)),
                orjson.dumps(coco_results_to_obj(dataset, run)))
    elif fmt == "csv":
        from .csvfmt import csv_text

        w.write(_single(out, f"{run}.csv", (".csv",)), csv_text(dataset, run).encode("utf-8"))
    elif fmt == "yolo":
        from .yolo import yolo_lines

        b = dataset.runs[run]
        im = dataset.images
        for i in np.flatnonzero(~im.deleted).tolist():
            sl = b.image_slice(i)
            a = b.alive[sl]
            if not a.any():
                continue
            txt = yolo_lines(b.cls[sl][a], b.xyxy[sl][a], int(im.widths[i]), int(im.heights[i]),
                             b.score[sl][a])
            w.write(out / (_stem_path(im.file_names[i]) + ".txt"), txt.encode("utf-8"))
    else:
        raise ValueError(f"predictions can be written as coco, csv or yolo, not {format!r}")
    get_logger(logger).info("wrote run %s (%s): %d files", run, fmt, len(w.written))
    return w.written
