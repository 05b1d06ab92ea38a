"""YOLO / Ultralytics txt labels.

Coordinate convention: one box per line, ``cls cx cy w h``, normalised to 0..1 by the
image width and height (centre, width, height). In pixels ``x1 = (cx - w/2) * W``,
``x2 = (cx + w/2) * W`` (kept as floats in the engine; wherever integer pixels are
needed they are **rounded, never truncated**). Written with 6 decimals, so a read +
write without edits gives the same text numbers, and rounding the pixels gives the
same integer pixels back.

Predictions: ``cls cx cy w h conf`` (Ultralytics ``--save-conf``: confidence last);
other column orders via ``columns`` (e.g. ``"cls conf x y w h"`` with
``normalized=False`` for absolute top-left xywh, ``"cls conf x1 y1 x2 y2"``).

Class names: ``data.yaml`` ``names`` (list or {index: name}), ``classes.txt``,
``obj.names``, or given explicitly. Class source ids are the YOLO indices.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

from ._checks import check_boxes
from ._common import Problems, Progress, decode_text, read_bytes
from .errors import Cancelled, InputError, Problem
from .images import list_images, read_sizes
from .model import GtResult, PredData

__all__ = [
    "find_yolo_names",
    "parse_names_file",
    "parse_yolo_txt",
    "read_yolo_gt",
    "read_yolo_preds",
    "yolo_lines",
]

GT_COLUMNS = "cls cx cy w h"
PRED_COLUMNS = "cls cx cy w h conf"
_KNOWN = {"cls", "conf", "cx", "cy", "w", "h", "x", "y", "x1", "y1", "x2", "y2"}


def _spec(columns: str) -> list[str]:
    cols = columns.replace(",", " ").split()
    bad = [c for c in cols if c not in _KNOWN]
    if bad or "cls" not in cols:
        raise ValueError(f"bad YOLO column spec {columns!r}: use names from {sorted(_KNOWN)}")
    kinds = [{"cx", "cy", "w", "h"}, {"x", "y", "w", "h"}, {"x1", "y1", "x2", "y2"}]
    if not any(k <= set(cols) for k in kinds):
        raise ValueError(f"YOLO column spec {columns!r} needs cx cy w h, x y w h or x1 y1 x2 y2")
    return cols


def parse_yolo_txt(
    text: str | bytes,
    source: str,
    *,
    columns: str = GT_COLUMNS,
    problems: Problems | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse one label file. Returns (cls int64[n], box float64[n,4] as in the file's
    order **converted to x1 y1 x2 y2 in the file's units**, conf float64[n] (NaN when
    no conf column), line numbers int64[n]). Bad lines are reported and skipped.
    Segment lines (``cls x1 y1 x2 y2 ...`` polygons) become their bounding box.
    """
    cols = _spec(columns)
    own = problems if problems is not None else Problems()
    text = decode_text(text, source)
    ncol = len(cols)
    ic = cols.index("cls")
    icf = cols.index("conf") if "conf" in cols else -1
    cls_l: list[int] = []
    box_l: list[list[float]] = []
    conf_l: list[float] = []
    line_l: list[int] = []
    seg_warned = False
    for ln, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        toks = line.split()
        where = f"line {ln}"
        try:
            vals = [float(t) for t in toks]
        except ValueError:
            own.add(source, where, f"not a number in {line[:60]!r}")
            continue
        if len(toks) != ncol:
            # YOLO segment: cls then >= 3 (x, y) pairs, only for the default GT layout
            if cols == GT_COLUMNS.split() and len(toks) >= 7 and (len(toks) - 1) % 2 == 0:
                pts = np.asarray(vals[1:]).reshape(-1, 2)
                if not seg_warned:
                    own.warn(source, where, "polygon (segment) label: using its bounding box")
                    seg_warned = True
                c = vals[0]
                if not c.is_integer() or c < 0:
                    own.add(source, where, f"class must be a non-negative integer, got {toks[0]!r}")
                    continue
                cls_l.append(int(c))
                box_l.append([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])
                conf_l.append(float("nan"))
                line_l.append(ln)
                continue
            own.add(source, where, f"expected {ncol} values ({' '.join(cols)}), got {len(toks)}")
            continue
        c = vals[ic]
        if not c.is_integer() or c < 0:
            own.add(source, where, f"class must be a non-negative integer, got {toks[ic]!r}")
            continue
        d = dict(zip(cols, vals, strict=True))
        if "cx" in d:
            hw, hh = d["w"] / 2, d["h"] / 2
            box = [d["cx"] - hw, d["cy"] - hh, d["cx"] + hw, d["cy"] + hh]
        elif "x1" in d:
            box = [d["x1"], d["y1"], d["x2"], d["y2"]]
        else:
            box = [d["x"], d["y"], d["x"] + d["w"], d["y"] + d["h"]]
        cls_l.append(int(c))
        box_l.append(box)
        conf_l.append(vals[icf] if icf >= 0 else float("nan"))
        line_l.append(ln)
    return (
        np.asarray(cls_l, dtype=np.int64),
        np.asarray(box_l, dtype=np.float64).reshape(-1, 4),
        np.asarray(conf_l, dtype=np.float64),
        np.asarray(line_l, dtype=np.int64),
    )


