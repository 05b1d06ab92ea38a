"""The Analysis dock's views of one run: PR curves, TIDE error types, confusion matrix.

Each widget draws what the engine computed (:mod:`detview.core.analysis`) and computes
nothing itself; :class:`~detview.gui.analysis_panel.AnalysisPanel` hands them the
session's current values. Every mark is clickable and says so: a PR-curve point
(``pointClicked(recall)``), an error-type bar or row (``typeClicked(name)``), a
confusion cell (``cellClicked(true class, predicted class)``); the panel turns the
click into the images it stands for.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from detview.core.analysis import (
    ErrorAnalysis,
    most_confused_classes,
    pr_curves,
    present_classes,
)
from detview.core.cocoeval import COCOResult
from detview.core.image_columns import ERROR_HELP

__all__ = ["ConfusionView", "ErrorTypes", "PRCurves", "fmt_stat", "make_table", "NumItem"]

_NUM = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_ERROR_TITLES = {
    "Cls": "Cls — wrong class", "Loc": "Loc — poorly placed", "Both": "Both — both wrong",
    "Dupe": "Dupe — duplicate", "Bkg": "Bkg — nothing there", "Miss": "Miss — not found",
}
_PR_STYLES = (("0.50", "IoU 0.50", "#1f77b4", Qt.PenStyle.SolidLine),
              ("0.75", "IoU 0.75", "#d62728", Qt.PenStyle.SolidLine),
              ("0.50:0.95", "IoU 0.50:0.95 (mean)", "#444444", Qt.PenStyle.DashLine))
_CM_TOP = 15  # confusion matrix: classes shown by default
_CM_LABELS = 30  # more classes than this: tick labels only every few


def fmt_stat(v: float) -> str:
    """How a COCO number is shown: 3 decimals, ``-1`` kept visible (no objects)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if v == -1:
        return "-1 (none)"
    return f"{v:.3f}"


class NumItem(QTableWidgetItem):
    """A table cell that sorts by its number (UserRole), not its text."""

    def __init__(self, text: str, value: float | None = None) -> None:
        super().__init__(text)
        self.setData(Qt.ItemDataRole.UserRole, value)
        if value is not None:
            self.setTextAlignment(_NUM)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a = self.data(Qt.ItemDataRole.UserRole)
        b = other.data(Qt.ItemDataRole.UserRole)
        if a is None or b is None:
            return super().__lt__(other)
        return float(a) < float(b)


def make_table(cols: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(cols))
    t.setHorizontalHeaderLabels(cols)
    t.verticalHeader().setVisible(False)
    t.verticalHeader().setDefaultSectionSize(20)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setAlternatingRowColors(True)
    t.setWordWrap(False)
    return t


