"""Loading a dataset: ground truth + prediction runs + per-image values, with
format auto-detection, image matching and class mapping.

Class mapping (``pred_class_map``) says how a prediction file's class ids relate to
the ground truth's classes:

* ``"ids"``: the same ids (COCO category ids / YOLO indices as in the GT);
* ``"index"``: a 0-based index into the GT classes sorted by their source id (YOLO
  indices beside COCO's sparse 1..90 ids);
* ``"names"``: by name, through the prediction file's own categories;
* a dict ``{pred_id: gt_name_or_gt_id}``;
* ``None``: automatic. Every applicable mapping is scored by how many confident
  predictions fall on an image that has a ground-truth box of the mapped class; the
  best is used and reported in ``LoadResult.summary`` (and as a warning when it is not
  the plain ``"ids"`` mapping, or when the evidence is weak).

Images are matched by id, by file name (relative path, base name or stem), or, for
integer ids, by ``int(stem)`` of the GT file names (YOLOv5 ``--save-json``).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

from ._checks import check_boxes
from ._common import NameIndex, Problems, Progress, decode_text, image_stem, parse_json, read_bytes
from .coco import _lookup
from .errors import InputError, Problem
from .images import list_images
from .model import GtResult, PredData

__all__ = [
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

GT_FORMATS = ("coco", "yolo", "voc", "labelme", "cvat", "csv")
PRED_FORMATS = ("coco", "yolo", "labelme", "csv")


@dataclass
class LoadResult:
    dataset: Dataset
    problems: list[Problem] = field(default_factory=list)
    summary: str = ""


@dataclass
class Layout:
    """What :func:`detect_layout` found in a folder."""

    root: Path
    images: Path | None
    gt: Path | None
    format: str | None
    description: str
    labels: Path | None = None  # YOLO label folder


# ------------------------------------------------------------------ detection
def _peek(path: Path, n: int = 65536) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def detect_format(path: Path) -> str:
    """Format of a GT/prediction file or folder: coco, coco_results, yolo, voc,
    labelme, cvat, csv. Raises InputError when it cannot tell."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "", "file not found")
    if path.is_dir():
        if (path / "annotations.xml").is_file():
            return "cvat"
        exts: dict[str, int] = {}
        for p in path.rglob("*"):
            if p.is_file():
                exts[p.suffix.lower()] = exts.get(p.suffix.lower(), 0) + 1
            if sum(exts.values()) > 2000:
                break
        if exts.get(".xml"):
            return "voc"
        if exts.get(".json"):
            return "labelme"
        if exts.get(".txt"):
            return "yolo"
        raise InputError(path, "", "cannot tell the annotation format of this folder "
                         "(no .xml, .json or .txt files)")
    suf = path.suffix.lower()
    head = _peek(path).lstrip(b"\xef\xbb\xbf \t\r\n")
    if suf == ".json" or head[:1] in (b"{", b"["):
        if head[:1] == b"[":
            return "coco_results"
        if b'"shapes"' in head or b'"imagePath"' in head:
            return "labelme"
        return "coco"
    if suf == ".xml":
        if b"<annotations" in head:
            return "cvat"
        return "voc"
    if suf == ".csv":
        return "csv"
    if suf in (".yaml", ".yml", ".txt", ".names"):
        return "yolo"
    raise InputError(path, "", f"cannot tell the annotation format from the name {path.name!r}; "
                     "give the format explicitly")


