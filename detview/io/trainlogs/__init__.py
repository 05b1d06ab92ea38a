"""Training logs: read, auto-detected, into one tidy table of scalars.

Formats (one module each, pure ``parse(data: bytes, source: str)`` over the file's
bytes, behind :data:`READERS`):

============  ==================================================================
torchvision   detection-reference log: ``Epoch: [e]  [i/n] ... loss: v (avg) ...``
              lines and the per-epoch ``IoU metric: bbox`` COCO block
ultralytics   ``results.csv`` of YOLOv5 and YOLOv8/11 (padded column names)
tensorboard   ``events.out.tfevents.*`` scalars (TF Object Detection API names too)
detectron2    ``metrics.json`` (JSON lines with ``iteration``)
mmdet         MMDetection ``*.log.json`` (2.x) and ``scalars.json`` (3.x)
============  ==================================================================

:func:`read_log` reads one file and what lies beside it (``opt.yaml``, ``hyp.yaml``,
``args.yaml``, ``config.yaml``) into a :class:`TrainLog`; :func:`find_logs` lists the
logs in a folder; :func:`combine` stacks several logs' scalars (runs overlaid).
:func:`explain` and :func:`metric_group` give the one-line explanation and the plot
group of a tag. Bad input raises :class:`~detview.io.errors.InputError` naming the file
and the line or record; lesser things are warnings in ``TrainLog.problems``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from detview.io.errors import InputError, Problem

from . import detectron2, mmdet, tfevents, torchvision, ultralytics
from ._model import COLUMNS, Parsed, TrainLog, empty_scalars
from .explain import GROUPS, METRICS, better, explain, metric_group, metric_info

__all__ = [
    "COLUMNS",
    "GROUPS",
    "METRICS",
    "READERS",
    "LogFormat",
    "TrainLog",
    "better",
    "combine",
    "detect_log_format",
    "explain",
    "find_logs",
    "metric_group",
    "metric_info",
    "parse_log",
    "read_log",
    "read_params_file",
]

MAX_LOG_BYTES = 2 * 1024**3
MAX_PARAMS_BYTES = 4 * 1024**2
MAX_NESTING = 100
SIDECARS = ("opt.yaml", "hyp.yaml", "args.yaml", "config.yaml")
_GENERIC_FOLDERS = {"train", "eval", "val", "validation", "test", "logs", "log", "tb",
                    "tensorboard", "vis_data", "events", "metrics", "output", "outputs"}


@dataclass(frozen=True)
class LogFormat:
    name: str
    description: str
    sniff: Callable[[str, bytes], int]  # (file name, first bytes) -> confidence 0..100
    parse: Callable[[bytes, str], Parsed]


READERS: dict[str, LogFormat] = {
    m.NAME: LogFormat(m.NAME, m.DESCRIPTION, m.sniff, m.parse)
    for m in (torchvision, ultralytics, tfevents, detectron2, mmdet)
}


def detect_log_format(name: str, head: bytes) -> str | None:
    """The reader most confident about a file from its name and first bytes (64 KiB)."""
    best, score = None, 0
    for fmt in READERS.values():
        s = fmt.sniff(name, head)
        if s > score:
            best, score = fmt.name, s
    return best


def run_name_for(path: str | Path) -> str:
    """A run's default name: the log's folder, or the one above when that folder has a
    generic name (``exp/`` for ``runs/train/exp/results.csv``, ``model_dir`` for
    ``model_dir/eval/events...``)."""
    p = Path(path)
    parent = p.parent
    for _ in range(3):
        if parent.name and parent.name.lower() not in _GENERIC_FOLDERS:
            return parent.name
        if parent.parent == parent:
            break
        parent = parent.parent
    return p.stem or str(p)


def parse_log(data: bytes, source: str, format: str | None = None,
              run: str | None = None) -> TrainLog:
    """Parse a log's bytes (no file access). ``format`` as in :data:`READERS`, or
    detected from ``source``'s name and the bytes."""
    name = Path(source).name
    if format is None:
        format = detect_log_format(name, data[:65536])
        if format is None:
            raise InputError(source, "", "not a training log detview knows (torchvision log, "
                                         "Ultralytics results.csv, TensorBoard events, "
                                         "detectron2 metrics.json, MMDetection log.json)")
    elif format not in READERS:
        raise InputError(source, "", f"unknown log format {format!r}; known: "
                                     f"{', '.join(READERS)}")
    parsed = READERS[format].parse(data, source)
    run = run or run_name_for(source)
    scalars = parsed.rows.frame(run, source)
    if scalars.empty:
        parsed.problems.append(Problem(source, "", "no scalar values found", "warning"))
    return TrainLog(source, format, run, scalars, dict(parsed.params), list(parsed.problems))