# --------------------------------------------------------------------------- PR curves
class PRCurves(QWidget):
    """Precision against recall of all classes (averaged) or of the chosen one. A click
    on the plot emits ``pointClicked(recall)`` (the panel sets the score threshold that
    reaches it); :meth:`mark` shows where the current threshold is."""

    pointClicked = Signal(float)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.result: COCOResult | None = None
        self.cls_combo = QComboBox()
        self.cls_combo.setToolTip("Curves of all classes (averaged) or of one class")
        self.cls_combo.currentIndexChanged.connect(lambda _i: self.draw(self.result))
        self.plot = pg.PlotWidget(background="w")
        self.plot.setLabel("bottom", "Recall (share of the objects found)")
        self.plot.setLabel("left", "Precision")
        self.plot.setXRange(0, 1, padding=0.02)
        self.plot.setYRange(0, 1.02, padding=0.02)
        self.plot.showGrid(x=True, y=True, alpha=0.25)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.legend = self.plot.addLegend(offset=(-10, 10), labelTextColor="#202020",
                                          brush=pg.mkBrush(255, 255, 255, 230),
                                          pen=pg.mkPen("#bbbbbb"))
        self._items: dict[str, Any] = {}
        for key, label, color, style in _PR_STYLES:
            pen = pg.mkPen(color, width=2, style=style)
            self._items[key] = self.plot.plot([], [], pen=pen, name=label)
        self._empty = pg.TextItem("no ground truth for this class", color="#888888",
                                  anchor=(0.5, 0.5))
        self._empty.setPos(0.5, 0.5)
        self.plot.addItem(self._empty)
        self.marker = pg.ScatterPlotItem(size=11, pen=pg.mkPen("#202020", width=1.5),
                                         brush=pg.mkBrush(255, 200, 0, 230), symbol="o")
        self.marker.setZValue(10)
        vb = self.plot.getViewBox()  # not a data item: the curves stay the plot's three
        vb.addItem(self.marker)
        self.marker_text = pg.TextItem("", color="#202020", anchor=(0, 1))
        vb.addItem(self.marker_text)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.plot.setToolTip(
            "Precision against recall as the score threshold is lowered, at IoU 0.50 "
            "(lenient), 0.75 (strict) and averaged over 0.50:0.95. The area under a curve "
            "is its AP. Area: all sizes; up to 100 predictions per image.\n"
            "Click a point: the score threshold becomes the one that reaches that recall "
            "(yellow dot: the current threshold).")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Class:"))
        row.addWidget(self.cls_combo, 1)
        lay.addLayout(row)
        lay.addWidget(self.plot, 1)

    def _clicked(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self.result is None:
            return
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        p = vb.mapSceneToView(ev.scenePos())
        self.pointClicked.emit(float(min(max(p.x(), 0.0), 1.0)))

    def mark(self, recall: float, threshold: float) -> None:
        """Show the current threshold where the IoU 0.50 curve reaches its recall
        (NaN: none)."""
        item = self._items["0.50"]
        x, y = item.xData, item.yData
        if math.isnan(recall) or x is None or not len(x):
            self.marker.setData([], [])
            self.marker_text.setText("")
            return
        k = int(np.clip(np.searchsorted(x, recall - 1e-12), 0, len(x) - 1))
        self.marker.setData([recall], [float(y[k])])
        self.marker_text.setText(f" score ≥ {threshold:.2f}")
        self.marker_text.setPos(min(recall, 0.8), float(y[k]))

    def set_classes(self, names: Sequence[str], wanted: list[int]) -> None:
        """The classes offered (those with ground truth), keeping the current choice."""
        have = [self.cls_combo.itemData(i) for i in range(1, self.cls_combo.count())]
        if have == wanted:
            return
        self.cls_combo.blockSignals(True)
        cur = self.cls_combo.currentData()
        self.cls_combo.clear()
        self.cls_combo.addItem("All classes (mean)", None)
        for k in wanted:
            self.cls_combo.addItem(names[k], int(k))
        idx = self.cls_combo.findData(cur) if cur is not None else 0
        self.cls_combo.setCurrentIndex(max(idx, 0))
        self.cls_combo.blockSignals(False)

    def choose(self, k: int) -> None:
        i = self.cls_combo.findData(k)
        if i >= 0:
            self.cls_combo.setCurrentIndex(i)

    def draw(self, r: COCOResult | None) -> None:
        """Three curves, made once and then only given new data (cheap after edits)."""
        self.result = r
        if r is None:
            for item in self._items.values():
                item.setData([], [])
            self._empty.setVisible(False)
            return
        curves = pr_curves(r, cls=self.cls_combo.currentData())
        rec = curves["recall"]
        empty = True
        for key, label, _color, _style in _PR_STYLES:
            y = curves[key]
            item = self._items[key]
            ok = not np.isnan(y).all()
            empty &= not ok
            item.setData(rec if ok else [], y if ok else [])
            lab = self.legend.getLabel(item)
            if lab is not None:
                lab.setText(f"{label}: AP {float(np.mean(y)):.3f}" if ok else f"{label}: –")
        self._empty.setVisible(empty)


# --------------------------------------------------------------------------- TIDE
class ErrorTypes(QWidget):
    """The TIDE error types of a run: a bar per type (how many), counts, AP gained by
    fixing each, explanations. Clicking a bar or a row emits ``typeClicked(name)``."""

    typeClicked = Signal(str)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.names: list[str] = []
        self.table = make_table(["error type", "count", "AP gain if fixed", "what it means"])
        self.table.horizontalHeaderItem(2).setToolTip(
            "dAP: how much AP@.50 (TIDE's) would rise if every error of this type were "
            "fixed. The biggest number is where the model loses most.")
        self.table.horizontalHeaderItem(1).setToolTip(
            "How many predictions (or, for Miss, ground-truth boxes) have this error")
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.cellClicked.connect(self._row_clicked)
        self.bars_plot = pg.PlotWidget(background="w")
        self.bars_plot.setMouseEnabled(x=False, y=False)
        self.bars_plot.hideButtons()
        self.bars_plot.invertY(True)
        self.bars_plot.setLabel("bottom", "boxes with this error (click a bar: its images)")
        self.bars_plot.getAxis("left").setWidth(70)
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.7, width=[], brush="#d9822b",
                                    pen=pg.mkPen("#8a4f12"))
        self.bars_plot.addItem(self.bars)
        self.bars_plot.scene().sigMouseClicked.connect(self._bar_clicked)
        self.bars_plot.setToolTip("How many predictions (Miss: ground-truth boxes) have each "
                                  "error type. Click a bar to list the images with that "
                                  "error, most first.")
        self._bar_texts: list[Any] = []
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: gray")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.bars_plot)
        split.addWidget(self.table)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split, 1)
        lay.addWidget(self.note)

    def _row_clicked(self, row: int, _col: int) -> None:
        it = self.table.item(row, 0)
        if it is not None:
            self.typeClicked.emit(str(it.data(Qt.ItemDataRole.UserRole)))

    def _bar_clicked(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or not self.names:
            return
        vb = self.bars_plot.getViewBox()
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        k = self.bar_at(vb.mapSceneToView(ev.scenePos()).y())
        if k >= 0:
            self.typeClicked.emit(self.names[k])

    def bar_at(self, y: float) -> int:
        """The bar at plot height ``y`` (-1: none)."""
        k = int(math.floor(y + 0.5))
        return k if 0 <= k < len(self.names) else -1

    def _draw_bars(self, names: list[str], counts: list[int]) -> None:
        self.names = names
        for t in self._bar_texts:
            self.bars_plot.removeItem(t)
        self._bar_texts = []
        self.bars.setOpts(x0=[0] * len(names), y=list(range(len(names))), height=0.7,
                          width=counts)
        self.bars_plot.getAxis("left").setTicks([[(k, _ERROR_TITLES[n].split(" — ")[0])
                                                  for k, n in enumerate(names)]])
        top = max(counts + [1])
        for k, c in enumerate(counts):
            t = pg.TextItem(str(c), color="#202020", anchor=(0, 0.5))
            t.setPos(c + top * 0.01, k)
            self.bars_plot.addItem(t)
            self._bar_texts.append(t)
        self.bars_plot.setXRange(0, top * 1.15, padding=0)
        self.bars_plot.setYRange(-0.6, max(len(names), 1) - 0.4, padding=0)

    def draw(self, e: ErrorAnalysis | None) -> None:
        if e is None:
            self.table.setRowCount(0)
            self.note.setText("")
            self._draw_bars([], [])
            return
        tab = e.error_table()
        self._draw_bars([str(n) for n in tab.index], [int(c) for c in tab["count"]])
        self.table.setRowCount(len(tab))
        biggest = tab["dAP"].idxmax() if len(tab) else None
        for row, (name, rec) in enumerate(tab.iterrows()):
            tip = ERROR_HELP[str(name)] + "\nClick: list the images with this error."
            a = QTableWidgetItem(_ERROR_TITLES[str(name)])
            a.setData(Qt.ItemDataRole.UserRole, str(name))
            n = NumItem(str(int(rec["count"])), float(rec["count"]))
            d = NumItem(f"+{100 * rec['dAP']:.1f} AP points", float(rec["dAP"]))
            if name == biggest and rec["dAP"] > 0:
                f = QFont()
                f.setBold(True)
                for it in (a, d):
                    it.setFont(f)
            c = QTableWidgetItem(tip)
            c.setForeground(QColor(90, 90, 90))
            for col, it in enumerate((a, n, d, c)):
                it.setToolTip(tip)
                self.table.setItem(row, col, it)
        for col in (0, 1, 2):
            self.table.resizeColumnToContents(col)
        which = ("all predictions" if e.all_predictions
                 else f"predictions with score ≥ {e.score_threshold:.2f}")
        self.note.setText(
            f"TIDE error types of {which}, a prediction counting as right at IoU ≥ "
            f"{e.iou_threshold:.2f}. AP gain: how much TIDE's AP ({100 * e.tide.ap:.1f} now) "
            "would rise if that error type were fixed. Click a bar or a row to list the "
            "images with that error, most first; the viewer tags each box with its type.")


# --------------------------------------------------------------------------- confusion
class ConfusionView(QWidget):
    """Which class is mistaken for which, background included (log-scaled colour).
    Clicking a cell emits ``cellClicked(true class, predicted class)`` (class indices,
    ``K`` = background)."""

    cellClicked = Signal(int, int)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.errors: ErrorAnalysis | None = None
        self.names: Sequence[str] = ()
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        self.plot.invertY(True)
        self.plot.setAspectLocked(False)
        self.plot.setLabel("bottom", "predicted class")
        self.plot.setLabel("left", "true class")
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.texts: list[pg.TextItem] = []
        self.classes: np.ndarray = np.zeros(0, np.int64)
        self.sub: np.ndarray = np.zeros((0, 0), np.int64)
        self.plot.scene().sigMouseMoved.connect(self._hover)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.frame = pg.QtWidgets.QGraphicsRectItem(0, 0, 1, 1)
        self.frame.setPen(pg.mkPen("#e8a200", width=3))
        self.frame.setZValue(20)
        self.frame.setVisible(False)
        self.plot.addItem(self.frame)
        self.note = QLabel()
        self.note.setStyleSheet("color: gray")
        self.limit = QComboBox()
        self.limit.addItem("the classes with the most errors (as many as fit)", -1)
        self.limit.addItem("every class that occurs", 0)
        self.limit.setToolTip("Which classes the matrix shows (background is always "
                              "shown). Make the panel taller, or float it, to see more.")
        self.limit.currentIndexChanged.connect(lambda _i: self.redraw())
        self._fit = 0  # how many classes fitted at the last drawing
        self._resize = QTimer(self)
        self._resize.setSingleShot(True)
        self._resize.setInterval(100)
        self._resize.timeout.connect(self._resized)
        self.plot.getViewBox().sigResized.connect(lambda *_a: self._resize.start())
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Show:"))
        row.addWidget(self.limit)
        row.addSpacing(8)
        row.addWidget(self.note, 1)
        lay.addLayout(row)
        lay.addWidget(self.plot, 1)

    def draw(self, e: ErrorAnalysis | None, names: Sequence[str]) -> None:
        self.errors, self.names = e, names
        self.redraw()

    def redraw(self) -> None:
        for it in self.texts:
            self.plot.removeItem(it)
        self.texts = []
        self.frame.setVisible(False)
        e = self.errors
        if e is None:
            self.image.clear()
            self.classes = np.zeros(0, np.int64)
            return
        m = e.confusion
        k = m.shape[0] - 1
        limit = int(self.limit.currentData() or 0)
        if limit < 0:  # as many rows as fit at a readable height (plus background)
            limit = self._rows_that_fit() - 1
            self._fit = limit
        present = present_classes(m)
        cls = most_confused_classes(m, limit) if limit else present
        idx = np.concatenate((cls, [k])).astype(np.int64)
        self.classes = idx
        sub = m[np.ix_(idx, idx)]
        self.sub = sub
        labels = [self.names[c] if c < k else "(background)" for c in idx.tolist()]
        n = len(idx)
        # colour by log count (display scaling only); the diagonal is what is right
        img = np.log1p(sub.astype(np.float64))
        lut = pg.ColorMap([0.0, 1.0], [(255, 255, 255), (31, 90, 180)]).getLookupTable(
            nPts=256)
        self.image.setImage(img, levels=(0, max(float(img.max()), 1e-9)), lut=lut)
        self.image.setRect(0, 0, n, n)
        step = max(1, math.ceil(n / _CM_LABELS))
        ticks = [(i + 0.5, lab) for i, lab in enumerate(labels) if i % step == 0 or i == n - 1]
        self.plot.getAxis("bottom").setTicks([ticks])
        self.plot.getAxis("left").setTicks([ticks])
        self.plot.setXRange(0, n, padding=0)
        self.plot.setYRange(0, n, padding=0)
        if n <= 16:
            hi = float(img.max()) or 1.0
            for i in range(n):
                for j in range(n):
                    v = int(sub[i, j])
                    if v == 0:
                        continue
                    color = "w" if img[i, j] > 0.6 * hi else "#222222"
                    t = pg.TextItem(str(v), color=color, anchor=(0.5, 0.5))
                    t.setPos(j + 0.5, i + 0.5)
                    self.plot.addItem(t)
                    self.texts.append(t)
        off = int(m[:k, :k].sum() - np.trace(m[:k, :k]))
        shown = (f"{len(cls)} of {len(present)} classes" if len(cls) < len(present)
                 else f"all {len(present)} classes")
        self.note.setText(
            f"{shown} · {off} box(es) given another class · last column: objects missed · "
            "last row: predictions on nothing · click a cell: its images")
        explain = (
            f"Predictions with score ≥ {e.score_threshold:.2f} matched one to one to "
            f"ground-truth boxes at IoU ≥ {e.iou_threshold:.2f}, whatever the class. "
            "Rows: the true class; columns: the predicted class. The diagonal is the right "
            "class; the last column counts objects no prediction found, the last row "
            "predictions on no object. Colour: count (log scale).")
        self.note.setToolTip(explain)
        self.plot.getAxis("bottom").setToolTip(explain)

    def _rows_that_fit(self) -> int:
        h = self.plot.getViewBox().height()
        if h < 40:  # not laid out yet
            return _CM_TOP + 1
        return int(max(4, h // 16))

    def _resized(self) -> None:
        if (self.isVisible() and self.limit.currentData() == -1
                and self._rows_that_fit() - 1 != self._fit):
            self.redraw()

    def cell_at(self, pos: QPointF) -> tuple[int, int]:
        """(row, column) of the shown matrix under scene position ``pos``; (-1, -1)."""
        vb = self.plot.getViewBox()
        if not len(self.classes) or not vb.sceneBoundingRect().contains(pos):
            return -1, -1
        p = vb.mapSceneToView(pos)
        j, i = int(math.floor(p.x())), int(math.floor(p.y()))
        n = len(self.classes)
        return (i, j) if 0 <= i < n and 0 <= j < n else (-1, -1)

    def _clicked(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        i, j = self.cell_at(ev.scenePos())
        if i >= 0:
            self.click_cell(i, j)

    def click_cell(self, i: int, j: int) -> None:
        """Choose cell (row i, column j) of the shown matrix, as a click does."""
        self.frame.setRect(j, i, 1, 1)
        self.frame.setVisible(True)
        self.cellClicked.emit(int(self.classes[i]), int(self.classes[j]))

    def _hover(self, pos: QPointF) -> None:
        if not len(self.classes):
            return
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        j, i = int(math.floor(p.x())), int(math.floor(p.y()))
        n = len(self.classes)
        if not (0 <= i < n and 0 <= j < n):
            self.plot.setToolTip("")
            return
        self.plot.setToolTip(self.cell_text(i, j) + "\nClick: list these images")

    def cell_text(self, i: int, j: int) -> str:
        """Tooltip of cell (row i, column j) of the shown matrix."""
        k = len(self.names)
        t, p = int(self.classes[i]), int(self.classes[j])
        v = int(self.sub[i, j])
        tn = self.names[t] if t < k else "background"
        pn = self.names[p] if p < k else "background"
        if t == k:
            return f"{v} prediction(s) of {pn} on no object"
        if p == k:
            return f"{v} {tn} box(es) not found by any prediction"
        if t == p:
            return f"{v} {tn} box(es) found with the right class"
        return f"{v} {tn} box(es) predicted as {pn}"
