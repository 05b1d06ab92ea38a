"""Runs, checkpoints and training logs of one session, without Qt.

:class:`TrainingState` (``session.training``) is plain data beside the dataset:

* the training logs shown with it (``--log``, File > Open training log…, and those
  found beside the prediction files) as :class:`~detview.io.trainlogs.TrainLog` records;
* the checkpoints among the dataset's runs (:func:`~detview.core.checkpoints.
  group_checkpoints` over the run names and their prediction files) and
  :meth:`TrainingState.select_checkpoint`, which shows the run of a step (a click on a
  training curve, the checkpoint slider);
* the two runs compared image by image (:attr:`TrainingState.pair`, run A then run B):
  the :class:`DiffProducer` ``"diff"`` offers the per-image columns ``d_mean_iou``,
  ``d_ap``, ``d_ap50``, ``d_tp``, ``d_fp``, ``d_fn`` and ``d_label_quality`` (B - A, from
  :func:`detview.core.compare.image_differences` of the two runs' per-image tables);
* what the Graphs view draws (:func:`curves`, smoothed as TensorBoard smooths, :func:`ema`)
  and the Details view lists (:func:`details`).

Changes are told to the session's listeners as ``SessionEvent("training", name=...)``
with ``name`` one of ``"logs"``, ``"pair"``, ``"checkpoint"``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from detview.core.analysis import LiveCOCO
from detview.core.checkpoints import Training, group_checkpoints
from detview.core.compare import image_differences, is_higher_better
from detview.io.errors import InputError
from detview.io.trainlogs import TrainLog, better, explain, find_logs, metric_group, read_log

from .derived import Key, Producer
from .tasks import Progress

if TYPE_CHECKING:
    from .session import Session

__all__ = [
    "DIFF_COLUMNS",
    "DIFF_METRICS",
    "AcrossProducer",
    "Curve",
    "DiffProducer",
    "PairDiff",
    "TrainingState",
    "curves",
    "details",
    "duplicate_logs",
    "ema",
    "logs_beside",
    "read_logs",
    "run_table",
]

#: the per-image metrics compared between two runs, and their difference columns
DIFF_METRICS: tuple[str, ...] = ("mean_iou", "ap", "ap50", "tp", "fp", "fn", "label_quality")
DIFF_COLUMNS: tuple[str, ...] = tuple(f"d_{m}" for m in DIFF_METRICS)
#: per-run columns taken when a run's metrics carry them (``PerImageMetrics.set_columns``)
RUN_EXTRA_COLUMNS: tuple[str, ...] = ("label_quality",)
#: a folder with more entries than this is not searched for logs beside predictions
BESIDE_MAX_ENTRIES = 500
#: plot groups in the order the Graphs view shows them
GROUP_ORDER: tuple[str, ...] = ("loss", "lr", "precision", "recall", "speed", "other")
#: groups a log scale applies to (AP and recall stay linear: bounded, often 0 at first)
LOG_GROUPS: tuple[str, ...] = ("loss", "lr", "speed")
GROUP_TITLES = {"loss": "Losses", "lr": "Learning rate", "precision": "Precision / AP",
                "recall": "Recall / AR", "speed": "Speed", "other": "Other"}


# =========================================================================== logs
def read_logs(paths: Iterable[str | Path]) -> tuple[list[TrainLog], list[str]]:
    """Read training logs (a folder: every log :func:`find_logs` finds in it). Returns
    the logs and one line per problem (a file that cannot be read names itself; lesser
    things are the logs' own warnings). Never raises for bad input."""
    logs: list[TrainLog] = []
    problems: list[str] = []
    seen: set[str] = set()
    for p in paths:
        path = Path(p).expanduser()
        try:
            files = find_logs(path) if path.is_dir() else [path]
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror or exc}")
            continue
        if path.is_dir() and not files:
            problems.append(f"{path}: no training log found in this folder")
        for f in files:
            key = str(f.resolve())
            if key in seen:
                continue
            seen.add(key)
            try:
                log = read_log(f)
            except InputError as exc:
                problems.append(str(exc.problem))
                continue
            except OSError as exc:
                problems.append(f"{f}: cannot read: {exc.strerror or exc}")
                continue
            logs.append(log)
            problems.extend(str(x) for x in log.problems)
    return logs, problems


