"""LabelMe json: one file per image, rectangles as two corner points.

Coordinate convention: LabelMe points are 0-based continuous pixel coordinates, the
same as the engine; a rectangle's two points may come in any order (the box is their
min/max). Shapes that are not rectangles (polygons, points, ...) are kept untouched
in ``Images.extras["labelme"]["other_shapes"]`` and written back; a ``score`` key on a
shape makes it a prediction. The image's other keys (version, flags, imageData ...)
are passed through.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

from ._checks import check_boxes
from ._common import (
    Problems,
    Progress,
    is_finite_number,
    parse_json,
    public_extras,
    read_bytes,
)
from .errors import Cancelled, InputError
from .images import image_size
from .model import GtResult, PredData

__all__ = ["labelme_obj", "parse_labelme", "read_labelme_gt", "read_labelme_preds"]

_SHAPE_CORE = ("label", "points", "shape_type", "score")


def parse_labelme(obj: Any, source: str, problems: Problems | None = None) -> dict[str, Any]:
    """One LabelMe dict -> {file_name, width, height, labels, xyxy, scores, extras,
    image_extras}."""
    own = problems if problems is not None else Problems()
    if not isinstance(obj, dict) or "shapes" not in obj:
        raise InputError(source, "", "not a LabelMe file: expected an object with 'shapes'")
    shapes = obj["shapes"]
    if not isinstance(shapes, list):
        raise InputError(source, "key 'shapes'", "must be a list")
    fn = obj.get("imagePath")
    if not isinstance(fn, str) or not fn:
        fn = Path(source).stem + ".jpg"
        own.warn(source, "", f"no 'imagePath'; assuming {fn}")
    w, h = obj.get("imageWidth", 0), obj.get("imageHeight", 0)
    if not (isinstance(w, int) and isinstance(h, int)) or w < 0 or h < 0:
        own.warn(source, "", f"imageWidth/imageHeight must be integers, got {w!r} x {h!r}")
        w = h = 0
    labels: list[str] = []
    boxes: list[list[float]] = []
    scores: list[float] = []
    extras: list[dict[str, Any]] = []
    other: list[Any] = []
    for k, s in enumerate(shapes):
        where = f"shape #{k}"
        if not isinstance(s, dict):
            own.add(source, where, "must be an object")
            continue
        st = s.get("shape_type", "polygon")
        if st != "rectangle":
            other.append(s)
            continue
        lab = s.get("label")
        pts = s.get("points")
        if not isinstance(lab, str):
            own.add(source, where, f"'label' must be a string, got {lab!r}")
            continue
        if not (isinstance(pts, list) and len(pts) == 2 and all(
                isinstance(p, list) and len(p) == 2 and all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
                for p in pts)):
            own.add(source, where, f"rectangle 'points' must be [[x1, y1], [x2, y2]], got {pts!r}")
            continue
        (xa, ya), (xb, yb) = pts
        boxes.append([min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)])
        labels.append(lab)
        sc = s.get("score", float("nan"))
        if sc is not None and not is_finite_number(sc) and not (
                isinstance(sc, float) and sc != sc):
            own.add(source, where, f"'score' must be a number, got {sc!r}")
            boxes.pop()
            labels.pop()
            continue
        scores.append(float("nan") if sc is None else float(sc))
        extras.append({kk: v for kk, v in s.items() if kk not in _SHAPE_CORE})
    img_extra = {k: v for k, v in obj.items()
                 if k not in ("shapes", "imagePath", "imageWidth", "imageHeight")}
    return {
        "file_name": fn.replace("\\", "/"),
        "width": w,
        "height": h,
        "labels": labels,
        "xyxy": np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        "scores": np.asarray(scores, dtype=np.float64),
        "extras": extras,
        "image_extras": {"labelme": {"top": img_extra, "other_shapes": other,
                                     "key_order": list(obj.keys())}},
    }


def _files(path: Path) -> list[Path]:
    files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
    if not files:
        raise InputError(path, "", "no LabelMe .json files in this folder")
    return files


def read_labelme_gt(
    path: Path,
    images_dir: Path | None = None,
    *,
    class_names: Sequence[str] | None = None,
    clip: bool = False,
    logger: logging.Logger | None = None,
    progress: Progress = None,
) -> GtResult:
    problems = Problems()
    path = Path(path)
    files = _files(path)
    parsed = []
    for k, f in enumerate(files):
        if progress is not None and k % 256 == 0 and progress(k, len(files)) is False:
            raise Cancelled("cancelled")
        try:
            parsed.append((f, parse_labelme(parse_json(read_bytes(f), f), str(f), problems)))
        except InputError as exc:
            problems.extend(exc.problems)
    problems.raise_if_errors()
    seen = sorted({lab for _, p in parsed for lab in p["labels"]})
    names = list(class_names) if class_names else seen
    names += [n for n in seen if n not in names]
    cidx = {n: i for i, n in enumerate(names)}
    n = len(parsed)
    w = np.zeros(n, np.int64)
    h = np.zeros(n, np.int64)
    file_names: list[str] = []
    img_l: list[int] = []
    cls_l: list[int] = []
    box_l: list[np.ndarray] = []
    ex_l: list[dict[str, Any]] = []
    where_l: list[str] = []
    base = path if path.is_dir() else path.parent
    for i, (f, p) in enumerate(parsed):
        # imagePath is relative to the json file; store it relative to the image root
        rel = p["file_name"]
        if images_dir is not None:
            cand = (f.parent / rel)
            try:
                rel = cand.resolve().relative_to(Path(images_dir).resolve()).as_posix()
            except ValueError:
                rel = rel.rsplit("/", 1)[-1]
        else:
            try:
                rel = (f.parent / rel).resolve().relative_to(base.resolve()).as_posix()
            except ValueError:
                pass
        file_names.append(rel)
        w[i], h[i] = p["width"], p["height"]
        if (w[i] <= 0 or h[i] <= 0) and images_dir is not None:
            try:
                w[i], h[i] = image_size(Path(images_dir) / rel)
            except OSError as exc:
                problems.warn(f, "", f"image size unknown and image unreadable: {exc}")
        p["image_extras"]["labelme"]["json_name"] = (
            f.relative_to(path).as_posix() if path.is_dir() else f.name)
        for j, lab in enumerate(p["labels"]):
            img_l.append(i)
            cls_l.append(cidx[lab])
            ex_l.append(p["extras"][j])
            where_l.append(f"{f.name}: shape {j}")
        box_l.append(p["xyxy"])
    img = np.asarray(img_l, dtype=np.int64)
    xyxy = np.concatenate(box_l) if box_l else np.zeros((0, 4))
    keep, xyxy = check_boxes(xyxy, None, w[img], h[img], problems, str(path),
                             lambda r: where_l[r], clip=clip)
    kr = np.flatnonzero(keep)
    extras = {j: ex_l[r] for j, r in enumerate(kr.tolist()) if ex_l[r]}
    images = Images(np.arange(n), file_names, w, h, extras=[p["image_extras"] for _, p in parsed])
    gt = Boxes.build(n, img[keep], np.asarray(cls_l, np.int64)[keep], xyxy[keep],
                     box_id=np.arange(len(kr)), extras=extras)
    return GtResult(Dataset(images, Classes.from_names(names), gt,
                            meta={"format": "labelme",
                                  "images_root": str(images_dir or base)}), problems.items)


def read_labelme_preds(path: Path) -> PredData:
    problems = Problems()
    path = Path(path)
    names: list[str] = []
    labels: list[str] = []
    boxes: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    where: list[str] = []
    for f in _files(path):
        p = parse_labelme(parse_json(read_bytes(f), f), str(f), problems)
        names.extend([p["file_name"]] * len(p["labels"]))
        labels.extend(p["labels"])
        boxes.append(p["xyxy"])
        scores.append(p["scores"])
        where.extend(f"{f.name}: shape {j}" for j in range(len(p["labels"])))
    problems.raise_if_errors()
    sc = np.concatenate(scores) if scores else np.zeros(0)
    if len(sc) and np.isnan(sc).all():
        raise InputError(path, "", "these LabelMe shapes have no 'score': they look like "
                         "ground truth, not predictions")
    if np.isnan(sc).any():
        problems.warn(path, "", f"{int(np.isnan(sc).sum())} shapes without 'score' get score 1.0")
        sc = np.where(np.isnan(sc), 1.0, sc)
    return PredData(source=str(path), format="labelme",
                    xyxy=np.concatenate(boxes) if boxes else np.zeros((0, 4)), score=sc,
                    image_names=names, cls_names=labels, where=where, problems=problems.items)


def labelme_obj(file_name: str, width: int, height: int, labels: Sequence[str],
                xyxy: np.ndarray, extras: Sequence[dict[str, Any]],
                image_extras: dict[str, Any] | None = None,
                scores: np.ndarray | None = None) -> dict[str, Any]:
    """One image's LabelMe dict (rectangles + passed-through other shapes)."""
    lm = (image_extras or {}).get("labelme") or {}
    top = dict(lm.get("top") or {"version": "5.2.1", "flags": {}, "imageData": None})
    shapes: list[Any] = []
    for k, lab in enumerate(labels):
        x1, y1, x2, y2 = (float(v) for v in xyxy[k])
        e = extras[k] if k < len(extras) else {}
        s: dict[str, Any] = {"label": lab, "points": [[x1, y1], [x2, y2]]}
        if lm:  # shape keys came from LabelMe: pass them through
            s.update(public_extras(e))
        s.setdefault("group_id", None)
        s["shape_type"] = "rectangle"
        s.setdefault("flags", {})
        if scores is not None and np.isfinite(scores[k]):
            s["score"] = float(scores[k])
        shapes.append(s)
    shapes.extend(lm.get("other_shapes") or [])
    body = {**top, "shapes": shapes, "imagePath": file_name.rsplit("/", 1)[-1],
            "imageHeight": int(height), "imageWidth": int(width)}
    order = lm.get("key_order") or list(body)
    out = {k: body[k] for k in order if k in body}
    out.update({k: v for k, v in body.items() if k not in out})
    return out
