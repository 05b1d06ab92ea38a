"""The Runs window over an experiment store: the table sorted by any column (checked
against pandas on the store's list), the bar and over-time plots, and "open in viewer"
for one run and for a pair."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PySide6.QtCore import QItemSelectionModel

from detview.gui.runs_window import RunsWindow
from detview.io.store import Store
from tests.io.store_helpers import synthetic_dataset, synthetic_run
from tests.session.test_catalog import fill_store, pandas_order


def synthetic_store(path: Path, n: int = 7) -> pd.DataFrame:
    store = Store(path)
    ds = synthetic_dataset(30)
    for k in range(n):
        store.add_run(synthetic_run(f"run{k}", ds, seed=k, created=f"2025-02-0{k + 1}T10:00:00"))
    df = store.list_runs()
    store.close()
    return df


def select(w: RunsWindow, names: list[str]) -> None:
    sm = w.table.selectionModel()
    sm.clearSelection()
    all_names = w.model.names()
    for n in names:
        sm.select(w.model.index(all_names.index(n), 0),
                  QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)


def test_table_sorts_by_any_metric(qtbot: Any, tmp_path: Path) -> None:
    df = synthetic_store(tmp_path / "runs.sqlite")
    w = RunsWindow(tmp_path / "runs.sqlite")
    qtbot.addWidget(w)
    w.show()
    assert w.model.names() == df["name"].tolist()  # in the order added
    assert "Runs (7)" in w.windowTitle()
    cols = w.model.columns
    for col, first_desc in (("AP", True), ("APs", True), ("fp", False), ("mean_iou", True)):
        w.header_clicked(cols.index(col))
        assert w.model.names() == pandas_order(df, col, first_desc), col
        w.header_clicked(cols.index(col))  # a second click reverses
        assert w.model.names() == pandas_order(df, col, not first_desc), col
    w.header_clicked(cols.index("name"))
    assert w.model.names() == sorted(df["name"])
    # a COCO -1 (no object of that size) reads -1, greyed, and sorts last
    w.sort_by("APs", True)
    minus = df.loc[df["APs"] == -1, "name"].tolist()
    assert minus and w.model.names()[-len(minus):] == minus
    r = w.model.names().index(minus[0])
    assert w.model.data(w.model.index(r, cols.index("APs"))) == "-1"


def test_bars_and_running_best(qtbot: Any, tmp_path: Path) -> None:
    df = synthetic_store(tmp_path / "runs.sqlite")
    w = RunsWindow(tmp_path / "runs.sqlite")
    qtbot.addWidget(w)
    w.show()
    w.metric_combo.setCurrentIndex(w.metric_combo.findData("AP50"))
    bars = w.bar_values()
    want = df.sort_values("AP50", ascending=False, kind="mergesort")
    assert bars["name"].tolist() == want["name"].tolist()
    items = [i for i in w.bar_plot.getPlotItem().items if type(i).__name__ == "BarGraphItem"]
    assert len(items) == 1
    widths = np.asarray(items[0].opts["width"], float)
    np.testing.assert_allclose(widths, want["AP50"].to_numpy())
    # over time: the values in the order added and their running maximum
    curves = [i for i in w.time_plot.getPlotItem().items if type(i).__name__ == "PlotDataItem"]
    by_name = {c.name(): c for c in curves}
    _, v = by_name["AP50"].getData()
    _, best = by_name["best so far"].getData()
    np.testing.assert_allclose(v, df["AP50"].to_numpy())
    np.testing.assert_allclose(best, df["AP50"].cummax().to_numpy())
    # sorting by a metric shows that metric in the plots
    w.header_clicked(w.model.columns.index("AR100"))
    assert w.metric == "AR100"


def test_empty_and_missing_store(qtbot: Any, tmp_path: Path) -> None:
    w = RunsWindow(tmp_path / "none.sqlite")
    qtbot.addWidget(w)
    assert w.model.rowCount() == 0
    assert "No runs" in w.empty.text() and "detview runs add" in w.empty.text()
    assert not w.open_button.isEnabled()
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    with pytest.raises(Exception, match="bad.sqlite"):
        RunsWindow(bad)


def test_open_in_viewer_one_run_and_a_pair(qtbot: Any, tmp_path: Path) -> None:
    from detview.gui.main_window import MainWindow

    fill_store(tmp_path / "runs.sqlite", tmp_path)
    mw = MainWindow()
    mw.quiet = True
    mw.use_journal = False
    qtbot.addWidget(mw)
    mw.store_path = tmp_path / "runs.sqlite"
    mw.show()
    assert mw.actions_by_name["runs_window"].isEnabled()  # no dataset needed
    w = mw.show_runs_window()
    assert w is not None and w.catalog.path == tmp_path / "runs.sqlite"
    # one run, by a double click's path: the dataset with its predictions
    select(w, ["mid"])
    assert w.open_button.isEnabled() and w.open_button.text() == "Open in viewer"
    w.open_button.click()
    qtbot.waitUntil(lambda: mw.session is not None and mw.session.run_names == ["mid"],
                    timeout=60000)
    assert mw.session.training.pair is None
    # two runs: both, compared A -> B (A = the first selected)
    select(w, ["bad"])
    sm = w.table.selectionModel()
    sm.select(w.model.index(w.model.names().index("good"), 0),
              QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    assert w.selected_names() == ["bad", "good"]
    assert w.open_button.text() == "Open A → B in viewer"
    w.open_button.click()
    qtbot.waitUntil(lambda: mw.session is not None and len(mw.session.run_names) == 2,
                    timeout=60000)
    s = mw.session
    assert s.run_names == ["bad", "good"] and s.training.pair == ("bad", "good")
    qtbot.waitUntil(lambda: s.derived.is_current("diff"), timeout=60000)
    keys = [c.key for c in mw.images.model.columns]
    assert not mw.images.table.isColumnHidden(keys.index("d_mean_iou"))
    assert mw.compare.a_combo.currentData() == "bad"
    assert mw.compare.b_combo.currentData() == "good"
    # runs of two datasets: a message, nothing opened
    messages: list[str] = []
    w.message.connect(messages.append)
    select(w, ["good", "elsewhere"])
    w.open_button.click()
    assert messages and "different datasets" in messages[-1]
    assert mw.session is s