def logs_beside(pred_paths: Iterable[str | Path]) -> list[Path]:
    """Training logs in the folders holding the prediction files (a prediction folder:
    the folder above it), not below them; a folder with more than
    :data:`BESIDE_MAX_ENTRIES` entries (an image or label folder) is skipped."""
    out: list[Path] = []
    seen: set[Path] = set()
    for p in pred_paths:
        folder = Path(p).parent
        if folder in seen:
            continue
        seen.add(folder)
        try:
            with os.scandir(folder) as it:
                n = 0
                for _ in it:
                    n += 1
                    if n > BESIDE_MAX_ENTRIES:
                        break
        except OSError:
            continue
        if n > BESIDE_MAX_ENTRIES:
            continue
        out.extend(f for f in find_logs(folder, max_depth=0) if f not in out)
    return out


def log_labels(logs: Sequence[TrainLog]) -> list[str]:
    """A distinct label per log: its run name, with the format (or file) when two logs
    share a name (``exp (results.csv)`` and ``exp (tensorboard)``)."""
    names = [lg.run for lg in logs]
    out = []
    for lg in logs:
        if names.count(lg.run) == 1:
            out.append(lg.run)
            continue
        same = [x for x in logs if x.run == lg.run]
        if [x.format for x in same].count(lg.format) == 1:
            out.append(f"{lg.run} ({lg.format})")
        else:
            out.append(f"{lg.run} ({Path(lg.path).name})")
    return out


def duplicate_logs(logs: Sequence[TrainLog], rtol: float = 1e-4) -> set[int]:
    """Logs that repeat an earlier one: the same tags at the same steps with the same
    values (to ``rtol``: results.csv keeps 5 significant digits, an event file float32),
    e.g. an Ultralytics run's
    ``results.csv`` and its TensorBoard event file. Returns their indices; of each group
    the log that knows the most epochs stays (then the first)."""
    def table(lg: TrainLog) -> pd.DataFrame:
        df = lg.scalars[["tag", "step", "value"]].drop_duplicates(["tag", "step"], keep="last")
        return df.sort_values(["tag", "step"], kind="stable").reset_index(drop=True)

    def epochs(lg: TrainLog) -> int:
        return int(lg.scalars["epoch"].notna().sum())

    # the log that knows the epochs stays (results.csv rather than its event file)
    order = sorted(range(len(logs)), key=lambda k: (-epochs(logs[k]), k))
    tables: dict[int, pd.DataFrame] = {}
    out: set[int] = set()
    kept: list[int] = []
    for j in order:
        b = logs[j]
        if b.scalars.empty:
            continue
        for i in kept:
            a = logs[i]
            if len(a.scalars) != len(b.scalars):
                continue
            ta = tables[i] if i in tables else tables.setdefault(i, table(a))
            tb = tables[j] if j in tables else tables.setdefault(j, table(b))
            if (len(ta) == len(tb) and (ta["tag"].to_numpy() == tb["tag"].to_numpy()).all()
                    and (ta["step"].to_numpy() == tb["step"].to_numpy()).all()
                    and np.allclose(ta["value"].to_numpy(), tb["value"].to_numpy(), rtol=rtol,
                                    atol=1e-12, equal_nan=True)):
                out.add(j)
                break
        else:
            kept.append(j)
    return out


