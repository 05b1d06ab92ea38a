"""Loading a dataset: ground truth + prediction runs + per-image values, with
format auto-detection, image matching and class mapping.

Every format is read through the registry (:mod:`detview.io.formats`). Class mapping
(``pred_class_map``) is described in :mod:`detview.io.classmap`: by default every
applicable mapping (names, ids, index, a constant offset, a permutation) is scored by
how many confident predictions overlap a ground-truth box of the mapped class, the
best is used, and the choice is reported (``LoadResult.class_maps``, the summary, and
a warning when it is not the plain ids or names).

Images are matched by id, by file name (relative path, base name or stem), or, for
integer ids, by ``int(stem)`` of the GT file names (YOLOv5 ``--save-json``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

from . import formats
from ._checks import check_boxes
from ._common import (
    NameIndex,
    Problems,
    Progress,
    decode_text,
    float_token,
    image_stem,
    int_token,
    read_bytes,
)
from .classmap import ClassMapChoice, choose_class_map, describe_unmapped
from .errors import InputError, Problem
from .formats.base import Layout, ReadRequest
from .formats.coco import _lookup
from .images import list_images
from .model import GtResult, PredData

__all__ = [
    "ClassMapChoice",
    "GT_FORMATS",
    "PRED_FORMATS",
    "Layout",
    "LoadResult",
    "detect_format",
    "detect_layout",
    "load_dataset",
    "read_gt",
    "read_preds",
    "resolve_predictions",
]

GT_FORMATS = formats.gt_formats()
PRED_FORMATS = formats.pred_formats()


@dataclass
class LoadResult:
    """A loaded dataset, the warnings found, a summary for people, and the class
    mapping chosen for each prediction run (``class_maps[run]``)."""

    dataset: Dataset
    problems: list[Problem] = field(default_factory=list)
    summary: str = ""
    class_maps: dict[str, ClassMapChoice] = field(default_factory=dict)


# ------------------------------------------------------------------ detection
def _peek(path: Path, n: int = 65536) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise InputError(path, "", f"cannot read: {exc.strerror or exc}") from None


def _folder_format(path: Path) -> str | None:
    """The format of a folder of annotation files, by the files it holds."""
    if (path / "annotations.xml").is_file():
        return "cvat"
    exts: dict[str, int] = {}
    for _dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for f in filenames:
            if f.startswith("."):  # hidden: the export marker, editor files
                continue
            e = os.path.splitext(f)[1].lower()
            exts[e] = exts.get(e, 0) + 1
        if sum(exts.values()) > 2000:
            break
    if exts.get(".xml"):
        return "voc"
    if exts.get(".json"):
        return "labelme"
    if exts.get(".txt"):
        return "yolo"
    return None


def detect_format(path: Path) -> str:
    """Format of a GT/prediction file or folder: coco, coco_results, yolo, voc,
    labelme, cvat, csv. Raises InputError when it cannot tell."""
    path = Path(path)
    try:
        exists = path.exists()
    except (OSError, ValueError):
        exists = False
    if not exists:
        raise InputError(path, "", "file not found")
    if path.is_dir():
        fmt = _folder_format(path)
        if fmt is None:
            raise InputError(path, "", "cannot tell the annotation format of this folder "
                             "(no .xml, .json or .txt files)")
        return fmt
    head = _peek(path)
    best, score = None, 0
    for f in formats.all_formats():
        if f.sniff is None:
            continue
        v = f.sniff(path, head)
        if v > score:
            best, score = f.name, v
    if best is None:
        raise InputError(path, "", f"cannot tell the annotation format from the name "
                         f"{path.name!r}; give the format explicitly")
    if best == "coco" and head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"[":
        return "coco_results"
    return best


def detect_layout(path: Path) -> Layout:
    """Find images, ground truth and format in a dataset folder (or from a GT file)."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "", "not found")
    if path.is_file():
        fmt = detect_format(path)
        if fmt == "coco_results":
            raise InputError(path, "", "this is a predictions (results) file, not a dataset")
        root = path.parent
        if fmt == "coco":
            from .formats.coco import _images_dir

            imgs = _images_dir(root.parent if root.name == "annotations" else root, path)
            return Layout(root, imgs, path, "coco", f"COCO instances json {path.name}"
                          + (f" with images in {imgs}" if imgs else " (no image folder found)"))
        if fmt == "yolo" and path.suffix.lower() in (".yaml", ".yml"):
            from .formats.yolo import parse_data_yaml

            dy = parse_data_yaml(path)
            imgs = dy.base / "images" if (dy.base / "images").is_dir() else None
            return Layout(dy.base, imgs, path, "yolo", f"YOLO {path.name}"
                          + (f" with splits {', '.join(dy.splits)}" if dy.splits else ""))
        imgs = root / "images" if (root / "images").is_dir() else None
        return Layout(root, imgs, path, fmt, f"{fmt} annotations {path.name}")
    root = path
    fmts = sorted((f for f in formats.all_formats() if f.layout is not None),
                  key=lambda f: f.layout_order)
    for f in fmts:
        if f.layout_order >= 80:
            continue
        lay = f.layout(root)  # type: ignore[misc]
        if lay is not None:
            return lay
    files = list_images(root, recursive=False)
    if files:
        from .formats.yolo import flat_layout

        flat = flat_layout(root)
        if flat is not None:
            return flat
        for f in fmts:
            if f.layout_order >= 80:
                lay = f.layout(root)  # type: ignore[misc]
                if lay is not None:
                    return lay
        if any(root.glob("*.xml")):
            return Layout(root, root, root, "voc", "VOC XML files beside the images")
        return Layout(root, root, None, None, f"{len(files)} images, no annotations found")
    raise InputError(root, "", "no dataset found here: expected a COCO json + images folder, "
                     "images/ + labels/ (YOLO) or JPEGImages/ + Annotations/ (VOC)")


