"""LabelMe json: one file per image, rectangles as two corner points.

Coordinate convention: LabelMe points are 0-based continuous pixel coordinates, the
same as the engine; a rectangle's two points may come in any order (the box is their
min/max). Shapes that are not rectangles (polygons, points, ...) are kept untouched
in ``Images.extras["labelme"]["other_shapes"]`` and written back; a ``score`` key on a
shape makes it a prediction. The image's other keys (version, flags, imageData ...)
are passed through.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

from .._checks import check_boxes
from .._common import (
    MAX_IMAGE_SIDE,
    Problems,
    Progress,
    as_int,
    parse_json,
    public_extras,
    read_bytes,
)
from ..errors import Cancelled, InputError
from ..images import image_size
from ..model import GtResult, PredData, SourceFiles, file_digest
from ..paths import Root, regular_file, safe_name, unsafe_reason
from .base import Format, Layout, ReadRequest

if TYPE_CHECKING:
    from ..output import Output

__all__ = ["labelme_obj", "parse_labelme", "read_labelme_gt", "read_labelme_preds"]

_SHAPE_CORE = ("label", "points", "shape_type", "score")


def _num(v: Any) -> float | None:
    """A JSON number as a float (NaN/inf pass, checked later), else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        return float(v)
    except OverflowError:
        return None


def _short(v: Any, n: int = 60) -> str:
    try:
        r = repr(v)
    except (RecursionError, ValueError):
        r = f"<{type(v).__name__}>"
    return r if len(r) <= n else r[: n - 3] + "..."


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
    elif "\0" in fn or len(fn.encode("utf-8", "replace")) > 4096:
        raise InputError(source, "key 'imagePath'", "unusable file name (NUL or over-long)")
    w0, h0 = obj.get("imageWidth", 0), obj.get("imageHeight", 0)
    w, h = as_int(w0, 0, MAX_IMAGE_SIDE), as_int(h0, 0, MAX_IMAGE_SIDE)
    if w is None or h is None:
        own.warn(source, "", f"imageWidth/imageHeight must be integers from 0 to "
                 f"{MAX_IMAGE_SIDE}, got {_short(w0)} x {_short(h0)}; size read from the image")
        w = h = 0
    labels: list[str] = []
    boxes: list[list[float]] = []
    scores: list[float] = []
    extras: list[dict[str, Any]] = []
    other: list[Any] = []
    other_index: list[int] = []
    for k, s in enumerate(shapes):
        where = f"shape #{k}"
        if not isinstance(s, dict):
            own.add(source, where, "must be an object")
            continue
        st = s.get("shape_type", "polygon")
        if st != "rectangle":
            other.append(s)
            other_index.append(k)
            continue
        lab = s.get("label")
        pts = s.get("points")
        if not isinstance(lab, str):
            own.add(source, where, f"'label' must be a string, got {_short(lab)}")
            continue
        if not (isinstance(pts, list) and len(pts) == 2 and all(
                isinstance(p, list) and len(p) == 2 and all(_num(v) is not None for v in p)
                for p in pts)):
            own.add(source, where,
                    f"rectangle 'points' must be [[x1, y1], [x2, y2]], got {_short(pts)}")
            continue
        xa, ya = (float(v) for v in pts[0])
        xb, yb = (float(v) for v in pts[1])
        sc = s.get("score", float("nan"))
        if sc is not None and _num(sc) is None:
            own.add(source, where, f"'score' must be a number, got {_short(sc)}")
            continue
        boxes.append([min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb)])
        labels.append(lab)
        scores.append(float("nan") if sc is None else float(sc))
        e = {kk: v for kk, v in s.items() if kk not in _SHAPE_CORE}
        e["_labelme"] = {"order": list(s.keys()), "index": k, "points": pts,
                         "xyxy": tuple(boxes[-1])}
        extras.append(e)
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
                                     "other_index": other_index,
                                     "image_path": fn,
                                     "key_order": list(obj.keys())}},
    }


def _files(path: Path) -> list[Path]:
    if not path.is_dir():
        return [path]
    guard = Root(path)
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            p = Path(dirpath) / f
            if f.lower().endswith(".json") and not f.startswith(".") and guard.inside(p):
                files.append(p)
    if not files:
        raise InputError(path, "", "no LabelMe .json files in this folder")
    return files