# =========================================================================== smoothing
def ema(values: Sequence[float] | np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's scalar smoothing: an exponential moving average started at 0 and
    debiased (divided by ``1 - weight**n`` after ``n`` finite values), so the first
    points are not pulled towards 0. Non-finite values pass through unchanged and do
    not enter the average; a constant series is returned as is. ``weight`` in [0, 1)."""
    v = np.asarray(values, dtype=np.float64)
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    if weight == 0.0 or v.size == 0 or bool(np.all(v == v[0])):
        return v.copy()
    out = v.copy()
    last = 0.0
    n = 0
    w = float(weight)
    for i, x in enumerate(v.tolist()):
        if not math.isfinite(x):
            continue
        last = last * w + (1.0 - w) * x
        n += 1
        out[i] = last / (1.0 - w ** n)
    return out


# =========================================================================== curves
@dataclass
class Curve:
    """One series of one log, ready to draw: ``x`` (step or epoch), ``y`` (raw, NaN where
    undefined: a COCO -1, a non-positive value on a log axis), ``smoothed``."""

    log: int  # index into the logs
    label: str  # the log's label
    split: str
    tag: str
    group: str
    x: np.ndarray
    y: np.ndarray
    smoothed: np.ndarray
    step: np.ndarray
    epoch: np.ndarray
    explanation: str
    better: str | None
    x_is_step: bool  # an epoch axis was asked but the log has no epochs: by step
    name: str = ""  # the tag, with its split when the log has the tag in two splits

    def at(self, x: float) -> int:
        """The index of the point nearest to ``x`` (-1 when the curve is empty)."""
        if not len(self.x):
            return -1
        k = int(np.searchsorted(self.x, x))
        if k >= len(self.x):
            return len(self.x) - 1
        if k > 0 and abs(self.x[k - 1] - x) <= abs(self.x[k] - x):
            return k - 1
        return k


def curves(logs: Sequence[TrainLog], x_axis: str = "step", smoothing: float = 0.0,
           log_y: bool = False, labels: Sequence[str] | None = None) -> list[Curve]:
    """Every (log, split, tag) series, in the logs' order and each log's tag order.
    ``x_axis``: ``"step"`` or ``"epoch"`` (a log without epochs stays on its steps and
    says so in ``x_is_step``). A COCO size-bucket -1 ("no ground truth of that size") is
    NaN; so are non-positive values when ``log_y`` (losses, learning rate and speed:
    :data:`LOG_GROUPS`)."""
    if x_axis not in ("step", "epoch"):
        raise ValueError(f"x axis must be 'step' or 'epoch', got {x_axis!r}")
    labels = list(labels) if labels is not None else log_labels(logs)
    out: list[Curve] = []
    for k, lg in enumerate(logs):
        df = lg.scalars
        if df.empty:
            continue
        splits = list(dict.fromkeys(df["split"]))
        in_splits: dict[str, int] = {}
        for split in splits:
            for tag in lg.tags(split):
                in_splits[tag] = in_splits.get(tag, 0) + 1
        for split in splits:
            for tag in lg.tags(split):
                s = lg.series(tag, split)
                step = s["step"].to_numpy(np.int64)
                epoch = s["epoch"].to_numpy(np.float64)
                y = s["value"].to_numpy(np.float64).copy()
                group = metric_group(tag)
                if group in ("precision", "recall"):
                    y[y == -1.0] = np.nan
                by_step = x_axis == "step" or bool(np.isnan(epoch).all())
                x = step.astype(np.float64) if by_step else epoch
                if not by_step and np.isnan(x).any():  # some points without an epoch
                    keep = ~np.isnan(x)
                    x, y, step, epoch = x[keep], y[keep], step[keep], epoch[keep]
                order = np.argsort(x, kind="stable")
                x, y, step, epoch = x[order], y[order], step[order], epoch[order]
                if log_y and group in LOG_GROUPS:
                    y[y <= 0] = np.nan
                out.append(Curve(k, labels[k], split, tag, group, x, y,
                                 ema(y, smoothing), step, epoch, explain(tag), better(tag),
                                 by_step and x_axis == "epoch",
                                 f"{tag} ({split})" if in_splits[tag] > 1 else tag))
    return out


def group_curves(cs: Sequence[Curve]) -> dict[str, list[Curve]]:
    """Curves by plot group, in :data:`GROUP_ORDER` (empty groups left out)."""
    out: dict[str, list[Curve]] = {g: [] for g in GROUP_ORDER}
    for c in cs:
        out.setdefault(c.group, []).append(c)
    return {g: v for g, v in out.items() if v}


def hover_rows(cs: Sequence[Curve], x: float) -> list[tuple[Curve, int]]:
    """For each curve, the point nearest to ``x`` (curves without points left out)."""
    rows = []
    for c in cs:
        k = c.at(x)
        if k >= 0:
            rows.append((c, k))
    return rows


# =========================================================================== details
def details(log: TrainLog, session: Session | None = None) -> list[tuple[str, str, str]]:
    """``(section, name, value)`` rows describing one log's run: its origin (file,
    format, code version, steps, epochs, time span), datasets (named by its parameters,
    and the session's dataset), parameters (opt.yaml, hyp.yaml, arguments found in the
    log, config) and the reader's warnings."""
    from detview.io.store import find_git_commit

    rows: list[tuple[str, str, str]] = []
    p = Path(log.path)
    rows.append(("Origin", "log file", str(p)))
    rows.append(("Origin", "format", log.format))
    rows.append(("Origin", "run", log.run))
    try:
        st = p.stat()
        import datetime as _dt

        when = _dt.datetime.fromtimestamp(st.st_mtime).isoformat(sep=" ", timespec="seconds")
        rows.append(("Origin", "modified", f"{when} ({st.st_size:,} bytes)"))
    except OSError:
        pass
    commit = find_git_commit(p.parent)
    if commit:
        rows.append(("Origin", "code version (git)", commit))
    df = log.scalars
    if not df.empty:
        rows.append(("Origin", "steps", f"{int(df['step'].min())} to {int(df['step'].max())}"))
        ep = df["epoch"].dropna()
        if len(ep):
            rows.append(("Origin", "epochs", f"{ep.max():g}"))
        wt = df["wall_time"].dropna()
        if len(wt) > 1:
            hours = (wt.max() - wt.min()) / 3600
            rows.append(("Origin", "logged over", f"{hours:.2f} h"))
        rows.append(("Origin", "values", f"{len(df):,} ({len(log.tags())} metrics; "
                                         + ", ".join(f"{n} {s}" for s, n in
                                                     df["split"].value_counts().items())
                                         + ")"))
    for where, key, value in _dataset_rows(log):
        rows.append(("Datasets", f"{where}: {key}", value))
    if session is not None:
        spec = session.spec
        src = spec.gt if spec is not None and spec.gt else None
        rows.append(("Datasets", "dataset opened in detview",
                     f"{session.name}" + (f" — {src}" if src else "")))
    for name, value in log.flat_params():
        where, sep, key = name.partition(": ")
        rows.append((f"Parameters — {where}", key, _text(value)) if sep
                    else ("Parameters", name, _text(value)))
    for prob in log.problems:
        rows.append(("Problems", "warning", str(prob)))
    return rows