# ------------------------------------------------------------------ readers
def read_gt(
    gt: Path,
    images: Path | None,
    fmt: str | None = None,
    *,
    class_names: Sequence[str] | None = None,
    clip: bool = False,
    options: dict[str, Any] | None = None,
    logger: logging.Logger | None = None,
    progress: Progress = None,
) -> GtResult:
    """Read ground truth in any supported format (auto-detected when ``fmt`` is None)."""
    options = options or {}
    gt = Path(gt)
    try:
        exists = gt.exists()
    except (OSError, ValueError):
        exists = False
    if not exists:
        raise InputError(gt, "", "file not found")
    if fmt is None:
        if gt.is_dir():
            try:
                lay = detect_layout(gt)
            except InputError:
                lay = None
            if lay is not None and lay.format is not None:
                fmt = lay.format
                if images is None and lay.images is not None and fmt != "yolo":
                    images = lay.images
            else:
                fmt = detect_format(gt)
        else:
            fmt = detect_format(gt)
    fmt = fmt.lower()
    if fmt in ("coco_results", "coco-results"):
        raise InputError(gt, "", "this is a COCO results list (predictions), not ground truth: "
                         "give it as predictions")
    f = formats.get(fmt, gt)
    if f.read_gt is None:
        raise InputError(gt, "", f"{f.title} files cannot be ground truth here")
    res = f.read_gt(ReadRequest(gt, Path(images) if images is not None else None,
                                class_names, clip, options, logger, progress))
    res.dataset.meta.setdefault("gt_path", str(gt))
    res.dataset.meta.setdefault("format", f.name)
    return res


def read_preds(
    path: Path,
    fmt: str | None = None,
    *,
    options: dict[str, Any] | None = None,
    logger: logging.Logger | None = None,
    progress: Progress = None,
) -> PredData:
    """Parse a prediction file or folder (not yet matched to a dataset)."""
    options = options or {}
    path = Path(path)
    try:
        exists = path.exists()
    except (OSError, ValueError):
        exists = False
    if not exists:
        raise InputError(path, "", "prediction file not found")
    if fmt is None:
        fmt = detect_format(path)
    f = formats.get(fmt, path)
    if f.read_preds is None:
        raise InputError(path, "", f"{f.title} files have no scores; they can be ground truth "
                         "but not predictions")
    return f.read_preds(path, options, logger, progress)


