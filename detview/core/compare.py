"""Two runs compared image by image, and the images that got worse.

Inputs are per-image tables as :meth:`detview.core.metrics.PerImageMetrics.table` makes
them (one row per image; ``file_name``, ``n_gt``, ``n_pred``, ``tp``, ``fp``, ``fn``,
``mean_iou``, and when computed ``ap``, ``ap50``, ``label_quality``, ``loss``, ``deleted``).
Nothing here knows where the tables came from: the store, two runs of one dataset, or
two checkpoints.

:func:`image_differences` puts run A's and run B's values side by side with the
differences ``d_<metric> = B - A``; :func:`most_worse` picks the N images whose metric
got most worse from A to B (lower mean IoU, AP, TP or label quality; more FP or FN);
:func:`worst_images` the N worst images of one run; :func:`metric_deltas` the summary
numbers of two runs side by side.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "DIFF_METRICS",
    "HIGHER_IS_BETTER",
    "LOWER_IS_BETTER",
    "image_differences",
    "is_higher_better",
    "metric_deltas",
    "metric_across",
    "most_worse",
    "worst_images",
]

DIFF_METRICS = ("mean_iou", "ap", "ap50", "tp", "fp", "fn", "n_pred", "label_quality", "loss")
HIGHER_IS_BETTER = frozenset({
    "mean_iou", "ap", "ap50", "tp", "label_quality", "precision", "recall",
    "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl",
})
LOWER_IS_BETTER = frozenset({"fp", "fn", "loss", "n_overlooked", "n_swap", "n_badloc"})


def is_higher_better(metric: str) -> bool | None:
    """True/False for a known metric; None when neither way is better (``n_pred``)."""
    if metric in HIGHER_IS_BETTER or metric.startswith(("AP", "AR")):
        return True
    if metric in LOWER_IS_BETTER or metric.startswith("err_"):
        return False
    return None


def _aligned(a: pd.DataFrame, b: pd.DataFrame, key: str | None) -> tuple[pd.DataFrame,
                                                                          pd.DataFrame]:
    if key is None:
        return a, b
    for name, t in (("A", a), ("B", b)):
        if key not in t.columns:
            raise KeyError(f"table {name} has no {key!r} column")
        if t[key].duplicated().any():
            dup = t[key][t[key].duplicated()].iloc[0]
            raise ValueError(f"table {name}: {key} {dup!r} appears twice")
    return a.set_index(key, drop=False), b.set_index(key, drop=False)


def image_differences(a: pd.DataFrame, b: pd.DataFrame, key: str | None = "file_name",
                      metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-image values of run A and run B and their differences.

    Rows are matched by ``key`` (default ``file_name``; None: by the tables' index, for
    two runs of one loaded dataset) over the union of both tables: an image in only one
    table has NaN on the other side and in its differences. Columns: ``key`` (when
    given), then for each metric present in both tables (``metrics`` or
    :data:`DIFF_METRICS`): ``<m>_a``, ``<m>_b``, ``d_<m>`` (= B - A), and ``deleted``
    (either side). The row order is A's, then B's extra images.
    """
    a2, b2 = _aligned(a, b, key)
    wanted = DIFF_METRICS if metrics is None else tuple(metrics)
    present = [m for m in wanted if m in a2.columns and m in b2.columns]
    missing = [m for m in (metrics or ()) if m not in present]
    if missing:
        raise KeyError(f"not in both tables: {', '.join(missing)}")
    index = a2.index.append(b2.index[~b2.index.isin(a2.index)])
    out = pd.DataFrame(index=index)
    if key is not None:
        out[key] = index.to_numpy()
    for m in present:
        va = a2[m].reindex(index).to_numpy(dtype=np.float64)
        vb = b2[m].reindex(index).to_numpy(dtype=np.float64)
        out[f"{m}_a"] = va
        out[f"{m}_b"] = vb
        out[f"d_{m}"] = vb - va
    deleted = np.zeros(len(index), dtype=bool)
    for t in (a2, b2):
        if "deleted" in t.columns:
            deleted |= t["deleted"].reindex(index).fillna(False).to_numpy(dtype=bool)
    out["deleted"] = deleted
    if key is not None:
        out = out.reset_index(drop=True)
    return out


