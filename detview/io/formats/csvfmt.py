"""CSV boxes: ``file_name,x1,y1,x2,y2,label[,score]`` with a header row.

Coordinate convention: absolute pixels, 0-based continuous, corners (the engine's
xyxy). Columns can be renamed with ``columns={"file_name": "image", "label": "class",
...}`` (roles: file_name, x1, y1, x2, y2, label, score, width, height). A row whose
coordinates are all empty lists an image without boxes (the writer emits one for each
such image, so the image list survives a round trip). Optional ``width``/``height``
columns give image sizes.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

from .._checks import check_boxes
from .._common import (
    MAX_IMAGE_SIDE,
    Problems,
    decode_text,
    float_token,
    fmt_num,
    int_token,
    read_bytes,
)
from ..errors import InputError
from ..images import image_size
from ..model import GtResult, PredData
from ..paths import Root, regular_file, safe_name, unsafe_reason
from .base import Format, ReadRequest

if TYPE_CHECKING:
    from ..output import Output

__all__ = ["DEFAULT_COLUMNS", "csv_text", "parse_csv", "read_csv_gt", "read_csv_preds"]

ROLES = ("file_name", "x1", "y1", "x2", "y2", "label", "score", "width", "height")
DEFAULT_COLUMNS = {r: r for r in ROLES}


def parse_csv(text: str | bytes, source: str, columns: Mapping[str, str] | None = None,
              *, need_score: bool = False) -> dict[str, Any]:
    """Rows -> {file_names (all, in first-seen order), sizes, rows: img index, labels,
    xyxy, scores, where}. Raises InputError listing every bad line."""
    problems = Problems()
    cols = dict(DEFAULT_COLUMNS)
    cols.update(columns or {})
    text = decode_text(text, source)
    if not text.strip():
        raise InputError(source, "", "the file is empty")
    rd = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(rd)]
    except csv.Error as exc:
        raise InputError(source, "line 1", f"malformed CSV: {exc}") from None
    pos = {h: i for i, h in enumerate(header)}
    need = ["file_name", "x1", "y1", "x2", "y2", "label"] + (["score"] if need_score else [])
    missing = [cols[r] for r in need if cols[r] not in pos]
    if missing:
        raise InputError(source, "line 1", f"missing column(s) {', '.join(missing)} in header "
                         f"{','.join(header)} (rename with columns={{role: name}})")
    has_score = cols["score"] in pos
    has_size = cols["width"] in pos and cols["height"] in pos
    files: dict[str, int] = {}
    sizes: dict[int, tuple[int, int]] = {}
    img: list[int] = []
    labels: list[str] = []
    boxes: list[list[float]] = []
    scores: list[float] = []
    where: list[str] = []
    ln = 1
    rows_iter = iter(rd)
    while True:
        try:
            row = next(rows_iter)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.add(source, f"line {rd.line_num}", f"malformed CSV: {exc}")
            break
        ln = rd.line_num
        if not row or not "".join(row).strip():
            continue
        if len(row) != len(header):
            problems.add(source, f"line {ln}", f"expected {len(header)} fields, got {len(row)}")
            continue
        fn = row[pos[cols["file_name"]]].strip()
        if not fn:
            problems.add(source, f"line {ln}", "empty file name")
            continue
        why = unsafe_reason(fn)
        if why is not None:
            problems.add(source, f"line {ln}", f"file name {fn[:80]!r}: {why}")
            continue
        fn = safe_name(fn)
        i = files.setdefault(fn, len(files))
        if has_size and i not in sizes:
            sw = int_token(row[pos[cols["width"]]], 0, MAX_IMAGE_SIDE)
            sh = int_token(row[pos[cols["height"]]], 0, MAX_IMAGE_SIDE)
            if sw is not None and sh is not None:
                sizes[i] = (sw, sh)
            elif row[pos[cols["width"]]].strip() or row[pos[cols["height"]]].strip():
                problems.warn(source, f"line {ln}", f"width/height must be integers from 0 to "
                              f"{MAX_IMAGE_SIDE}; size read from the image")
        raw = [row[pos[cols[r]]].strip() for r in ("x1", "y1", "x2", "y2")]
        if not any(raw) and not row[pos[cols["label"]]].strip():
            continue  # an image without boxes
        bv = [float_token(v) for v in raw]
        if any(v is None for v in bv):
            problems.add(source, f"line {ln}",
                         f"coordinates must be numbers, got {[v[:20] for v in raw]}")
            continue
        b: list[float] = bv  # type: ignore[assignment]
        lab = row[pos[cols["label"]]].strip()
        if not lab:
            problems.add(source, f"line {ln}", "empty label")
            continue
        s = float("nan")
        if has_score:
            sv = row[pos[cols["score"]]].strip()
            if sv:
                fs = float_token(sv)
                if fs is None:
                    problems.add(source, f"line {ln}", f"score must be a number, got {sv[:30]!r}")
                    continue
                s = fs
            elif need_score:
                problems.add(source, f"line {ln}", "empty score")
                continue
        img.append(i)
        labels.append(lab)
        boxes.append(b)
        scores.append(s)
        where.append(f"line {ln}")
    problems.raise_if_errors()
    return {"file_names": list(files), "sizes": sizes, "img": np.asarray(img, dtype=np.int64),
            "labels": labels, "xyxy": np.asarray(boxes, dtype=np.float64).reshape(-1, 4),
            "scores": np.asarray(scores, dtype=np.float64), "where": where,
            "has_score": has_score}


def read_csv_gt(path: Path, images_dir: Path | None = None, *,
                columns: Mapping[str, str] | None = None,
                class_names: Sequence[str] | None = None, clip: bool = False) -> GtResult:
    problems = Problems()
    p = parse_csv(read_bytes(Path(path)), str(path), columns)
    files = p["file_names"]
    n = len(files)
    w = np.zeros(n, np.int64)
    h = np.zeros(n, np.int64)
    for i, (ww, hh) in p["sizes"].items():
        w[i], h[i] = ww, hh
    if images_dir is not None:
        guard = Root(images_dir)
        for i, f in enumerate(files):
            if w[i] > 0:
                continue
            try:
                ip = guard.file(f, path, f"image {f}")
                if not regular_file(ip):
                    raise FileNotFoundError(ip)
                w[i], h[i] = image_size(ip)
            except FileNotFoundError:
                problems.warn(Path(images_dir) / f, "", "image file not found")
            except (OSError, ValueError, InputError) as exc:
                problems.warn(Path(images_dir) / f, "", f"cannot read the image header: {exc}")
    seen = list(dict.fromkeys(p["labels"]))
    names = list(class_names) if class_names else sorted(seen)
    names += [s for s in seen if s not in names]
    cidx = {nm: i for i, nm in enumerate(names)}
    img = p["img"]
    keep, xyxy = check_boxes(p["xyxy"], None, w[img], h[img], problems, str(path),
                             lambda r: p["where"][r], clip=clip)
    cls = np.asarray([cidx[lab] for lab in p["labels"]], dtype=np.int64)
    gt = Boxes.build(n, img[keep], cls[keep], xyxy[keep], box_id=np.arange(int(keep.sum())))
    meta: dict[str, Any] = {"format": "csv", "gt_path": str(path)}
    if images_dir is not None:
        meta["images_root"] = str(images_dir)
    ds = Dataset(Images(np.arange(n), files, w, h), Classes.from_names(names), gt, meta=meta)
    return GtResult(ds, problems.items)


def read_csv_preds(path: Path, columns: Mapping[str, str] | None = None) -> PredData:
    p = parse_csv(read_bytes(Path(path)), str(path), columns)
    problems = Problems()
    sc = p["scores"]
    if not p["has_score"]:
        raise InputError(path, "line 1", "no score column: this looks like ground truth, not "
                         "predictions (or name the score column with columns={'score': ...})")
    if np.isnan(sc).any():
        problems.warn(path, "", f"{int(np.isnan(sc).sum())} rows without a score get 1.0")
        sc = np.where(np.isnan(sc), 1.0, sc)
    names = [p["file_names"][i] for i in p["img"].tolist()]
    return PredData(source=str(path), format="csv", xyxy=p["xyxy"], score=sc,
                    image_names=names, cls_names=p["labels"], where=p["where"],
                    problems=problems.items)


def csv_text(ds: Dataset, run: str | None = None) -> str:
    """The cleaned GT (or a run, with scores) as CSV text."""
    boxes = ds.gt if run is None else ds.runs[run]
    out = io.StringIO()
    wr = csv.writer(out, lineterminator="\n")
    header = ["file_name", "x1", "y1", "x2", "y2", "label"] + (["score"] if run else [])
    header += ["width", "height"]
    wr.writerow(header)
    im = ds.images
    for i in np.flatnonzero(~im.deleted).tolist():
        sl = boxes.image_slice(i)
        rows = [r for r in range(sl.start, sl.stop)
                if boxes.alive[r] and (run is not None or not boxes.iscrowd[r])]
        size = [str(int(im.widths[i])), str(int(im.heights[i]))]
        if not rows:
            wr.writerow([im.file_names[i], "", "", "", "", ""] + ([""] if run else []) + size)
        for r in rows:
            row = [im.file_names[i]] + [fmt_num(v) for v in boxes.xyxy[r].tolist()]
            row.append(ds.classes.names[int(boxes.cls[r])])
            if run:
                row.append(repr(float(boxes.score[r])))
            wr.writerow(row + size)
    return out.getvalue()


# ---------------------------------------------------------------------- the format
def write(ds: Dataset, out: Output) -> None:
    n = int((ds.gt.alive & ds.gt.iscrowd).sum())
    if n:
        out.warn(f"{n} crowd region(s) left out (CSV boxes have no crowd flag)")
    out.write(out.main_file(), csv_text(ds).encode("utf-8"))
    out.copy_images("images")


def write_preds(ds: Dataset, run: str, out: Output) -> None:
    out.write(out.main_file() or f"{run}.csv", csv_text(ds, run).encode("utf-8"))


def read_gt(req: ReadRequest) -> GtResult:
    return read_csv_gt(req.gt, req.images, columns=req.options.get("csv_columns"),
                       class_names=req.class_names, clip=req.clip)


def read_preds(path: Path, options: dict[str, Any] | None = None, logger: Any = None,
               progress: Any = None) -> PredData:
    return read_csv_preds(path, columns=(options or {}).get("csv_columns"))


def sniff(path: Path, head: bytes) -> int:
    if path.is_dir():
        return 0
    return 60 if path.suffix.lower() == ".csv" else 0


FORMAT = Format(
    name="csv",
    title="CSV",
    convention="one row per box file_name,x1,y1,x2,y2,label[,score]: 0-based continuous pixel "
               "corners (the engine's xyxy)",
    read_gt=read_gt,
    read_preds=read_preds,
    write=write,
    write_preds=write_preds,
    sniff=sniff,
    single_file=(".csv",),
    default_name="annotations.csv",
)
