"""Ultralytics ``results.csv`` (YOLOv5, YOLOv8/11).

One row per epoch, names padded with spaces (YOLOv5 right-aligns them to 20 columns).
YOLOv5: ``epoch, train/box_loss, train/obj_loss, train/cls_loss, metrics/precision,
metrics/recall, metrics/mAP_0.5, metrics/mAP_0.5:0.95, val/box_loss, val/obj_loss,
val/cls_loss, x/lr0, x/lr1, x/lr2`` with 0-based epochs. YOLOv8/11: ``epoch, [time,]
train/box_loss, train/cls_loss, train/dfl_loss, metrics/precision(B), metrics/recall(B),
metrics/mAP50(B), metrics/mAP50-95(B), val/box_loss, val/cls_loss, val/dfl_loss, lr/pg0,
lr/pg1, lr/pg2`` with 1-based epochs (and ``(M)`` columns for segmentation).

Every column but ``epoch`` becomes a tag; ``train/``, ``x/``, ``lr/`` and ``time`` are
split ``train``, ``val/`` and ``metrics/`` split ``val``. ``step`` is the epoch as written,
``epoch`` the epochs completed (YOLOv5's ``epoch + 1``). The ``opt.yaml``/``hyp.yaml``/
``args.yaml`` beside the file are read by :func:`detview.io.trainlogs.read_log`.
"""

from __future__ import annotations

import csv
import io
import math

from detview.io.errors import InputError, Problem

from ._model import Parsed, ScalarRows
from ._util import decode, warn

__all__ = ["NAME", "parse", "sniff"]

NAME = "ultralytics"
DESCRIPTION = "Ultralytics results.csv (YOLOv5, YOLOv8/11)"

_VAL_PREFIXES = ("val/", "metrics/", "val_", "fitness")


def _header(text: str) -> list[str]:
    first = text.split("\n", 1)[0]
    return [h.strip() for h in first.split(",")]


def sniff(name: str, head: bytes) -> int:
    cols = _header(decode(head[:8192]))
    if "epoch" not in cols:
        return 0
    hits = sum(c.startswith(("train/", "metrics/", "val/", "x/lr", "lr/pg")) for c in cols)
    if hits >= 2:
        return 95 if name.endswith(".csv") else 80
    return 30 if name == "results.csv" else 0


def split_of(column: str) -> str:
    return "val" if column.startswith(_VAL_PREFIXES) else "train"


def parse(data: bytes, source: str) -> Parsed:
    text = decode(data)
    problems: list[Problem] = []
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(source, "", "empty file: expected a results.csv header") from None
    except csv.Error as exc:
        raise InputError(source, "line 1", f"not a CSV header: {exc}") from None
    cols = [h.strip() for h in header]
    if "epoch" not in cols:
        shown = ", ".join(repr(c) for c in cols[:8]) + (" ..." if len(cols) > 8 else "")
        raise InputError(source, "line 1", "no 'epoch' column: not an Ultralytics "
                                           f"results.csv (columns: {shown})")
    if len(set(cols)) != len(cols):
        dup = sorted({c for c in cols if cols.count(c) > 1})
        raise InputError(source, "line 1", f"column named twice: {', '.join(repr(c) for c in dup)}")
    ei = cols.index("epoch")
    v5 = any(c.startswith("x/lr") for c in cols) or "train/obj_loss" in cols
    table: list[tuple[int, list[str]]] = []
    rows_text = text.rstrip("\n").split("\n")
    n_physical = len(rows_text)
    try:
        for fields in reader:
            no = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if len(fields) != len(cols):
                if len(fields) < len(cols) and no >= n_physical:
                    warn(problems, source, f"line {no}", f"last row has {len(fields)} of "
                         f"{len(cols)} fields (still being written?); skipped")
                    continue
                raise InputError(source, f"line {no}",
                                 f"{len(fields)} fields, the header has {len(cols)}")
            table.append((no, fields))
    except csv.Error as exc:
        raise InputError(source, f"line {reader.line_num}", f"bad CSV: {exc}") from None
    if not table:
        raise InputError(source, "", "no rows after the header")
    epochs: list[int] = []
    for no, fields in table:
        s = fields[ei].strip()
        try:
            e = float(s)
        except ValueError:
            raise InputError(source, f"line {no}", f"epoch {s!r} is not a number") from None
        if not math.isfinite(e) or e != int(e) or e < 0 or e > 10**9:
            raise InputError(source, f"line {no}", f"epoch {s!r} is not a whole number >= 0")
        epochs.append(int(e))
    base = 1 if v5 or min(epochs) == 0 else 0
    rows = ScalarRows()
    splits = [split_of(c) for c in cols]
    for (no, fields), e in zip(table, epochs, strict=True):
        for j, c in enumerate(cols):
            if j == ei or not c:
                continue
            s = fields[j].strip()
            if not s:
                continue
            try:
                v = float(s)
            except ValueError:
                raise InputError(source, f"line {no}, column {c!r}",
                                 f"{s!r} is not a number") from None
            if not math.isfinite(v):
                v = float("nan")
            rows.add(splits[j], e, float(e + base), c, v)
    params = {"results.csv": {"layout": "YOLOv5" if v5 else "YOLOv8/11"}}
    return Parsed(rows, params, problems)