def read_params_file(path: str | Path) -> dict[str, Any]:
    """A parameters file (YAML or JSON; ``key: value`` text) as a dict."""
    import yaml

    p = Path(path)
    size = p.stat().st_size
    if size > MAX_PARAMS_BYTES:
        raise InputError(p, "", f"{size} bytes: too large for a parameters file")
    data = p.read_bytes()
    b = np.frombuffer(data, dtype=np.uint8)
    opens = (b == ord("[")) | (b == ord("{"))
    closes = (b == ord("]")) | (b == ord("}"))
    if b.size and int(np.max(np.cumsum(opens.astype(np.int64) - closes))) > MAX_NESTING:
        raise InputError(p, "", f"nested more than {MAX_NESTING} levels deep")
    text = data.decode("utf-8", errors="replace")
    try:
        d = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or (str(exc).splitlines() or ["?"])[0]
        raise InputError(p, where, f"not valid YAML/JSON: {what}") from None
    except RecursionError:
        raise InputError(p, "", "nested too deeply") from None
    if d is None:
        return {}
    if not isinstance(d, dict):
        raise InputError(p, "", f"expected a mapping of parameters, got {type(d).__name__}")
    return {str(k): v for k, v in d.items()}


def _sidecars(path: Path, problems: list[Problem]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    folders = [path.parent]
    if path.parent.name.lower() in ("train", "eval", "val", "vis_data"):
        folders.append(path.parent.parent)
    for folder in folders:
        for name in SIDECARS:
            f = folder / name
            if name in out or not f.is_file():
                continue
            try:
                out[name] = read_params_file(f)
            except InputError as exc:
                problems.append(Problem(exc.problem.path, exc.problem.where,
                                        exc.problem.message + " (parameters not read)",
                                        "warning"))
            except OSError as exc:
                problems.append(Problem(str(f), "", f"cannot read: {exc.strerror}", "warning"))
    return out


def read_log(path: str | Path, format: str | None = None, run: str | None = None) -> TrainLog:
    """Read one training log and the parameter files beside it."""
    p = Path(path)
    if p.is_dir():
        raise InputError(p, "", "is a folder; name a log file (detview logs FOLDER lists them)")
    size = p.stat().st_size
    if size > MAX_LOG_BYTES:
        raise InputError(p, "", f"{size} bytes: larger than {MAX_LOG_BYTES} bytes")
    data = p.read_bytes()
    log = parse_log(data, str(p), format, run)
    side = _sidecars(p, log.problems)
    log.params = {**log.params, **side}
    return log


def find_logs(folder: str | Path, max_depth: int = 4) -> list[Path]:
    """Training logs under ``folder`` (a file is returned as is), sorted by path."""
    root = Path(folder)
    if root.is_file():
        return [root]
    found: list[Path] = []

    def walk(d: Path, depth: int) -> None:
        try:
            entries = sorted(d.iterdir())
        except OSError:
            return
        for e in entries:
            if e.is_dir() and not e.is_symlink():
                if depth < max_depth and not e.name.startswith("."):
                    walk(e, depth + 1)
            elif e.is_file() and _looks_like_log(e):
                found.append(e)

    walk(root, 0)
    return found


def _looks_like_log(p: Path) -> bool:
    n = p.name
    if not ("tfevents" in n or n.endswith((".csv", ".json", ".log", ".txt"))):
        return False
    if n.endswith(".json") and not (n == "metrics.json" or n.endswith(".log.json")
                                    or n == "scalars.json"):
        return False
    try:
        with open(p, "rb") as f:
            head = f.read(65536)
    except OSError:
        return False
    return detect_log_format(n, head) is not None


def combine(logs: Iterable[TrainLog]) -> pd.DataFrame:
    """The scalars of several logs in one table (their ``run`` column tells them apart)."""
    frames = [lg.scalars for lg in logs if not lg.scalars.empty]
    if not frames:
        return empty_scalars()
    return pd.concat(frames, ignore_index=True)