def parse_names_file(text: str | bytes, source: str) -> list[str]:
    """``classes.txt`` / ``obj.names``: one name a line; or a YAML with ``names``."""
    text = decode_text(text, source)
    if source.endswith((".yaml", ".yml")):
        try:
            obj = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise InputError(source, where, f"malformed YAML: {exc}") from None
        names = obj.get("names") if isinstance(obj, dict) else None
        if isinstance(names, dict):
            try:
                keys = sorted(int(k) for k in names)
            except (TypeError, ValueError):
                raise InputError(source, "key 'names'", "keys must be class indices") from None
            if keys != list(range(len(keys))):
                raise InputError(source, "key 'names'", "class indices must be 0..n-1")
            return [str(names[k] if k in names else names[str(k)]) for k in keys]
        if isinstance(names, list):
            return [str(n) for n in names]
        raise InputError(source, "", "no 'names' list or mapping in this YAML file")
    return [ln.strip() for ln in text.split("\n") if ln.strip()]


def find_yolo_names(*folders: Path) -> Path | None:
    """data.yaml / *.yaml with names / classes.txt / obj.names in or above the folders."""
    seen: set[Path] = set()
    for f in folders:
        if f is None:
            continue
        f = Path(f)
        for d in [f, *list(f.parents)[:3]]:
            if d in seen or not d.is_dir():
                continue
            seen.add(d)
            for name in ("data.yaml", "dataset.yaml", "classes.txt", "obj.names", "classes.names"):
                p = d / name
                if p.is_file():
                    return p
            for p in sorted(d.glob("*.yaml")):
                try:
                    obj = yaml.safe_load(p.read_text(encoding="utf-8", errors="replace"))
                except yaml.YAMLError:
                    continue
                if isinstance(obj, dict) and "names" in obj:
                    return p
            for p in sorted(d.glob("*.names")):
                return p
    return None


def _label_for_image(labels_dir: Path, rel: str) -> Path:
    return labels_dir / (rel.rsplit(".", 1)[0] + ".txt")


