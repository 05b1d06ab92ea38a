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
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import numpy as np

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

from .._checks import check_boxes
from .._common import (
    MAX_IMAGE_SIDE,
    NameIndex,
    Problems,
    Progress,
    float_token,
    int_token,
    parse_xml,
    public_extras,
    read_bytes,
)
from ..errors import Cancelled, InputError
from ..images import image_size, list_images
from ..model import GtResult, SourceFiles, file_digest
from ..paths import Root, regular_file, safe_name
from .base import Format, Layout, ReadRequest

if TYPE_CHECKING:
    from ..output import Output

__all__ = ["parse_voc_xml", "read_voc_gt", "voc_xml"]

_INT_TAGS = ("difficult", "truncated", "occluded")


def _text(el: ET.Element | None) -> str | None:
    return None if el is None or el.text is None else el.text.strip()


def _xml_text(el: ET.Element, source: str) -> str:
    try:
        return ET.tostring(el, encoding="unicode").strip()
    except RecursionError:
        raise InputError(source, f"<{el.tag}>", "XML nested too deeply") from None


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
    else:
        fn = safe_name(fn, source, "<filename>")
    size = root.find("size")
    w = h = 0
    if size is not None:
        wt, ht = _text(size.find("width")), _text(size.find("height"))
        wv = int_token(wt or 0, 0, MAX_IMAGE_SIDE)
        hv = int_token(ht or 0, 0, MAX_IMAGE_SIDE)
        if wv is None or hv is None:
            own.warn(source, "<size>", f"width/height must be integers from 0 to "
                     f"{MAX_IMAGE_SIDE}, got {str(wt)[:20]!r} x {str(ht)[:20]!r}; size read "
                     "from the image")
            w = h = 0
        else:
            w, h = wv, hv
    layout: list[tuple[str, str]] = []  # top-level children in order
    for child in root:
        if child.tag in ("filename", "size", "object"):
            if not layout or layout[-1][0] != child.tag:
                layout.append((child.tag, ""))
        elif len(child):
            layout.append((child.tag, _xml_text(child, source)))
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
            v = float_token(t)
            if v is None:
                own.add(source, where, f"<{tag}> is missing or not a number: {str(t)[:30]!r}")
                break
            vals.append(v)
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
                e.setdefault("voc_xml", []).append(_xml_text(child, source))
            else:
                t = (child.text or "").strip()
                if child.tag in _INT_TAGS:
                    iv = int_token(t, -(1 << 31), (1 << 31) - 1)
                    if iv is not None:
                        e[child.tag] = iv
                        continue
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


def _xml_files(folder: Path) -> list[Path]:
    guard = Root(folder)
    out: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            p = Path(dirpath) / f
            if f.lower().endswith(".xml") and not f.startswith(".") and guard.inside(p):
                out.append(p)
    return out


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
    files = _xml_files(annotations) if annotations.is_dir() else [annotations]
    if not files:
        raise InputError(annotations, "", "no .xml annotation files in this folder")
    parsed: list[dict[str, Any]] = []
    kept_files: list[Path] = []
    digests: list[bytes | None] = []
    for k, f in enumerate(files):
        if progress is not None and k % 256 == 0 and progress(k, len(files)) is False:
            raise Cancelled("cancelled")
        before = len(problems.items)
        try:
            data = read_bytes(f)
            parsed.append(parse_voc_xml(data, str(f), one_based=one_based, problems=problems))
        except InputError as exc:
            problems.extend(exc.problems)
            continue
        kept_files.append(f)
        digests.append(file_digest(data) if len(problems.items) == before else None)
    problems.raise_if_errors()
    files = kept_files
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
    guard = Root(images_dir) if images_dir is not None else None
    for i, (f, p) in enumerate(zip(files, parsed, strict=True)):
        w, h = p["width"], p["height"]
        if (w <= 0 or h <= 0) and guard is not None:
            try:
                ip = guard.file(p["file_name"], f, "<filename>")
                if not regular_file(ip):
                    raise FileNotFoundError(ip)
                w, h = image_size(ip)
            except (OSError, ValueError, InputError) as exc:
                problems.warn(f, "<size>", f"size missing and image unreadable: {exc}")
                digests[i] = None
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
    keep, xyxy2 = check_boxes(xyxy, None, widths[img], heights[img], problems, str(annotations),
                              lambda r: where_l[r], clip=clip)
    changed = ~keep | np.any(xyxy2 != xyxy, axis=1)
    for i in np.unique(img[changed]).tolist():
        digests[int(i)] = None
    kr = np.flatnonzero(keep)
    extras = {int(j): ex_l[int(r)] for j, r in enumerate(kr.tolist()) if ex_l[int(r)]}
    images = Images(np.arange(n_img, dtype=np.int64), [p["file_name"] for p in parsed],
                    widths, heights, extras=[p["image_extras"] for p in parsed])
    classes = Classes.from_names(names)
    gt = Boxes.build(n_img, img[keep], np.asarray(cls_l, dtype=np.int64)[keep], xyxy2[keep],
                     box_id=np.arange(len(kr)), extras=extras)
    root = annotations if annotations.is_dir() else annotations.parent
    rel = tuple(os.path.relpath(f, root).replace(os.sep, "/") for f in files)
    meta: dict[str, Any] = {"format": "voc", "gt_path": str(annotations),
                            "voc": {"one_based": one_based, "xml_names": list(rel)}}
    if images_dir is not None:
        meta["images_root"] = str(images_dir)
    meta["source_files"] = SourceFiles(
        format="voc", root=str(root), rel=rel, digest=tuple(digests),
        class_names=tuple(names), widths=widths.copy(), heights=heights.copy(),
        offsets=gt.offsets.copy(), box_id=gt.box_id.copy(), cls=gt.cls.copy(),
        xyxy=gt.xyxy.copy(), options=(bool(one_based),))
    return GtResult(Dataset(images, classes, gt, meta=meta), problems.items)