_DATA_KEYS = ("data", "dataset", "datasets", "data_path", "train", "val", "test", "img_dir",
              "ann_file", "data_root", "path")


def _dataset_rows(log: TrainLog) -> list[tuple[str, str, str]]:
    out = []
    for name, value in log.flat_params():
        where, _, key = name.partition(": ")
        leaf = key.split(".")[-1].lower()
        if leaf in _DATA_KEYS or key.lower().startswith(("datasets.", "data.")):
            if value not in (None, "", [], {}):
                out.append((where, key, _text(value)))
    return out


def _text(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list | tuple):
        return ", ".join(_text(x) for x in v)
    return str(v)


# =========================================================================== run tables
def run_table(s: Session, run: str, coco: LiveCOCO | None = None) -> pd.DataFrame:
    """One run's per-image table (index = image index) at the session's thresholds:
    ``file_name``, ``n_gt``, ``n_pred``, ``tp``, ``fp``, ``fn``, ``mean_iou``, side values,
    ``ap``/``ap50`` (from ``coco``), ``label_quality`` where the run's metrics carry it,
    ``deleted``."""
    m = s.metrics.get(run)
    if m is None:
        raise KeyError(f"no run {run!r}")
    t = m.table()
    if coco is not None:
        t["ap"] = coco.ap
        t["ap50"] = coco.ap50
    for name in RUN_EXTRA_COLUMNS:
        if m.has_column(name):
            t[name] = m.column(name)
    return t


