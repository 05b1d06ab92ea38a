"""CVAT for images 1.1 XML (``annotations.xml``).

Coordinate convention: ``<box xtl ytl xbr ybr>`` are 0-based continuous pixel
coordinates (the engine's xyxy), written with 2 decimals as CVAT does. Box attributes
(``occluded``, ``source``, ``z_order``, ``<attribute>`` children) go to the box extras
under ``cvat``; polygons/points and other image children are kept as XML text in
``Images.extras["cvat"]``; the ``<meta>`` block is kept in ``meta["cvat"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import numpy as np

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

from .._checks import check_boxes
from .._common import MAX_IMAGE_SIDE, Problems, float_token, int_token, parse_xml, read_bytes
from ..errors import InputError
from ..model import GtResult
from ..paths import safe_name, unsafe_reason
from .base import Format, Layout, ReadRequest

if TYPE_CHECKING:
    from ..output import Output

__all__ = ["cvat_xml", "parse_cvat_xml", "read_cvat_gt"]


def _tostring(el: ET.Element, source: str) -> str:
    try:
        return ET.tostring(el, encoding="unicode")
    except RecursionError:
        raise InputError(source, f"<{el.tag}>", "XML nested too deeply") from None


def parse_cvat_xml(data: bytes | str, source: str, *, class_names: Sequence[str] | None = None,
                   clip: bool = False) -> GtResult:
    problems = Problems()
    root = parse_xml(data, source)
    if root.tag != "annotations":
        raise InputError(source, "", f"not a CVAT for images file: root element is <{root.tag}>, "
                         "expected <annotations>")
    meta_el = root.find("meta")
    label_names: list[str] = []
    if meta_el is not None:
        for lab_el in meta_el.iter("label"):
            nm = lab_el.findtext("name")
            if nm:
                label_names.append(nm.strip())
    version = (root.findtext("version") or "").strip()
    if version and version != "1.1":
        problems.warn(source, "<version>", f"CVAT format version {version}; read as 1.1")
    names = list(class_names) if class_names else list(dict.fromkeys(label_names))
    cidx = {n: i for i, n in enumerate(names)}
    ids: list[int] = []
    files: list[str] = []
    ws: list[int] = []
    hs: list[int] = []
    iex: list[dict[str, Any]] = []
    img_l: list[int] = []
    cls_l: list[int] = []
    box_l: list[list[float]] = []
    bex: list[dict[str, Any]] = []
    where_l: list[str] = []
    for k, im in enumerate(root.iter("image")):
        where = f"<image> #{k} ({str(im.get('name'))[:80]})"
        iid = int_token(im.get("id", k))
        w = int_token(im.get("width", 0), 0, MAX_IMAGE_SIDE)
        h = int_token(im.get("height", 0), 0, MAX_IMAGE_SIDE)
        if iid is None or w is None or h is None:
            problems.add(source, where, f"id must be an integer and width/height integers from 0 "
                         f"to {MAX_IMAGE_SIDE}")
            continue
        name = im.get("name")
        if not name:
            problems.add(source, where, "image without a 'name'")
            continue
        why = unsafe_reason(name)
        if why is not None:
            problems.add(source, where, f"name {name[:80]!r}: {why}")
            continue
        name = safe_name(name)
        i = len(files)
        ids.append(iid)
        files.append(name)
        ws.append(w)
        hs.append(h)
        other_attr = {a: v for a, v in im.attrib.items() if a not in ("id", "name", "width",
                                                                       "height")}
        others: list[str] = []
        for j, el in enumerate(im):
            if el.tag != "box":
                try:
                    others.append(ET.tostring(el, encoding="unicode").strip())
                except RecursionError:
                    raise InputError(source, where, "XML nested too deeply") from None
                continue
            lab = el.get("label")
            bv = [float_token(el.get(a)) for a in ("xtl", "ytl", "xbr", "ybr")]
            if any(v is None for v in bv):
                problems.add(source, f"{where}, box {j}", "xtl/ytl/xbr/ybr missing or not numbers")
                continue
            b: list[float] = bv  # type: ignore[assignment]
            if not lab:
                problems.add(source, f"{where}, box {j}", "box without a label")
                continue
            if lab not in cidx:
                cidx[lab] = len(names)
                names.append(lab)
                if label_names:
                    problems.warn(source, f"{where}, box {j}",
                                  f"label {lab!r} is not declared in <meta>")
            attrs = {a: v for a, v in el.attrib.items()
                     if a not in ("label", "xtl", "ytl", "xbr", "ybr")}
            sub = [(a.get("name"), a.text or "") for a in el.findall("attribute")]
            e: dict[str, Any] = {"cvat": {"attrib": attrs, "attributes": sub}}
            if "occluded" in attrs:
                e["occluded"] = int(attrs["occluded"] in ("1", "true", "True"))
            img_l.append(i)
            cls_l.append(cidx[lab])
            box_l.append(b)
            bex.append(e)
            where_l.append(f"{where}, box {j}")
        iex.append({"cvat": {"attrib": other_attr, "other": others}})
    problems.raise_if_errors()
    n = len(files)
    w_a = np.asarray(ws, dtype=np.int64)
    h_a = np.asarray(hs, dtype=np.int64)
    img = np.asarray(img_l, dtype=np.int64)
    xyxy = np.asarray(box_l, dtype=np.float64).reshape(-1, 4)
    keep, xyxy = check_boxes(xyxy, None, w_a[img], h_a[img], problems, source,
                             lambda r: where_l[r], clip=clip)
    kr = np.flatnonzero(keep)
    extras = {j: bex[r] for j, r in enumerate(kr.tolist())}
    images = Images(np.asarray(ids, dtype=np.int64), files, w_a, h_a, extras=iex)
    if len(np.unique(images.ids)) != n:
        problems.warn(source, "", "image ids are not unique")
    gt = Boxes.build(n, img[keep], np.asarray(cls_l, np.int64)[keep], xyxy[keep],
                     box_id=np.arange(len(kr)), extras=extras)
    meta = {"format": "cvat", "cvat": {
        "version": version or "1.1",
        "meta_xml": _tostring(meta_el, source) if meta_el is not None else None}}
    return GtResult(Dataset(images, Classes.from_names(names), gt, meta=meta), problems.items)


def read_cvat_gt(path: Path, images_dir: Path | None = None, *,
                 class_names: Sequence[str] | None = None, clip: bool = False) -> GtResult:
    return parse_cvat_xml(read_bytes(Path(path)), str(path), class_names=class_names, clip=clip)


def cvat_xml(ds: Dataset) -> bytes:
    """The cleaned dataset as CVAT for images 1.1 XML (crowd regions left out)."""
    root = ET.Element("annotations")
    ET.SubElement(root, "version").text = "1.1"
    cv = ds.meta.get("cvat") if ds.meta.get("format") == "cvat" else None
    if cv and cv.get("meta_xml"):
        root.append(ET.fromstring(cv["meta_xml"]))
    else:
        meta = ET.SubElement(root, "meta")
        task = ET.SubElement(meta, "task")
        ET.SubElement(task, "size").text = str(int((~ds.images.deleted).sum()))
        ET.SubElement(task, "mode").text = "annotation"
        labels = ET.SubElement(task, "labels")
        for nm in ds.classes.names:
            lab = ET.SubElement(labels, "label")
            ET.SubElement(lab, "name").text = nm
            ET.SubElement(lab, "attributes")
    gt = ds.gt
    im_t = ds.images
    for i in np.flatnonzero(~im_t.deleted).tolist():
        ex = (im_t.extras[i] or {}).get("cvat") or {}
        attrib = {"id": str(int(im_t.ids[i])), "name": im_t.file_names[i],
                  "width": str(int(im_t.widths[i])), "height": str(int(im_t.heights[i]))}
        attrib.update(ex.get("attrib") or {})
        el = ET.SubElement(root, "image", attrib)
        sl = gt.image_slice(i)
        for r in range(sl.start, sl.stop):
            if not gt.alive[r] or gt.iscrowd[r]:
                continue
            e = gt.extras.get(int(gt.box_id[r]), {})
            c = e.get("cvat") or {}
            x1, y1, x2, y2 = (float(v) for v in gt.xyxy[r])
            a = {"label": ds.classes.names[int(gt.cls[r])]}
            base_attr = c.get("attrib") or {"occluded": str(int(e.get("occluded", 0) or 0)),
                                            "source": "manual", "z_order": "0"}
            a.update({k: v for k, v in base_attr.items() if k not in ("xtl", "ytl", "xbr",
                                                                      "ybr")})
            a.update({"xtl": f"{x1:.2f}", "ytl": f"{y1:.2f}", "xbr": f"{x2:.2f}",
                      "ybr": f"{y2:.2f}"})
            order = ["label"] + [k for k in base_attr if k == "occluded" or k == "source"] + [
                "xtl", "ytl", "xbr", "ybr"] + [k for k in base_attr if k not in ("occluded",
                                                                                 "source")]
            b = ET.SubElement(el, "box", {k: a[k] for k in order if k in a})
            for nm, txt in c.get("attributes") or []:
                at = ET.SubElement(b, "attribute", {"name": nm or ""})
                at.text = txt
        for raw in ex.get("other") or []:
            el.append(ET.fromstring(raw))
    ET.indent(root, space="  ")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


# ---------------------------------------------------------------------- the format
def write(ds: Dataset, out: Output) -> None:
    n = int((ds.gt.alive & ds.gt.iscrowd).sum())
    if n:
        out.warn(f"{n} crowd region(s) left out (CVAT boxes have no crowd flag)")
    out.write(out.main_file(), cvat_xml(ds))
    out.copy_images("images")


def read_gt(req: ReadRequest) -> GtResult:
    gt = req.gt
    if gt.is_dir():
        gt = gt / "annotations.xml"
    res = read_cvat_gt(gt, req.images, class_names=req.class_names, clip=req.clip)
    res.dataset.meta["gt_path"] = str(gt)
    if req.images is not None:
        res.dataset.meta["images_root"] = str(req.images)
    return res


def sniff(path: Path, head: bytes) -> int:
    if path.is_dir():
        return 60 if (path / "annotations.xml").is_file() else 0
    return 85 if b"<annotations" in head[:4096] else 0


def layout(root: Path) -> Layout | None:
    if (root / "annotations.xml").is_file():
        imgs = next((root / d for d in ("images", "JPEGImages") if (root / d).is_dir()), root)
        return Layout(root, imgs, root / "annotations.xml", "cvat", "CVAT for images XML")
    return None


FORMAT = Format(
    name="cvat",
    title="CVAT for images 1.1",
    convention="<box xtl ytl xbr ybr>: 0-based continuous pixel corners (the engine's xyxy), "
               "written with 2 decimals",
    read_gt=read_gt,
    write=write,
    sniff=sniff,
    layout=layout,
    layout_order=40,
    single_file=(".xml",),
    default_name="annotations.xml",
)
