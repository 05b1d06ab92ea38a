"""Per-image differences between two runs and the worst-N selections, checked against
plain-Python loops over the rows."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from detview.core.compare import (
    image_differences,
    metric_across,
    metric_deltas,
    most_worse,
    worst_images,
)

METRICS = ("mean_iou", "ap", "tp", "fp", "fn")


def table(rng, names, nan_frac=0.1) -> pd.DataFrame:
    n = len(names)
    df = pd.DataFrame({
        "file_name": names,
        "mean_iou": np.round(rng.uniform(0, 1, n), 2),
        "ap": np.where(rng.random(n) < nan_frac, np.nan, np.round(rng.uniform(0, 1, n), 2)),
        "tp": rng.integers(0, 5, n), "fp": rng.integers(0, 5, n), "fn": rng.integers(0, 5, n),
        "deleted": rng.random(n) < 0.05,
    })
    return df


def test_differences_and_most_worse_against_loops():
    rng = np.random.default_rng(7)
    names_a = [f"{i:04d}.jpg" for i in range(300)]
    names_b = names_a[10:] + [f"x{i}.jpg" for i in range(5)]  # 10 only in A, 5 only in B
    a = table(rng, names_a)
    b = table(rng, list(rng.permutation(names_b)))
    diff = image_differences(a, b)
    rows_a = {r["file_name"]: r for r in a.to_dict("records")}
    rows_b = {r["file_name"]: r for r in b.to_dict("records")}
    expected_order = names_a + [n for n in b["file_name"] if n not in rows_a]
    assert diff["file_name"].tolist() == expected_order
    for r in diff.to_dict("records"):
        ra, rb = rows_a.get(r["file_name"]), rows_b.get(r["file_name"])
        for m in METRICS:
            va = float(ra[m]) if ra else math.nan
            vb = float(rb[m]) if rb else math.nan
            assert (r[f"{m}_a"] == va or math.isnan(va) and math.isnan(r[f"{m}_a"]))
            d = vb - va
            assert r[f"d_{m}"] == d or (math.isnan(d) and math.isnan(r[f"d_{m}"]))
        assert r["deleted"] == bool((ra and ra["deleted"]) or (rb and rb["deleted"]))

    for metric, higher in (("mean_iou", True), ("ap", True), ("tp", True), ("fp", False),
                           ("fn", False)):
        got = most_worse(diff, metric, n=25)
        cands = []
        for k, r in enumerate(diff.to_dict("records")):
            d = r[f"d_{metric}"]
            if r["deleted"] or math.isnan(d) or (d >= 0 if higher else d <= 0):
                continue
            cands.append((d if higher else -d, k, r["file_name"]))
        cands.sort()
        assert got["file_name"].tolist() == [c[2] for c in cands[:25]], metric
        assert (got[f"d_{metric}"] < 0).all() if higher else (got[f"d_{metric}"] > 0).all()


def test_worst_images_against_loop():
    rng = np.random.default_rng(8)
    t = table(rng, [f"{i}.jpg" for i in range(200)], nan_frac=0.3)
    for metric, higher in (("mean_iou", True), ("ap", True), ("fp", False)):
        got = worst_images(t, metric, n=30)
        rows = [(r[metric], k, r["file_name"]) for k, r in enumerate(t.to_dict("records"))
                if not r["deleted"]]
        nan = [x for x in rows if math.isnan(x[0])]
        ok = sorted((x for x in rows if not math.isnan(x[0])),
                    key=lambda x: (x[0] if higher else -x[0], x[1]))
        assert got["file_name"].tolist() == [x[2] for x in (ok + nan)[:30]], metric
    with pytest.raises(ValueError, match="no better direction"):
        worst_images(t.assign(n_pred=1), "n_pred")


def test_by_index_for_one_dataset():
    a = pd.DataFrame({"file_name": ["x", "y"], "mean_iou": [0.5, 0.9], "tp": [1, 2]})
    b = pd.DataFrame({"file_name": ["x", "y"], "mean_iou": [0.7, 0.4], "tp": [1, 1]})
    d = image_differences(a, b, key=None)
    assert d.index.tolist() == [0, 1]
    assert np.allclose(d["d_mean_iou"], [0.2, -0.5]) and d["d_tp"].tolist() == [0, -1]
    assert most_worse(d, "mean_iou").index.tolist() == [1]
    with pytest.raises(KeyError, match="label_quality"):
        image_differences(a, b, metrics=["mean_iou", "label_quality"])
    with pytest.raises(ValueError, match="appears twice"):
        image_differences(pd.concat([a, a]), b)


def test_label_quality_difference_where_present():
    a = pd.DataFrame({"file_name": ["p", "q"], "mean_iou": [0.5, 0.5],
                      "label_quality": [0.9, 0.2]})
    b = pd.DataFrame({"file_name": ["p", "q"], "mean_iou": [0.5, 0.5],
                      "label_quality": [0.3, 0.25]})
    d = image_differences(a, b)
    assert np.allclose(d["d_label_quality"], [-0.6, 0.05])
    assert most_worse(d, "label_quality")["file_name"].tolist() == ["p"]
    assert "d_ap" not in d.columns


def test_metric_deltas():
    a = {"AP": 0.40, "APs": -1.0, "fp": 10, "n_pred": 100, "mean_iou": 0.5}
    b = {"AP": 0.45, "APs": 0.2, "fp": 12, "n_pred": 90, "mean_iou": 0.5}
    d = metric_deltas(a, b).set_index("metric")
    assert d.loc["AP", "better"] == "B" and math.isclose(d.loc["AP", "delta"], 0.05)
    assert d.loc["fp", "better"] == "A" and d.loc["fp", "delta"] == 2
    assert d.loc["APs", "better"] == "" and math.isnan(d.loc["APs", "a"])  # -1: undefined
    assert d.loc["n_pred", "better"] == "" and d.loc["mean_iou", "better"] == "="


def test_metric_across_checkpoints():
    t1 = pd.DataFrame({"file_name": ["a", "b"], "mean_iou": [0.1, 0.2]})
    t2 = pd.DataFrame({"file_name": ["b", "a"], "mean_iou": [0.4, 0.3]})
    m = metric_across([(100, t1), (200, t2)], "mean_iou")
    assert m.loc["a"].tolist() == [0.1, 0.3] and m.loc["b"].tolist() == [0.2, 0.4]
    assert list(m.columns) == [100, 200]