# ------------------------------------------------------------------ matching
def _match_images(pd: PredData, images: Images) -> tuple[np.ndarray, str]:
    """Image index per prediction (-1 unknown) and how they were matched."""
    if pd.image_names is not None:
        idx = NameIndex(images.file_names)
        return idx.find_many(pd.image_names), "file name"
    assert pd.image_ids is not None
    keys = pd.image_ids
    cands: list[tuple[str, np.ndarray]] = [("image id", _lookup(keys, images.ids))]
    if pd.image_vocab:
        idx = NameIndex(images.file_names)
        u, inv = np.unique(keys, return_inverse=True)
        m = np.array([idx.find(pd.image_vocab[int(k)]) if int(k) in pd.image_vocab else -1
                      for k in u.tolist()], dtype=np.int64)
        cands.insert(0, ("file name (through the file's images list)", m[inv]))
    stems = [image_stem(f) for f in images.file_names]
    if stems and all(s.isdigit() and len(s) < 19 for s in stems):
        sid = np.array([int(s) for s in stems], dtype=np.int64)
        if np.unique(sid).shape[0] == sid.shape[0]:
            cands.append(("int(file stem)", _lookup(keys, sid)))
    best = max(cands, key=lambda c: int((c[1] >= 0).sum()))
    return best[1], best[0]


def resolve_predictions(
    pd: PredData,
    ds: Dataset,
    pred_class_map: str | dict[Any, Any] | None = None,
    *,
    clip: bool = False,
) -> tuple[Boxes, list[Problem], str]:
    """Tie parsed predictions to the dataset's images and classes.

    Raises :class:`InputError` when predictions were given but none matches an image of
    the dataset, or none has a class of the ground truth.
    """
    boxes, problems, desc, _ = _resolve(pd, ds, pred_class_map, clip=clip)
    return boxes, problems, desc


