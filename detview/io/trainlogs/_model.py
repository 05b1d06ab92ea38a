"""The one structure every training-log reader returns.

A reader is a pure function ``parse(data: bytes, source: str) -> Parsed`` over the
file's bytes (``source`` names the file in messages). :func:`detview.io.trainlogs.read_log`
adds what lies beside the file (``opt.yaml``, ``hyp.yaml``, ``args.yaml``) and the run's
name, and returns a :class:`TrainLog`.

The scalars are one long ("tidy") table, one row per logged value:

==========  =======  =============================================================
column      dtype    meaning
==========  =======  =============================================================
run         str      the run's name (the log's folder unless given)
source      str      the file the value came from
split       str      ``"train"`` or ``"val"``
step        int64    the file's own step counter (iteration; Ultralytics: epoch)
epoch       float64  epochs completed when the value was measured; NaN if unknown
tag         str      the metric's name as the file spells it (padding stripped)
value       float64  the value (NaN where the file said nan/inf)
wall_time   float64  seconds since the epoch when logged; NaN if unknown
==========  =======  =============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from detview.io.errors import Problem

__all__ = ["COLUMNS", "Parsed", "ScalarRows", "TrainLog", "empty_scalars"]

COLUMNS = ("run", "source", "split", "step", "epoch", "tag", "value", "wall_time")
_STR = pd.Series(["x"]).dtype  # pandas' default text dtype (object before pandas 3)


class ScalarRows:
    """Collects rows column by column (cheap appends) and makes the frame once."""

    def __init__(self) -> None:
        self.split: list[str] = []
        self.step: list[int] = []
        self.epoch: list[float] = []
        self.tag: list[str] = []
        self.value: list[float] = []
        self.wall_time: list[float] = []

    def add(self, split: str, step: int, epoch: float, tag: str, value: float,
            wall_time: float = float("nan")) -> None:
        self.split.append(split)
        self.step.append(step)
        self.epoch.append(epoch)
        self.tag.append(tag)
        self.value.append(value)
        self.wall_time.append(wall_time)

    def __len__(self) -> int:
        return len(self.value)

    def frame(self, run: str, source: str) -> pd.DataFrame:
        n = len(self.value)
        df = pd.DataFrame({
            "run": pd.Series([run] * n, dtype=_STR),
            "source": pd.Series([source] * n, dtype=_STR),
            "split": pd.Series(self.split, dtype=_STR),
            "step": np.asarray(self.step, dtype=np.int64),
            "epoch": np.asarray(self.epoch, dtype=np.float64),
            "tag": pd.Series(self.tag, dtype=_STR),
            "value": np.asarray(self.value, dtype=np.float64),
            "wall_time": np.asarray(self.wall_time, dtype=np.float64),
        })
        return df


def empty_scalars() -> pd.DataFrame:
    return ScalarRows().frame("", "")


@dataclass
class Parsed:
    """What a reader found in one file's bytes."""

    rows: ScalarRows
    params: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


@dataclass
class TrainLog:
    """One training log, read.

    ``scalars``: the long table described in this module's docstring.
    ``params``: the run's parameters by where they were found, e.g.
    ``{"opt.yaml": {...}, "hyp.yaml": {...}}`` or ``{"arguments": {...}}`` (a torchvision
    ``Namespace(...)`` line); :meth:`flat_params` gives ``key -> value`` rows.
    ``problems``: warnings (lines skipped, a last record cut short); errors raise
    :class:`~detview.io.errors.InputError` instead.
    """

    path: str
    format: str
    run: str
    scalars: pd.DataFrame
    params: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    # ------------------------------------------------------------------ queries
    def tags(self, split: str | None = None) -> list[str]:
        """The tags in the order the file first logged them."""
        df = self.scalars if split is None else self.scalars[self.scalars["split"] == split]
        return list(dict.fromkeys(df["tag"]))

    def series(self, tag: str, split: str | None = None) -> pd.DataFrame:
        """``step, epoch, value, wall_time`` of one tag, ordered by step (a step logged
        twice, e.g. after a resume, keeps its last value)."""
        df = self.scalars
        m = df["tag"] == tag
        if split is not None:
            m &= df["split"] == split
        out = df.loc[m, ["step", "epoch", "value", "wall_time"]]
        out = out.drop_duplicates("step", keep="last").sort_values("step", kind="stable")
        return out.reset_index(drop=True)

    def last(self, tag: str, split: str | None = None) -> float:
        """The value at the highest step (NaN when the tag is absent)."""
        s = self.series(tag, split)
        return float(s["value"].iloc[-1]) if len(s) else float("nan")

    def explain(self, tag: str) -> str:
        """One line saying what ``tag`` measures and which way is better ("" if unknown)."""
        from .explain import explain

        return explain(tag)

    def group(self, tag: str) -> str:
        """Which plot the tag belongs to: loss, lr, precision, recall, speed or other."""
        from .explain import metric_group

        return metric_group(tag)

    def flat_params(self) -> list[tuple[str, Any]]:
        """``("opt.yaml: epochs", 100)`` rows for a details table, nested keys dotted."""
        rows: list[tuple[str, Any]] = []

        def walk(prefix: str, v: Any) -> None:
            if isinstance(v, dict) and v:
                for k, x in v.items():
                    walk(f"{prefix}.{k}" if prefix else str(k), x)
            else:
                rows.append((prefix, v))

        for where, d in self.params.items():
            if isinstance(d, dict):
                for k, v in d.items():
                    walk(f"{where}: {k}", v)
            else:
                rows.append((where, d))
        return rows
