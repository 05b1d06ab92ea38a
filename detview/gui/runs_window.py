"""The Runs window: every run of the experiment store.

The runs table sorts by any column (click a header: a metric sorts best first, a second
click reverses); below it, the chosen metric as a bar per run sorted by value, and over
time (in the order the runs were added) with its running best. "Open in viewer" (or a
double click) opens the dataset a run was evaluated on with its predictions; two runs
selected open both, compared A → B.

The numbers come from :class:`detview.session.catalog.RunsCatalog`; this module draws.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyqtgraph as pg
from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from detview.io.errors import format_error
from detview.io.trainlogs import explain
from detview.session.catalog import PLOT_METRICS, OpenRequest, RunsCatalog

__all__ = ["RunsTableModel", "RunsWindow"]

Index = QModelIndex | QPersistentModelIndex
COLUMNS = ("name", "created", "AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10",
           "AR100", "ARs", "ARm", "ARl", "precision", "recall", "mean_iou", "tp", "fp", "fn",
           "n_pred", "n_images", "training", "step", "dataset", "code_version", "pred_path")
_TIPS = {"name": "The run's name (NAME@STEP marks a checkpoint)",
         "created": "When the run was added to the store (UTC)",
         "dataset": "The dataset's fingerprint: a hash of its ground truth as loaded",
         "tp": "True positives over all images, at the stored thresholds",
         "fp": "False positives over all images, at the stored thresholds",
         "fn": "Missed boxes over all images, at the stored thresholds",
         "precision": "TP / (TP + FP) at the stored thresholds",
         "recall": "TP / (TP + FN) at the stored thresholds",
         "mean_iou": "Mean of the per-image mean IoU", "n_pred": "Predictions kept",
         "n_images": "Images evaluated", "training": "The training this checkpoint belongs to",
         "step": "The checkpoint's step or epoch", "code_version": "git commit found",
         "pred_path": "The prediction file"}


def _short(v: Any, col: str) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if col == "created":
        return str(v).replace("T", " ")[:16]
    if col == "code_version":
        return str(v)[:10]
    if isinstance(v, float | np.floating):
        f = float(v)
        if f == -1.0 and col in PLOT_METRICS:
            return "-1"
        if f.is_integer() and col not in ("precision", "recall", "mean_iou") and \
                not col.startswith(("AP", "AR")):
            return str(int(f))
        return f"{f:.3f}"
    return str(v)


class RunsTableModel(QAbstractTableModel):
    """The catalog's runs table, sorted by the catalog."""

    def __init__(self, catalog: RunsCatalog, parent: Any = None) -> None:
        super().__init__(parent)
        self.catalog = catalog
        self.df = catalog.table
        self.sort_key: tuple[str, bool] | None = None
        self.columns = [c for c in COLUMNS if c in self.df.columns] or ["name"]

    def reset(self) -> None:
        self.beginResetModel()
        self.columns = [c for c in COLUMNS if c in self.catalog.table.columns] or ["name"]
        self.df = (self.catalog.sorted(*self.sort_key) if self.sort_key
                   and self.sort_key[0] in self.catalog.table.columns else self.catalog.table)
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.df)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        col = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return col
        if role == Qt.ItemDataRole.ToolTipRole:
            return _TIPS.get(col) or explain(col) or col
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        col = self.columns[index.column()]
        v = self.df[col].iloc[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return _short(v, col)
        if role == Qt.ItemDataRole.ToolTipRole:
            return "" if v is None else str(v)
        if role == Qt.ItemDataRole.TextAlignmentRole and col not in (
                "name", "created", "training", "dataset", "code_version", "pred_path"):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and col in PLOT_METRICS and v == -1:
            return QBrush(QColor(150, 150, 150))
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if 0 <= column < len(self.columns):
            self.sort_by(self.columns[column], order == Qt.SortOrder.DescendingOrder)

    def sort_by(self, column: str, descending: bool | None = None) -> None:
        if descending is None:
            descending = self.catalog.default_descending(column)
        self.sort_key = (column, descending)
        self.layoutAboutToBeChanged.emit()
        self.df = self.catalog.sorted(column, descending)
        self.layoutChanged.emit()

    def names(self) -> list[str]:
        return [str(n) for n in self.df["name"]] if "name" in self.df else []


class RunsWindow(QWidget):
    """The store's runs. ``openRequested(OpenRequest)`` when the user opens a run (or
    two) in the viewer; ``message(text)``."""

    openRequested = Signal(object)  # noqa: N815
    message = Signal(str)

    def __init__(self, store: str | Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("runs_window")
        self._selection_names: list[str] = []  # selected runs, A first
        self.catalog = RunsCatalog(store)
        self.model = RunsTableModel(self.catalog, self)
        self.path_label = QLabel()
        self.path_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.change_button = QPushButton("Other store…")
        self.change_button.clicked.connect(self.choose_store)
        self.reload_button = QPushButton("Reload")
        self.reload_button.setToolTip("Read the store again (runs added since)")
        self.reload_button.clicked.connect(self.reload)
        self.open_button = QPushButton("Open in viewer")
        self.open_button.setToolTip("Open the dataset with the selected run's predictions; "
                                    "two runs selected: both, compared A → B (A = the first "
                                    "selected)")
        self.open_button.clicked.connect(self.open_selected)
        top = QHBoxLayout()
        top.addWidget(self.path_label, 1)
        top.addWidget(self.change_button)
        top.addWidget(self.reload_button)
        top.addWidget(self.open_button)
        t = self.table = QTableView()
        t.setModel(self.model)
        t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        t.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        t.setSortingEnabled(False)
        t.horizontalHeader().setSectionsClickable(True)
        t.horizontalHeader().setSortIndicatorShown(True)
        t.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # order added
        t.horizontalHeader().sectionClicked.connect(self.header_clicked)
        t.verticalHeader().setVisible(False)
        t.verticalHeader().setDefaultSectionSize(22)
        t.setAlternatingRowColors(True)
        t.doubleClicked.connect(lambda idx: self.open_runs([self.model.names()[idx.row()]]))
        t.selectionModel().selectionChanged.connect(self._on_selection)
        self.empty = QLabel()
        self.empty.setStyleSheet("color: gray")
        self.empty.setWordWrap(True)
        # ---- plots
        self.metric_combo = QComboBox()
        for m in PLOT_METRICS:
            self.metric_combo.addItem(m, m)
            self.metric_combo.setItemData(self.metric_combo.count() - 1,
                                          _TIPS.get(m) or explain(m),
                                          Qt.ItemDataRole.ToolTipRole)
        self.metric_combo.currentIndexChanged.connect(self.update_plots)
        self.bar_plot = pg.PlotWidget(background="w")
        self.bar_plot.getPlotItem().showGrid(x=True, alpha=0.15)
        self.bar_plot.getPlotItem().setMenuEnabled(False)
        self.time_plot = pg.PlotWidget(background="w")
        self.time_plot.getPlotItem().showGrid(x=True, y=True, alpha=0.15)
        self.time_plot.getPlotItem().addLegend(offset=(-6, 6), labelTextSize="8pt")
        self.time_plot.getPlotItem().setMenuEnabled(False)
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.bar_plot)
        plots.addWidget(self.time_plot)
        plot_box = QWidget()
        pl = QVBoxLayout(plot_box)
        pl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("Metric"))
        head.addWidget(self.metric_combo)
        self.plot_note = QLabel()
        self.plot_note.setStyleSheet("color: gray")
        head.addWidget(self.plot_note, 1)
        pl.addLayout(head)
        pl.addWidget(plots, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(t)
        split.addWidget(plot_box)
        split.setSizes([330, 420])
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(top)
        lay.addWidget(self.empty)
        lay.addWidget(split, 1)
        self.resize(1280, 820)
        QShortcut(QKeySequence("Ctrl+W"), self, activated=self.close)
        QShortcut(QKeySequence("F5"), self, activated=self.reload)
        self.reload()

    # ------------------------------------------------------------------ store
    def set_store(self, path: str | Path | None) -> None:
        self.catalog.close()
        self.catalog = RunsCatalog(path)
        self.model.catalog = self.catalog
        self.reload()

    def choose_store(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open an experiment store",
                                              str(self.catalog.path.parent),
                                              "detview stores (*.sqlite *.db);;All files (*)")
        if path:
            try:
                self.set_store(path)
            except Exception as exc:  # noqa: BLE001 - one line, no traceback
                self.message.emit(format_error(exc))
                self.empty.setText(format_error(exc))

    def reload(self) -> None:
        try:
            self.catalog.reload()
        except Exception as exc:  # noqa: BLE001 - a damaged store: say so, keep the window
            self.empty.setText(format_error(exc))
            self.empty.setVisible(True)
            return
        self.model.reset()
        n = len(self.catalog.table)
        self.setWindowTitle(f"Runs ({n}) — detview")
        self.path_label.setText(f"Store: {self.catalog.path}")
        self.empty.setText(
            f"No runs in {self.catalog.path} yet. Add one with: detview runs add --images DIR "
            "--gt PATH --pred PATH --name NAME [--log LOG]" if not n else "")
        self.empty.setVisible(not n)
        self._size_columns()
        self._on_selection()

    def _size_columns(self) -> None:
        self.table.resizeColumnsToContents()
        hh = self.table.horizontalHeader()
        for c in range(self.model.columnCount()):
            hh.resizeSection(c, min(hh.sectionSize(c), 240))

    # ------------------------------------------------------------------ sorting
    def header_clicked(self, section: int) -> None:
        col = self.model.columns[section]
        prev = self.model.sort_key
        desc = (not prev[1]) if prev is not None and prev[0] == col else \
            self.catalog.default_descending(col)
        self.sort_by(col, desc)

    def sort_by(self, column: str, descending: bool | None = None) -> None:
        selected = self.selected_names()
        self.model.sort_by(column, descending)
        assert self.model.sort_key is not None
        order = Qt.SortOrder.DescendingOrder if self.model.sort_key[1] else \
            Qt.SortOrder.AscendingOrder
        self.table.horizontalHeader().setSortIndicator(self.model.columns.index(column), order)
        self.select_names(selected)
        if column in PLOT_METRICS:
            self.metric_combo.setCurrentIndex(self.metric_combo.findData(column))

    # ------------------------------------------------------------------ selection
    def selected_names(self) -> list[str]:
        """The selected runs, in the order they were selected (A first)."""
        return list(self._selection_names)

    def select_names(self, names: list[str]) -> None:
        sm = self.table.selectionModel()
        sm.clearSelection()
        all_names = self.model.names()
        for n in names:
            if n in all_names:
                idx = self.model.index(all_names.index(n), 0)
                sm.select(idx, QItemSelectionModel.SelectionFlag.Select
                          | QItemSelectionModel.SelectionFlag.Rows)

    def _on_selection(self, *_a: Any) -> None:
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        names = self.model.names()
        now = [names[r] for r in rows if r < len(names)]
        kept = [x for x in self._selection_names if x in now]
        self._selection_names = kept + [x for x in now if x not in kept]
        n = len(rows)
        self.open_button.setEnabled(1 <= n <= 2)
        self.open_button.setText("Open A → B in viewer" if n == 2 else "Open in viewer")
        sel = self._selection_names
        self.open_button.setToolTip(
            f"Open the dataset with A = {sel[0]} and B = {sel[1]}, compared image by image "
            "(A = the run selected first)" if n == 2 else
            "Open the dataset with the selected run's predictions; select two runs to "
            "compare them (A = the first selected)")
        self.update_plots()

    # ------------------------------------------------------------------ open
    def open_selected(self) -> None:
        self.open_runs(self.selected_names())

    def open_runs(self, names: list[str]) -> OpenRequest | None:
        try:
            req = self.catalog.open_request(names)
        except Exception as exc:  # noqa: BLE001 - one line, no traceback
            self.message.emit(format_error(exc))
            self.plot_note.setText(format_error(exc))
            return None
        self.openRequested.emit(req)
        return req

    # ------------------------------------------------------------------ plots
    @property
    def metric(self) -> str:
        return str(self.metric_combo.currentData())

    def update_plots(self) -> None:
        self._draw_bars()
        self._draw_time()

    def bar_values(self) -> pd.DataFrame:
        return self.catalog.bars(self.metric) if not self.catalog.empty else \
            pd.DataFrame(columns=["name", "value"])

    def _draw_bars(self) -> None:
        pi = self.bar_plot.getPlotItem()
        pi.clear()
        df = self.bar_values()
        m = self.metric
        pi.setTitle(f"{m} per run, best first", size="10pt", color="#333333")
        left = pi.getAxis("left")
        if df.empty:
            left.setTicks([[]])
            return
        n = len(df)
        sel = set(self.selected_names())
        ys = np.arange(n)[::-1].astype(np.float64)  # best at the top
        vals = df["value"].to_numpy(np.float64)
        colors = [QColor("#e66100") if name in sel else QColor("#1f77b4") for name in df["name"]]
        bars = pg.BarGraphItem(x0=np.minimum(vals, 0), y=ys, height=0.7, width=np.abs(vals),
                               brushes=colors, pens=[pg.mkPen(None)] * n)
        pi.addItem(bars)
        for y, v in zip(ys, vals, strict=True):
            t = pg.TextItem(f"{v:.3f}" if abs(v) < 1000 else f"{v:.0f}", color="#222222",
                            anchor=(0, 0.5))
            t.setPos(max(v, 0), y)
            pi.addItem(t)
        step = max(1, n // 25)
        left.setTicks([[(float(y), _elide(str(name), 22)) for k, (y, name) in
                        enumerate(zip(ys, df["name"], strict=True)) if k % step == 0]])
        pi.setXRange(min(0.0, float(vals.min())), float(vals.max()) * 1.15 or 1.0)
        pi.setYRange(-0.6, n - 0.4)
        pi.getViewBox().setMouseEnabled(x=False, y=True)

    def _draw_time(self) -> None:
        pi = self.time_plot.getPlotItem()
        pi.clear()
        if pi.legend is not None:
            pi.legend.clear()
            # away from the running best: below it when higher is better
            from detview.core.compare import is_higher_better

            pi.legend.setOffset((-6, -30) if is_higher_better(self.metric) is not False
                                else (-6, 6))
        df = self.catalog.over_time(self.metric)
        m = self.metric
        pi.setTitle(f"{m} in the order the runs were added", size="10pt", color="#333333")
        if df.empty:
            return
        v = df["value"].to_numpy(np.float64)
        v = np.where(v == -1.0, np.nan, v)
        best = df["best_so_far"].to_numpy(np.float64)
        x = np.arange(len(df), dtype=np.float64)
        pi.plot(x, v, pen=pg.mkPen("#1f77b4", width=1), symbol="o", symbolSize=7,
                symbolBrush="#1f77b4", symbolPen=None, name=m, connect="finite")
        pi.plot(x, best, pen=pg.mkPen("#e01b24", width=2), stepMode=None,
                name="best so far", connect="finite")
        sel = set(self.selected_names())
        pick = [k for k, n in enumerate(df["name"]) if n in sel and not math.isnan(v[k])]
        if pick:
            pi.plot(x[pick], v[pick], pen=None, symbol="o", symbolSize=12,
                    symbolBrush=None, symbolPen=pg.mkPen("#e66100", width=2))
        step = max(1, len(df) // 8)
        pi.getAxis("bottom").setTicks([[(float(k), _elide(str(n), 12)) for k, n in
                                        enumerate(df["name"]) if k % step == 0]])
        pi.setLabel("bottom", "runs, oldest first")
        pi.setXRange(-0.6, len(df) - 0.4, padding=0)  # room for the end labels
        self.plot_note.setText(f"{int(np.isfinite(v).sum())} of {len(df)} runs have {m}"
                               if np.isnan(v).any() else "")


def _elide(s: str, n: int) -> str:
    """At most ``n`` characters, cut in the middle (run names differ at their end:
    ``yolov5s@epoch30``, ``yolov5s@epoch60``)."""
    if len(s) <= n:
        return s
    tail = (n - 1) // 2 + 1
    return s[: n - 1 - tail] + "…" + s[-tail:]