def image_name(json_file: Path, image_path: str, base: Path, images_dir: Path | None) -> str:
    """The image of a LabelMe file as a name relative to the image folder (``images_dir``,
    else the LabelMe folder ``base``). ``imagePath`` is relative to the json file; a name
    that leads outside the image folder is refused (InputError), unless an image folder
    was given and holds a file of that base name."""
    json_dir = os.path.relpath(json_file.parent, base).replace(os.sep, "/")
    json_dir = "" if json_dir == "." else json_dir
    if images_dir is None:
        return safe_name(image_path, json_file, "key 'imagePath'", base=json_dir)
    target = os.path.normpath(os.path.join(json_file.parent, image_path.replace("\\", "/")))
    rel = os.path.relpath(target, images_dir).replace(os.sep, "/")
    if unsafe_reason(rel) is None:
        return safe_name(rel)
    base_name = image_path.replace("\\", "/").rsplit("/", 1)[-1]
    return safe_name(base_name, json_file, "key 'imagePath'")


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
    base = path if path.is_dir() else path.parent
    parsed = []
    digests: list[bytes | None] = []
    for k, f in enumerate(files):
        if progress is not None and k % 256 == 0 and progress(k, len(files)) is False:
            raise Cancelled("cancelled")
        before = len(problems.items)
        try:
            data = read_bytes(f)
            p = parse_labelme(parse_json(data, f), str(f), problems)
            p["file_name"] = image_name(f, p["file_name"], base, images_dir)
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        parsed.append((f, p))
        digests.append(file_digest(data) if len(problems.items) == before else None)
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
    guard = Root(images_dir if images_dir is not None else base)
    for i, (f, p) in enumerate(parsed):
        rel = p["file_name"]
        file_names.append(rel)
        w[i], h[i] = p["width"], p["height"]
        if w[i] <= 0 or h[i] <= 0:
            try:
                ip = guard.file(rel, f, "key 'imagePath'")
                if not regular_file(ip):
                    raise FileNotFoundError(ip)
                w[i], h[i] = image_size(ip)
            except (OSError, ValueError, InputError) as exc:
                problems.warn(f, "", f"image size unknown and image unreadable: {exc}")
                digests[i] = None
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
    keep, xyxy2 = check_boxes(xyxy, None, w[img], h[img], problems, str(path),
                              lambda r: where_l[r], clip=clip)
    changed = ~keep | np.any(xyxy2 != xyxy, axis=1)
    for i in np.unique(img[changed]).tolist():
        digests[int(i)] = None
    kr = np.flatnonzero(keep)
    extras = {j: ex_l[r] for j, r in enumerate(kr.tolist()) if ex_l[r]}
    images = Images(np.arange(n), file_names, w, h, extras=[p["image_extras"] for _, p in parsed])
    gt = Boxes.build(n, img[keep], np.asarray(cls_l, np.int64)[keep], xyxy2[keep],
                     box_id=np.arange(len(kr)), extras=extras)
    rel_files = tuple(os.path.relpath(f, base).replace(os.sep, "/") for f, _ in parsed)
    meta: dict[str, Any] = {"format": "labelme", "images_root": str(images_dir or base),
                            "gt_path": str(path)}
    meta["source_files"] = SourceFiles(
        format="labelme", root=str(base), rel=rel_files, digest=tuple(digests),
        class_names=tuple(names), widths=w.copy(), heights=h.copy(),
        offsets=gt.offsets.copy(), box_id=gt.box_id.copy(), cls=gt.cls.copy(),
        xyxy=gt.xyxy.copy())
    return GtResult(Dataset(images, Classes.from_names(names), gt, meta=meta), problems.items)


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
    """One image's LabelMe dict (rectangles + passed-through other shapes), in the
    source's key and shape order; an unchanged rectangle keeps its points as written."""
    lm = (image_extras or {}).get("labelme") or {}
    top = dict(lm.get("top") or {"version": "5.2.1", "flags": {}, "imageData": None})
    placed: list[tuple[float, int, Any]] = []
    for k, lab in enumerate(labels):
        x1, y1, x2, y2 = (float(v) for v in xyxy[k])
        e = extras[k] if k < len(extras) else {}
        src = e.get("_labelme") if lm else None
        points: Any = [[x1, y1], [x2, y2]]
        if src and tuple(src.get("xyxy", ())) == (x1, y1, x2, y2):
            points = src.get("points", points)
        s: dict[str, Any] = {"label": lab, "points": points}
        if lm:  # shape keys came from LabelMe: pass them through
            s.update(public_extras(e))
        s.setdefault("group_id", None)
        s["shape_type"] = "rectangle"
        s.setdefault("flags", {})
        if scores is not None and np.isfinite(scores[k]):
            s["score"] = float(scores[k])
        if src and src.get("order"):
            order = [kk for kk in src["order"] if kk in s]
            s = {**{kk: s[kk] for kk in order}, **{kk: v for kk, v in s.items()
                                                   if kk not in order}}
        pos = float(src["index"]) if src and isinstance(src.get("index"), int) else float("inf")
        placed.append((pos, k, s))
    others = list(lm.get("other_shapes") or [])
    oidx = list(lm.get("other_index") or [])
    for j, sh in enumerate(others):
        pos = float(oidx[j]) if j < len(oidx) else float("inf")
        placed.append((pos, len(labels) + j, sh))
    placed.sort(key=lambda t: (t[0], t[1]))
    shapes = [sh for _, _, sh in placed]
    body = {**top, "shapes": shapes, "imagePath": file_name.rsplit("/", 1)[-1],
            "imageHeight": int(height), "imageWidth": int(width)}
    order = lm.get("key_order") or list(body)
    out = {k: body[k] for k in order if k in body}
    out.update({k: v for k, v in body.items() if k not in out})
    return out