@dataclass
class PairDiff:
    """Run B against run A on the session's images: both runs' per-image COCO AP kept
    current with the edits, and the difference table (made when read)."""

    a: str
    b: str
    coco: dict[str, LiveCOCO]
    _cache: tuple[Any, ...] | None = field(default=None, repr=False)

    def table(self, s: Session) -> pd.DataFrame:
        """:func:`~detview.core.compare.image_differences` of the two runs' tables (index
        = image index): ``<m>_a``, ``<m>_b``, ``d_<m>`` for each of :data:`DIFF_METRICS`
        both tables have, and ``deleted``."""
        ma, mb = s.metrics.get(self.a), s.metrics.get(self.b)
        key = (s.dataset.revision, ma, mb)
        c = self._cache
        if c is not None and c[0] == key[0] and c[1] is ma and c[2] is mb:
            return c[3]
        ta = run_table(s, self.a, self.coco[self.a])
        tb = run_table(s, self.b, self.coco[self.b])
        diff = image_differences(ta, tb, key=None, metrics=[
            m for m in DIFF_METRICS if m in ta.columns and m in tb.columns])
        self._cache = (*key, diff)
        return diff

    def invalidate(self) -> None:
        self._cache = None


class DiffProducer(Producer[PairDiff]):
    """Per-image differences between the two runs compared (``session.training.pair``):
    ``d_<metric>`` = run B's value - run A's, for mean IoU, AP, AP50, TP, FP, FN and
    label quality (where both runs carry it). AP follows the session's COCO mode (every
    prediction, or those at or above the score threshold), the rest its thresholds.
    Kept current after edits (only the touched images are re-matched)."""

    name = "diff"
    label = "Comparing two runs"
    incremental = True
    lazy = True
    columns = DIFF_COLUMNS
    keep = 2
    sync_max_images = 0  # two COCO evaluations: always in a worker

    def key(self, s: Session) -> Key | None:
        pair = s.training.pair
        if pair is None:
            return None
        return (*pair, s.all_predictions,
                None if s.all_predictions else s.params.score_threshold)

    def build(self, s: Session) -> Callable[[Progress], PairDiff]:
        pair = s.training.pair
        assert pair is not None
        a, b = pair
        coco = _coco_work(s, [a, b])
        return lambda progress: PairDiff(a, b, coco(progress))

    def adopt(self, value: PairDiff, s: Session, revisions: np.ndarray) -> PairDiff:
        for c in value.coco.values():
            c.attach(s.dataset, revisions)
        value.invalidate()
        return value

    def update(self, value: PairDiff, s: Session, touched: frozenset[int]) -> None:
        for c in value.coco.values():
            c.update(s.dataset, touched)
        value.invalidate()

    def column(self, value: PairDiff, name: str, s: Session) -> np.ndarray:
        t = value.table(s)
        if name in t.columns:
            return t[name].to_numpy(np.float64)
        return np.full(s.dataset.n_images, np.nan)

    def shows_while_recomputing(self, old: Key, new: Key) -> bool:
        return old[:2] == new[:2]