def read_yolo_gt(
    images_dir: Path,
    labels_dir: Path,
    *,
    class_names: Sequence[str] | None = None,
    names_file: Path | None = None,
    columns: str = GT_COLUMNS,
    clip: bool = False,
    logger: logging.Logger | None = None,
    progress: Progress = None,
) -> GtResult:
    """Read Ultralytics/Darknet labels: one txt per image under ``labels_dir`` with the
    image's relative path (``a/b.jpg`` -> ``a/b.txt``). Sizes come from image headers."""
    problems = Problems()
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    if not images_dir.is_dir():
        raise InputError(images_dir, "", "image folder not found")
    if not labels_dir.is_dir():
        raise InputError(labels_dir, "", "label folder not found")
    files = list_images(images_dir)
    if not files:
        raise InputError(images_dir, "", "no image files in this folder")
    names: list[str] | None = list(class_names) if class_names else None
    names_src = "given"
    if names is None:
        nf = names_file or find_yolo_names(labels_dir, images_dir)
        if nf is not None:
            names = parse_names_file(read_bytes(nf).decode("utf-8", "replace"), str(nf))
            names_src = str(nf)
    w, h, ok = read_sizes(images_dir, files, problems, logger=logger)
    label_paths = [_label_for_image(labels_dir, f) for f in files]
    img_l: list[np.ndarray] = []
    cls_l: list[np.ndarray] = []
    box_l: list[np.ndarray] = []
    where_l: list[str] = []
    missing = 0
    n = len(files)
    for i, lp in enumerate(label_paths):
        if progress is not None and i % 256 == 0 and progress(i, n) is False:
            raise Cancelled("cancelled")
        try:
            data = lp.read_bytes()
        except FileNotFoundError:
            missing += 1
            continue
        c, b, _, lines = parse_yolo_txt(data, str(lp), columns=columns, problems=problems)
        if not len(c):
            continue
        if not ok[i]:
            problems.warn(lp, "", f"{len(c)} boxes skipped: the image size is unknown")
            continue
        b = b * np.array([w[i], h[i], w[i], h[i]], dtype=np.float64)
        img_l.append(np.full(len(c), i, dtype=np.int64))
        cls_l.append(c)
        box_l.append(b)
        where_l.extend(f"{lp.name}: line {ln}" for ln in lines.tolist())
    # label files without images
    have = {p.resolve() for p in label_paths}
    orphans = [p for p in sorted(labels_dir.rglob("*.txt"))
               if p.resolve() not in have and p.name not in ("classes.txt", "train.txt",
                                                             "val.txt", "test.txt")]
    for p in orphans[:20]:
        problems.warn(p, "", "label file without an image")
    if len(orphans) > 20:
        problems.warn(labels_dir, "", f"{len(orphans) - 20} more label files without an image")
    if missing:
        problems.warn(labels_dir, "", f"{missing} of {n} images have no label file "
                      "(taken as images without boxes)")
    img = np.concatenate(img_l) if img_l else np.zeros(0, np.int64)
    cls = np.concatenate(cls_l) if cls_l else np.zeros(0, np.int64)
    xyxy = np.concatenate(box_l) if box_l else np.zeros((0, 4))
    if names is None:
        k = int(cls.max()) + 1 if len(cls) else 0
        names = [str(j) for j in range(k)]
        names_src = "none"
        problems.warn(labels_dir, "", "no class names found (data.yaml, classes.txt, obj.names); "
                      "classes are named by their index")
    if len(cls) and int(cls.max()) >= len(names):
        bad = cls >= len(names)
        for r in np.flatnonzero(bad)[:20].tolist():
            problems.warn(labels_dir, where_l[r], f"class {int(cls[r])} is not in the "
                          f"{len(names)} class names; box skipped")
        img, cls, xyxy = img[~bad], cls[~bad], xyxy[~bad]
        where_l = [x for x, b in zip(where_l, bad.tolist(), strict=True) if not b]
    keep, xyxy = check_boxes(xyxy, None, w[img], h[img], problems, str(labels_dir),
                             lambda r: where_l[r], clip=clip)
    images = Images(np.arange(n, dtype=np.int64), files, w, h)
    classes = Classes.from_names(names)
    gt = Boxes.build(n, img[keep], cls[keep], xyxy[keep])
    meta: dict[str, Any] = {
        "format": "yolo",
        "images_root": str(images_dir),
        "yolo": {"names_source": names_src, "labels_dir": str(labels_dir),
                 "missing_label_files": missing},
    }
    return GtResult(Dataset(images, classes, gt, meta=meta), problems.items)