def _coco_images_dir(root: Path, json_path: Path) -> Path | None:
    stem = json_path.stem
    split = stem.split("_", 1)[1] if stem.startswith(("instances_", "image_info_")) else stem
    cands = [root / "images" / split, root / split, root / "images", root / "JPEGImages",
             json_path.parent / "images", json_path.parent, root]
    for c in cands:
        if c.is_dir() and any(True for _ in list_images(c, recursive=False)[:1]):
            return c
    for c in cands:
        if c.is_dir() and list_images(c)[:1]:
            return c
    return None


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
            imgs = _coco_images_dir(root.parent if root.name == "annotations" else root, path)
            return Layout(root, imgs, path, "coco", f"COCO instances json {path.name}"
                          + (f" with images in {imgs}" if imgs else " (no image folder found)"))
        if fmt == "yolo" and path.suffix.lower() in (".yaml", ".yml"):
            return _yolo_layout_from_yaml(path)
        imgs = root / "images" if (root / "images").is_dir() else None
        return Layout(root, imgs, path, fmt, f"{fmt} annotations {path.name}")
    root = path
    # Ultralytics: images/ + labels/ (+ data.yaml)
    if (root / "images").is_dir() and (root / "labels").is_dir():
        from .yolo import find_yolo_names

        names = find_yolo_names(root)
        return Layout(root, root / "images", names, "yolo",
                      "Ultralytics YOLO layout: images/ + labels/"
                      + (f" with class names from {names.name}" if names else
                         " (no data.yaml/classes.txt found)"), labels=root / "labels")
    # VOC: JPEGImages/ + Annotations/
    for ann in ("Annotations", "annotations"):
        if (root / ann).is_dir() and any((root / ann).glob("*.xml")):
            imgs = next((root / d for d in ("JPEGImages", "images", "Images")
                         if (root / d).is_dir()), None)
            return Layout(root, imgs, root / ann, "voc",
                          f"Pascal VOC layout: {ann}/ XML files"
                          + (f" + {imgs.name}/" if imgs else " (no image folder found)"))
    # COCO: a json (in annotations/ or here) next to an images folder
    jsons = sorted((root / "annotations").glob("*.json")) if (root / "annotations").is_dir() else []
    jsons += sorted(root.glob("*.json"))
    for j in jsons:
        head = _peek(j, 4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        if head[:1] != b"{" or b'"shapes"' in head:
            continue
        try:
            fmt = detect_format(j)
        except InputError:
            continue
        if fmt == "coco":
            imgs = _coco_images_dir(root, j)
            return Layout(root, imgs, j, "coco", f"COCO instances json {j.relative_to(root)}"
                          + (f" with images in {imgs.relative_to(root) if imgs != root else '.'}"
                             if imgs else " (no image folder found)"))
    if (root / "annotations.xml").is_file():
        imgs = next((root / d for d in ("images", "JPEGImages") if (root / d).is_dir()), root)
        return Layout(root, imgs, root / "annotations.xml", "cvat", "CVAT for images XML")
    files = list_images(root, recursive=False)
    if files:
        if any(root.glob("*.txt")):
            from .yolo import find_yolo_names

            return Layout(root, root, find_yolo_names(root), "yolo",
                          "flat YOLO folder: images with .txt labels beside them", labels=root)
        if any(root.glob("*.json")):
            return Layout(root, root, root, "labelme", "LabelMe json files beside the images")
        if any(root.glob("*.xml")):
            return Layout(root, root, root, "voc", "VOC XML files beside the images")
        return Layout(root, root, None, None, f"{len(files)} images, no annotations found")
    raise InputError(root, "", "no dataset found here: expected a COCO json + images folder, "
                     "images/ + labels/ (YOLO) or JPEGImages/ + Annotations/ (VOC)")


def _yolo_layout_from_yaml(path: Path) -> Layout:
    import yaml

    try:
        obj = yaml.safe_load(decode_text(read_bytes(path), path))
    except yaml.YAMLError as exc:
        raise InputError(path, "", f"malformed YAML: {exc}") from None
    base = path.parent
    if isinstance(obj, dict) and obj.get("path"):
        p = Path(str(obj["path"]))
        base = p if p.is_absolute() else (path.parent / p)
    imgs = None
    if isinstance(obj, dict):
        for key in ("val", "train", "test"):
            v = obj.get(key)
            if isinstance(v, str) and (base / v).is_dir():
                imgs = base / v
                break
    if imgs is None and (base / "images").is_dir():
        imgs = base / "images"
    labels = None
    if imgs is not None:
        s = str(imgs)
        cand = Path(s.replace("/images", "/labels")) if "/images" in s else None
        labels = cand if cand is not None and cand.is_dir() else None
    return Layout(base, imgs, path, "yolo", f"YOLO data.yaml {path.name}"
                  + (f", images in {imgs}" if imgs else ""), labels=labels)


# ------------------------------------------------------------------ readers
def _labels_for_images(images: Path) -> Path | None:
    s = images.as_posix()
    if "/images" in s:
        i = s.rfind("/images")
        cand = Path(s[:i] + "/labels" + s[i + len("/images"):])
        if cand.is_dir():
            return cand
    return None


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
    if not gt.exists():
        raise InputError(gt, "", "file not found")
    if fmt is None:
        if gt.is_dir():
            try:
                lay = detect_layout(gt)
            except InputError:
                lay = None
            if lay is not None and lay.format is not None and lay.gt is not None and (
                    lay.format != "yolo" or lay.labels is not None):
                images = images or lay.images
                fmt = lay.format
                if fmt == "yolo":
                    return _read_yolo(lay.labels or gt, images, lay.gt, class_names, clip,
                                      options, logger, progress)
                gt = lay.gt
            else:
                fmt = detect_format(gt)
        else:
            fmt = detect_format(gt)
    fmt = fmt.lower()
    if fmt == "coco_results":
        raise InputError(gt, "", "this is a COCO results list (predictions), not ground truth: "
                         "give it as predictions")
    if fmt == "coco":
        from .coco import parse_coco_gt

        res = parse_coco_gt(parse_json(read_bytes(gt), gt), str(gt), clip=clip)
    elif fmt == "yolo":
        names_file = gt if gt.is_file() and gt.suffix.lower() in (".yaml", ".yml", ".names",
                                                                 ".txt") else None
        labels = gt if gt.is_dir() else None
        if gt.is_file() and gt.suffix.lower() in (".yaml", ".yml"):
            lay = _yolo_layout_from_yaml(gt)
            images = images or lay.images
            labels = lay.labels
        if labels is None and images is not None:
            labels = _labels_for_images(images) or images
        if labels is None:
            raise InputError(gt, "", "cannot find the YOLO label folder; give the labels folder "
                             "as ground truth and the image folder as images")
        return _read_yolo(labels, images, names_file, class_names, clip, options, logger,
                          progress)
    elif fmt == "voc":
        from .voc import read_voc_gt

        res = read_voc_gt(gt, images, class_names=class_names, clip=clip,
                          one_based=options.get("voc_one_based", True), logger=logger,
                          progress=progress)
    elif fmt == "labelme":
        from .labelme import read_labelme_gt

        res = read_labelme_gt(gt, images, class_names=class_names, clip=clip, logger=logger,
                              progress=progress)
    elif fmt == "cvat":
        from .cvat import read_cvat_gt

        if gt.is_dir():
            gt = gt / "annotations.xml"
        res = read_cvat_gt(gt, images, class_names=class_names, clip=clip)
    elif fmt == "csv":
        from .csvfmt import read_csv_gt

        res = read_csv_gt(gt, images, columns=options.get("csv_columns"),
                          class_names=class_names, clip=clip)
    else:
        raise InputError(gt, "", f"unknown ground-truth format {fmt!r}; one of {GT_FORMATS}")
    res.dataset.meta.setdefault("gt_path", str(gt))
    return res


def _read_yolo(labels: Path, images: Path | None, names_file: Path | None,
               class_names: Sequence[str] | None, clip: bool, options: dict[str, Any],
               logger: logging.Logger | None, progress: Progress) -> GtResult:
    from .yolo import GT_COLUMNS, read_yolo_gt

    if images is None:
        s = labels.as_posix()
        i = s.rfind("/labels")
        cand = Path(s[:i] + "/images" + s[i + len("/labels"):]) if i >= 0 else None
        images = cand if cand is not None and cand.is_dir() else labels
    if labels.is_dir() and (labels / "labels").is_dir() and not any(labels.glob("*.txt")):
        labels = labels / "labels"
        if images == labels.parent and (images / "images").is_dir():
            images = images / "images"
    if names_file is not None and names_file.suffix.lower() == ".txt" and names_file.name != \
            "classes.txt":
        names_file = None
    res = read_yolo_gt(images, labels, class_names=class_names, names_file=names_file,
                       columns=options.get("yolo_columns") or GT_COLUMNS, clip=clip,
                       logger=logger, progress=progress)
    res.dataset.meta.setdefault("gt_path", str(labels))
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
    if not path.exists():
        raise InputError(path, "", "prediction file not found")
    if fmt is None:
        fmt = detect_format(path)
    fmt = fmt.lower()
    if fmt in ("coco", "coco_results"):
        from .coco import parse_coco_results

        if path.is_dir():
            raise InputError(path, "", "COCO predictions must be one .json file")
        return parse_coco_results(parse_json(read_bytes(path), path), str(path))
    if fmt == "yolo":
        from .yolo import PRED_COLUMNS, read_yolo_preds

        return read_yolo_preds(path, columns=options.get("yolo_pred_columns") or PRED_COLUMNS,
                               normalized=options.get("yolo_normalized"), logger=logger,
                               progress=progress)
    if fmt == "labelme":
        from .labelme import read_labelme_preds

        return read_labelme_preds(path)
    if fmt == "csv":
        from .csvfmt import read_csv_preds

        return read_csv_preds(path, columns=options.get("csv_columns"))
    if fmt in ("voc", "cvat"):
        raise InputError(path, "", f"{fmt} files have no scores; they can be ground truth "
                         "but not predictions")
    raise InputError(path, "", f"unknown prediction format {fmt!r}; one of {PRED_FORMATS}")


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
    if stems and all(s.isdigit() for s in stems):
        sid = np.array([int(s) for s in stems], dtype=np.int64)
        if np.unique(sid).shape[0] == sid.shape[0]:
            cands.append(("int(file stem)", _lookup(keys, sid)))
    best = max(cands, key=lambda c: int((c[1] >= 0).sum()))
    return best[1], best[0]


def _class_candidates(pd: PredData, classes: Classes, mode: str | dict[Any, Any] | None,
                      problems: Problems) -> list[tuple[str, np.ndarray]]:
    src = pd.source
    names = classes.index_of_name()
    lower = {n.lower(): i for n, i in names.items()}
    if pd.cls_names is not None:
        u, inv = np.unique(np.asarray(pd.cls_names, dtype=object).astype(str),
                           return_inverse=True)
        if isinstance(mode, dict):
            m = np.array([_map_value(mode.get(n, n), classes, names) for n in u.tolist()])
        else:
            m = np.array([names.get(n, lower.get(n.lower(), -1)) for n in u.tolist()],
                         dtype=np.int64)
        return [("names", m[inv] if len(u) else np.zeros(0, np.int64))]
    assert pd.cls_ids is not None
    ids = pd.cls_ids
    by_sorted = np.argsort(classes.source_ids, kind="stable")
    if isinstance(mode, dict):
        table = {_int_key(k): v for k, v in mode.items()}
        u, inv = np.unique(ids, return_inverse=True)
        m = np.array([_map_value(table[int(k)], classes, names) if int(k) in table else -1
                      for k in u.tolist()], dtype=np.int64)
        return [("given map", m[inv] if len(u) else np.zeros(0, np.int64))]
    out: list[tuple[str, np.ndarray]] = []
    if mode in (None, "names"):
        if pd.vocab:
            u, inv = np.unique(ids, return_inverse=True)
            m = np.array([names.get(pd.vocab.get(int(k), "\0"),
                                    lower.get(str(pd.vocab.get(int(k), "\0")).lower(), -1))
                          for k in u.tolist()], dtype=np.int64)
            out.append(("names", m[inv] if len(u) else np.zeros(0, np.int64)))
        elif mode == "names":
            problems.add(src, "", "pred_class_map='names' but the prediction file has no "
                         "category names")
    if mode in (None, "ids"):
        out.append(("ids", _lookup(ids, classes.source_ids)))
    if mode in (None, "index"):
        ok = (ids >= 0) & (ids < len(classes))
        out.append(("index", np.where(ok, by_sorted[np.clip(ids, 0, max(len(classes) - 1, 0))]
                                      if len(classes) else -1, -1)))
    if mode not in (None, "ids", "index", "names"):
        raise InputError(src, "", f"unknown pred_class_map {mode!r}: use 'ids', 'index', "
                         "'names', a dict or None")
    return out


def _int_key(k: Any) -> int:
    try:
        return int(k)
    except (TypeError, ValueError):
        raise InputError("pred_class_map", "", f"key {k!r} is not a class id") from None


def _map_value(v: Any, classes: Classes, names: dict[str, int]) -> int:
    if isinstance(v, str) and v in names:
        return names[v]
    try:
        sid = int(v)
    except (TypeError, ValueError):
        return -1
    return classes.index_of_source_id().get(sid, -1)


def _evidence(cls_idx: np.ndarray, img: np.ndarray, score: np.ndarray, gt: Boxes,
              n_classes: int) -> tuple[float, float, int]:
    """(coverage, co-occurrence, n used): share of predictions mapped to a class, and
    among confident mapped predictions on images with GT, the share whose class is
    present in that image's ground truth."""
    n = cls_idx.shape[0]
    if n == 0:
        return 0.0, 0.0, 0
    mapped = (cls_idx >= 0) & (img >= 0)
    cov = float(mapped.mean())
    if len(gt) == 0 or not mapped.any():
        return cov, 0.0, 0
    k = max(n_classes, 1)
    gkeys = np.unique(gt.image * k + gt.cls)
    has_gt = np.zeros(gt.n_images, dtype=bool)
    has_gt[gt.image] = True
    sel = mapped & has_gt[np.maximum(img, 0)]
    if not sel.any():
        return cov, 0.0, 0
    s = score[sel]
    thr = np.quantile(s, 0.8) if s.shape[0] > 50 else -np.inf
    sel2 = np.flatnonzero(sel)[s >= thr]
    hit = np.isin(img[sel2] * k + cls_idx[sel2], gkeys)
    return cov, float(hit.mean()), int(sel2.shape[0])


def resolve_predictions(
    pd: PredData,
    ds: Dataset,
    pred_class_map: str | dict[Any, Any] | None = None,
    *,
    clip: bool = False,
) -> tuple[Boxes, list[Problem], str]:
    """Tie parsed predictions to the dataset's images and classes."""
    problems = Problems()
    problems.extend(pd.problems)
    src = pd.source
    images, classes = ds.images, ds.classes
    n = len(pd)
    img, how_img = _match_images(pd, images) if n else (np.zeros(0, np.int64), "-")
    unknown_img = img < 0
    if unknown_img.any():
        keys = (np.asarray(pd.image_names, dtype=object)[unknown_img] if pd.image_names is not None
                else pd.image_ids[unknown_img])  # type: ignore[index]
        uk = list(dict.fromkeys(keys.tolist()))
        problems.warn(src, "", f"{int(unknown_img.sum())} predictions on {len(uk)} images that "
                      f"are not in the dataset (e.g. {', '.join(map(str, uk[:5]))}); skipped")
    if n and unknown_img.all():
        problems.warn(src, "", f"no prediction matched any dataset image (tried {how_img}); "
                      "check that the predictions belong to these images")
    cands = _class_candidates(pd, classes, pred_class_map, problems)
    problems.raise_if_errors()
    scored = [(name, m, *_evidence(m, img, pd.score, ds.gt, len(classes))) for name, m in cands]
    pref = {"given map": 0, "names": 1, "ids": 2, "index": 3}

    def key(t: tuple[str, np.ndarray, float, float, int]) -> tuple[float, float, int]:
        return (round(t[2] * t[3], 3), round(t[2], 3), -pref.get(t[0], 9))

    best = max(scored, key=key) if len(scored) > 1 else scored[0]
    name, cls_idx, cov, cooc, used = best
    if len(scored) > 1 and n:
        same = [s[0] for s in scored if s[0] != name and np.array_equal(s[1], cls_idx)]
        if name == "index" and "ids" in same:
            name = "ids"
        alts = ", ".join(f"{s[0]} {s[3]:.0%}" for s in scored if s[0] != name
                         and s[0] not in same)
        how_cls = (f"classes matched by {name} (automatic: {cooc:.0%} of confident predictions "
                   f"have a same-class GT box on their image" + (f"; {alts}" if alts else "")
                   + ")")
        if name not in ("ids",) and not (name == "names" and "ids" in same):
            problems.warn(src, "", how_cls)
    else:
        how_cls = f"classes matched by {name}"
    if n:
        nomap = cls_idx < 0
        if nomap.any():
            if pd.cls_names is not None:
                bad = sorted({str(v) for v, b in zip(pd.cls_names, nomap.tolist(), strict=True)
                              if b})
            else:
                assert pd.cls_ids is not None
                bad = [str(v) for v in sorted({int(v) for v in pd.cls_ids[nomap].tolist()})]
            problems.warn(src, "", f"{int(nomap.sum())} predictions have classes unknown to the "
                          f"ground truth ({', '.join(map(str, bad[:10]))}"
                          f"{', ...' if len(bad) > 10 else ''}); skipped")
        if cov < 0.5:
            problems.warn(src, "", f"class mismatch: only {cov:.0%} of predictions map to a "
                          f"ground-truth class ({how_cls}); set pred_class_map")
        elif len(ds.gt) and used >= 20 and cooc < 0.05:
            problems.warn(src, "", f"class mismatch suspected: only {cooc:.0%} of confident "
                          f"predictions have a same-class GT box on their image ({how_cls}); "
                          "set pred_class_map")
    keep = (img >= 0) & (cls_idx >= 0)
    xyxy = pd.xyxy
    if pd.normalized and n:
        w = images.widths[np.maximum(img, 0)].astype(np.float64)
        h = images.heights[np.maximum(img, 0)].astype(np.float64)
        unknown = keep & ((w <= 0) | (h <= 0))
        if unknown.any():
            problems.warn(src, "", f"{int(unknown.sum())} normalised predictions on images of "
                          "unknown size; skipped")
            keep &= ~unknown
        xyxy = xyxy * np.column_stack([w, h, w, h])
    where = pd.where

    def wh(r: int) -> str:
        return where[r] if where is not None else f"record #{r}"

    bw = images.widths[np.maximum(img, 0)]
    bh = images.heights[np.maximum(img, 0)]
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
    return boxes, problems.items, desc


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
    header = next(rd)
    header = [h.strip() for h in header]
    if not header or header[0] not in ("file_name", "filename", "image", "file", "image_id"):
        raise InputError(path, "line 1", "expected a header 'file_name,<value>...', got "
                         + ",".join(header))
    cols = header[1:]
    if not cols:
        raise InputError(path, "line 1", "no value columns after file_name")
    vals = {c: np.full(len(images), np.nan) for c in cols}
    idx = NameIndex(images.file_names)
    id_index = {int(v): i for i, v in enumerate(images.ids.tolist())}
    unknown = 0
    for ln, row in enumerate(rd, start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != len(header):
            problems.warn(path, f"line {ln}", f"expected {len(header)} fields, got {len(row)}")
            continue
        key = row[0].strip()
        i = idx.find(key)
        if i < 0 and header[0] == "image_id" and key.lstrip("-").isdigit():
            i = id_index.get(int(key), -1)
        if i < 0:
            unknown += 1
            continue
        for c, v in zip(cols, row[1:], strict=True):
            v = v.strip()
            if v == "":
                continue
            try:
                vals[c][i] = float(v)
            except ValueError:
                problems.warn(path, f"line {ln}", f"{c}: not a number: {v!r}")
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


def _check_image_files(ds: Dataset, images: Path, problems: Problems) -> None:
    """Report GT images that are missing from the image folder (existence only)."""
    if not images.is_dir():
        problems.warn(images, "", "image folder not found")
        return
    on_disk = set(list_images(images))
    bases = {p.rsplit("/", 1)[-1] for p in on_disk}
    missing = [f for f in ds.images.file_names
               if f not in on_disk and f.replace("\\", "/").rsplit("/", 1)[-1] not in bases]
    if missing:
        problems.warn(images, "", f"{len(missing)} of {len(ds.images)} images listed in the "
                      f"ground truth are not in this folder (e.g. {missing[0]})")
    if on_disk and len(missing) == len(ds.images):
        problems.warn(images, "", "none of the ground-truth images is in this folder: wrong "
                      "image folder?")


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


def _fill_sizes(ds: Dataset, images: Path, problems: Problems) -> None:
    """Sizes the ground truth does not give (0) are read from the image headers."""
    from .images import read_sizes

    todo = np.flatnonzero((ds.images.widths <= 0) | (ds.images.heights <= 0))
    if todo.shape[0] == 0 or not images.is_dir():
        return
    w, h, ok = read_sizes(images, [ds.images.file_names[i] for i in todo.tolist()], problems)
    ds.images.widths[todo[ok]] = w[ok]
    ds.images.heights[todo[ok]] = h[ok]


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
    ``options``: ``yolo_columns``, ``yolo_pred_columns`` (e.g. ``"cls conf cx cy w h"``),
    ``yolo_normalized``, ``csv_columns`` ({role: column}), ``voc_one_based``.
    Warnings are returned in ``problems``; unusable input raises :class:`InputError`.
    """
    if isinstance(class_names, (str, Path)):
        from .yolo import parse_names_file

        class_names = parse_names_file(read_bytes(Path(class_names)), str(class_names))
    with _gc_paused():
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
            images = lay.images or images
            gt = lay.labels if lay.format == "yolo" and lay.labels is not None else lay.gt
            gt_format = lay.format
    if gt is not None:
        res = read_gt(Path(gt), images, gt_format, class_names=class_names, clip=clip,
                      options=options, logger=logger, progress=progress)
        ds = res.dataset
        problems.extend(res.problems)
        if images is None:
            root = Path(ds.meta.get("gt_path", gt))
            if ds.meta.get("format") == "coco":
                guess = _coco_images_dir(root.parent.parent if root.parent.name == "annotations"
                                         else root.parent, root)
                if guess is not None:
                    images = guess
        if images is not None and ds.meta.get("format") == "coco":
            _check_image_files(ds, images, problems)
            _fill_sizes(ds, images, problems)
        g = ds.gt
        fmt = ds.meta.get("format")
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
    used: set[str] = set()
    for k, (name, path) in enumerate(preds):
        path = Path(path)
        pd = read_preds(path, pred_format, options=options, logger=logger)
        if len(ds.classes) == 0 and gt is None:
            # no ground truth: the prediction file's vocabulary (or ids) is the vocabulary
            ds = _adopt_vocab(ds, pd)
        boxes, probs, desc = resolve_predictions(pd, ds, pred_class_map, clip=clip)
        problems.extend(probs)
        run = name or path.stem or f"run{k}"
        base, j = run, 2
        while run in used:
            run = f"{base}_{j}"
            j += 1
        used.add(run)
        ds.runs[run] = boxes
        ds.meta["sources"][run] = str(path)
        lines.append(f"Run {run!r}: {desc}.")
        if len(pd) and not len(boxes):
            problems.warn(path, "", "no prediction could be used (0 matched images or classes)")
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
    return LoadResult(ds, problems.items, "\n".join(lines))


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