_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_TAG_OK = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _clean(text: str) -> str:
    """Text an XML 1.0 file can hold (control characters removed)."""
    return _XML_BAD.sub("", text)


def _sub(parent: ET.Element, tag: str, text: str) -> ET.Element:
    el = ET.SubElement(parent, tag)
    el.text = _clean(text)
    return el


def voc_box(xyxy: Sequence[float], one_based: bool = True) -> tuple[int, int, int, int]:
    """Engine xyxy to VOC integer ``xmin ymin xmax ymax`` (rounded, never truncated;
    never ``xmin > xmax``: a sub-pixel box covers one pixel)."""
    off = 1 if one_based else 0
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    xmin, ymin = int(round(x1)) + off, int(round(y1)) + off
    xmax, ymax = int(round(x2)), int(round(y2))
    return xmin, ymin, max(xmax, xmin), max(ymax, ymin)


_OBJECT_DEFAULTS = {"pose": "Unspecified", "truncated": 0, "difficult": 0}


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
    """One image's VOC XML (pretty-printed, UTF-8). Every object has ``<pose>``,
    ``<truncated>`` and ``<difficult>`` (defaults when the source had none)."""
    voc = (image_extras or {}).get("voc") or {}
    layout = voc.get("layout") or [("folder", "\0"), ("filename", ""), ("size", ""),
                                   ("segmented", "\00"), ("object", "")]
    if not any(t == "object" for t, _ in layout):
        layout = list(layout) + [("object", "")]
    root = ET.Element("annotation")
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
                e0 = extras[k] if k < len(extras) else {}
                e = dict(e0) if voc else public_extras(e0)
                e = {**{t: v for t, v in _OBJECT_DEFAULTS.items() if t not in e}, **e}
                for t, v in e.items():
                    if t == "voc_xml" or isinstance(v, (dict, list, tuple)) or v is None:
                        continue
                    if not _TAG_OK.match(t) or t.lower().startswith("xml") or t in (
                            "name", "bndbox"):
                        continue
                    _sub(obj, t, str(int(v)) if isinstance(v, bool) else str(v))
                bb = ET.SubElement(obj, "bndbox")
                for t, v in zip(("xmin", "ymin", "xmax", "ymax"), voc_box(xyxy[k], one_based),
                                strict=True):
                    _sub(bb, t, str(v))
                for raw in e.get("voc_xml", []) if voc else []:
                    obj.append(ET.fromstring(raw))
        elif val.startswith("\0"):
            _sub(root, tag, val[1:])
        else:
            root.append(ET.fromstring(val))
    ET.indent(root, space="\t")
    return ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"


def voc_colormap(n: int) -> list[tuple[int, int, int]]:
    """The Pascal VOC palette (index 0 is the background's black)."""
    out = []
    for i in range(n):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        out.append((r, g, b))
    return out


def labelmap_txt(names: Sequence[str]) -> str:
    """Datumaro's ``labelmap.txt``: ``name:r,g,b::`` per class, background first."""
    colors = voc_colormap(len(names) + 1)
    lines = ["# label:color_rgb:parts:actions", "background:0,0,0::"]
    for k, nm in enumerate(names):
        safe = _clean(nm).replace(":", "_").replace("\n", " ")
        r, g, b = colors[k + 1]
        lines.append(f"{safe}:{r},{g},{b}::")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------- the format