def read_yolo_preds(
    path: Path,
    *,
    columns: str = PRED_COLUMNS,
    normalized: bool | None = None,
    names_file: Path | None = None,
    logger: logging.Logger | None = None,
    progress: Progress = None,
) -> PredData:
    """A folder of txt files (one per image, named by the image stem) or one txt file.

    Class names (``names_file``, else a data.yaml/classes.txt/*.names found in or up to
    three folders above) become the file's vocabulary, so classes can be matched by name.
    """
    path = Path(path)
    problems = Problems()
    cols = _spec(columns)
    if normalized is None:
        normalized = "cx" in cols
    files = sorted(path.rglob("*.txt")) if path.is_dir() else [path]
    files = [f for f in files if f.name not in ("classes.txt",)]
    if path.is_dir() and not files:
        raise InputError(path, "", "no .txt prediction files in this folder")
    names_l: list[str] = []
    cls_l: list[np.ndarray] = []
    box_l: list[np.ndarray] = []
    conf_l: list[np.ndarray] = []
    where_l: list[str] = []
    for k, f in enumerate(files):
        if progress is not None and k % 256 == 0 and progress(k, len(files)) is False:
            raise Cancelled("cancelled")
        c, b, s, lines = parse_yolo_txt(read_bytes(f), str(f), columns=columns, problems=problems)
        if path.is_dir():
            stem = str(f.relative_to(path).with_suffix("")).replace("\\", "/")
        else:
            stem = f.stem
        names_l.extend([stem] * len(c))
        cls_l.append(c)
        box_l.append(b)
        conf_l.append(s)
        where_l.extend(f"{f.name}: line {ln}" for ln in lines.tolist())
    problems.raise_if_errors()
    cls = np.concatenate(cls_l) if cls_l else np.zeros(0, np.int64)
    xyxy = np.concatenate(box_l) if box_l else np.zeros((0, 4))
    conf = np.concatenate(conf_l) if conf_l else np.zeros(0)
    if "conf" not in cols:
        problems.warn(path, "", "no confidence column: every prediction gets score 1.0")
        conf = np.ones_like(conf)
    if normalized and len(xyxy) and float(np.nanmax(np.abs(xyxy))) > 1.5:
        problems.warn(path, "", "coordinates larger than 1 in a normalised layout: are these "
                      "absolute pixels? (set normalized=False / the column layout)")
    if "conf" in cols and len(conf) and (np.nanmax(conf) > 1.0 or np.nanmin(conf) < 0):
        problems.warn(path, "", f"confidences outside 0..1 (column {cols.index('conf') + 1} of "
                      f"'{columns}'): is the confidence in another column?")
    vocab = None
    nf = names_file or find_yolo_names(path if path.is_dir() else path.parent)
    if nf is not None:
        try:
            vocab = dict(enumerate(parse_names_file(read_bytes(nf), str(nf))))
        except InputError as exc:
            problems.extend([Problem(p.path, p.where, p.message, "warning") for p in exc.problems])
    return PredData(source=str(path), format="yolo", xyxy=xyxy, score=conf,
                    image_names=names_l, cls_ids=cls, normalized=bool(normalized),
                    vocab=vocab, where=where_l, problems=problems.items)


def yolo_lines(cls: np.ndarray, xyxy: np.ndarray, w: int, h: int,
               score: np.ndarray | None = None) -> str:
    """Label text for one image: ``cls cx cy w h [conf]`` with 6 decimals."""
    if w <= 0 or h <= 0:
        raise ValueError("image size unknown: cannot normalise YOLO coordinates")
    out = []
    for k in range(len(cls)):
        x1, y1, x2, y2 = (float(v) for v in xyxy[k])
        line = (f"{int(cls[k])} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} "
                f"{(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
        if score is not None:
            line += f" {float(score[k]):.6f}"
        out.append(line)
    return "\n".join(out) + ("\n" if out else "")