def labelme_bytes(obj: dict[str, Any]) -> bytes:
    """As LabelMe writes its files: 2-space indent, non-ASCII kept."""
    return (json.dumps(obj, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


# ---------------------------------------------------------------------- the format
def _stem_path(fn: str) -> str:
    head, _, tail = fn.rpartition("/")
    stem = tail.rsplit(".", 1)[0] if "." in tail else tail
    return f"{head}/{stem}" if head else stem


def write(ds: Dataset, out: Output) -> None:
    im = ds.images
    gt = ds.gt
    keep = np.flatnonzero(~im.deleted).tolist()
    crowd_total = 0
    for k, i in enumerate(keep):
        out.tick(k, len(keep))
        fn = im.file_names[i]
        lm = (im.extras[i] or {}).get("labelme") or {}
        # the source's bytes only where its imagePath is right beside the image, as here
        same_place = lm.get("image_path") == fn.rsplit("/", 1)[-1]
        data = out.unchanged(i, "labelme") if same_place else None
        if data is None:
            sl = gt.image_slice(i)
            rows = [r for r in range(sl.start, sl.stop) if gt.alive[r]]
            crowd = [r for r in rows if gt.iscrowd[r]]
            if crowd:
                crowd_total += len(crowd)
                rows = [r for r in rows if not gt.iscrowd[r]]
            obj = labelme_obj(im.file_names[i], int(im.widths[i]), int(im.heights[i]),
                              [ds.classes.names[int(gt.cls[r])] for r in rows], gt.xyxy[rows],
                              [gt.extras.get(int(gt.box_id[r]), {}) for r in rows],
                              im.extras[i])
            data = labelme_bytes(obj)
        out.write(_stem_path(im.file_names[i]) + ".json", data)
    if crowd_total:
        out.warn(f"{crowd_total} crowd region(s) left out (LabelMe has no crowd flag)")
    out.copy_images("")


def read_gt(req: ReadRequest) -> GtResult:
    return read_labelme_gt(req.gt, req.images, class_names=req.class_names, clip=req.clip,
                           logger=req.logger, progress=req.progress)


def read_preds(path: Path, options: dict[str, Any] | None = None, logger: Any = None,
               progress: Any = None) -> PredData:
    return read_labelme_preds(path)


def sniff(path: Path, head: bytes) -> int:
    if path.is_dir():
        return 0
    h = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if h[:1] == b"{" and (b'"shapes"' in h or b'"imagePath"' in h):
        return 90
    return 0


def flat_layout(root: Path) -> Layout | None:
    from ..images import list_images

    if any(root.glob("*.json")) and list_images(root, recursive=False)[:1]:
        return Layout(root, root, root, "labelme", "LabelMe json files beside the images")
    return None


FORMAT = Format(
    name="labelme",
    title="LabelMe",
    convention="rectangles as two corner points, 0-based continuous pixels (the engine's "
               "xyxy); other shapes pass through",
    read_gt=read_gt,
    read_preds=read_preds,
    write=write,
    sniff=sniff,
    layout=flat_layout,
    layout_order=85,
    per_image=True,
)
