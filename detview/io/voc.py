"""Pascal VOC XML (one file per image; also the ImageNet/CVAT "imagenet" variant).

Coordinate convention: VOC ``<bndbox>`` holds **1-based integer pixel indices**
(``xmin`` is the first pixel column covered, ``xmax`` the last). The engine's
continuous 0-based box is ``x1 = xmin - 1, y1 = ymin - 1, x2 = xmax, y2 = ymax``;
writing does the inverse with rounding (``xmin = round(x1) + 1``, ``xmax = round(x2)``),
so integer boxes round-trip exactly. Many exporters (CVAT, Datumaro, the VOC files of
review_object_detection_metrics) write 0-based values into VOC files; read those with
``one_based=False`` (then ``x1 = xmin``), and write them with the same flag.

Passthrough: per object ``difficult``/``truncated``/``occluded`` (ints) and ``pose``
(text) go to the box extras, with any other object tags; image-level tags (folder,
source, segmented, depth, ...) go to ``Images.extras["voc"]`` and are written back.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

from ._checks import check_boxes
from ._common import NameIndex, Problems, Progress, parse_xml, public_extras, read_bytes
from .errors import Cancelled, InputError
from .images import image_size, list_images
from .model import GtResult

__all__ = ["parse_voc_xml", "read_voc_gt", "voc_xml"]

_INT_TAGS = ("difficult", "truncated", "occluded")


def _text(el: ET.Element | None) -> str | None:
    return None if el is None or el.text is None else el.text.strip()


def parse_voc_xml(
    data: bytes | str, source: str, *, one_based: bool = True, problems: Problems | None = None
) -> dict[str, Any]:
    """One VOC XML -> {file_name, width, height, names, xyxy (engine coords), extras,
    image_extras}. Bad objects are reported and skipped."""
    own = problems if problems is not None else Problems()
    root = parse_xml(data, source)
    if root.tag != "annotation":
        raise InputError(source, "", f"not a Pascal VOC file: root element is <{root.tag}>, "
                         "expected <annotation>")
    fn = _text(root.find("filename"))
    if not fn:
        fn = Path(source).stem + ".jpg"
        own.warn(source, "", f"no <filename>; assuming {fn}")
    size = root.find("size")
    w = h = 0
    if size is not None:
        try:
            w = int(float(_text(size.find("width")) or 0))
            h = int(float(_text(size.find("height")) or 0))
        except ValueError:
            own.warn(source, "<size>", "width/height are not numbers; size treated as unknown")
            w = h = 0
    layout: list[tuple[str, str]] = []  # top-level children in order
    for child in root:
        if child.tag in ("filename", "size", "object"):
            if not layout or layout[-1][0] != child.tag:
                layout.append((child.tag, ""))
        elif len(child):
            layout.append((child.tag, ET.tostring(child, encoding="unicode").strip()))
        else:
            layout.append((child.tag, "\0" + (child.text or "").strip()))
    depth = _text(size.find("depth")) if size is not None else None
    names: list[str] = []
    boxes: list[list[float]] = []
    extras: list[dict[str, Any]] = []
    for k, obj in enumerate(root.iter("object")):
        where = f"object {k + 1}"
        name = _text(obj.find("name"))
        bb = obj.find("bndbox")
        if not name:
            own.add(source, where, "object without <name>")
            continue
        if bb is None:
            own.add(source, where, "object without <bndbox>")
            continue
        vals = []
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            t = _text(bb.find(tag))
            try:
                vals.append(float(t))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                own.add(source, where, f"<{tag}> is missing or not a number: {t!r}")
                break
        if len(vals) != 4:
            continue
        off = 1.0 if one_based else 0.0
        boxes.append([vals[0] - off, vals[1] - off, vals[2], vals[3]])
        names.append(name)
        e: dict[str, Any] = {}
        for child in obj:
            if child.tag in ("name", "bndbox"):
                continue
            if len(child):
                e.setdefault("voc_xml", []).append(ET.tostring(child, encoding="unicode").strip())
            else:
                t = (child.text or "").strip()
                if child.tag in _INT_TAGS:
                    try:
                        e[child.tag] = int(float(t))
                        continue
                    except ValueError:
                        pass
                e[child.tag] = t
        extras.append(e)
    return {
        "file_name": fn,
        "width": w,
        "height": h,
        "names": names,
        "xyxy": np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
        "extras": extras,
        "image_extras": {"voc": {"layout": layout, "depth": depth}},
    }


def read_voc_gt(
    annotations: Path,
    images_dir: Path | None = None,
    *,
    class_names: Sequence[str] | None = None,
    one_based: bool = True,
    clip: bool = False,
    logger: logging.Logger | None = None,
    progress: Progress = None,
) -> GtResult:
    """Read a folder of VOC XML files (or one file)."""
    problems = Problems()
    annotations = Path(annotations)
    files = sorted(annotations.rglob("*.xml")) if annotations.is_dir() else [annotations]
    if not files:
        raise InputError(annotations, "", "no .xml annotation files in this folder")
    parsed: list[dict[str, Any]] = []
    for k, f in enumerate(files):
        if progress is not None and k % 256 == 0 and progress(k, len(files)) is False:
            raise Cancelled("cancelled")
        try:
            parsed.append(parse_voc_xml(read_bytes(f), str(f), one_based=one_based,
                                        problems=problems))
        except InputError as exc:
            problems.extend(exc.problems)
    problems.raise_if_errors()
    on_disk: set[str] = set()
    if images_dir is not None:
        if not Path(images_dir).is_dir():
            raise InputError(images_dir, "", "image folder not found")
        listing = list_images(Path(images_dir))
        on_disk = set(listing)
        index = NameIndex(listing)
        for p in parsed:  # <filename> without folder or extension: find the file
            if p["file_name"] not in on_disk:
                i = index.find(p["file_name"])
                if i >= 0:
                    p["file_name"] = listing[i]
    # class vocabulary: given order, else sorted names seen
    seen = sorted({n for p in parsed for n in p["names"]})
    names = list(class_names) if class_names else seen
    unknown = [n for n in seen if n not in names]
    if unknown:
        problems.warn(annotations, "", f"class names not in the given list, added: {unknown}")
        names += unknown
    cindex = {n: i for i, n in enumerate(names)}
    n_img = len(parsed)
    widths = np.zeros(n_img, dtype=np.int64)
    heights = np.zeros(n_img, dtype=np.int64)
    img_l: list[int] = []
    cls_l: list[int] = []
    box_l: list[np.ndarray] = []
    ex_l: list[dict[str, Any]] = []
    where_l: list[str] = []
    for i, (f, p) in enumerate(zip(files, parsed, strict=True)):
        w, h = p["width"], p["height"]
        if (w <= 0 or h <= 0) and images_dir is not None:
            try:
                w, h = image_size(Path(images_dir) / p["file_name"])
            except OSError as exc:
                problems.warn(f, "<size>", f"size missing and image unreadable: {exc}")
        widths[i], heights[i] = w, h
        if images_dir is not None and p["file_name"] not in on_disk:
            problems.warn(f, "<filename>", f"image {p['file_name']} not found in {images_dir}")
        for j, nm in enumerate(p["names"]):
            img_l.append(i)
            cls_l.append(cindex[nm])
            ex_l.append(p["extras"][j])
            where_l.append(f"{f.name}: object {j + 1}")
        box_l.append(p["xyxy"])
    if images_dir is not None:
        listed = {p["file_name"] for p in parsed}
        extra = sorted(on_disk - listed)
        if extra:
            problems.warn(images_dir, "", f"{len(extra)} images have no annotation file "
                          f"(e.g. {extra[0]}); they are not loaded")
    img = np.asarray(img_l, dtype=np.int64)
    xyxy = np.concatenate(box_l) if box_l else np.zeros((0, 4))
    keep, xyxy = check_boxes(xyxy, None, widths[img], heights[img], problems, str(annotations),
                             lambda r: where_l[r], clip=clip)
    kr = np.flatnonzero(keep)
    extras = {int(j): ex_l[int(r)] for j, r in enumerate(kr.tolist()) if ex_l[int(r)]}
    images = Images(np.arange(n_img, dtype=np.int64), [p["file_name"] for p in parsed],
                    widths, heights, extras=[p["image_extras"] for p in parsed])
    gt = Boxes.build(n_img, img[keep], np.asarray(cls_l, dtype=np.int64)[keep], xyxy[keep],
                     box_id=np.arange(len(kr)), extras=extras)
    meta: dict[str, Any] = {"format": "voc", "voc": {"one_based": one_based,
                                     "xml_names": [str(f.relative_to(annotations))
                                                   if annotations.is_dir() else f.name
                                                   for f in files]}}
    if images_dir is not None:
        meta["images_root"] = str(images_dir)
    return GtResult(Dataset(images, Classes.from_names(names), gt, meta=meta), problems.items)


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = text
    return el


def _coord(v: float) -> str:
    return str(int(round(v)))


def voc_xml(
    file_name: str,
    width: int,
    height: int,
    names: Sequence[str],
    xyxy: np.ndarray,
    extras: Sequence[dict[str, Any]],
    image_extras: dict[str, Any] | None = None,
    *,
    one_based: bool = True,
) -> bytes:
    """One image's VOC XML (pretty-printed, UTF-8)."""
    voc = (image_extras or {}).get("voc") or {}
    layout = voc.get("layout") or [("folder", "\0"), ("filename", ""), ("size", ""),
                                   ("segmented", "\00"), ("object", "")]
    if not any(t == "object" for t, _ in layout):
        layout = list(layout) + [("object", "")]
    root = ET.Element("annotation")
    off = 1 if one_based else 0
    for tag, val in layout:
        if tag == "filename":
            _sub(root, "filename", file_name.rsplit("/", 1)[-1])
        elif tag == "size":
            size = ET.SubElement(root, "size")
            _sub(size, "width", str(int(width)))
            _sub(size, "height", str(int(height)))
            depth = voc.get("depth")
            _sub(size, "depth", str(depth) if depth is not None else "3")
        elif tag == "object":
            for k, nm in enumerate(names):
                obj = ET.SubElement(root, "object")
                _sub(obj, "name", nm)
                e = extras[k] if k < len(extras) else {}
                if not voc:  # not from VOC: the usual VOC tags, then what passes through
                    e = {"pose": "Unspecified", "truncated": 0, "difficult": 0,
                         **public_extras(e)}
                order = [t for t in e if t != "voc_xml"]
                for t in order:
                    v = e[t]
                    if isinstance(v, (dict, list)):
                        continue
                    _sub(obj, t, str(int(v)) if isinstance(v, bool) else str(v))
                bb = ET.SubElement(obj, "bndbox")
                x1, y1, x2, y2 = (float(v) for v in xyxy[k])
                _sub(bb, "xmin", str(int(round(x1)) + off))
                _sub(bb, "ymin", str(int(round(y1)) + off))
                _sub(bb, "xmax", _coord(x2))
                _sub(bb, "ymax", _coord(y2))
                for raw in e.get("voc_xml", []):
                    obj.append(ET.fromstring(raw))
        elif val.startswith("\0"):
            _sub(root, tag, val[1:])
        else:
            root.append(ET.fromstring(val))
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"