def _order(values: np.ndarray, ascending: bool) -> np.ndarray:
    """Stable order, NaN last in both directions."""
    key = np.where(np.isnan(values), np.inf, values if ascending else -values)
    return np.argsort(key, kind="stable")


def most_worse(diff: pd.DataFrame, metric: str = "mean_iou", n: int = 20,
               include_deleted: bool = False) -> pd.DataFrame:
    """The ``n`` images of :func:`image_differences` whose ``metric`` got most worse from
    A to B (largest drop for higher-is-better metrics, largest rise for FP/FN/loss).
    Only images that did get worse are returned, worst first; ties keep table order."""
    col = f"d_{metric}"
    if col not in diff.columns:
        raise KeyError(f"no difference column {col!r}")
    higher = is_higher_better(metric)
    if higher is None:
        raise ValueError(f"{metric!r} has no better direction; choose e.g. mean_iou, ap, fp")
    d = diff[col].to_numpy(dtype=np.float64)
    worse = d < 0 if higher else d > 0
    if not include_deleted and "deleted" in diff.columns:
        worse &= ~diff["deleted"].to_numpy(dtype=bool)
    rows = np.flatnonzero(worse)
    order = rows[_order(d[rows], ascending=higher)]
    return diff.iloc[order[: max(n, 0)]]


def worst_images(table: pd.DataFrame, metric: str = "mean_iou", n: int = 100,
                 include_deleted: bool = False) -> pd.DataFrame:
    """The ``n`` worst images of one run's per-image table by ``metric`` (lowest for
    higher-is-better metrics, highest for FP/FN/loss); NaN last; ties keep table order."""
    if metric not in table.columns:
        raise KeyError(f"no column {metric!r}")
    higher = is_higher_better(metric)
    if higher is None:
        raise ValueError(f"{metric!r} has no better direction; choose e.g. mean_iou, ap, fp")
    t = table
    if not include_deleted and "deleted" in t.columns:
        t = t[~t["deleted"].to_numpy(dtype=bool)]
    v = t[metric].to_numpy(dtype=np.float64)
    return t.iloc[_order(v, ascending=higher)[: max(n, 0)]]


def metric_deltas(a: Mapping[str, float], b: Mapping[str, float],
                  metrics: Iterable[str] | None = None) -> pd.DataFrame:
    """Summary numbers of two runs: ``metric, a, b, delta (= b - a), better`` where
    ``better`` is ``"B"``, ``"A"``, ``"="`` or ``""`` (no direction / a value missing).
    A COCO -1 (no ground truth in that size range) is treated as missing."""
    names = list(metrics) if metrics is not None else [k for k in a if k in b]
    rows = []
    for m in names:
        va = _num(a.get(m))
        vb = _num(b.get(m))
        d = vb - va if not (math.isnan(va) or math.isnan(vb)) else float("nan")
        higher = is_higher_better(m)
        if math.isnan(d) or higher is None:
            better = ""
        elif d == 0:
            better = "="
        else:
            better = "B" if (d > 0) == higher else "A"
        rows.append({"metric": m, "a": va, "b": vb, "delta": d, "better": better})
    return pd.DataFrame(rows, columns=["metric", "a", "b", "delta", "better"])


def _num(v: object) -> float:
    if v is None or isinstance(v, bool):
        return float("nan")
    try:
        f = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return float("nan")
    return float("nan") if f == -1.0 else f


def metric_across(tables: Sequence[tuple[object, pd.DataFrame]], metric: str,
                  key: str = "file_name") -> pd.DataFrame:
    """One metric of each image across several runs (checkpoints): rows are images
    (``key``), columns the runs' labels (e.g. steps) in the order given."""
    cols = {}
    for label, t in tables:
        if metric not in t.columns:
            raise KeyError(f"run {label!r} has no column {metric!r}")
        cols[label] = pd.Series(t[metric].to_numpy(dtype=np.float64),
                                index=t[key].to_numpy())
    out = pd.DataFrame(cols)
    out.index.name = key
    return out
