"""Glue to ``detview.io``: what to open, loading in a worker, export.

``detview.io`` is imported inside the functions, so the GUI starts (and its tests
run) whatever state that package is in.
"""

from __future__ import annotations

import importlib
import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detview.core.dataset import Dataset
from detview.core.edits import Edit
from detview.core.metrics import MetricParams

from .session import Progress, build_metrics

__all__ = ["OpenSpec", "Loaded", "load", "demo_paths", "io_function", "export_formats",
           "export", "source_json"]

REPO = Path(__file__).resolve().parents[2]


@dataclass
class OpenSpec:
    """What the user asked to open: a folder (auto-detect) or explicit files."""

    images: Path | None = None
    gt: Path | None = None
    preds: list[tuple[str | None, Path]] = field(default_factory=list)
    loss: Path | None = None
    folder: Path | None = None

    def describe(self) -> str:
        if self.folder is not None:
            return str(self.folder)
        return str(self.gt or self.images or "")

    def name(self) -> str:
        p = self.folder or self.images or self.gt
        return p.name if p is not None else "dataset"


@dataclass
class Loaded:
    dataset: Dataset
    image_root: Path | None
    metrics: dict[str | None, Any]
    params: MetricParams
    summary: str = ""
    problems: list[str] = field(default_factory=list)
    name: str = ""
    spec: OpenSpec | None = None


def io_function(name: str) -> Any:
    """``detview.io.<name>``, or the same name in one of its modules; None if absent."""
    try:
        io = importlib.import_module("detview.io")
    except ImportError:
        return None
    if hasattr(io, name):
        return getattr(io, name)
    for mod in ("loader", "spec", "export", "writer", "write", "corrections"):
        try:
            m = importlib.import_module(f"detview.io.{mod}")
        except ImportError:
            continue
        if hasattr(m, name):
            return getattr(m, name)
    return None


def _call_with_progress(fn: Any, progress: Progress | None, *args: Any, **kw: Any) -> Any:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    if "progress" in params and progress is not None:
        kw["progress"] = progress
    return fn(*args, **kw)


def load(spec: OpenSpec, params: MetricParams, progress: Progress | None = None) -> Loaded:
    """Load a dataset through ``detview.io`` and compute its metrics (worker-safe)."""
    load_dataset = io_function("load_dataset")
    if load_dataset is None:
        raise RuntimeError("detview.io.load_dataset is not available in this build")
    images, gt = spec.images, spec.gt
    if spec.folder is not None:
        images, gt = spec.folder, None
    result = _call_with_progress(load_dataset, progress, images, gt, list(spec.preds),
                                 spec.loss)
    ds: Dataset = result.dataset
    root = (ds.meta.get("images_root") or ds.meta.get("image_root")
            or (str(images) if images is not None else None))
    metrics = build_metrics(ds, params, progress)
    problems = [str(p) for p in getattr(result, "problems", [])]
    return Loaded(ds, Path(root) if root else None, metrics, params,
                  getattr(result, "summary", ""), problems, spec.name(), spec)


def demo_paths() -> OpenSpec:
    """The bundled demo: ``resources/demo`` (images, YOLO labels, data.yaml,
    predictions). A ``demo.json`` manifest there, when present, names the parts."""
    root = REPO / "resources" / "demo"
    if not root.is_dir():
        raise FileNotFoundError(root)
    manifest = root / "demo.json"
    if manifest.is_file():
        m = json.loads(manifest.read_text(encoding="utf-8"))

        def p(key: str) -> Path | None:
            v = m.get(key)
            return (root / v) if v else None

        preds = []
        for item in m.get("preds", m.get("predictions", [])):
            if isinstance(item, dict):
                preds.append((item.get("name"), root / item["path"]))
            elif isinstance(item, (list, tuple)):
                preds.append((item[0], root / item[1]))
            else:
                preds.append((None, root / str(item)))
        return OpenSpec(images=p("images"), gt=p("gt") or p("labels"), preds=preds,
                        loss=p("loss"), folder=None if (p("gt") or p("labels")) else root)
    preds_dir = root / "predictions"
    preds: list[tuple[str | None, Path]] = []
    if preds_dir.is_dir():
        for f in sorted(preds_dir.iterdir()):
            if f.suffix.lower() in (".json", ".csv") or f.is_dir():
                preds.append((f.stem.replace("_predictions", ""), f))
    loss = next((f for f in (root / "loss.csv", root / "losses.csv") if f.is_file()), None)
    return OpenSpec(images=None, gt=None, preds=preds, loss=loss, folder=root)


# ---------------------------------------------------------------------- export
_DEFAULT_FORMATS = ("coco", "yolo", "voc")


def export_formats() -> list[str]:
    for name in ("WRITE_FORMATS", "EXPORT_FORMATS", "WRITERS"):
        v = io_function(name)
        if v:
            return [str(x) for x in v]
    return list(_DEFAULT_FORMATS)


def source_json(spec: OpenSpec | None) -> dict[str, Any]:
    """What the dataset was loaded from, as the corrections log records it."""
    if spec is None:
        return {}
    make = io_function("DatasetSpec")
    images = spec.folder if spec.folder is not None else spec.images
    if make is not None:
        try:
            return dict(make.make(images=images, gt=spec.gt, preds=spec.preds,
                                  loss=spec.loss).to_json())
        except Exception:  # noqa: BLE001 - best effort, the log still has the edits
            pass
    return {"images": str(images or ""), "gt": str(spec.gt or ""),
            "preds": [[n, str(p)] for n, p in spec.preds]}


def export(dataset: Dataset, original: Dataset, edits: list[Edit], out: Path, fmt: str,
           source: dict[str, Any], images_mode: str = "none",
           progress: Progress | None = None,
           meta: list[dict[str, Any]] | None = None) -> list[str]:
    """Write the dataset and the corrections log; returns what was written.

    ``meta[k]`` is the time and user of ``edits[k]`` (the log records them; ``detview
    apply`` writes them back unchanged, so both exports are the same bytes).

    ``dataset`` should be a copy taken on the GUI thread (edits may go on meanwhile).
    """
    write_dataset = io_function("write_dataset")
    if write_dataset is None:
        raise RuntimeError("export is not available (detview.io.write_dataset is missing)")
    out = Path(out)
    params = inspect.signature(write_dataset).parameters
    kw: dict[str, Any] = {}
    if "images_mode" in params:
        kw["images_mode"] = images_mode
    files = _call_with_progress(write_dataset, progress, dataset, out, fmt, **kw)
    written = [f"{fmt} ({len(files) if files is not None else '?'} files) in {out}"]
    write_corrections = io_function("write_corrections")
    if write_corrections is not None:
        folder = out if (out.is_dir() or not out.suffix) else out.parent
        log = folder / "corrections.jsonl"
        first = next(iter(inspect.signature(write_corrections).parameters), "")
        if first == "path":
            write_corrections(log, original, edits, source=source, meta=meta)
        else:  # (edits, dataset, path)
            write_corrections(edits, dataset, log)
        written.append(f"corrections log {log.name}")
    return written
