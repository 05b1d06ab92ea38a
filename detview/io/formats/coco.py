"""COCO: instances json (ground truth), results list (predictions), writer.

Coordinate convention: COCO ``bbox`` is ``[x, y, w, h]``, 0-based, float, absolute
pixels, continuous; the engine's ``xyxy`` is ``[x, y, x + w, y + h]``. The original
``bbox`` values are remembered so that writing an unedited box gives the same floats
bit for bit (``x + w - x`` is not always ``w`` in floating point).

Ground truth: box ids are the annotation ``id`` when all are unique integers, else
sequential (and the original ``id`` is kept in the box extras). The annotation
``area`` goes to ``Boxes.area``; every other annotation key (``segmentation``,
``attributes``, ...) to ``Boxes.extras``; image keys other than id/file_name/width/
height to ``Images.extras``; category keys other than id/name to ``Classes.extras``;
top-level keys other than images/annotations/categories to ``meta["coco"]["top"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import chain
from operator import attrgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detview.core.dataset import Dataset
from detview.core.lazy import LazyExtras, LazyRows
from detview.core.progress import report
from detview.core.tables import Boxes, Classes, Images

from .._checks import check_boxes
from .._common import (
    INT64_MAX,
    INT64_MIN,
    MAX_IMAGE_SIDE,
    Problems,
    Progress,
    as_int,
    public_extras,
)
from ..errors import InputError
from ..jsonstream import Fingerprint, array_pieces, fingerprint
from ..model import GtResult, PredData
from ..paths import unsafe_reason
from .base import Format, Layout, ReadRequest

if TYPE_CHECKING:
    from ..output import Output

__all__ = [
    "coco_gt_to_obj",
    "coco_results_to_obj",
    "parse_coco_gt",
    "parse_coco_results",
    "looks_like_coco_gt",
]

_ANN_CORE = ("id", "image_id", "category_id", "bbox", "area", "iscrowd")
_IMG_CORE = ("id", "file_name", "width", "height")
_CAT_CORE = ("id", "name")


def looks_like_coco_gt(obj: Any) -> bool:
    return isinstance(obj, dict) and "images" in obj and "categories" in obj


def _is_int(v: Any) -> bool:
    """An integer (not a bool) that fits in int64."""
    return isinstance(v, int) and not isinstance(v, bool) and INT64_MIN <= v <= INT64_MAX


def _is_num(v: Any) -> bool:
    """A JSON number that converts to a float (NaN/inf included; checked later)."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        float(v)
    except OverflowError:
        return False
    return True


def _short(v: Any, n: int = 60) -> str:
    """``repr(v)`` cut to ``n`` characters for messages."""
    try:
        r = repr(v)
    except (RecursionError, ValueError):
        r = f"<{type(v).__name__}>"
    return r if len(r) <= n else r[: n - 3] + "..."


def _parse_categories(cats: Any, source: str, problems: Problems) -> Classes:
    if not isinstance(cats, list):
        raise InputError(source, "key 'categories'", "must be a list of {id, name} objects")
    names: list[str] = []
    ids: list[int] = []
    extras: list[dict[str, Any]] = []
    seen: set[int] = set()
    for k, c in enumerate(cats):
        where = f"category #{k}"
        if not isinstance(c, dict):
            problems.add(source, where, "must be an object with 'id' and 'name'")
            continue
        cid: Any = c.get("id")
        if not _is_int(cid):
            problems.add(source, where, f"'id' must be an integer (within int64), got "
                         f"{_short(cid)}")
            continue
        name = c.get("name")
        if not isinstance(name, str):
            problems.add(source, f"{where} (id {cid})",
                         f"'name' must be a string, got {_short(name)}")
            continue
        if cid in seen:
            problems.add(source, f"{where} (id {cid})", "duplicate category id")
            continue
        seen.add(int(cid))
        names.append(name)
        ids.append(int(cid))
        extras.append({kk: v for kk, v in c.items() if kk not in _CAT_CORE})
    return Classes(tuple(names), np.asarray(ids, dtype=np.int64), tuple(extras))


def _parse_images(imgs: Any, source: str, problems: Problems) -> Images:
    if not isinstance(imgs, list):
        raise InputError(source, "key 'images'", "must be a list of image objects")
    ids: list[int] = []
    names: list[str] = []
    ws: list[int] = []
    hs: list[int] = []
    extras: list[dict[str, Any]] = []
    seen: set[int] = set()
    for k, im in enumerate(imgs):
        where = f"image #{k}"
        if not isinstance(im, dict):
            problems.add(source, where, "must be an object")
            continue
        iid: Any = im.get("id")
        if not _is_int(iid):
            problems.add(source, where, f"'id' must be an integer (within int64), got "
                         f"{_short(iid)}")
            continue
        where = f"image #{k} (id {iid})"
        fn = im.get("file_name")
        if not isinstance(fn, str) or not fn:
            problems.add(source, where, f"'file_name' must be a non-empty string, got {_short(fn)}")
            continue
        why = unsafe_reason(fn)
        if why is not None:
            problems.add(source, where, f"'file_name' {fn[:80]!r}: {why}")
            continue
        if iid in seen:
            problems.add(source, where, "duplicate image id")
            continue
        seen.add(int(iid))
        w0, h0 = im.get("width", 0), im.get("height", 0)
        w, h = as_int(w0, 0, MAX_IMAGE_SIDE), as_int(h0, 0, MAX_IMAGE_SIDE)
        if w is None or h is None:
            problems.warn(source, where, f"width/height must be integers from 0 to "
                          f"{MAX_IMAGE_SIDE}, got {w0!r} x {h0!r}; size read from the image")
            w = h = 0
        elif ("width" in im) and (w == 0 or h == 0):
            problems.warn(source, where, "zero width or height")
        ids.append(int(iid))
        names.append(fn)
        ws.append(w)
        hs.append(h)
        extra = {kk: v for kk, v in im.items() if kk not in _IMG_CORE}
        if "width" not in im:
            extra["_no_size"] = True
        extras.append(extra)
    return Images(np.asarray(ids, dtype=np.int64), names, np.asarray(ws, dtype=np.int64),
                  np.asarray(hs, dtype=np.int64), extras=extras)


