"""The Runs window's reading of the experiment store: sorting, bars, running best, and
what "open in viewer" loads (checked against plain pandas on the store's table)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detview.io.errors import InputError
from detview.io.spec import DatasetSpec
from detview.io.store import Store, make_run
from detview.session import load
from detview.session.catalog import RunsCatalog
from tests.gui.runs_data import write_tiny_coco
from tests.io.store_helpers import synthetic_dataset, synthetic_run


def fill_store(path: Path, root: Path) -> dict[str, object]:
    """Three real runs on one tiny dataset, one on another."""
    d = write_tiny_coco(root / "ds", runs=("good", "mid", "bad"))
    store = Store(path)
    for name, pred in d["preds"].items():  # type: ignore[attr-defined]
        spec = DatasetSpec.make(images=d["images"], gt=d["gt"], preds=[(name, pred)])
        ds = load(spec).dataset
        store.add_run(make_run(ds, name, name, spec=spec, pred_path=pred))
    e = write_tiny_coco(root / "other", runs=("elsewhere",), seed=5)
    spec = DatasetSpec.make(images=e["images"], gt=e["gt"],
                            preds=[("elsewhere", e["preds"]["elsewhere"])])  # type: ignore[index]
    store.add_run(make_run(load(spec).dataset, "elsewhere", "elsewhere", spec=spec,
                           pred_path=e["preds"]["elsewhere"]))  # type: ignore[index]
    store.close()
    return d


def pandas_order(df: pd.DataFrame, col: str, descending: bool) -> list[str]:
    v = df[col].astype(float).replace(-1.0, np.nan)
    t = pd.DataFrame({"name": df["name"], "v": v, "i": range(len(df))})
    t = t.sort_values(["v", "i"], ascending=[not descending, True], na_position="last",
                      kind="mergesort")
    return t["name"].tolist()


def test_sorting_bars_and_running_best_against_pandas(tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.sqlite")
    ds = synthetic_dataset(20)
    for k in range(9):
        store.add_run(synthetic_run(f"r{k}", ds, seed=k, created=f"2025-01-0{k + 1}T00:00:00"))
    store.close()
    cat = RunsCatalog(tmp_path / "runs.sqlite")
    df = cat.table
    for col in ("AP", "APs", "mean_iou", "fp"):
        for desc in (True, False):
            assert cat.sorted(col, desc)["name"].tolist() == pandas_order(df, col, desc), col
    assert cat.default_descending("AP") and not cat.default_descending("fp")
    assert cat.sorted("name", False)["name"].tolist() == sorted(df["name"])
    bars = cat.bars("APs")
    want = df[df["APs"] != -1].sort_values("APs", ascending=False, kind="mergesort")
    assert bars["name"].tolist() == want["name"].tolist()
    assert bars["value"].tolist() == want["APs"].tolist()
    ot = cat.over_time("AP")
    assert ot["best_so_far"].tolist() == df["AP"].cummax().tolist()


def test_missing_store_reads_empty(tmp_path: Path) -> None:
    cat = RunsCatalog(tmp_path / "none.sqlite")
    assert cat.empty and not (tmp_path / "none.sqlite").exists()
    with pytest.raises(InputError):
        cat.open_request(["x"])


def test_open_request(tmp_path: Path) -> None:
    d = fill_store(tmp_path / "runs.sqlite", tmp_path)
    cat = RunsCatalog(tmp_path / "runs.sqlite")
    one = cat.open_request(["mid"])
    assert one.pair is None
    assert one.spec.preds == (("mid", str(d["preds"]["mid"])),)  # type: ignore[index]
    assert one.spec.gt == str(d["gt"]) and one.spec.images == str(d["images"])
    two = cat.open_request(["bad", "good"])
    assert two.pair == ("bad", "good")
    assert [n for n, _ in two.spec.preds] == ["bad", "good"]
    s = load(two.spec, two.params).session()
    assert s.run_names == ["bad", "good"]
    with pytest.raises(InputError, match="different datasets"):
        cat.open_request(["good", "elsewhere"])
    with pytest.raises(InputError, match="one run, or two"):
        cat.open_request(["good", "mid", "bad"])
    Path(d["preds"]["mid"]).unlink()  # type: ignore[index]
    with pytest.raises(InputError, match="not found"):
        cat.open_request(["mid"])
    assert not math.isnan(float(cat.table.set_index("name").loc["good", "AP"]))