def _resolve(pd: PredData, ds: Dataset, pred_class_map: Any, *,
             clip: bool = False) -> tuple[Boxes, list[Problem], str, ClassMapChoice | None]:
    problems = Problems()
    problems.extend(pd.problems)
    src = pd.source
    images, classes = ds.images, ds.classes
    n = len(pd)
    img, how_img = _match_images(pd, images) if n else (np.zeros(0, np.int64), "-")
    unknown_img = img < 0
    if n and unknown_img.all():
        keys = (pd.image_names if pd.image_names is not None
                else pd.image_ids.tolist())  # type: ignore[union-attr]
        eg = ", ".join(map(str, list(dict.fromkeys(keys))[:3]))
        raise InputError(src, "", f"none of the {n} predictions is on an image of the dataset "
                         f"(matched by {how_img}; e.g. {eg} vs the dataset's "
                         f"{', '.join(images.file_names[:3])}): do these predictions belong to "
                         "these images?")
    if unknown_img.any():
        keys_arr = (np.asarray(pd.image_names, dtype=object)[unknown_img]
                    if pd.image_names is not None
                    else pd.image_ids[unknown_img])  # type: ignore[index]
        uk = list(dict.fromkeys(keys_arr.tolist()))
        problems.warn(src, "", f"{int(unknown_img.sum())} predictions on {len(uk)} images that "
                      f"are not in the dataset (e.g. {', '.join(map(str, uk[:5]))}); skipped")
    xyxy = pd.xyxy
    if pd.normalized and n:
        w = images.widths[np.maximum(img, 0)].astype(np.float64)
        h = images.heights[np.maximum(img, 0)].astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            xyxy = xyxy * np.column_stack([w, h, w, h])
    choice: ClassMapChoice | None = None
    if n:
        pdx = PredData(**{**pd.__dict__, "xyxy": xyxy})
        cls_idx, choice = choose_class_map(pdx, img, ds.gt, classes, pred_class_map)
        how_cls = choice.explanation
    else:
        cls_idx = np.zeros(0, np.int64)
        how_cls = "no predictions"
    if n:
        nomap = cls_idx < 0
        if nomap.all() and len(classes):
            raise InputError(src, "", f"none of the {n} predictions has a class of the ground "
                             f"truth ({how_cls}; prediction classes "
                             f"{describe_unmapped(choice.unmapped if choice else ())}, ground "
                             f"truth {', '.join(classes.names[:8])}"
                             f"{', ...' if len(classes) > 8 else ''}); set the class mapping")
        if choice is not None and (not choice.automatic or choice.method not in ("ids", "names")):
            problems.warn(src, "", how_cls)
        if nomap.any():
            problems.warn(src, "", f"{int(nomap.sum())} predictions have classes unknown to the "
                          f"ground truth ({describe_unmapped(choice.unmapped if choice else ())}"
                          "); skipped")
            cov = 1.0 - float(nomap.mean())
            if cov < 0.5:
                problems.warn(src, "", f"class mismatch: only {cov:.0%} of predictions map to "
                              "a ground-truth class; check the class mapping")
        if choice is not None and choice.agreement is not None and choice.evidence >= 20 \
                and choice.agreement < 0.05:
            problems.warn(src, "", f"class mismatch suspected: only {choice.agreement:.0%} of "
                          "the confident predictions that overlap a ground-truth box have its "
                          f"class ({how_cls}); set the class mapping")
    keep = (img >= 0) & (cls_idx >= 0)
    if pd.normalized and n:
        unknown = keep & ((images.widths[np.maximum(img, 0)] <= 0)
                          | (images.heights[np.maximum(img, 0)] <= 0))
        if unknown.any():
            problems.warn(src, "", f"{int(unknown.sum())} normalised predictions on images of "
                          "unknown size; skipped")
            keep &= ~unknown
    where = pd.where

    def wh(r: int) -> str:
        return where[r] if where is not None and r < len(where) else f"record #{r}"

    bw = images.widths[np.maximum(img, 0)] if len(images) else np.zeros(n, np.int64)
    bh = images.heights[np.maximum(img, 0)] if len(images) else np.zeros(n, np.int64)
    ok, xyxy = check_boxes(xyxy, pd.score, np.where(keep, bw, 0), np.where(keep, bh, 0),
                           problems, src, wh, clip=clip)
    keep &= ok
    rows = np.flatnonzero(keep)
    extras = {}
    if pd.extras:
        pos = {int(r): j for j, r in enumerate(rows.tolist())}
        extras = {pos[r]: e for r, e in pd.extras.items() if r in pos}
    boxes = Boxes.build(len(images), img[rows], cls_idx[rows], xyxy[rows], pd.score[rows],
                        box_id=np.arange(rows.shape[0], dtype=np.int64), extras=extras)
    desc = f"{rows.shape[0]} of {n} predictions ({pd.format}); images by {how_img}; {how_cls}"
    return boxes, problems.items, desc, choice


# ------------------------------------------------------------------ loss csv
def read_image_values(path: Path, images: Images) -> tuple[dict[str, np.ndarray], list[Problem]]:
    """CSV ``file_name,<col>[,<col>...]`` -> per-image float arrays (NaN where missing)."""
    import csv
    import io

    problems = Problems()
    text = decode_text(read_bytes(path), path)
    if not text.strip():
        raise InputError(path, "", "the file is empty")
    rd = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(rd)]
    except csv.Error as exc:
        raise InputError(path, "line 1", f"malformed CSV: {exc}") from None
    if not header or header[0] not in ("file_name", "filename", "image", "file", "image_id"):
        raise InputError(path, "line 1", "expected a header 'file_name,<value>...', got "
                         + ",".join(h[:40] for h in header[:10]))
    cols = header[1:]
    if not cols:
        raise InputError(path, "line 1", "no value columns after file_name")
    if len(set(cols)) != len(cols):
        raise InputError(path, "line 1", "a column name is given twice")
    vals = {c: np.full(len(images), np.nan) for c in cols}
    idx = NameIndex(images.file_names)
    id_index = {int(v): i for i, v in enumerate(images.ids.tolist())}
    unknown = 0
    while True:
        try:
            row = next(rd)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(path, f"line {rd.line_num}", f"malformed CSV: {exc}") from None
        ln = rd.line_num
        if not row or not "".join(row).strip():
            continue
        if len(row) != len(header):
            problems.warn(path, f"line {ln}", f"expected {len(header)} fields, got {len(row)}")
            continue
        key = row[0].strip()
        i = idx.find(key)
        if i < 0 and header[0] == "image_id":
            iv = int_token(key)
            i = id_index.get(iv, -1) if iv is not None else -1
        if i < 0:
            unknown += 1
            continue
        for c, v in zip(cols, row[1:], strict=True):
            v = v.strip()
            if v == "":
                continue
            fv = float_token(v)
            if fv is None or np.isinf(fv):
                problems.warn(path, f"line {ln}", f"{c}: not a finite number: {v[:30]!r}")
                continue
            vals[c][i] = fv
    if unknown:
        problems.warn(path, "", f"{unknown} rows name images that are not in the dataset")
    return vals, problems.items


