"""torchvision detection-reference logs (``references/detection/train.py``).

What the file holds, and what is read:

- ``Namespace(data_path='...', model='...', lr=0.02, ...)``: the arguments, printed first;
  read into ``params["arguments"]``.
- ``Epoch: [e]  [i/n]  eta: ...  lr: 0.02  loss: 0.81 (0.93)  loss_classifier: ... time:
  0.5  data: 0.1  max mem: 2547``: one line per ``print_freq`` iterations. Each
  ``name: v (avg)`` is the median of the last 20 iterations and, in brackets, the mean
  since the epoch began; ``v`` is read as the value at step ``e * n + i`` (epoch ``e +
  (i + 1) / n``), and at each epoch's last line the bracketed mean is also kept as
  ``name (epoch mean)``. ``max mem`` is read as ``max_mem`` (MB).
- ``Epoch: [e] Total time: 0:00:05 (0.9880 s / it)``: ``epoch_time`` in seconds.
- ``IoU metric: bbox`` followed by pycocotools' 12 summary lines: tags ``bbox/AP``,
  ``bbox/AP50``, ... ``bbox/ARl`` (``segm/...`` for masks), split ``val``, at the step
  and epoch where the last training epoch ended.

Everything else (``Test:`` progress, ``Accumulating evaluation results...``) is ignored.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any

from detview.io.errors import InputError, Problem

from ._model import Parsed, ScalarRows
from ._util import decode, warn

__all__ = ["NAME", "parse", "sniff"]

NAME = "torchvision"
DESCRIPTION = "torchvision detection reference log (Epoch: [e] [i/n] ... + COCO blocks)"

_EPOCH_LINE = re.compile(
    r"^\s*Epoch: \[(\d{1,12})\]\s+\[\s*(\d{1,12})\s*/\s*(\d{1,12})\s*\]\s*(.*)$")
_TOTAL_LINE = re.compile(r"^\s*Epoch: \[(\d{1,12})\]\s+Total time:\s*([\d:.]{1,40})")
_FIELD = re.compile(r"([A-Za-z_][\w]*(?: [a-z]\w*)?):\s+(\S+)(?:\s+\(([^)\s]*)\))?")
_IOU_METRIC = re.compile(r"^\s*IoU metric:\s*(\w+)\s*$")
_SUMMARY = re.compile(
    r"^\s*Average (Precision|Recall)\s+\((AP|AR)\)\s+@\[\s*IoU=([\d.:]+)\s*\|\s*area=\s*(\w+)"
    r"\s*\|\s*maxDets=\s*(\d{1,9})\s*\]\s*=\s*(\S+)\s*$")
_NAMESPACE = re.compile(r"^\s*Namespace\((.*)\)\s*$")
_SKIP_FIELDS = {"eta"}
_AREA = {"all": "", "small": "s", "medium": "m", "large": "l"}
MAX_LINE = 100_000


def sniff(name: str, head: bytes) -> int:
    text = decode(head[:65536])
    if re.search(r"^\s*Epoch: \[\d+\]\s+\[\s*\d+\s*/\s*\d+\s*\]", text, re.MULTILINE):
        return 90
    if re.search(r"^\s*IoU metric: \w+\s*$", text, re.MULTILINE) and "Average Precision" in text:
        return 60
    return 0


def _hms(s: str) -> float | None:
    parts = s.split(":")
    try:
        secs = 0.0
        for p in parts:
            secs = secs * 60 + float(p)
    except ValueError:
        return None
    return secs if math.isfinite(secs) else None


def _number(s: str) -> float | None:
    try:
        v = float(s)
    except ValueError:
        return None
    return v if math.isfinite(v) else float("nan")


def _summary_name(kind: str, iou: str, area: str, max_dets: int) -> str:
    if kind == "AP":
        if area != "all":
            return "AP" + _AREA.get(area, area)
        if iou in ("0.50", "0.5"):
            return "AP50"
        if iou == "0.75":
            return "AP75"
        return "AP" if ":" in iou else f"AP@{iou}"
    if area != "all":
        return "AR" + _AREA.get(area, area)
    return f"AR{max_dets}"


def parse_namespace(inner: str) -> dict[str, Any]:
    """``key=value, ...`` of an ``argparse.Namespace`` repr, values as Python literals
    where they are (else their text). Never evaluates code."""
    tree = ast.parse(f"f({inner})", mode="eval")
    call = tree.body
    if not isinstance(call, ast.Call):
        raise ValueError("not a call")
    out: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg is None:
            continue
        try:
            out[kw.arg] = ast.literal_eval(kw.value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            out[kw.arg] = ast.unparse(kw.value)
    return out


def parse(data: bytes, source: str) -> Parsed:
    rows = ScalarRows()
    problems: list[Problem] = []
    params: dict[str, Any] = {}
    text = decode(data)
    lines = text.splitlines()
    last_epoch: int | None = None
    last_n = 0
    pending_mean: dict[str, tuple[int, float, float]] = {}  # tag -> (step, epoch, value)
    pending_key: tuple[int, int] | None = None
    n_lines = 0
    i = 0

    def flush_means() -> None:
        for tag, (st, ep, v) in pending_mean.items():
            rows.add("train", st, ep, f"{tag} (epoch mean)", v)
        pending_mean.clear()

    while i < len(lines):
        line = lines[i]
        no = i + 1
        i += 1
        if len(line) > MAX_LINE:
            warn(problems, source, f"line {no}", f"line longer than {MAX_LINE} characters; "
                                                 "skipped")
            continue
        m = _EPOCH_LINE.match(line)
        if m:
            e, it, n = int(m.group(1)), int(m.group(2)), int(m.group(3))
            if n <= 0 or it > n:
                warn(problems, source, f"line {no}", f"iteration [{it}/{n}] is out of range; "
                                                     "skipped")
                continue
            if pending_key is not None and pending_key[0] != e:
                flush_means()
            pending_key = (e, it)
            last_epoch, last_n = e, n
            step = e * n + it
            epoch = e + (it + 1) / n
            n_lines += 1
            for fm in _FIELD.finditer(m.group(4)):
                name, val, avg = fm.group(1), fm.group(2), fm.group(3)
                if name in _SKIP_FIELDS:
                    continue
                tag = name.replace(" ", "_")
                v = _number(val)
                if v is None:
                    warn(problems, source, f"line {no}", f"{name}: {val!r} is not a number; "
                                                         "skipped")
                    continue
                rows.add("train", step, epoch, tag, v)
                if avg is not None:
                    a = _number(avg)
                    if a is not None:
                        pending_mean[tag] = (step, epoch, a)
            continue
        m = _TOTAL_LINE.match(line)
        if m:
            e = int(m.group(1))
            flush_means()
            secs = _hms(m.group(2))
            if secs is not None and last_epoch == e and last_n:
                rows.add("train", (e + 1) * last_n - 1, e + 1.0, "epoch_time", secs)
            continue
        m = _IOU_METRIC.match(line)
        if m:
            iou_type = m.group(1)
            flush_means()
            step = (last_epoch + 1) * last_n if last_epoch is not None else 0
            epoch = last_epoch + 1.0 if last_epoch is not None else float("nan")
            got = 0
            while i < len(lines) and got < 12:
                sm = _SUMMARY.match(lines[i])
                if not sm:
                    if lines[i].strip():
                        break
                    i += 1
                    continue
                v = _number(sm.group(6))
                if v is None:
                    raise InputError(source, f"line {i + 1}",
                                     f"COCO summary value {sm.group(6)!r} is not a number")
                name = _summary_name(sm.group(2), sm.group(3), sm.group(4), int(sm.group(5)))
                rows.add("val", step, epoch, f"{iou_type}/{name}", v)
                got += 1
                i += 1
            if got == 0:
                warn(problems, source, f"line {no}", "'IoU metric' without the COCO summary "
                                                     "lines; skipped")
            else:
                n_lines += 1
            continue
        m = _NAMESPACE.match(line)
        if m and "arguments" not in params:
            try:
                params["arguments"] = parse_namespace(m.group(1))
            except (SyntaxError, ValueError, MemoryError, RecursionError):
                warn(problems, source, f"line {no}", "Namespace(...) line not understood; "
                                                     "arguments not read")
    flush_means()
    if n_lines == 0:
        raise InputError(source, "", "no torchvision training lines ('Epoch: [e]  [i/n] ...') "
                                     "or 'IoU metric' blocks found")
    return Parsed(rows, params, problems)