def _ann_columns_fast(anns: list[Any]) -> tuple[np.ndarray, ...] | None:
    """Vectorised extraction; None when something is irregular (slow path reports it)."""
    try:
        ids = np.array([a["id"] for a in anns])
        img = np.array([a["image_id"] for a in anns])
        cat = np.array([a["category_id"] for a in anns])
        bbox = np.array([a["bbox"] for a in anns])
        area = np.array([a.get("area", np.nan) for a in anns])
        crowd = np.array([a.get("iscrowd", 0) for a in anns])
    except (KeyError, TypeError, AttributeError, ValueError):
        return None
    n = len(anns)
    if n == 0:
        return None
    if ids.dtype.kind != "i" or img.dtype.kind != "i" or cat.dtype.kind != "i":
        return None
    if bbox.dtype.kind not in "if" or bbox.shape != (n, 4):
        return None
    if area.dtype.kind not in "if" or crowd.dtype.kind not in "ib":
        return None
    if crowd.dtype.kind == "i" and (crowd.min() < 0 or crowd.max() > 1):
        return None
    return ids, img, cat, bbox.astype(np.float64), area.astype(np.float64), crowd.astype(bool)


def _ann_columns_slow(
    anns: list[Any], source: str, problems: Problems
) -> tuple[np.ndarray, ...]:
    """Per-record validation with a problem per bad record; bad records are skipped."""
    rows: list[int] = []
    ids: list[int] = []
    img: list[int] = []
    cat: list[int] = []
    bbox: list[list[float]] = []
    area: list[float] = []
    crowd: list[bool] = []
    for k, a in enumerate(anns):
        where = f"annotation #{k}"
        if not isinstance(a, dict):
            problems.add(source, where, f"must be an object, got {type(a).__name__}")
            continue
        if "id" in a:
            where += f" (id {a['id']})"
        bad = False
        for key in ("id", "image_id", "category_id"):
            v = a.get(key)
            if key not in a:
                problems.add(source, where, f"missing key '{key}'")
                bad = True
            elif not _is_int(v):
                problems.add(source, where, f"'{key}' must be an integer (within int64), got "
                             f"{_short(v)}")
                bad = True
        b = a.get("bbox")
        if "bbox" not in a:
            problems.add(source, where, "missing key 'bbox'")
            bad = True
        elif not (isinstance(b, list) and len(b) == 4 and all(_is_num(x) for x in b)):
            problems.add(source, where,
                         f"'bbox' must be a list of 4 numbers [x, y, w, h], got {_short(b)}")
            bad = True
        ar = a.get("area", float("nan"))
        if not _is_num(ar) or not np.isfinite(float(ar)):
            if "area" in a:
                problems.warn(source, where, f"'area' must be a finite number, got {_short(ar)}; "
                              "ignored")
            ar = float("nan")
        cr = a.get("iscrowd", 0)
        if not (isinstance(cr, (int, bool)) and cr in (0, 1)):
            problems.warn(source, where, f"'iscrowd' must be 0 or 1, got {_short(cr)}; taken as 0")
            cr = 0
        if bad:
            continue
        rows.append(k)
        ids.append(a["id"])
        img.append(a["image_id"])
        cat.append(a["category_id"])
        bbox.append([float(x) for x in (b or ())])
        area.append(float(ar))
        crowd.append(bool(cr))
    return (
        np.asarray(ids, dtype=np.int64),
        np.asarray(img, dtype=np.int64),
        np.asarray(cat, dtype=np.int64),
        np.asarray(bbox, dtype=np.float64).reshape(-1, 4),
        np.asarray(area, dtype=np.float64),
        np.asarray(crowd, dtype=bool),
        np.asarray(rows, dtype=np.int64),
    )