def _coco_work(s: Session, runs: Sequence[str]) -> Callable[[Progress], dict[str, LiveCOCO]]:
    """Worker-safe work building each run's COCO evaluator at the session's COCO mode."""
    ds = s.dataset
    gt = ds.gt.copy()
    dets = {r: ds.runs[r] for r in runs}
    mask = ~ds.images.deleted
    ids, names, k = ds.images.ids.copy(), ds.classes.names, len(ds.classes)
    all_preds, thr = s.all_predictions, s.params.score_threshold
    n = len(runs)

    def work(progress: Progress) -> dict[str, LiveCOCO]:
        out = {}
        for j, run in enumerate(runs):
            def prog(done: int, total: int, j: int = j) -> bool:
                return progress(j * total + done, n * max(total, 1))
            out[run] = LiveCOCO(gt, dets[run], k, mask, ids, names, all_predictions=all_preds,
                                score_threshold=thr, progress=prog)
        return out

    return work


class AcrossProducer(Producer[dict[str, LiveCOCO]]):
    """Per-image COCO AP of every checkpoint of the current run's training (for the
    selected image's metric across checkpoints), kept current after edits."""

    name = "across"
    label = "AP of every checkpoint"
    incremental = True
    lazy = True
    keep = 1

    def key(self, s: Session) -> Key | None:
        t = s.training.training_of(s.run)
        if t is None:
            return None
        return (t.runs, s.all_predictions, None if s.all_predictions else s.params.score_threshold)

    def build(self, s: Session) -> Callable[[Progress], dict[str, LiveCOCO]]:
        t = s.training.training_of(s.run)
        assert t is not None
        return _coco_work(s, t.runs)

    def adopt(self, value: dict[str, LiveCOCO], s: Session, revisions: np.ndarray
              ) -> dict[str, LiveCOCO]:
        for c in value.values():
            c.attach(s.dataset, revisions)
        return value

    def update(self, value: dict[str, LiveCOCO], s: Session, touched: frozenset[int]) -> None:
        for c in value.values():
            c.update(s.dataset, touched)


