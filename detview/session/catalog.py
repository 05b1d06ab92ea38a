"""The experiment store as the Runs window shows it, without Qt.

:class:`RunsCatalog` reads one store (:class:`detview.io.store.Store`): the runs table
sorted by any column (best first for a metric, a COCO -1 and missing values last), one
metric's values sorted for a bar plot, the metric over time with its running best, and
:meth:`RunsCatalog.open_request`, which turns one run or a pair into what "open in
viewer" loads: the dataset they were evaluated on with their prediction files (two runs:
compared A → B).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from detview.core.cocoeval import STAT_NAMES
from detview.core.compare import is_higher_better
from detview.core.metrics import MetricParams
from detview.io.errors import InputError
from detview.io.spec import DatasetSpec
from detview.io.store import RUN_METRICS, Store, default_store_path

__all__ = ["OpenRequest", "RunsCatalog", "PLOT_METRICS"]

#: metrics offered for the bar and over-time plots
PLOT_METRICS: tuple[str, ...] = RUN_METRICS
_TEXT_COLUMNS = {"name", "created", "dataset", "training", "unit", "code_version",
                 "pred_path"}


@dataclass(frozen=True)
class OpenRequest:
    """What "open in viewer" loads: the dataset with the runs' predictions, at the
    thresholds run A was stored with; ``pair`` = (A, B) for two runs."""

    spec: DatasetSpec
    params: MetricParams
    runs: tuple[str, ...]
    pair: tuple[str, str] | None


class RunsCatalog:
    """One store, read for the Runs window. A store file that does not exist yet reads
    as empty (nothing is created)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self._store: Store | None = None
        self.table = pd.DataFrame(columns=["name"])
        self.reload()

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    @property
    def store(self) -> Store | None:
        return self._store

    def reload(self) -> pd.DataFrame:
        """Read the runs again (in the order added)."""
        if self._store is None and self.path.exists():
            self._store = Store(self.path, create=False)
        self.table = (self._store.list_runs() if self._store is not None
                      else pd.DataFrame(columns=["name", "created", "dataset", *RUN_METRICS]))
        return self.table

    @property
    def empty(self) -> bool:
        return self.table.empty

    # ------------------------------------------------------------------ sorting
    @staticmethod
    def default_descending(column: str) -> bool:
        """A metric sorts best first (highest, or lowest for FP/FN); text ascending."""
        if column in _TEXT_COLUMNS:
            return False
        return is_higher_better(column) is not False and column != "step"

    def sorted(self, column: str, descending: bool | None = None) -> pd.DataFrame:
        """The runs table sorted by ``column``; missing values and a COCO -1 (no object
        of that size) last in both directions; ties keep the order added."""
        if column not in self.table.columns:
            raise KeyError(f"no column {column!r}")
        if descending is None:
            descending = self.default_descending(column)
        t = self.table
        v = t[column]
        if column in _TEXT_COLUMNS or v.dtype == object:
            s = v.astype(str).where(v.notna(), None)
            missing = s.isna().to_numpy()
            key = s.fillna("").str.lower().to_numpy()
            order = np.argsort(key, kind="stable")
            if descending:
                order = _stable_reverse(key, order)
        else:
            x = pd.to_numeric(v, errors="coerce").to_numpy(np.float64)
            if column in STAT_NAMES:
                x = np.where(x == -1.0, np.nan, x)
            missing = np.isnan(x)
            k = np.where(missing, 0.0, -x if descending else x)
            order = np.lexsort((np.arange(len(x)), k))
        order = np.concatenate([order[~missing[order]], order[missing[order]]])
        return t.iloc[order].reset_index(drop=True)

    # ------------------------------------------------------------------ plots
    def bars(self, metric: str) -> pd.DataFrame:
        """``name, value`` of the runs with a value (a COCO -1 left out), best first."""
        if metric not in self.table.columns:
            raise KeyError(f"no metric {metric!r}")
        df = self.sorted(metric)
        v = pd.to_numeric(df[metric], errors="coerce").astype(np.float64)
        keep = v.notna() & (v != -1.0)
        return pd.DataFrame({"name": df["name"][keep].to_numpy(),
                             "value": v[keep].to_numpy()})

    def over_time(self, metric: str) -> pd.DataFrame:
        """``name, created, value, best_so_far`` in the order the runs were added."""
        if self._store is None or self.empty:
            return pd.DataFrame(columns=["name", "created", "value", "best_so_far"])
        return self._store.over_time(metric)

    # ------------------------------------------------------------------ open
    def open_request(self, names: list[str]) -> OpenRequest:
        """What "open in viewer" loads for one run or two (A, B). Raises
        :class:`InputError` naming the problem: more than two runs, runs of different
        datasets, a run that does not record its dataset, a prediction file gone."""
        if not 1 <= len(names) <= 2:
            raise InputError(str(self.path), "", "choose one run, or two to compare")
        if self._store is None:
            raise InputError(str(self.path), "", "no such store")
        infos = [self._store.get_run(n) for n in names]
        if len(infos) == 2 and infos[0].fingerprint != infos[1].fingerprint:
            raise InputError(str(self.path), f"runs {names[0]!r} and {names[1]!r}",
                             "were evaluated on different datasets (ground truths differ); "
                             "open them one at a time")
        first = infos[0]
        if not first.spec:
            raise InputError(str(self.path), f"run {first.name!r}",
                             "does not record the dataset it was evaluated on")
        preds: list[tuple[str | None, str]] = []
        for info in infos:
            if not info.pred_path:
                raise InputError(str(self.path), f"run {info.name!r}",
                                 "does not record its prediction file")
            if not Path(info.pred_path).exists():
                raise InputError(info.pred_path, "", f"prediction file of run {info.name!r} "
                                                     "not found (moved or deleted?)")
            preds.append((info.name, info.pred_path))
        spec = DatasetSpec.from_json(first.spec)
        logs = tuple(i.log_path for i in infos if i.log_path and Path(i.log_path).exists())
        spec = replace(spec, preds=tuple(preds), logs=logs)
        params = MetricParams(float(first.score_threshold), float(first.iou_threshold))
        pair = (infos[0].name, infos[1].name) if len(infos) == 2 else None
        return OpenRequest(spec, params, tuple(names), pair)


def _stable_reverse(key: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Descending order of ``key`` keeping ties in their original order."""
    rev = order[::-1]
    out: list[int] = []
    k = 0
    while k < len(rev):
        j = k
        while j + 1 < len(rev) and key[rev[j + 1]] == key[rev[k]]:
            j += 1
        out.extend(sorted(rev[k:j + 1].tolist()))
        k = j + 1
    return np.asarray(out, dtype=np.int64)