def _stem(fn: str) -> str:
    base = fn.rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def write(ds: Dataset, out: Output) -> None:
    one = out.options.get("voc_one_based", (ds.meta.get("voc") or {}).get("one_based", True))
    one = bool(one)
    im = ds.images
    gt = ds.gt
    keep = np.flatnonzero(~im.deleted).tolist()
    stems: dict[str, str] = {}
    crowd_total = 0
    for k, i in enumerate(keep):
        out.tick(k, len(keep))
        fn = im.file_names[i]
        stem = _stem(fn)
        if stem in stems:
            raise InputError(fn, "", f"two images have the file name stem {stem!r} ({stems[stem]} "
                             "and this one); VOC keeps one flat folder: rename one first")
        stems[stem] = fn
        data = out.unchanged(i, "voc", (one,))
        if data is None:
            sl = gt.image_slice(i)
            rows = [r for r in range(sl.start, sl.stop) if gt.alive[r]]
            crowd = [r for r in rows if gt.iscrowd[r]]
            if crowd:
                crowd_total += len(crowd)
                rows = [r for r in rows if not gt.iscrowd[r]]
            data = voc_xml(fn, int(im.widths[i]), int(im.heights[i]),
                           [ds.classes.names[int(gt.cls[r])] for r in rows], gt.xyxy[rows],
                           [gt.extras.get(int(gt.box_id[r]), {}) for r in rows],
                           im.extras[i], one_based=one)
        out.write(f"Annotations/{stem}.xml", data)
    if crowd_total:
        out.warn(f"{crowd_total} crowd region(s) left out (VOC has no crowd flag)")
    out.write("labelmap.txt", labelmap_txt(ds.classes.names).encode("utf-8"))
    splits = image_splits(ds)
    kept = set(keep)
    for split, members in (splits or {"default": keep}).items():
        lines = [_stem(im.file_names[i]) for i in members if i in kept]
        out.write(f"ImageSets/Main/{split}.txt",
                  ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8"))
    out.copy_images("JPEGImages", [(i, im.file_names[i].rsplit("/", 1)[-1]) for i in keep])


def image_splits(ds: Dataset) -> dict[str, list[int]]:
    """Image indices of each split the source had (Ultralytics train/val/test)."""
    yolo = ds.meta.get("yolo") or {}
    splits = yolo.get("splits") or {}
    if not splits:
        return {}
    names = ds.images.file_names
    out: dict[str, list[int]] = {}
    for split, entries in splits.items():
        members: set[int] = set()
        for kind, v in entries:
            if kind == "dir":
                prefix = f"{v}/" if v else ""
                members |= {i for i, f in enumerate(names) if f.startswith(prefix)}
            else:
                wanted = set(v[1])
                members |= {i for i, f in enumerate(names) if f in wanted}
        out[split] = sorted(members)
    return out


def read_gt(req: ReadRequest) -> GtResult:
    gt = req.gt
    images = req.images
    if gt.is_dir():
        lay = layout(gt)
        if lay is not None and lay.gt is not None:
            gt = lay.gt
            images = images or lay.images
    return read_voc_gt(gt, images, class_names=req.class_names, clip=req.clip,
                       one_based=req.options.get("voc_one_based", True), logger=req.logger,
                       progress=req.progress)


def sniff(path: Path, head: bytes) -> int:
    if path.is_dir():
        return 0
    h = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if b"<annotation" in h[:4096] and b"<annotations" not in h[:4096]:
        return 80
    return 30 if path.suffix.lower() == ".xml" else 0


def layout(root: Path) -> Layout | None:
    """``JPEGImages/`` + ``Annotations/`` (VOC, Datumaro)."""
    for ann in ("Annotations", "annotations"):
        if (root / ann).is_dir() and any((root / ann).glob("*.xml")):
            imgs = next((root / d for d in ("JPEGImages", "images", "Images")
                         if (root / d).is_dir()), None)
            return Layout(root, imgs, root / ann, "voc",
                          f"Pascal VOC layout: {ann}/ XML files"
                          + (f" + {imgs.name}/" if imgs else " (no image folder found)"))
    return None


FORMAT = Format(
    name="voc",
    title="Pascal VOC",
    convention="1-based integer pixel indices xmin ymin xmax ymax (x1 = xmin - 1, x2 = xmax); "
               "0-based files (CVAT/Datumaro exports) with voc_one_based=False",
    read_gt=read_gt,
    write=write,
    sniff=sniff,
    layout=layout,
    layout_order=20,
    per_image=True,
    aliases=("pascal_voc", "pascal-voc", "datumaro_voc"),
)