# =========================================================================== the state
class TrainingState:
    """The session's training logs, checkpoints and compared runs (see the module)."""

    def __init__(self, session: Session) -> None:
        self._s = session
        self.logs: list[TrainLog] = []
        self.problems: list[str] = []  # from reading the logs, one line each
        self._pair: tuple[str, str] | None = None
        self._trainings: tuple[list[Training], list[str]] | None = None

    def _emit(self, name: str) -> None:
        self._s._emit("training", name=name)

    # ------------------------------------------------------------------ logs
    @property
    def labels(self) -> list[str]:
        return log_labels(self.logs)

    def add_logs(self, logs: Iterable[TrainLog], problems: Iterable[str] = ()) -> int:
        """Show these logs too (a log already shown, same file, is replaced). Returns
        how many were added."""
        n = 0
        for lg in logs:
            self.logs = [x for x in self.logs if x.path != lg.path]
            self.logs.append(lg)
            n += 1
        self.problems.extend(problems)
        self._emit("logs")
        return n

    def open_logs(self, paths: Iterable[str | Path]) -> tuple[int, list[str]]:
        """Read and show logs (on this thread: logs are small). Returns how many were
        added and the problems, one line each."""
        logs, problems = read_logs(paths)
        return self.add_logs(logs, problems), problems

    def duplicates(self) -> set[int]:
        """Indices of logs repeating an earlier one (:func:`duplicate_logs`): the Graphs
        view hides them until asked."""
        return duplicate_logs(self.logs)

    def remove_log(self, index: int) -> None:
        del self.logs[index]
        self._emit("logs")

    def curves(self, x_axis: str = "step", smoothing: float = 0.0,
               log_y: bool = False) -> list[Curve]:
        return curves(self.logs, x_axis, smoothing, log_y, self.labels)

    def details(self, index: int) -> list[tuple[str, str, str]]:
        return details(self.logs[index], self._s)

    # ------------------------------------------------------------------ checkpoints
    def trainings(self) -> list[Training]:
        """The dataset's runs grouped into trainings (checkpoints in step order)."""
        if self._trainings is None:
            sources = self._s.dataset.meta.get("sources", {})
            runs = [(r, sources.get(r)) for r in self._s.run_names]
            self._trainings = group_checkpoints(runs)
        return self._trainings[0]

    def training_of(self, run: str | None) -> Training | None:
        for t in self.trainings():
            if run in t.runs:
                return t
        return None

    def checkpoint_at(self, step: int, epoch: float | None = None,
                      log_run: str | None = None) -> str | None:
        """The run whose predictions were made at ``step`` (a training counted in epochs
        is matched by ``epoch`` when known, else by ``step``); the training named like
        ``log_run`` is tried first. None when no prediction file is of that step."""
        ts = self.trainings()
        if log_run:
            low = log_run.lower()
            ts = sorted(ts, key=lambda t: not (low in t.name.lower() or t.name.lower() in low))
        for t in ts:
            want: float = step
            if t.unit == "epoch" and epoch is not None and math.isfinite(epoch):
                want = epoch
            if abs(want - round(want)) > 1e-6:
                continue
            if int(round(want)) in t.steps:
                return t.run_at(int(round(want)))
        return None

    #: per-image values across checkpoints: the metrics' columns, or COCO AP ("ap",
    #: "ap50", from the ``across`` value once computed)
    ACROSS_METRICS: tuple[str, ...] = ("mean_iou", "ap", "ap50", "tp", "fp", "fn", "n_pred")

    def across(self, image: int, metric: str = "mean_iou", run: str | None = None
               ) -> tuple[Training, np.ndarray] | None:
        """The checkpoints of ``run``'s training (default: the current run) and image
        ``image``'s ``metric`` at each of them (NaN where not known yet: AP before the
        ``across`` value is computed). None when the run is not a checkpoint."""
        t = self.training_of(run if run is not None else self._s.run)
        if t is None:
            return None
        values = np.full(len(t.runs), np.nan)
        if metric in ("ap", "ap50"):
            coco = self._s.derived.get("across")
            if coco is None or self.training_of(self._s.run) is not t:
                return t, values
            for j, r in enumerate(t.runs):
                values[j] = (coco[r].ap if metric == "ap" else coco[r].ap50)[image]
            return t, values
        metrics = self._s.metrics
        for j, r in enumerate(t.runs):
            m = metrics.get(r)
            if m is not None:
                values[j] = m.column(metric)[image]
        return t, values

    def select_checkpoint(self, run: str) -> bool:
        """Show the predictions of checkpoint ``run`` (the session's current run): the
        checkpoint slider and a click on a training curve call this. False when it was
        already shown."""
        if run not in self._s.run_names:
            raise KeyError(f"no run {run!r}")
        changed = self._s.set_run(run)
        self._emit("checkpoint")
        return changed

    # ------------------------------------------------------------------ comparison
    @property
    def pair(self) -> tuple[str, str] | None:
        """The two runs compared image by image (A, B), or None."""
        return self._pair

    def set_pair(self, a: str | None, b: str | None) -> bool:
        """Compare run ``b`` against run ``a`` (None: stop comparing). False when nothing
        changed."""
        if a is None or b is None:
            new = None
        else:
            for r in (a, b):
                if r not in self._s.run_names:
                    raise KeyError(f"no run {r!r}; runs: {', '.join(self._s.run_names)}")
            if a == b:
                raise ValueError("compare two different runs")
            new = (a, b)
        if new == self._pair:
            return False
        self._pair = new
        self._s.derived.want("diff", new is not None)
        if new is None:
            self._s.derived.request("diff")  # drops the value
        self._emit("pair")
        return True

    def diff_table(self) -> pd.DataFrame | None:
        """The current comparison's table (computed on this thread if needed)."""
        value = self._s.derived.compute("diff")
        return None if value is None else value.table(self._s)

    def worse_first(self, metric: str) -> bool:
        """Whether a larger difference of ``metric`` means run B is worse."""
        return is_higher_better(metric) is False
