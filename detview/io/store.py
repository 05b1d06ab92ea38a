"""The experiment store: every evaluated run in one embedded SQLite file.

A run is one prediction set evaluated against one ground truth. The store keeps its
name, when it was added, the dataset's fingerprint (a hash of the ground truth as
loaded, so the same labels give the same fingerprint whatever the file), the
parameters (``--params`` file, ``opt.yaml``/``hyp.yaml`` beside a log, arguments found
in a log), the code version (the git commit of the repository holding the predictions,
the log or the parameters, when there is one), the 12 COCO numbers and the per-class AP,
the per-image metrics table, the training-log curves, and the predictions' path and
hash.

One file (default: ``<user data dir>/detview/runs.sqlite``; ``DETVIEW_STORE`` or
``--store`` choose another), write-ahead logging, each run written in one transaction:
a process killed half-way leaves the store as it was. The schema is versioned
(``PRAGMA user_version``) and older stores are migrated when opened; a store written
by a newer detview is refused with a clear message.

API for the CLI and the GUI: :class:`Store` (``add_run``, ``list_runs``, ``get_run``,
``image_metrics``, ``worst``, ``compare``, ``scalars``, ``over_time``, ``remove_run``)
and :func:`make_run` (evaluate a loaded dataset's run into a :class:`RunRecord`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from detview.core.cocoeval import STAT_NAMES
from detview.core.compare import (
    image_differences,
    is_higher_better,
    metric_deltas,
    most_worse,
)

from .errors import Cancelled, InputError

__all__ = [
    "IMAGE_METRICS",
    "RUN_METRICS",
    "SCHEMA_VERSION",
    "Comparison",
    "DatasetInfo",
    "RunInfo",
    "RunRecord",
    "Store",
    "dataset_fingerprint",
    "default_store_path",
    "file_hash",
    "find_git_commit",
    "make_run",
]

SCHEMA_VERSION = 2
APP_ID = "detview-store"
# per-image columns kept for every run (NULL where not computed)
IMAGE_METRICS = ("n_gt", "n_pred", "tp", "fp", "fn", "mean_iou", "ap", "ap50",
                 "label_quality", "loss")
_INT_IMAGE = {"n_gt", "n_pred", "tp", "fp", "fn"}
# run-level numbers: the 12 COCO numbers and the per-image totals
TOTALS = ("n_images", "n_pred", "tp", "fp", "fn", "precision", "recall", "mean_iou")
RUN_METRICS = tuple(STAT_NAMES) + TOTALS
_NAME_MAX = 200
Progress = Callable[[int, int], bool | None]


# ------------------------------------------------------------------ locations, hashes
def default_store_path() -> Path:
    """``$DETVIEW_STORE``, else ``runs.sqlite`` in the user data directory
    (``$XDG_DATA_HOME/detview`` or ``~/.local/share/detview`` on Linux, ``~/Library/
    Application Support/detview`` on macOS, ``%LOCALAPPDATA%\\detview`` on Windows)."""
    env = os.environ.get("DETVIEW_STORE")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "detview" / "runs.sqlite"


def file_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file, or of a folder's files (relative paths and contents, sorted)."""
    p = Path(path)
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
    for f in files:
        if f is not p:
            h.update(f.relative_to(p).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
    return h.hexdigest()


def dataset_fingerprint(ds: Any) -> str:
    """sha256 of the ground truth as loaded: class names, image file names and the
    live boxes (image, class, crowd flag, xyxy rounded to 1/1000 px) in a canonical
    order. Equal for the same labels read from different formats or box orders."""
    h = hashlib.sha256()
    h.update(json.dumps(list(ds.classes.names)).encode())
    h.update("\n".join(ds.images.file_names).encode())
    g = ds.gt
    live = np.asarray(g.alive, dtype=bool) & ~np.asarray(ds.images.deleted)[g.image]
    img = g.image[live].astype(np.int64)
    cls = g.cls[live].astype(np.int64)
    crowd = g.iscrowd[live].astype(np.int64)
    xy = np.round(g.xyxy[live].astype(np.float64), 3) + 0.0  # -0.0 -> 0.0
    order = np.lexsort((xy[:, 3], xy[:, 2], xy[:, 1], xy[:, 0], crowd, cls, img))
    for a in (img[order], cls[order], crowd[order], np.ascontiguousarray(xy[order])):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def find_git_commit(*paths: str | Path | None) -> str | None:
    """The commit checked out in the git repository holding one of ``paths`` (the first
    found), read from ``.git`` without running git; None when none is in a repository."""
    for p in paths:
        if p is None:
            continue
        q = Path(p).expanduser().resolve()
        for folder in [q, *q.parents]:
            dot = folder / ".git"
            if dot.exists():
                sha = _read_head(dot)
                if sha:
                    return sha
                break
    return None


def _read_head(dot: Path) -> str | None:
    try:
        gitdir = dot
        if dot.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dot.read_text(errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            gitdir = (dot.parent / text[7:].strip()).resolve()
        head = (gitdir / "HEAD").read_text(errors="replace").strip()
        if re.fullmatch(r"[0-9a-f]{40}([0-9a-f]{24})?", head):
            return head
        if not head.startswith("ref:"):
            return None
        ref = head[4:].strip()
        common = gitdir
        cd = gitdir / "commondir"
        if cd.is_file():
            common = (gitdir / cd.read_text().strip()).resolve()
        for base in (gitdir, common):
            f = base / ref
            if f.is_file():
                sha = f.read_text(errors="replace").strip()
                return sha if re.fullmatch(r"[0-9a-f]{40,64}", sha) else None
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(errors="replace").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    except OSError:
        return None
    return None


# ------------------------------------------------------------------ records
@dataclass
class DatasetInfo:
    fingerprint: str
    n_images: int
    n_gt: int
    class_names: list[str]
    file_names: list[str]
    gt_path: str | None = None
    images_path: str | None = None


@dataclass
class RunRecord:
    """Everything :meth:`Store.add_run` writes for one run."""

    name: str
    dataset: DatasetInfo
    summary: dict[str, float]  # RUN_METRICS
    per_class: pd.DataFrame  # index cls; name, AP, AP50, AP75, AR100, n_gt, n_det
    images: pd.DataFrame  # one row per image (index = image index); IMAGE_METRICS, deleted
    score_threshold: float = 0.5
    iou_threshold: float = 0.5
    created: str = field(default_factory=lambda: _now())
    pred_path: str | None = None
    pred_hash: str | None = None
    pred_time: str | None = None
    code_version: str | None = None
    detview_version: str | None = None
    training: str | None = None
    step: int | None = None
    unit: str | None = None
    spec: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    log_path: str | None = None
    scalars: pd.DataFrame | None = None  # a TrainLog's scalars
    notes: str | None = None


@dataclass
class RunInfo:
    """One stored run, as :meth:`Store.get_run` returns it."""

    name: str
    created: str
    fingerprint: str
    n_images: int
    class_names: list[str]
    summary: dict[str, float]
    per_class: pd.DataFrame
    score_threshold: float
    iou_threshold: float
    pred_path: str | None
    pred_hash: str | None
    pred_time: str | None
    code_version: str | None
    detview_version: str | None
    training: str | None
    step: int | None
    unit: str | None
    spec: dict[str, Any] | None
    params: dict[str, Any]
    log_path: str | None
    gt_path: str | None
    images_path: str | None
    notes: str | None


@dataclass
class Comparison:
    """Run B against run A: ``deltas`` (:func:`~detview.core.compare.metric_deltas` of
    the summary numbers), ``images`` (per-image A, B and B - A), ``worse`` (the images
    that got most worse by ``metric``), ``same_dataset`` (equal fingerprints)."""

    a: str
    b: str
    metric: str
    same_dataset: bool
    deltas: pd.DataFrame
    images: pd.DataFrame
    worse: pd.DataFrame


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def check_run_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise InputError("(command line)", "--name", "a run needs a name")
    if len(name) > _NAME_MAX:
        raise InputError("(command line)", "--name", f"longer than {_NAME_MAX} characters")
    if any(ord(c) < 32 for c in name):
        raise InputError("(command line)", "--name", "control characters in the name")
    return name.strip()


# ------------------------------------------------------------------ evaluation
def make_run(ds: Any, run: str, name: str, *, score_threshold: float = 0.5,
             iou_threshold: float = 0.5, spec: Any = None, params: Mapping[str, Any] | None
             = None, params_path: str | Path | None = None, log: Any = None,
             pred_path: str | Path | None = None, code_version: str | None = None,
             progress: Progress | None = None) -> RunRecord:
    """Evaluate ``ds.runs[run]`` for the store: the 12 COCO numbers and per-class AP of all
    its predictions (as a training framework reports them), the per-image table at the
    score/IoU thresholds with per-image COCO AP, the totals, the fingerprint and the
    predictions' hash. ``params`` come from ``params_path`` (read by the caller); ``log``
    is a :class:`~detview.io.trainlogs.TrainLog` (its curves and parameters are kept).
    The code version, unless given, is the git commit of the repository holding the
    predictions, the log or the parameters file."""
    from detview import __version__
    from detview.core.checkpoints import parse_checkpoint
    from detview.core.cocoeval import COCOEvaluator
    from detview.core.metrics import MetricParams, PerImageMetrics, run_totals

    name = check_run_name(name)
    if run not in ds.runs:
        raise InputError("(command line)", "--pred", f"no run {run!r} in the dataset")
    if progress is not None and progress(0, 3) is False:
        raise Cancelled()
    ev = COCOEvaluator.from_dataset(ds, run)
    result = ev.result()
    ap_img = ev.per_image_ap()
    if progress is not None and progress(1, 3) is False:
        raise Cancelled()
    pim = PerImageMetrics(ds, run, MetricParams(score_threshold, iou_threshold))
    table = pim.table()
    totals = run_totals(pim, ~ds.images.deleted)
    images = pd.DataFrame(index=pd.RangeIndex(ds.n_images, name="image"))
    for c in IMAGE_METRICS:
        if c == "ap":
            images[c] = ap_img["AP"].to_numpy()
        elif c == "ap50":
            images[c] = ap_img["AP50"].to_numpy()
        elif c in table.columns:
            images[c] = table[c].to_numpy()
        else:
            images[c] = np.nan
    images["deleted"] = table["deleted"].to_numpy(dtype=bool)
    summary = {k: float(v) for k, v in result.as_dict().items()}
    summary["n_images"] = float(totals["images"])
    for k in ("tp", "fp", "fn", "precision", "recall", "mean_iou"):
        summary[k] = float(totals[k])
    summary["n_pred"] = float(totals["pred"])
    spec_json = spec.to_json() if hasattr(spec, "to_json") else (dict(spec) if spec else None)
    gt_path = spec_json.get("gt") if spec_json else None
    images_path = spec_json.get("images") if spec_json else None
    if pred_path is None and spec_json:
        for n, p in spec_json.get("preds", []):
            if n == run or (n is None and Path(p).stem == run):
                pred_path = p
        if pred_path is None and len(spec_json.get("preds", [])) == 1:
            pred_path = spec_json["preds"][0][1]
    pred_hash = pred_time = None
    if pred_path is not None and Path(pred_path).exists():
        pred_hash = file_hash(pred_path)
        pred_time = _dt.datetime.fromtimestamp(Path(pred_path).stat().st_mtime,
                                               _dt.timezone.utc).isoformat(timespec="seconds")
    all_params: dict[str, Any] = {}
    log_path = None
    scalars = None
    if log is not None:
        all_params.update({f"log: {k}" if k in (params or {}) else k: v
                           for k, v in log.params.items()})
        log_path = log.path
        scalars = log.scalars
    if params:
        all_params.update(params)
    ck = parse_checkpoint(name, str(pred_path) if pred_path else None)
    if code_version is None:
        code_version = find_git_commit(pred_path, log_path, params_path)
    if progress is not None:
        progress(3, 3)
    n_gt = int(np.count_nonzero(ds.gt.alive & ~ds.gt.iscrowd))
    return RunRecord(
        name=name,
        dataset=DatasetInfo(dataset_fingerprint(ds), int(ds.n_images), n_gt,
                            list(ds.classes.names), list(ds.images.file_names), gt_path,
                            images_path),
        summary=summary, per_class=result.per_class.copy(), images=images,
        score_threshold=float(score_threshold), iou_threshold=float(iou_threshold),
        pred_path=str(pred_path) if pred_path is not None else None, pred_hash=pred_hash,
        pred_time=pred_time, code_version=code_version, detview_version=__version__,
        training=ck.training if ck else None, step=ck.step if ck else None,
        unit=ck.unit if ck else None, spec=spec_json, params=all_params,
        log_path=log_path, scalars=scalars)


# ------------------------------------------------------------------ schema
_COCO_COLS = ", ".join(f"{n} REAL" for n in STAT_NAMES)
_IMG_COLS = ", ".join(f"{c} {'INTEGER' if c in _INT_IMAGE else 'REAL'}" for c in IMAGE_METRICS)

MIGRATIONS: dict[int, list[str]] = {
    1: [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"INSERT INTO meta VALUES ('app', '{APP_ID}')",
        """CREATE TABLE datasets (
            id INTEGER PRIMARY KEY,
            fingerprint TEXT NOT NULL UNIQUE,
            n_images INTEGER NOT NULL,
            n_gt INTEGER NOT NULL,
            class_names TEXT NOT NULL,
            gt_path TEXT,
            images_path TEXT)""",
        """CREATE TABLE images (
            dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
            image INTEGER NOT NULL,
            file_name TEXT NOT NULL,
            PRIMARY KEY (dataset_id, image)) WITHOUT ROWID""",
        f"""CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created TEXT NOT NULL,
            dataset_id INTEGER NOT NULL REFERENCES datasets(id),
            score_threshold REAL NOT NULL,
            iou_threshold REAL NOT NULL,
            pred_path TEXT, pred_hash TEXT, pred_time TEXT,
            code_version TEXT, detview_version TEXT,
            training TEXT, step INTEGER, unit TEXT,
            spec TEXT, params TEXT NOT NULL DEFAULT '{{}}',
            {_COCO_COLS},
            n_images INTEGER, n_pred INTEGER, tp INTEGER, fp INTEGER, fn INTEGER,
            precision REAL, recall REAL, mean_iou REAL)""",
        """CREATE TABLE class_ap (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            cls INTEGER NOT NULL, name TEXT,
            AP REAL, AP50 REAL, AP75 REAL, AR100 REAL, n_gt INTEGER, n_det INTEGER,
            PRIMARY KEY (run_id, cls)) WITHOUT ROWID""",
        f"""CREATE TABLE image_metrics (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            image INTEGER NOT NULL,
            {_IMG_COLS},
            deleted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (run_id, image)) WITHOUT ROWID""",
    ],
    # 2: training-log curves and notes
    2: [
        "ALTER TABLE runs ADD COLUMN log_path TEXT",
        "ALTER TABLE runs ADD COLUMN notes TEXT",
        """CREATE TABLE log_scalars (
            run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            source TEXT, split TEXT, step INTEGER, epoch REAL, tag TEXT, value REAL,
            wall_time REAL)""",
        "CREATE INDEX log_scalars_run ON log_scalars (run_id, tag, step)",
        "CREATE INDEX runs_dataset ON runs (dataset_id)",
    ],
}


def migrate(conn: sqlite3.Connection, path: str, target: int = SCHEMA_VERSION) -> int:
    """Bring the schema to ``target``; returns the version found. Each step runs in one
    transaction with the version bump."""
    found = conn.execute("PRAGMA user_version").fetchone()[0]
    if found > SCHEMA_VERSION:
        raise InputError(path, "", f"written by a newer detview (store schema {found}); this "
                                   f"one reads up to schema {SCHEMA_VERSION}")
    if found == 0:
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables:
            raise InputError(path, "", "an SQLite database, but not a detview store")
    for v in range(found + 1, target + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] >= v:  # another process
                conn.execute("ROLLBACK")
                continue
            for sql in MIGRATIONS[v]:
                conn.execute(sql)
            conn.execute(f"PRAGMA user_version = {v}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return found


def _f(v: Any) -> float | None:
    """A float for SQLite (None for NaN: SQLite has no NaN)."""
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else f


def _i(v: Any) -> int | None:
    if v is None:
        return None
    f = float(v)
    return None if math.isnan(f) else int(f)


def _json(v: Any) -> str:
    return json.dumps(v, default=str, allow_nan=False, sort_keys=False) if v is not None \
        else "null"


def _json_safe(v: Any) -> Any:
    """Parameters as JSON can hold them (NaN/inf become strings)."""
    if isinstance(v, dict):
        return {str(k): _json_safe(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_json_safe(x) for x in v]
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return str(v)


# ------------------------------------------------------------------ the store
class Store:
    """One experiment store file. Use as a context manager or call :meth:`close`.

    Readers never block the writer (WAL); a second writer waits up to ``timeout``
    seconds. Every method raises :class:`InputError` for a missing run, naming it.
    """

    def __init__(self, path: str | Path | None = None, *, timeout: float = 10.0,
                 create: bool = True) -> None:
        self.path = Path(path) if path is not None else default_store_path()
        p = str(self.path)
        if self.path.is_dir():
            raise InputError(p, "", "is a folder; name the store file (e.g. runs.sqlite)")
        if not self.path.exists():
            if not create:
                raise InputError(p, "", "no such store")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(p, timeout=timeout, isolation_level=None,
                                         check_same_thread=False)
            self._conn.execute("PRAGMA foreign_keys = ON")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise InputError(p, "", f"cannot use write-ahead logging ({mode})")
            self._conn.execute("PRAGMA synchronous = FULL")
            self.found_version = migrate(self._conn, p)
            app = self._conn.execute("SELECT value FROM meta WHERE key='app'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError(p, "", f"not a detview store ({exc})") from None
        if app is None or app[0] != APP_ID:
            raise InputError(p, "", "an SQLite database, but not a detview store")

    # -------------------------------------------------------------- basics
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        c = self._conn
        c.execute("BEGIN IMMEDIATE")
        try:
            yield c
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` (``"ok"`` when sound)."""
        return str(self._conn.execute("PRAGMA integrity_check").fetchone()[0])

    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    # -------------------------------------------------------------- write
    def add_run(self, rec: RunRecord, *, replace: bool = False,
                progress: Progress | None = None) -> None:
        """Write one run in one transaction. A run of that name is an error unless
        ``replace``. ``progress(done, total)`` is called while the per-image rows are
        written; returning False cancels (nothing is written)."""
        name = check_run_name(rec.name)
        ds = rec.dataset
        n = len(rec.images)
        if n != ds.n_images:
            raise ValueError(f"{n} per-image rows for {ds.n_images} images")
        with self._write() as c:
            row = c.execute("SELECT id FROM runs WHERE name = ?", (name,)).fetchone()
            if row is not None:
                if not replace:
                    raise InputError(str(self.path), f"run {name!r}",
                                     "already in the store (use --replace, or another name)")
                c.execute("DELETE FROM runs WHERE id = ?", (row[0],))
            drow = c.execute("SELECT id FROM datasets WHERE fingerprint = ?",
                             (ds.fingerprint,)).fetchone()
            if drow is None:
                cur = c.execute(
                    "INSERT INTO datasets (fingerprint, n_images, n_gt, class_names, gt_path,"
                    " images_path) VALUES (?, ?, ?, ?, ?, ?)",
                    (ds.fingerprint, ds.n_images, ds.n_gt, json.dumps(ds.class_names),
                     ds.gt_path, ds.images_path))
                dataset_id = cur.lastrowid
                c.executemany("INSERT INTO images VALUES (?, ?, ?)",
                              ((dataset_id, i, f) for i, f in enumerate(ds.file_names)))
            else:
                dataset_id = drow[0]
            s = rec.summary
            cols = ["name", "created", "dataset_id", "score_threshold", "iou_threshold",
                    "pred_path", "pred_hash", "pred_time", "code_version", "detview_version",
                    "training", "step", "unit", "spec", "params", "log_path", "notes",
                    *STAT_NAMES, *TOTALS]
            vals = [name, rec.created, dataset_id, float(rec.score_threshold),
                    float(rec.iou_threshold), rec.pred_path, rec.pred_hash, rec.pred_time,
                    rec.code_version, rec.detview_version, rec.training, rec.step, rec.unit,
                    _json(_json_safe(rec.spec)) if rec.spec is not None else None,
                    _json(_json_safe(rec.params or {})), rec.log_path, rec.notes,
                    *(_f(s.get(k)) for k in STAT_NAMES),
                    *((_i if k in ("n_images", "n_pred", "tp", "fp", "fn") else _f)(s.get(k))
                      for k in TOTALS)]
            cur = c.execute(f"INSERT INTO runs ({', '.join(cols)}) VALUES "
                            f"({', '.join('?' * len(cols))})", vals)
            run_id = int(cur.lastrowid or 0)
            pc = rec.per_class
            c.executemany(
                "INSERT INTO class_ap VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, int(k), str(r.get("name", k)), _f(r.get("AP")), _f(r.get("AP50")),
                  _f(r.get("AP75")), _f(r.get("AR100")), _i(r.get("n_gt")), _i(r.get("n_det")))
                 for k, r in zip(pc.index, pc.to_dict("records"), strict=True)])
            self._insert_images(c, run_id, rec.images, progress)
            if rec.scalars is not None and len(rec.scalars):
                sc = rec.scalars
                c.executemany(
                    "INSERT INTO log_scalars VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    zip([run_id] * len(sc), sc["source"].astype(str), sc["split"].astype(str),
                        sc["step"].astype(np.int64).tolist(),
                        [_f(x) for x in sc["epoch"]], sc["tag"].astype(str),
                        [_f(x) for x in sc["value"]], [_f(x) for x in sc["wall_time"]],
                        strict=True))

    def _insert_images(self, c: sqlite3.Connection, run_id: int, images: pd.DataFrame,
                       progress: Progress | None, chunk: int = 5000) -> None:
        n = len(images)
        cols: list[list[Any]] = [[run_id] * n, [int(i) for i in images.index]]
        for m in IMAGE_METRICS:
            if m not in images.columns:
                cols.append([None] * n)
                continue
            v = images[m].to_numpy(dtype=np.float64)
            nan = np.isnan(v)
            obj = (np.where(nan, 0, v).astype(np.int64) if m in _INT_IMAGE else v).astype(object)
            obj[nan] = None  # SQLite has no NaN: NULL
            cols.append(obj.tolist())
        cols.append(images["deleted"].to_numpy(dtype=bool).astype(int).tolist()
                    if "deleted" in images.columns else [0] * n)
        sql = (f"INSERT INTO image_metrics (run_id, image, {', '.join(IMAGE_METRICS)}, "
               f"deleted) VALUES ({', '.join('?' * (len(IMAGE_METRICS) + 3))})")
        for lo in range(0, n, chunk):
            hi = min(n, lo + chunk)
            c.executemany(sql, zip(*(col[lo:hi] for col in cols), strict=True))
            if progress is not None and progress(hi, n) is False:
                raise Cancelled()

    def remove_run(self, name: str) -> None:
        with self._write() as c:
            rid = self._run_id(name, c)
            c.execute("DELETE FROM runs WHERE id = ?", (rid,))
            c.execute("DELETE FROM datasets WHERE id NOT IN (SELECT dataset_id FROM runs)")

    def rename_run(self, old: str, new: str) -> None:
        new = check_run_name(new)
        with self._write() as c:
            rid = self._run_id(old, c)
            if c.execute("SELECT 1 FROM runs WHERE name = ?", (new,)).fetchone():
                raise InputError(str(self.path), f"run {new!r}", "already in the store")
            c.execute("UPDATE runs SET name = ? WHERE id = ?", (new, rid))

    # -------------------------------------------------------------- read
    def _run_id(self, name: str, c: sqlite3.Connection | None = None) -> int:
        c = c or self._conn
        row = c.execute("SELECT id FROM runs WHERE name = ?", (name,)).fetchone()
        if row is None:
            names = [r[0] for r in c.execute("SELECT name FROM runs ORDER BY id")]
            hint = f"; runs: {', '.join(names[:10])}{' ...' if len(names) > 10 else ''}" \
                if names else "; the store is empty"
            raise InputError(str(self.path), f"run {name!r}", f"no such run{hint}")
        return int(row[0])

    def resolve(self, name: str, metric: str = "AP") -> str:
        """A run name; ``best`` (highest ``metric``, the one added last on a tie) and
        ``latest`` (added last) name runs too, unless a run is called that."""
        if self._conn.execute("SELECT 1 FROM runs WHERE name = ?", (name,)).fetchone():
            return name
        if name in ("best", "latest", "last"):
            if name == "best":
                col = self._run_column(metric)
                way = "ASC" if is_higher_better(metric) is False else "DESC"
                order = f"{col} IS NULL, {col} {way}, id DESC"
            else:
                order = "id DESC"
            row = self._conn.execute(f"SELECT name FROM runs ORDER BY {order} LIMIT 1"
                                     ).fetchone()
            if row is None:
                raise InputError(str(self.path), f"run {name!r}", "the store is empty")
            return str(row[0])
        self._run_id(name)  # raises with the list of runs
        return name

    def _run_column(self, metric: str) -> str:
        allowed = {*RUN_METRICS, "created", "name", "step"}
        if metric not in allowed:
            raise InputError("(command line)", "--sort",
                             f"unknown metric {metric!r}; choose from {', '.join(RUN_METRICS)}")
        return metric

    def run_names(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT name FROM runs ORDER BY id")]

    def list_runs(self, sort: str | None = None, descending: bool | None = None,
                  fingerprint: str | None = None) -> pd.DataFrame:
        """One row per run: ``name, created, dataset`` (fingerprint, 12 characters),
        the 12 COCO numbers, the totals, ``training, step, code_version, pred_path,
        score_threshold, iou_threshold``. Sorted by ``sort`` (best first for a metric,
        unless ``descending`` says), else in the order added."""
        cols = ["r.name", "r.created", "substr(d.fingerprint, 1, 12) AS dataset",
                *(f"r.{m}" for m in RUN_METRICS), "r.training", "r.step", "r.unit",
                "r.code_version", "r.pred_path", "r.score_threshold", "r.iou_threshold"]
        sql = (f"SELECT {', '.join(cols)} FROM runs r JOIN datasets d ON d.id = r.dataset_id")
        args: list[Any] = []
        if fingerprint:
            sql += " WHERE d.fingerprint LIKE ?"
            args.append(fingerprint + "%")
        if sort:
            col = self._run_column(sort)
            if descending is None:
                descending = is_higher_better(sort) is not False and sort not in ("name",
                                                                                  "created",
                                                                                  "step")
            sql += (f" ORDER BY r.{col} IS NULL, r.{col} {'DESC' if descending else 'ASC'},"
                    " r.id")
        else:
            sql += " ORDER BY r.id"
        df = pd.read_sql_query(sql, self._conn, params=args)
        for m in STAT_NAMES:
            df[m] = df[m].astype(np.float64)
        return df

    def get_run(self, name: str) -> RunInfo:
        rid = self._run_id(name)
        self._conn.row_factory = sqlite3.Row
        try:
            r = self._conn.execute(
                "SELECT r.*, d.fingerprint, d.n_images AS d_images, d.class_names, d.gt_path, "
                "d.images_path FROM runs r JOIN datasets d ON d.id = r.dataset_id "
                "WHERE r.id = ?", (rid,)).fetchone()
        finally:
            self._conn.row_factory = None
        per_class = pd.read_sql_query(
            "SELECT cls, name, AP, AP50, AP75, AR100, n_gt, n_det FROM class_ap "
            "WHERE run_id = ? ORDER BY cls", self._conn, params=(rid,), index_col="cls")
        for c in ("AP", "AP50", "AP75", "AR100"):
            per_class[c] = per_class[c].astype(np.float64)
        summary = {m: (float("nan") if r[m] is None else float(r[m])) for m in RUN_METRICS}
        return RunInfo(
            name=r["name"], created=r["created"], fingerprint=r["fingerprint"],
            n_images=int(r["d_images"]), class_names=json.loads(r["class_names"]),
            summary=summary, per_class=per_class, score_threshold=r["score_threshold"],
            iou_threshold=r["iou_threshold"], pred_path=r["pred_path"],
            pred_hash=r["pred_hash"], pred_time=r["pred_time"], code_version=r["code_version"],
            detview_version=r["detview_version"], training=r["training"], step=r["step"],
            unit=r["unit"], spec=json.loads(r["spec"]) if r["spec"] else None,
            params=json.loads(r["params"] or "{}"), log_path=r["log_path"],
            gt_path=r["gt_path"], images_path=r["images_path"], notes=r["notes"])

    def image_metrics(self, name: str) -> pd.DataFrame:
        """The run's per-image table: index ``image``; ``file_name``, the
        :data:`IMAGE_METRICS` (NaN where not computed), ``deleted``."""
        rid = self._run_id(name)
        df = pd.read_sql_query(
            f"SELECT m.image, i.file_name, {', '.join('m.' + c for c in IMAGE_METRICS)}, "
            "m.deleted FROM image_metrics m JOIN runs r ON r.id = m.run_id "
            "JOIN images i ON i.dataset_id = r.dataset_id AND i.image = m.image "
            "WHERE m.run_id = ? ORDER BY m.image", self._conn, params=(rid,),
            index_col="image")
        return _typed(df)

    def worst(self, name: str, metric: str = "mean_iou", n: int = 100,
              include_deleted: bool = False) -> pd.DataFrame:
        """The ``n`` worst images of a run by a per-image metric (lowest mean IoU/AP/TP/
        label quality, most FP/FN/loss), straight from the index; images without a value
        last, ties by image index. Same columns as :meth:`image_metrics`."""
        if metric not in IMAGE_METRICS:
            raise InputError("(command line)", "--metric",
                             f"unknown per-image metric {metric!r}; choose from "
                             f"{', '.join(IMAGE_METRICS)}")
        higher = is_higher_better(metric)
        if higher is None:
            raise InputError("(command line)", "--metric",
                             f"{metric!r} is neither better high nor low; choose from "
                             + ", ".join(m for m in IMAGE_METRICS
                                         if is_higher_better(m) is not None))
        rid = self._run_id(self.resolve(name))
        where = "" if include_deleted else " AND m.deleted = 0"
        df = pd.read_sql_query(
            f"SELECT m.image, i.file_name, {', '.join('m.' + c for c in IMAGE_METRICS)}, "
            "m.deleted FROM image_metrics m JOIN runs r ON r.id = m.run_id "
            "JOIN images i ON i.dataset_id = r.dataset_id AND i.image = m.image "
            f"WHERE m.run_id = ?{where} "
            f"ORDER BY m.{metric} IS NULL, m.{metric} {'ASC' if higher else 'DESC'}, m.image "
            "LIMIT ?", self._conn, params=(rid, max(int(n), 0)), index_col="image")
        return _typed(df)

    def compare(self, a: str, b: str, metric: str = "mean_iou", n: int = 20) -> Comparison:
        """Run B against run A (see :class:`Comparison`); images are matched by file name."""
        a, b = self.resolve(a), self.resolve(b)
        ia, ib = self.get_run(a), self.get_run(b)
        ta, tb = self.image_metrics(a), self.image_metrics(b)
        present = [m for m in IMAGE_METRICS if ta[m].notna().any() and tb[m].notna().any()]
        if metric not in present:
            raise InputError("(command line)", "--metric",
                             f"{metric!r} is not stored for both runs; choose from "
                             f"{', '.join(present)}")
        diff = image_differences(ta, tb, key="file_name", metrics=present)
        worse = most_worse(diff, metric, n)
        deltas = metric_deltas(ia.summary, ib.summary, RUN_METRICS)
        return Comparison(a, b, metric, ia.fingerprint == ib.fingerprint, deltas, diff, worse)

    def scalars(self, name: str) -> pd.DataFrame:
        """The run's training-log curves (the columns of a TrainLog's ``scalars``)."""
        rid = self._run_id(name)
        df = pd.read_sql_query(
            "SELECT r.name AS run, s.source, s.split, s.step, s.epoch, s.tag, s.value, "
            "s.wall_time FROM log_scalars s JOIN runs r ON r.id = s.run_id "
            "WHERE s.run_id = ? ORDER BY s.rowid", self._conn, params=(rid,))
        for c in ("epoch", "value", "wall_time"):
            df[c] = df[c].astype(np.float64)
        df["step"] = df["step"].astype(np.int64)
        return df

    def over_time(self, metric: str = "AP", fingerprint: str | None = None) -> pd.DataFrame:
        """``name, created, value, best_so_far`` in the order the runs were added (the
        running maximum for higher-is-better metrics, minimum otherwise)."""
        df = self.list_runs(fingerprint=fingerprint)
        self._run_column(metric)
        out = pd.DataFrame({"name": df["name"], "created": df["created"],
                            "value": df[metric].astype(np.float64)})
        v = out["value"].where(out["value"] != -1)
        out["best_so_far"] = (v.cummin() if is_higher_better(metric) is False else v.cummax())
        return out


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    for c in IMAGE_METRICS:
        df[c] = df[c].astype(np.float64)
    df["deleted"] = df["deleted"].astype(bool)
    return df


def runs_table_text(df: pd.DataFrame, columns: Iterable[str]) -> str:
    """A plain-text table for a terminal."""
    cols = list(columns)
    rows = [[_cell(v) for v in r] for r in df[cols].itertuples(index=False)]
    widths = [max([len(c)] + [len(r[i]) for r in rows]) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    out = [line.rstrip()]
    for r in rows:
        out.append("  ".join(v.rjust(w) if _numeric(v) else v.ljust(w)
                             for v, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(out)


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float | np.floating):
        f = float(v)
        if math.isnan(f):
            return ""
        if f.is_integer() and abs(f) < 1e15:
            return str(int(f))
        return f"{f:.4g}" if abs(f) < 0.01 else f"{f:.4f}"
    return str(v)


def _numeric(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True