# ------------------------------------------------------------------ top level
def _images_only(images: Path, class_names: Sequence[str] | None,
                 problems: Problems, logger: logging.Logger | None,
                 progress: Progress) -> Dataset:
    from .images import read_sizes

    if not images.is_dir():
        raise InputError(images, "", "image folder not found")
    files = list_images(images)
    if not files:
        raise InputError(images, "", "no image files in this folder")
    w, h, _ = read_sizes(images, files, problems, logger=logger, progress=progress)
    imgs = Images(np.arange(len(files)), files, w, h)
    classes = Classes.from_names(list(class_names or []))
    return Dataset(imgs, classes, Boxes.empty(len(files)), meta={"format": None})


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: while millions of parsed dicts are alive every collection
    walks them all; loading creates no reference cycles worth collecting."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def load_dataset(
    images: Path | None,
    gt: Path | None,
    preds: Sequence[tuple[str | None, Path]] = (),
    loss: Path | None = None,
    *,
    gt_format: str | None = None,
    pred_format: str | None = None,
    class_names: Sequence[str] | Path | None = None,
    pred_class_map: str | dict[Any, Any] | None = None,
    clip: bool = False,
    options: dict[str, Any] | None = None,
    logger: logging.Logger | None = None,
    progress: Progress = None,
) -> LoadResult:
    """Load images, ground truth, prediction runs and a per-image loss CSV.

    ``gt`` may be a file, a label folder or a whole dataset folder (auto-detected, see
    :func:`detect_layout`); explicit ``images``/``gt_format`` override what is found.
    ``preds`` are ``(run name or None, path)``; the name defaults to the file stem.
    ``class_names``: a list, or a names file (data.yaml, classes.txt, obj.names).
    ``pred_class_map``: see :mod:`detview.io.classmap` (None: automatic, reported in
    ``LoadResult.class_maps``).
    ``options``: ``yolo_columns``, ``yolo_pred_columns`` (e.g. ``"cls conf cx cy w h"``),
    ``yolo_normalized``, ``csv_columns`` ({role: column}), ``voc_one_based``.
    Warnings are returned in ``problems``; unusable input raises :class:`InputError`:
    a file that cannot be read, ground truth given but none found, predictions that
    match no image or no class.
    """
    if isinstance(class_names, (str, Path)):
        from .formats.yolo import parse_names_file

        class_names = parse_names_file(read_bytes(Path(class_names)), str(class_names))
    with _gc_paused(), np.errstate(all="ignore"):
        return _load_dataset(images, gt, preds, loss, gt_format=gt_format,
                             pred_format=pred_format, class_names=class_names,
                             pred_class_map=pred_class_map, clip=clip, options=options,
                             logger=logger, progress=progress)


