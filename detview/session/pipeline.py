"""The work both front ends run: load a dataset, the per-image table, export.

The CLI (``eval``, ``export``, ``apply``) and the GUI call these same functions: what
``detview eval --more`` prints is what the image list shows, and what the GUI exports is
what ``detview apply`` writes from its corrections log, byte for byte.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from detview.core.dataset import Dataset
from detview.core.edits import Edit, EditRefused
from detview.core.image_columns import IMAGE_COLUMNS
from detview.core.metrics import COLUMNS, MetricParams
from detview.io.errors import InputError
from detview.io.spec import DatasetSpec, load_spec

from .derived import RunMetrics, build_metrics
from .session import Session
from .tasks import Progress

__all__ = [
    "CORRECTIONS_NAME",
    "ExportResult",
    "Loaded",
    "export_edits",
    "image_table",
    "load",
    "refuse_input_folder",
    "replay",
]

CORRECTIONS_NAME = "corrections.jsonl"


# --------------------------------------------------------------------------- load
@dataclass
class Loaded:
    """A dataset read in a worker, with the metrics of every run (a session is made
    from it on the caller's thread)."""

    dataset: Dataset
    spec: DatasetSpec
    metrics: RunMetrics
    params: MetricParams
    summary: str = ""
    problems: list[str] = field(default_factory=list)
    #: training logs: the spec's and those found beside the prediction files
    logs: list[Any] = field(default_factory=list)
    log_problems: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.name()

    def session(self, **kw: Any) -> Session:
        s = Session(self.dataset, spec=self.spec, params=self.params,
                    metrics=self.metrics, **kw)
        if self.logs or self.log_problems:
            s.training.add_logs(self.logs, self.log_problems)
        return s


def load(spec: DatasetSpec, params: MetricParams | None = None,
         progress: Progress | None = None, logger: logging.Logger | None = None) -> Loaded:
    """Read the dataset the spec names and compute its per-image metrics; read the
    spec's training logs and those found beside the prediction files
    (:func:`~detview.session.training.logs_beside`)."""
    from .training import logs_beside, read_logs

    params = params or MetricParams()
    result = load_spec(spec, logger=logger, progress=progress)
    ds: Dataset = result.dataset
    metrics = build_metrics(ds, params, progress)
    logs, log_problems = read_logs([*spec.logs, *logs_beside(p for _, p in spec.preds)])
    return Loaded(ds, spec, metrics, params, str(result.summary),
                  [str(p) for p in result.problems], logs, log_problems)


# --------------------------------------------------------------------------- eval
def image_table(session: Session, more: bool = False) -> pd.DataFrame:
    """One row per image (index = image index) of the session's current run and
    thresholds: ``file_name``, the metric columns, loaded side values (``loss``), with
    ``more`` the analysis columns (``ap``, ``ap50``, ``err_*``, ``confusion``), and
    ``deleted``. Computed on this thread."""
    df = session.current.table()
    if more and session.run is not None:
        session.derived.compute("coco")
        errors = session.derived.compute("errors")
        for c in IMAGE_COLUMNS:
            df[c] = session.column(c)
        for c in IMAGE_COLUMNS[2:]:
            df[c] = df[c].astype("int64")
        df["confusion"] = errors.images["confusion"].to_numpy()
    cols = ["file_name", *COLUMNS, *[c for c in df.columns
                                      if c not in COLUMNS and c not in ("file_name", "deleted")],
            "deleted"]
    return df[cols]


# --------------------------------------------------------------------------- export
@dataclass(frozen=True)
class ExportResult:
    """What an export wrote, and the net effect of its edits."""

    files: list[Path]
    summary: dict[str, int]
    out: Path
    fmt: str

    def describe(self) -> str:
        n = len(self.files) - 1
        return f"{self.fmt} ({n} file{'s' if n != 1 else ''}) and {CORRECTIONS_NAME} in {self.out}"


def replay(original: Dataset, edits: Sequence[Edit]) -> Dataset:
    """A copy of ``original`` with ``edits`` applied; an edit that does not apply is
    an error naming it."""
    edited = original.copy()
    for k, e in enumerate(edits, start=1):
        try:
            edited.apply(e)
        except EditRefused as exc:
            raise InputError("(corrections)", f"edit {k}", f"does not apply: {exc}") from None
    return edited


def refuse_input_folder(out: Path, spec: DatasetSpec) -> None:
    """An export never writes into a folder it reads from."""
    o = Path(out).resolve()
    for p in (spec.images, spec.gt):
        if not p:
            continue
        q = Path(p).resolve()
        if o == q or (q.is_file() and o == q.parent and spec.gt_format != "coco"):
            raise InputError(out, "", "refusing to export into an input folder; choose a new one")


def export_edits(original: Dataset, edits: Sequence[Edit], source: DatasetSpec, out: Path,
                 fmt: str | None, images_mode: str = "none", *,
                 meta: Sequence[dict[str, Any]] | None = None,
                 images_root: Path | None = None, progress: Progress | None = None,
                 logger: logging.Logger | None = None, overwrite: bool = False) -> ExportResult:
    """Apply ``edits`` to a copy of ``original``, write it in ``fmt`` (default: the
    format it came in) and the corrections log (``meta[k]``: time and user of edit k),
    together in one :func:`detview.io.write_dataset` (the folder is renamed into place
    when complete, the log inside it; as :func:`detview.io.export_dataset` does)."""
    import detview.io as dio
    from detview.io.corrections import corrections_text

    out = Path(out)
    refuse_input_folder(out, source)
    edited = replay(original, edits)
    # the loader's image folder (it resolves a dataset folder to its images/)
    root = edited.meta.get("images_root") or images_root or source.images
    fmt = (fmt or str(edited.meta.get("format") or "")).lower()
    text, summary = corrections_text(original, edits, source=source.to_json(), meta=meta)
    # the log goes inside the export before it is renamed into place
    written = dio.write_dataset(edited, out, fmt, images_mode=images_mode,
                                images_root=Path(root) if root else None, logger=logger,
                                progress=progress, overwrite=overwrite,
                                extra_files={CORRECTIONS_NAME: text.encode("utf-8")})
    log = out / CORRECTIONS_NAME
    files = [p for p in map(Path, written) if p != log] + [log]
    return ExportResult(files, summary, out, fmt)
