"""detectron2 ``metrics.json`` (``JSONWriter``): one JSON object per line.

Training lines: ``{"iteration": 19, "total_loss": 1.9, "loss_cls": 0.7, "loss_box_reg":
0.3, "loss_rpn_cls": 0.6, "loss_rpn_loc": 0.2, "lr": 0.0002, "time": 0.5, "data_time":
0.01, "eta_seconds": 2000.1, ...}``; evaluation lines carry ``bbox/AP``, ``bbox/AP50``,
``bbox/APs``, ``bbox/AP-person`` ... (``segm/`` for masks) at the iteration they ran.
Every numeric field but ``iteration`` and ``eta_seconds`` is a tag; tags under
``bbox/``, ``segm/``, ``keypoints/``, ``sem_seg/``, ``panoptic_seg/`` or a
``val``/``validation``/``test`` prefix are split ``val``. ``step`` is ``iteration``; the
epoch is unknown (NaN).
"""

from __future__ import annotations

import re

from detview.io.errors import InputError, Problem

from ._model import Parsed, ScalarRows
from ._util import as_number, decode, json_lines, warn

__all__ = ["NAME", "parse", "sniff"]

NAME = "detectron2"
DESCRIPTION = "detectron2 metrics.json (JSON lines)"

_VAL = re.compile(r"^(bbox|segm|keypoints|sem_seg|panoptic_seg|val|validation|test)[/_]")
_SKIP = {"iteration", "eta_seconds"}


def _first_objects(head: bytes, n: int = 5) -> list[dict]:
    import json

    out = []
    for line in decode(head).split("\n")[:50]:
        s = line.strip()
        if not s:
            continue
        try:
            obj = json.loads(s)
        except (ValueError, RecursionError):
            break
        if isinstance(obj, dict):
            out.append(obj)
        if len(out) >= n:
            break
    return out


def sniff(name: str, head: bytes) -> int:
    objs = _first_objects(head)
    if any("iteration" in o for o in objs):
        return 90
    return 30 if name == "metrics.json" and objs else 0


def split_of(tag: str) -> str:
    return "val" if _VAL.match(tag) else "train"


def parse(data: bytes, source: str) -> Parsed:
    rows = ScalarRows()
    problems: list[Problem] = []
    n = 0
    for no, obj in json_lines(data, source, problems):
        it = obj.get("iteration")
        if isinstance(it, bool) or not isinstance(it, int) or not -(2**62) < it < 2**62:
            warn(problems, source, f"line {no}", "no whole-number 'iteration'; line skipped")
            continue
        n += 1
        for k, v in obj.items():
            if k in _SKIP:
                continue
            f = as_number(v)
            if f is None:
                continue
            rows.add(split_of(k), it, float("nan"), k, f)
    if n == 0:
        raise InputError(source, "", "no lines with an 'iteration': not a detectron2 "
                                     "metrics.json")
    return Parsed(rows, {}, problems)
