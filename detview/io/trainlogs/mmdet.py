"""MMDetection JSON-lines logs: 2.x ``<time>.log.json`` and 3.x ``vis_data/scalars.json``.

2.x: the first line holds ``env_info``, ``config`` (the config file's text), ``seed`` and
``exp_name`` (read as parameters); then ``{"mode": "train", "epoch": 1, "iter": 50,
"lr": 0.02, "memory": 3000, "data_time": 0.1, "loss_rpn_cls": ..., "loss": ..., "time":
...}`` every ``interval`` iterations, and after each epoch ``{"mode": "val", "epoch": 1,
"iter": 7330, "bbox_mAP": 0.37, "bbox_mAP_50": ..., "bbox_mAP_copypaste": "..."}``.
``iter`` counts within the epoch; ``step`` is ``(epoch - 1) * n + iter`` with ``n`` the
iterations per epoch (the largest ``iter`` seen), ``epoch`` the epochs completed
(``epoch - 1 + iter / n``; a val line: ``epoch``).

3.x (MMEngine): ``{"lr": ..., "loss": ..., "epoch": 1, "iter": 50, "step": 50, ...}``
for training, ``{"coco/bbox_mAP": 0.37, ..., "step": 1}`` for validation, where ``step``
is the epoch; it is placed at the last training step seen before it, and the
iterations per epoch (that step / that epoch) give the training lines their epoch.

Numeric fields other than the counters are tags (``memory`` in MB); text fields are
skipped. Val lines (``mode == "val"``, or 3.x lines with ``name/`` metrics and no
``iter``) are split ``val``.
"""

from __future__ import annotations

from typing import Any

from detview.io.errors import InputError, Problem

from ._model import Parsed, ScalarRows
from ._util import as_number, json_lines, warn
from .detectron2 import _first_objects

__all__ = ["NAME", "parse", "sniff"]

NAME = "mmdet"
DESCRIPTION = "MMDetection JSON-lines log (2.x *.log.json, 3.x scalars.json)"

_COUNTERS = {"mode", "epoch", "iter", "step"}
_HEADER_KEYS = ("env_info", "config", "seed", "exp_name", "hook_msgs", "mmdet_version")


def sniff(name: str, head: bytes) -> int:
    objs = _first_objects(head)
    if any(o.get("mode") in ("train", "val") for o in objs):
        return 90
    if any(k in o for o in objs for k in ("env_info", "exp_name")):
        return 80
    if any("step" in o and ("iter" in o or any("/" in k for k in o)) for o in objs):
        return 70
    if name.endswith(".log.json") or name == "scalars.json":
        return 30 if objs else 0
    return 0


def _whole(v: Any) -> int | None:
    if isinstance(v, bool) or not isinstance(v, int) or not -(2**62) < v < 2**62:
        return None
    return v


def parse(data: bytes, source: str) -> Parsed:
    problems: list[Problem] = []
    params: dict[str, Any] = {}
    records: list[tuple[int, dict[str, Any]]] = []
    for no, obj in json_lines(data, source, problems):
        if any(k in obj for k in _HEADER_KEYS) and "mode" not in obj and "step" not in obj:
            params.setdefault("log header", {}).update(
                {k: v for k, v in obj.items() if isinstance(v, str | int | float | bool)})
            continue
        records.append((no, obj))
    if not records:
        raise InputError(source, "", "no training or validation lines: not an MMDetection "
                                     "log")
    v2 = any("mode" in o for _, o in records)
    rows = ScalarRows()
    if v2:
        n_iter = 0
        for _, o in records:
            it = _whole(o.get("iter"))
            if it is not None:
                n_iter = max(n_iter, it)
        for no, o in records:
            mode = o.get("mode")
            ep, it = _whole(o.get("epoch")), _whole(o.get("iter"))
            if mode not in ("train", "val") or it is None:
                warn(problems, source, f"line {no}", "no 'mode' train/val or whole-number "
                                                     "'iter'; line skipped")
                continue
            if ep is None or n_iter == 0:  # iteration-based runner: iter is global
                step, epoch = it, float("nan")
            elif mode == "val":
                step, epoch = ep * n_iter, float(ep)
            else:
                step, epoch = (ep - 1) * n_iter + it, ep - 1 + it / n_iter
            split = "val" if mode == "val" else "train"
            for k, v in o.items():
                if k in _COUNTERS:
                    continue
                f = as_number(v)
                if f is not None:
                    rows.add(split, step, epoch, k, f)
        return Parsed(rows, params, problems)
    # 3.x: validation "step" is the epoch; it goes at the last training step before it
    placed: list[tuple[int, dict[str, Any], str, int]] = []
    last_step: int | None = None
    per_epoch: float | None = None  # iterations per epoch, from the first val line
    for no, o in records:
        st = _whole(o.get("step"))
        if st is None:
            warn(problems, source, f"line {no}", "no whole-number 'step'; line skipped")
            continue
        if "iter" not in o and any("/" in k for k in o):
            step = last_step if last_step is not None else st
            if per_epoch is None and last_step is not None and st > 0:
                per_epoch = last_step / st
            placed.append((step, o, "val", st))
        else:
            last_step = st
            placed.append((st, o, "train", st))
    for step, o, split, st in placed:
        if split == "val":
            epoch = float(st) if per_epoch is not None else float("nan")
        else:
            epoch = step / per_epoch if per_epoch else float("nan")
        for k, v in o.items():
            if k in _COUNTERS:
                continue
            f = as_number(v)
            if f is not None:
                rows.add(split, step, epoch, k, f)
    return Parsed(rows, params, problems)