def _load_dataset(
    images: Path | None,
    gt: Path | None,
    preds: Sequence[tuple[str | None, Path]],
    loss: Path | None,
    *,
    gt_format: str | None,
    pred_format: str | None,
    class_names: Sequence[str] | None,
    pred_class_map: str | dict[Any, Any] | None,
    clip: bool,
    options: dict[str, Any] | None,
    logger: logging.Logger | None,
    progress: Progress,
) -> LoadResult:
    problems = Problems()
    lines: list[str] = []
    images = Path(images) if images is not None else None
    if gt is None and images is not None and gt_format is None:
        try:
            lay = detect_layout(images)
        except InputError:
            lay = None
        if lay is not None and lay.gt is not None and lay.format is not None:
            lines.append(f"Found: {lay.description}.")
            gt_format = lay.format
            if lay.format == "yolo":
                gt, images = lay.root, None  # the YOLO reader finds splits and labels
            else:
                gt = lay.gt
                images = lay.images or images
    if gt is not None:
        res = read_gt(Path(gt), images, gt_format, class_names=class_names, clip=clip,
                      options=options, logger=logger, progress=progress)
        ds = res.dataset
        problems.extend(res.problems)
        if ds.meta.get("images_root"):
            images = Path(ds.meta["images_root"])
        g = ds.gt
        fmt = ds.meta.get("format")
        if len(ds.images) == 0:
            raise InputError(ds.meta.get("gt_path", gt), "", "ground truth was given but it "
                             "lists no images")
        lines.append(f"Ground truth: {fmt} {ds.meta.get('gt_path', gt)}: {len(ds.images)} images, "
                     f"{len(g)} boxes, {len(ds.classes)} classes"
                     f" ({int((np.diff(g.offsets) == 0).sum())} images without boxes).")
    elif images is not None:
        ds = _images_only(images, class_names, problems, logger, progress)
        lines.append(f"Images only: {len(ds.images)} images in {images}, no ground truth.")
    else:
        raise InputError("(none)", "", "nothing to load: give an image folder or ground truth")
    if images is not None:
        ds.meta["images_root"] = str(images)
    ds.meta.setdefault("image_values", {})
    ds.meta.setdefault("sources", {})["gt"] = str(gt) if gt is not None else None
    class_maps: dict[str, ClassMapChoice] = {}
    used: set[str] = set()
    for k, (name, path) in enumerate(preds):
        path = Path(path)
        pd = read_preds(path, pred_format, options=options, logger=logger)
        if len(ds.classes) == 0 and gt is None:
            # no ground truth: the prediction file's vocabulary (or ids) is the vocabulary
            ds = _adopt_vocab(ds, pd)
        boxes, probs, desc, choice = _resolve(pd, ds, pred_class_map, clip=clip)
        problems.extend(probs)
        run = name or path.stem or f"run{k}"
        base, j = run, 2
        while run in used:
            run = f"{base}_{j}"
            j += 1
        used.add(run)
        ds.runs[run] = boxes
        ds.meta["sources"][run] = str(path)
        if choice is not None:
            class_maps[run] = choice
        lines.append(f"Run {run!r}: {desc}.")
        if len(pd) and not len(boxes):
            raise InputError(path, "", "no prediction could be used (see the warnings above: "
                             "boxes outside the images, NaN scores, ...)")
    if loss is not None:
        vals, probs = read_image_values(Path(loss), ds.images)
        problems.extend(probs)
        for c, v in vals.items():
            key = "loss" if len(vals) == 1 else c
            ds.meta["image_values"][key] = v
            lines.append(f"Per-image '{key}' from {Path(loss).name}: "
                         f"{int(np.isfinite(v).sum())} of {len(v)} images.")
    nw = len(problems.items)
    if nw:
        lines.append(f"{nw} warning{'s' if nw != 1 else ''}.")
    return LoadResult(ds, problems.items, "\n".join(lines), class_maps)


def _adopt_vocab(ds: Dataset, pd: PredData) -> Dataset:
    if pd.vocab:
        ids = sorted(pd.vocab)
        classes = Classes.from_names([pd.vocab[i] for i in ids], ids)
    elif pd.cls_names is not None:
        classes = Classes.from_names(sorted(set(pd.cls_names)))
    else:
        k = int(pd.cls_ids.max()) + 1 if pd.cls_ids is not None and len(pd.cls_ids) else 0
        classes = Classes.from_names([str(i) for i in range(k)])
    return Dataset(ds.images, classes, ds.gt, ds.runs, ds.meta)