def _lookup(keys: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Position of each key in ``table`` (unique values), -1 when absent."""
    keys = np.asarray(keys, dtype=np.int64)
    if table.shape[0] == 0 or keys.shape[0] == 0:
        return np.full(keys.shape[0], -1, dtype=np.int64)
    lo, hi = int(table.min()), int(table.max())
    if hi - lo < max(4 * keys.shape[0], 1 << 20):  # dense table: O(n) gather
        lut = np.full(hi - lo + 1, -1, dtype=np.int64)
        lut[table - lo] = np.arange(table.shape[0], dtype=np.int64)
        inside = (keys >= lo) & (keys <= hi)
        out = np.full(keys.shape[0], -1, dtype=np.int64)
        out[inside] = lut[keys[inside] - lo]
        return out
    order = np.argsort(table, kind="stable")
    st = table[order]
    pos = np.clip(np.searchsorted(st, keys), 0, st.shape[0] - 1)
    return np.where(st[pos] == keys, order[pos], -1)


def parse_coco_gt(obj: Any, source: str, *, clip: bool = False) -> GtResult:
    """Parse a COCO instances dict. Raises InputError for unusable files."""
    if isinstance(obj, list):
        raise InputError(
            source, "", "this is a list (a COCO results/predictions file?); ground truth must "
            "be a COCO instances object with 'images', 'annotations' and 'categories'")
    if not isinstance(obj, dict):
        raise InputError(source, "", f"expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in ("images", "categories") if k not in obj]
    if missing:
        raise InputError(source, "", "not a COCO instances file: missing key(s) "
                         + ", ".join(repr(m) for m in missing))
    problems = Problems()
    classes = _parse_categories(obj["categories"], source, problems)
    images = _parse_images(obj["images"], source, problems)
    problems.raise_if_errors()
    anns = obj.get("annotations")
    if anns is None:
        problems.warn(source, "", "no 'annotations' key: no ground-truth boxes")
        anns = []
    if not isinstance(anns, list):
        raise InputError(source, "key 'annotations'", "must be a list of annotation objects")
    fast = _ann_columns_fast(anns) if anns else None
    if fast is not None:
        ids, img_id, cat_id, bbox, area, crowd = fast
        rows = np.arange(len(anns), dtype=np.int64)
    else:
        ids, img_id, cat_id, bbox, area, crowd, rows = _ann_columns_slow(anns, source, problems)
        problems.raise_if_errors()  # wrongly typed/missing keys: the file is broken

    def where(r: int) -> str:
        k = int(rows[r])
        return f"annotation #{k} (id {anns[k].get('id')})"

    top = {k: v for k, v in obj.items() if k not in ("images", "annotations", "categories")}
    gt, meta_coco, kept = _build_gt(source, images, classes, problems, ids, img_id, cat_id,
                                    bbox, area, crowd, rows, where, clip)
    # extras: every annotation key but the core ones, flags for keys the file left out
    unique = meta_coco["ids_are_annotation_ids"]
    gt.extras.update(_box_extras(anns, rows[kept], gt.box_id_kept, unique))  # type: ignore[attr-defined]
    del gt.box_id_kept  # type: ignore[attr-defined]
    first = anns[int(rows[kept[0]])] if kept.shape[0] else None
    meta_coco["ann_key_order"] = list(first.keys()) if first is not None else list(_ANN_CORE)
    meta_coco["image_key_order"] = (list(obj["images"][0].keys()) if obj["images"]
                                    else list(_IMG_CORE))
    meta_coco["top"] = top
    meta_coco["key_order"] = list(obj.keys())
    ds = Dataset(images, classes, gt, meta={"format": "coco", "coco": meta_coco})
    return GtResult(ds, problems.items)


def _box_extras(anns: Sequence[Any], rows: np.ndarray, box_ids: np.ndarray,
                unique: bool) -> dict[int, dict[str, Any]]:
    """Extra fields of the annotations ``anns[rows]`` (dicts), by box id."""
    extras: dict[int, dict[str, Any]] = {}
    for k, b in zip(rows.tolist(), box_ids.tolist(), strict=True):
        a = anns[k]
        e = {kk: v for kk, v in a.items() if kk not in _ANN_CORE} if len(a) > 4 else {}
        if not unique:
            e["id"] = a["id"]
        if "area" not in a:
            e["_no_area"] = True  # written back without an area, unless the box moves
        if "iscrowd" not in a:
            e["_no_iscrowd"] = True
        if e:
            extras[int(b)] = e
    return extras


def _image_extras(imgs: Sequence[Any]) -> list[dict[str, Any]]:
    out = []
    for im in imgs:
        extra = {kk: v for kk, v in im.items() if kk not in _IMG_CORE}
        if "width" not in im:
            extra["_no_size"] = True
        out.append(extra)
    return out


def _build_gt(source: str, images: Images, classes: Classes, problems: Problems,
              ids: np.ndarray, img_id: np.ndarray, cat_id: np.ndarray, bbox: np.ndarray,
              area: np.ndarray, crowd: np.ndarray, rows: np.ndarray,
              where: Callable[[int], str], clip: bool,
              ) -> tuple[Boxes, dict[str, Any], np.ndarray]:
    """Ground-truth boxes from annotation columns (``rows``: record numbers): unknown
    images and classes skipped, boxes checked; the COCO meta (original floats, order)
    and the kept positions. The table's ``box_id_kept`` is the box id of each kept
    position (removed by the caller once the extras are attached)."""
    img = _lookup(img_id, images.ids)
    cls = _lookup(cat_id, classes.source_ids)
    keep = np.ones(ids.shape[0], dtype=bool)
    for r in np.flatnonzero(img < 0)[:20].tolist():
        problems.warn(source, where(r), f"unknown image_id {int(img_id[r])}; annotation skipped")
    if (img < 0).sum() > 20:
        problems.warn(source, "", f"{int((img < 0).sum()) - 20} more annotations with unknown "
                      "image_id skipped")
    for r in np.flatnonzero(cls < 0)[:20].tolist():
        problems.warn(source, where(r), f"unknown category_id {int(cat_id[r])}; annotation skipped")
    if (cls < 0).sum() > 20:
        problems.warn(source, "", f"{int((cls < 0).sum()) - 20} more annotations with unknown "
                      "category_id skipped")
    keep &= (img >= 0) & (cls >= 0)
    xyxy = np.empty_like(bbox)
    xyxy[:, :2] = bbox[:, :2]
    xyxy[:, 2:] = bbox[:, :2] + bbox[:, 2:]
    bw = np.where(img >= 0, images.widths[np.maximum(img, 0)], 0) if len(images) else img * 0
    bh = np.where(img >= 0, images.heights[np.maximum(img, 0)], 0) if len(images) else img * 0
    ok, xyxy2 = check_boxes(xyxy, None, bw, bh, problems, source, where, clip=clip)
    keep &= ok
    clipped = np.any(xyxy2 != xyxy, axis=1)
    # box ids: annotation ids when unique
    unique = ids.shape[0] == np.unique(ids).shape[0]
    meta_coco: dict[str, Any] = {"ids_are_annotation_ids": bool(unique)}
    if not unique:
        problems.warn(source, "", "annotation ids are not unique; boxes numbered sequentially "
                      "(the original ids are kept and written back)")
    box_id = ids if unique else rows.copy()
    kept = np.flatnonzero(keep)
    # original bbox floats for bit-exact writing of unedited (and unclipped) boxes
    src = keep & ~clipped
    meta_coco["orig_box_id"] = box_id[src]
    meta_coco["orig_xywh"] = bbox[src]
    meta_coco["orig_xyxy"] = xyxy2[src]
    meta_coco["ann_order"] = box_id[keep]
    gt = Boxes.build(len(images), img[keep], cls[keep], xyxy2[keep], None, crowd[keep],
                     area[keep], box_id[keep], wh=bbox[keep, 2:])
    gt.box_id_kept = box_id[keep]  # type: ignore[attr-defined]
    return gt, meta_coco, kept


# ---------------------------------------------------------------------- streaming
# Files are read with typed decoders (msgspec): a ground truth's segmentations and
# other extra fields are skipped by the decoder, never made Python objects, and read
# again from the file when something asks for them (an export); a results file is
# decoded in pieces of a few MB into columns. Anything these decoders do not take
# (wrong types, missing keys, NaN, a file that is not one JSON value) is read again by
# the dict parsers above, which give the exact message.

_DECODERS: dict[str, Any] = {}


def _decoders() -> dict[str, Any]:
    if not _DECODERS:
        import msgspec

        unset, opt = msgspec.UnsetType, msgspec.UNSET
        box4 = tuple[float, float, float, float]
        img = msgspec.defstruct("Img", [("id", Any, opt), ("file_name", Any, opt),
                                        ("width", Any, opt), ("height", Any, opt)], gc=False)
        ann = msgspec.defstruct("Ann", [("id", int), ("image_id", int), ("category_id", int),
                                        ("bbox", box4), ("area", float | unset, opt),
                                        ("iscrowd", int | unset, opt)], gc=False)
        pred = msgspec.defstruct("Pred", [("image_id", int | str), ("category_id", int),
                                          ("bbox", box4), ("score", float)], gc=False)
        _DECODERS.update(
            top=msgspec.json.Decoder(dict[str, msgspec.Raw]),
            images=msgspec.json.Decoder(list[img]),  # type: ignore[valid-type]
            anns=msgspec.json.Decoder(list[ann]),  # type: ignore[valid-type]
            preds=msgspec.json.Decoder(list[pred]),  # type: ignore[valid-type]
            # a deeply nested text exceeds the decoder's recursion limit: the dict parser
            # then reads it and says what is wrong
            errors=(msgspec.DecodeError, msgspec.ValidationError, RecursionError),
            unset=msgspec.UNSET,
        )
    return _DECODERS


class CocoSource:
    """Where a streamed ground truth's extra fields are: the file (with its
    :class:`~detview.io.jsonstream.Fingerprint` when it was read), the annotation
    record of each kept box and the box ids. :meth:`read` reads them back; a file that
    changed since is an :class:`InputError` (its fields would not be those loaded)."""

    def __init__(self, path: str, fp: Fingerprint, rows: np.ndarray, box_ids: np.ndarray,
                 unique: bool) -> None:
        self.path, self.fp, self.rows, self.box_ids, self.unique = path, fp, rows, box_ids, unique
        self._read: tuple[list[dict[str, Any]], dict[int, dict[str, Any]], list[str],
                          list[str]] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "fingerprint": self.fp.to_json(), "unique": self.unique}

    def read(self) -> tuple[list[dict[str, Any]], dict[int, dict[str, Any]], list[str],
                            list[str]]:
        """(image extras, box extras, annotation key order, image key order)."""
        if self._read is None:
            import orjson

            from .._common import read_bytes

            path = Path(self.path)
            try:
                now = fingerprint(path)
            except OSError as exc:
                raise InputError(path, "", "cannot read it again for its extra fields "
                                 f"(segmentation, ...): {exc.strerror or exc}") from None
            if now != self.fp:
                raise InputError(path, "", "the file changed since it was loaded; its extra "
                                 "fields (segmentation, ...) cannot be written back: open "
                                 "the dataset again")
            data = read_bytes(path)
            top = _decoders()["top"].decode(data[3:] if data[:3] == b"\xef\xbb\xbf" else data)
            imgs = orjson.loads(memoryview(top["images"]))
            anns = orjson.loads(memoryview(top["annotations"])) if "annotations" in top else []
            del data, top
            first = anns[int(self.rows[0])] if self.rows.shape[0] else None
            self._read = (
                _image_extras(imgs),
                _box_extras(anns, self.rows, self.box_ids, self.unique),
                list(first.keys()) if first is not None else list(_ANN_CORE),
                list(imgs[0].keys()) if imgs else list(_IMG_CORE),
            )
        return self._read


def lazy_gt_extras(src: CocoSource, n_images: int) -> tuple[LazyRows, LazyExtras]:
    """Image and box extras of a streamed ground truth, read from ``src`` on first use."""
    return (LazyRows(n_images, lambda: src.read()[0]), LazyExtras(lambda: src.read()[1]))


def _go_on(progress: Progress, done: int, total: int) -> None:
    """Report progress; :class:`~detview.io.errors.Cancelled` when the caller says stop."""
    if not report(progress, done, total):
        from ..errors import Cancelled

        raise Cancelled("cancelled")


def read_gt_stream(path: Path, *, clip: bool = False, progress: Progress = None
                   ) -> GtResult | None:
    """A COCO instances file through the typed decoders, extras left in the file; None
    when the file is not regular enough (the caller parses it as dicts)."""
    import orjson

    from .._common import read_bytes

    source = str(path)
    dec = _decoders()
    fp = fingerprint(path)
    data = read_bytes(path)
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    _go_on(progress, len(data) // 4, len(data))
    try:
        top = dec["top"].decode(data)
    except dec["errors"]:
        return None
    if "images" not in top or "categories" not in top:
        return None
    problems = Problems()
    try:
        classes = _parse_categories(orjson.loads(memoryview(top["categories"])), source, problems)
        recs = dec["images"].decode(top["images"])
    except (orjson.JSONDecodeError, *dec["errors"]):
        return None
    unset = dec["unset"]
    imgs = []
    for r in recs:
        d = {}
        for k in _IMG_CORE:  # the keys the file has, in the dict parser's view
            v = getattr(r, k)
            if v is not unset:
                d[k] = v
        imgs.append(d)
    del recs
    images = _parse_images(imgs, source, problems)
    problems.raise_if_errors()
    del imgs
    if "annotations" not in top:
        return None  # the dict parser says what is missing
    try:
        anns = dec["anns"].decode(top["annotations"])
    except dec["errors"]:
        return None
    _go_on(progress, len(data) // 2, len(data))
    n = len(anns)
    try:
        ids = np.fromiter(map(attrgetter("id"), anns), np.int64, n)
        img_id = np.fromiter(map(attrgetter("image_id"), anns), np.int64, n)
        cat_id = np.fromiter(map(attrgetter("category_id"), anns), np.int64, n)
        bbox = np.fromiter(chain.from_iterable(map(attrgetter("bbox"), anns)), np.float64,
                           4 * n).reshape(n, 4)
        area = np.fromiter((np.nan if a is unset else a for a in map(attrgetter("area"), anns)),
                           np.float64, n)
        crowd_i = np.fromiter((0 if c is unset else c for c in map(attrgetter("iscrowd"), anns)),
                              np.int64, n)
    except OverflowError:  # an id beyond int64: the dict parser reports it
        return None
    del anns
    if n and (crowd_i.min() < 0 or crowd_i.max() > 1 or not np.isfinite(area[~np.isnan(area)])
              .all()):
        return None  # warnings about these come from the dict parser
    rows = np.arange(n, dtype=np.int64)

    def where(r: int) -> str:
        return f"annotation #{r} (id {int(ids[r])})"

    gt, meta_coco, kept = _build_gt(source, images, classes, problems, ids, img_id, cat_id,
                                    bbox, area, crowd_i.astype(bool), rows, where, clip)
    unique = bool(meta_coco["ids_are_annotation_ids"])
    src = CocoSource(source, fp, rows[kept], gt.box_id_kept, unique)  # type: ignore[attr-defined]
    del gt.box_id_kept  # type: ignore[attr-defined]
    image_extras, gt.extras = lazy_gt_extras(src, len(images))
    images.extras = image_extras  # type: ignore[assignment]
    meta_coco["source"] = src
    try:
        meta_coco["top"] = {k: orjson.loads(memoryview(v)) for k, v in top.items()
                            if k not in ("images", "annotations", "categories")}
    except (orjson.JSONDecodeError, RecursionError):
        return None  # text msgspec passed (a lone surrogate, deep nesting): the dict parser
    meta_coco["key_order"] = list(top.keys())
    report(progress, len(data), len(data))
    ds = Dataset(images, classes, gt, meta={"format": "coco", "coco": meta_coco})
    return GtResult(ds, problems.items)


def read_results_stream(path: Path, progress: Progress = None) -> PredData | None:
    """A COCO results list decoded in pieces into columns (other keys of the records
    are not kept); None when it is not one regular list (the caller parses it as
    dicts and says what is wrong)."""
    dec = _decoders()
    parts: list[tuple[Any, np.ndarray, np.ndarray, np.ndarray]] = []
    str_images = False
    try:
        for piece, pos, size in array_pieces(path):
            try:
                recs = dec["preds"].decode(b"[" + piece + b"]")
            except dec["errors"]:
                return None
            m = len(recs)
            keys = list(map(attrgetter("image_id"), recs))
            if str not in set(map(type, keys)):  # (np.fromiter would turn "7" into 7)
                img: Any = np.fromiter(keys, np.int64, m)
            else:  # file names
                if not all(isinstance(v, int) or (v and "\0" not in v and len(v) <= 1024)
                           for v in keys):
                    return None
                img = keys
                str_images = True
            parts.append((
                img,
                np.fromiter(map(attrgetter("category_id"), recs), np.int64, m),
                np.fromiter(chain.from_iterable(map(attrgetter("bbox"), recs)), np.float64,
                            4 * m).reshape(m, 4),
                np.fromiter(map(attrgetter("score"), recs), np.float64, m),
            ))
            del recs
            _go_on(progress, pos, size)
    except (ValueError, OverflowError):  # not one array of objects; an id beyond int64
        return None
    if not parts:
        return None  # an empty list: the dict parser warns
    cat = np.concatenate([p[1] for p in parts])
    bbox = np.concatenate([p[2] for p in parts])
    score = np.concatenate([p[3] for p in parts])
    names: list[str] | None = None
    image_ids: np.ndarray | None = None
    if str_images:
        names = [str(v) for p in parts for v in (p[0].tolist() if isinstance(p[0], np.ndarray)
                                                 else p[0])]
    else:
        image_ids = np.concatenate([p[0] for p in parts])
    del parts
    wh = bbox[:, 2:].copy()
    bbox[:, 2:] += bbox[:, :2]  # xyxy in place: x + w, as pycocotools forms it
    return PredData(source=str(path), format="coco", xyxy=bbox, score=score,
                    image_ids=image_ids, image_names=names, cls_ids=cat, wh=wh)


def parse_coco_results(obj: Any, source: str) -> PredData:
    """Parse a COCO results list ``[{image_id, category_id, bbox, score}]``.

    Also accepts a COCO dataset dict whose annotations carry ``score`` (then its
    ``categories`` and ``images`` give names, used to match classes and images).
    A ground-truth instances file (no scores) is refused with a clear message.
    """
    problems = Problems()
    vocab: dict[int, str] | None = None
    image_vocab: dict[int, str] | None = None
    if isinstance(obj, dict):
        anns = obj.get("annotations")
        if not isinstance(anns, list):
            raise InputError(source, "", "not a COCO results file: expected a list of "
                             "{image_id, category_id, bbox, score} objects")
        if anns and not any(isinstance(a, dict) and "score" in a for a in anns[:1000]):
            raise InputError(source, "", "this looks like a ground-truth COCO instances file "
                             "(its annotations have no 'score'); give it as ground truth, not "
                             "as predictions")
        cats = obj.get("categories")
        if isinstance(cats, list):
            vocab = {c["id"]: c["name"] for c in cats
                     if isinstance(c, dict) and _is_int(c.get("id"))
                     and isinstance(c.get("name"), str)}
        imgs = obj.get("images")
        if isinstance(imgs, list):
            image_vocab = {i["id"]: i["file_name"] for i in imgs
                           if isinstance(i, dict) and _is_int(i.get("id"))
                           and isinstance(i.get("file_name"), str)}
    elif isinstance(obj, list):
        anns = obj
    else:
        raise InputError(source, "", "expected a JSON list of predictions, got "
                         f"{type(obj).__name__}")
    n = len(anns)
    if n == 0:
        problems.warn(source, "", "the file has no predictions")
    str_images = False
    fast = None
    if n:
        try:
            img = np.array([a["image_id"] for a in anns])
            cat = np.array([a["category_id"] for a in anns])
            bbox = np.array([a["bbox"] for a in anns])
            score = np.array([a["score"] for a in anns])
            if (img.dtype.kind in "iU" and cat.dtype.kind == "i" and bbox.dtype.kind in "if"
                    and bbox.shape == (n, 4) and score.dtype.kind in "if"):
                fast = (img, cat, bbox.astype(np.float64), score.astype(np.float64))
                str_images = img.dtype.kind == "U"
        except (KeyError, TypeError, AttributeError, ValueError):
            fast = None
    rows: np.ndarray
    if fast is not None:
        img, cat, bbox, score = fast
        rows = np.arange(n, dtype=np.int64)
    elif n:
        r_l: list[int] = []
        i_l: list[Any] = []
        c_l: list[int] = []
        b_l: list[list[float]] = []
        s_l: list[float] = []
        for k, a in enumerate(anns):
            where = f"record #{k}"
            if not isinstance(a, dict):
                problems.add(source, where, f"must be an object, got {type(a).__name__}")
                continue
            bad = False
            for key in ("image_id", "category_id", "bbox", "score"):
                if key not in a:
                    msg = f"missing key '{key}'"
                    if key == "score" and "bbox" in a:
                        msg += " (predictions need a score; is this ground truth?)"
                    problems.add(source, where, msg)
                    bad = True
            if bad:
                continue
            iv = a["image_id"]
            if not (_is_int(iv) or (isinstance(iv, str) and iv and "\0" not in iv
                                    and len(iv) <= 1024)):
                problems.add(source, where, f"'image_id' must be an integer (within int64) or "
                             f"a file name, got {_short(iv)}")
                bad = True
            if not _is_int(a["category_id"]):
                problems.add(source, where, "'category_id' must be an integer (within int64), "
                             f"got {_short(a['category_id'])}")
                bad = True
            b = a["bbox"]
            if not (isinstance(b, list) and len(b) == 4 and all(_is_num(x) for x in b)):
                problems.add(source, where, f"'bbox' must be 4 numbers [x, y, w, h], got "
                             f"{_short(b)}")
                bad = True
            s = a["score"]
            if not _is_num(s):
                problems.add(source, where, f"'score' must be a number, got {_short(s)}")
                bad = True
            if bad:
                continue
            r_l.append(k)
            i_l.append(iv)
            c_l.append(a["category_id"])
            b_l.append([float(x) for x in b])
            s_l.append(float(s))
        problems.raise_if_errors()
        str_images = any(isinstance(v, str) for v in i_l)
        img = np.asarray([str(v) for v in i_l]) if str_images else np.asarray(i_l, dtype=np.int64)
        cat = np.asarray(c_l, dtype=np.int64)
        bbox = np.asarray(b_l, dtype=np.float64).reshape(-1, 4)
        score = np.asarray(s_l, dtype=np.float64)
        rows = np.asarray(r_l, dtype=np.int64)
    else:
        img = np.zeros(0, dtype=np.int64)
        cat = np.zeros(0, dtype=np.int64)
        bbox = np.zeros((0, 4))
        score = np.zeros(0)
        rows = np.zeros(0, dtype=np.int64)
    xyxy = np.empty_like(bbox)
    xyxy[:, :2] = bbox[:, :2]
    xyxy[:, 2:] = bbox[:, :2] + bbox[:, 2:]
    # extras: keys beyond the four standard ones (e.g. segmentation)
    extras: dict[int, dict[str, Any]] = {}
    if n and not all(len(a) == 4 for a in anns):
        for r, k in enumerate(rows.tolist()):
            a = anns[k]
            if len(a) != 4:
                e = {kk: v for kk, v in a.items()
                     if kk not in ("image_id", "category_id", "bbox", "score")}
                if e:
                    extras[r] = e
    wheres = [f"record #{k}" for k in rows.tolist()] if n < 200_000 else None
    return PredData(
        source=source,
        format="coco",
        xyxy=xyxy,
        score=score,
        wh=bbox[:, 2:].copy(),
        image_ids=None if str_images else img.astype(np.int64),
        image_names=[str(v) for v in img.tolist()] if str_images else None,
        cls_ids=cat.astype(np.int64),
        vocab=vocab,
        image_vocab=image_vocab,
        extras=extras,
        where=wheres,
        problems=problems.items,
    )


# ---------------------------------------------------------------------- writing
def _ordered(d: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    out = {k: d[k] for k in order if k in d}
    for k, v in d.items():
        if k not in out:
            out[k] = v
    return out


def coco_gt_to_obj(ds: Dataset,
                   progress: Callable[[int, int], bool] | None = None) -> dict[str, Any]:
    """The cleaned dataset as a COCO instances dict (deleted boxes/images left out)."""
    coco = ds.meta.get("coco") if ds.meta.get("format") == "coco" else None
    coco = coco or {}
    top = dict(coco.get("top", {}))
    if "info" not in top and not coco:
        top["info"] = {"description": "written by detview"}
    images = ds.images
    keep_img = ~images.deleted
    src: CocoSource | None = coco.get("source")
    if src is not None:  # a streamed file: its key orders are read with its extras
        _, _, ann_key_order, img_key_order = src.read()
    else:
        ann_key_order = coco.get("ann_key_order", list(_ANN_CORE))
        img_key_order = coco.get("image_key_order", list(_IMG_CORE))
    img_order = img_key_order
    out_images = []
    new_img_ids = images.ids
    for i in np.flatnonzero(keep_img).tolist():
        e = images.extras[i] if images.extras else {}
        d: dict[str, Any] = {"id": int(new_img_ids[i]), "file_name": images.file_names[i]}
        if not e.get("_no_size") or images.widths[i] > 0:
            d["width"] = int(images.widths[i])
            d["height"] = int(images.heights[i])
        d.update(public_extras(e))
        out_images.append(_ordered(d, img_order))
    cls = ds.classes
    out_cats = []
    for k in range(len(cls)):
        e = cls.extras[k] if k < len(cls.extras) else {}
        d = {"id": int(cls.source_ids[k]), "name": cls.names[k], **e}
        out_cats.append(d)
    if not coco and all("supercategory" not in c for c in out_cats):
        for c in out_cats:
            c["supercategory"] = ""
    gt = ds.gt
    alive = gt.alive & keep_img[gt.image]
    # original order, added boxes last
    orig_order = coco.get("ann_order")
    pos_of = gt._id_index()
    if orig_order is not None and len(orig_order):
        order_rows = [pos_of[b] for b in orig_order.tolist() if b in pos_of]
        seen = set(order_rows)
        order_rows += [r for r in range(len(gt)) if r not in seen]
    else:
        order_rows = list(range(len(gt)))
    orig_ids = coco.get("orig_box_id")
    orig_index: dict[int, int] = {}
    if orig_ids is not None:
        orig_index = {int(b): k for k, b in enumerate(orig_ids.tolist())}
    oxywh = coco.get("orig_xywh")
    oxyxy = coco.get("orig_xyxy")
    ann_order = ann_key_order
    unique_ids = coco.get("ids_are_annotation_ids", True)
    next_id = max([int(gt.box_id.max()) if len(gt) else 0]
                  + [int(e["id"]) for e in gt.extras.values() if isinstance(e.get("id"), int)]) + 1
    out_anns = []
    xyxy = gt.xyxy
    n = len(order_rows)
    for t, r in enumerate(order_rows):
        if not alive[r]:
            continue
        b = int(gt.box_id[r])
        e = gt.extras.get(b, {})
        ko = orig_index.get(b)
        if ko is not None and bool(np.all(oxyxy[ko] == xyxy[r])):  # type: ignore[index]
            bbox = [float(v) for v in oxywh[ko].tolist()]  # type: ignore[index]
            moved = False
        else:
            x1, y1, x2, y2 = (float(v) for v in xyxy[r].tolist())
            bbox = [x1, y1, x2 - x1, y2 - y1]
            moved = True
        if not coco:
            aid = b + 1  # fresh COCO files number annotations from 1 (0 confuses cocoeval)
        elif unique_ids:
            aid = b
        elif "id" in e:
            aid = e["id"]
        else:  # an added box in a file whose ids were not unique
            aid = next_id
            next_id += 1
        d = {"id": int(aid), "image_id": int(images.ids[int(gt.image[r])]),
             "category_id": int(cls.source_ids[int(gt.cls[r])]), "bbox": bbox}
        area = float(gt.area[r])
        if moved or np.isnan(area):
            if not e.get("_no_area") or moved:
                d["area"] = bbox[2] * bbox[3]
        else:
            d["area"] = area
        if not e.get("_no_iscrowd") or gt.iscrowd[r]:  # a crowd set by an edit is written
            d["iscrowd"] = int(bool(gt.iscrowd[r]))
        for kk, v in public_extras(e).items():
            if kk != "id":
                d[kk] = v
        if "segmentation" not in d and not coco:
            d["segmentation"] = []
        out_anns.append(_ordered(d, ann_order))
        if progress is not None and t % 4096 == 0 and progress(t, n) is False:
            from ..errors import Cancelled

            raise Cancelled("cancelled")
    body: dict[str, Any] = dict(top)
    body["images"] = out_images
    body["annotations"] = out_anns
    body["categories"] = out_cats
    order = coco.get("key_order") or ["info", "licenses", "images", "annotations", "categories"]
    return _ordered(body, order)


def coco_results_to_obj(ds: Dataset, run: str) -> list[dict[str, Any]]:
    """A prediction run as a COCO results list (category ids = the classes' source ids)."""
    boxes = ds.runs[run]
    keep = boxes.alive & ~ds.images.deleted[boxes.image]
    xy = boxes.xyxy[keep]
    img_ids = ds.images.ids[boxes.image[keep]].tolist()
    cat_ids = ds.classes.source_ids[boxes.cls[keep]].tolist()
    bx = np.column_stack([xy[:, :2], xy[:, 2:] - xy[:, :2]]).tolist()
    sc = boxes.score[keep].tolist()
    return [{"image_id": i, "category_id": c, "bbox": b, "score": s}
            for i, c, b, s in zip(img_ids, cat_ids, bx, sc, strict=True)]



# ---------------------------------------------------------------------- the format
def _images_dir(root: Path, json_path: Path) -> Path | None:
    """The image folder that goes with a COCO json: ``images/<split>``, ``<split>``,
    ``images``, ``JPEGImages`` or beside the json."""
    from ..images import list_images

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


def _check_image_files(ds: Dataset, images: Path, problems: Problems) -> None:
    """Report ground-truth images that are missing from the image folder."""
    from ..images import list_images

    if not images.is_dir():
        problems.warn(images, "", "image folder not found")
        return
    on_disk = set(list_images(images))
    bases = {p.rsplit("/", 1)[-1] for p in on_disk}
    missing = [f for f in ds.images.file_names
               if f not in on_disk and f.rsplit("/", 1)[-1] not in bases]
    if missing:
        problems.warn(images, "", f"{len(missing)} of {len(ds.images)} images listed in the "
                      f"ground truth are not in this folder (e.g. {missing[0]})")
    if on_disk and len(missing) == len(ds.images) and len(ds.images):
        problems.warn(images, "", "none of the ground-truth images is in this folder: wrong "
                      "image folder?")


def _fill_sizes(ds: Dataset, images: Path, problems: Problems) -> None:
    """Sizes the ground truth does not give (0) are read from the image headers."""
    from ..images import read_sizes

    todo = np.flatnonzero((ds.images.widths <= 0) | (ds.images.heights <= 0))
    if todo.shape[0] == 0 or not images.is_dir():
        return
    w, h, ok = read_sizes(images, [ds.images.file_names[i] for i in todo.tolist()], problems)
    ds.images.widths[todo[ok]] = w[ok]
    ds.images.heights[todo[ok]] = h[ok]


def read_gt(req: ReadRequest) -> GtResult:
    from .._common import parse_json, read_bytes

    gt = req.gt
    if gt.is_dir():
        lay = layout(gt)
        if lay is None or lay.gt is None:
            raise InputError(gt, "", "no COCO instances json in this folder")
        gt = lay.gt
    res = read_gt_stream(gt, clip=req.clip, progress=req.progress)
    if res is None:  # not regular enough for the typed decoders: as dicts, exact messages
        res = parse_coco_gt(parse_json(read_bytes(gt), gt), str(gt), clip=req.clip)
    ds = res.dataset
    images = req.images
    if images is None:
        root = gt.parent.parent if gt.parent.name == "annotations" else gt.parent
        images = _images_dir(root, gt)
    problems = Problems()
    problems.extend(res.problems)
    if images is not None:
        _check_image_files(ds, images, problems)
        _fill_sizes(ds, images, problems)
        ds.meta["images_root"] = str(images)
    ds.meta["gt_path"] = str(gt)
    return GtResult(ds, problems.items)


def read_preds(path: Path, options: dict[str, Any] | None = None, logger: Any = None,
               progress: Any = None) -> PredData:
    from .._common import parse_json, read_bytes

    if path.is_dir():
        raise InputError(path, "", "COCO predictions must be one .json file")
    pd = read_results_stream(path, progress)
    if pd is not None:
        return pd
    return parse_coco_results(parse_json(read_bytes(path), path), str(path))


def write(ds: Dataset, out: Output) -> None:
    import orjson

    obj = coco_gt_to_obj(ds, out.progress)
    out.write(out.main_file(), orjson.dumps(obj))
    out.copy_images("images")


def write_preds(ds: Dataset, run: str, out: Output) -> None:
    import orjson

    out.write(out.main_file() or f"{run}.json", orjson.dumps(coco_results_to_obj(ds, run)))


def sniff(path: Path, head: bytes) -> int:
    if path.is_dir():
        return 0
    h = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if h[:1] == b"[":
        return 80
    if h[:1] == b"{":
        if b'"shapes"' in h or b'"imagePath"' in h:
            return 10
        if b'"detview_export"' in h:
            return 0
        return 70 if (b'"images"' in h or b'"annotations"' in h or b'"categories"' in h) else 40
    return 10 if path.suffix.lower() == ".json" else 0


def layout(root: Path) -> Layout | None:
    """A COCO json (in ``annotations/`` or here) next to an images folder."""
    jsons = sorted((root / "annotations").glob("*.json")) if (root / "annotations").is_dir() \
        else []
    jsons += sorted(root.glob("*.json"))
    for j in jsons:
        try:
            with open(j, "rb") as f:
                head = f.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
        except OSError:
            continue
        if head[:1] != b"{" or b'"shapes"' in head or b'"detview_export"' in head:
            continue
        imgs = _images_dir(root, j)
        shown = imgs.relative_to(root) if imgs is not None and imgs != root else "."
        return Layout(root, imgs, j, "coco", f"COCO instances json {j.relative_to(root)}"
                      + (f" with images in {shown}" if imgs else " (no image folder found)"))
    return None


FORMAT = Format(
    name="coco",
    title="COCO",
    convention="0-based float [x, y, w, h] in absolute pixels, continuous; the engine's "
               "xyxy is [x, y, x + w, y + h]",
    read_gt=read_gt,
    read_preds=read_preds,
    write=write,
    write_preds=write_preds,
    sniff=sniff,
    layout=layout,
    layout_order=30,
    single_file=(".json",),
    default_name="annotations.json",
    aliases=("coco_results", "coco-results"),
)
