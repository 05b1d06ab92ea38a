"""The Analysis dock's threshold tab: F1 against the score threshold (the best marked, a
click sets it), the score histograms of true and false positives, and the IoU histogram
of the matched boxes (a bin lists its images).

Drawn from the engine's :class:`~detview.core.drilldown.MatchRecords` (the session's
``matches`` value): the widgets compute nothing but the pixel each number goes to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from detview.core.drilldown import (
    Histogram,
    MatchRecords,
    ThresholdCurve,
    iou_histogram,
    score_histogram,
    threshold_curve,
)

__all__ = ["HistogramPlot", "ThresholdPlots"]

_TP, _FP, _IOU = "#2e8b57", "#d9534f", "#3a6fc4"


def _plot(x_label: str, y_label: str) -> pg.PlotWidget:
    p = pg.PlotWidget(background="w")
    p.setMouseEnabled(x=False, y=False)
    p.hideButtons()
    p.showGrid(x=True, y=True, alpha=0.2)
    p.setLabel("bottom", x_label)
    p.setLabel("left", y_label)
    p.getAxis("left").setWidth(42)
    return p


def _title(parts: Sequence[tuple[str, str]], size: str = "9pt") -> str:
    """A plot title whose words are coloured like the lines/bars they name."""
    return "".join(f"<span style='color:{c}; font-size:{size}'>{t}</span>" for t, c in parts)


class HistogramPlot(QWidget):
    """Bars per series (side by side within a bin); a click emits ``binClicked(series,
    lo, hi, last)`` for the series whose bar is under the mouse (the tallest when the
    click is above them). ``log``: bar heights on a log scale (counts that differ by
    orders of magnitude stay visible)."""

    binClicked = Signal(str, float, float, bool)  # noqa: N815

    def __init__(self, title: Sequence[tuple[str, str]], x_label: str,
                 series: Sequence[tuple[str, str, str]], log: bool = False,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.series = list(series)  # (key, legend, colour)
        self.log = log
        self.hist: Histogram | None = None
        self.plot = _plot(x_label, "boxes" + (" (log)" if log else ""))
        self.plot.getAxis("left").setWidth(56 if log else 42)
        self.plot.setTitle(_title(title))
        self.bars: dict[str, pg.BarGraphItem] = {}
        for key, _label, color in self.series:
            b = pg.BarGraphItem(x=[], height=[], width=0.01, brush=color,
                                pen=pg.mkPen(color))
            self.plot.addItem(b)
            self.bars[key] = b
        self.frame = pg.QtWidgets.QGraphicsRectItem(0, 0, 0, 0)
        self.frame.setPen(pg.mkPen("#e8a200", width=2.5))
        self.frame.setZValue(20)
        self.frame.setVisible(False)
        self.plot.addItem(self.frame)
        self.vline = pg.InfiniteLine(angle=90, pen=pg.mkPen("#303030", style=Qt.PenStyle.DashLine))
        self.vline.setVisible(False)
        self.plot.addItem(self.vline)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.plot)

    def draw(self, hist: Histogram | None, line: float | None = None) -> None:
        self.hist = hist
        self.frame.setVisible(False)
        self.vline.setVisible(line is not None)
        if line is not None:
            self.vline.setValue(line)
        if hist is None:
            for b in self.bars.values():
                b.setOpts(x=[], height=[])
            return
        e = hist.edges
        w = float(e[1] - e[0]) if e.size > 1 else 1.0
        k = len(self.series)
        for s, (key, _l, _c) in enumerate(self.series):
            x = e[:-1] + w * (s + 0.5) / k
            self.bars[key].setOpts(x=x, height=self.height_of(hist.counts[key]),
                                   width=w / k * 0.9)
        top = max([int(v.max()) if v.size else 0 for v in hist.counts.values()] + [1])
        self.plot.setXRange(float(e[0]), float(e[-1]), padding=0.02)
        ytop = float(self.height_of(np.array([top]))[0])
        self.plot.setYRange(0, ytop * 1.1, padding=0)
        if self.log:
            ticks = [(float(np.log10(1 + v)), f"{v:,}") for v in
                     (1, 10, 100, 1000, 10_000, 100_000, 1_000_000) if v <= top * 1.5]
            self.plot.getAxis("left").setTicks([ticks])

    def height_of(self, counts: np.ndarray) -> np.ndarray:
        c = np.asarray(counts, dtype=np.float64)
        return np.log10(1 + c) if self.log else c

    def _clicked(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self.hist is None:
            return
        vb = self.plot.getViewBox()
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        p = vb.mapSceneToView(ev.scenePos())
        self.click(p.x(), p.y())

    def click(self, x: float, y: float | None = None) -> bool:
        """Choose the bar at plot position (x, y), as a click does."""
        h = self.hist
        if h is None:
            return False
        b = h.bin_of(x)
        if b < 0:
            return False
        e = h.edges
        w = float(e[1] - e[0])
        k = len(self.series)
        s = min(int((x - e[b]) / w * k), k - 1)
        key = self.series[s][0]

        def height(key: str) -> float:
            return float(self.height_of(np.array([h.counts[key][b]]))[0])

        if h.counts[key][b] == 0 or (y is not None and y > height(key) * 1.02):
            key = max(self.series, key=lambda t: int(h.counts[t[0]][b]))[0]
            s = [t[0] for t in self.series].index(key)
        if h.counts[key][b] == 0:
            return False
        self.frame.setRect(float(e[b] + w * s / k), 0, w / k, height(key))
        self.frame.setVisible(True)
        self.binClicked.emit(key, float(e[b]), float(e[b + 1]), b == len(e) - 2)
        return True


class ThresholdPlots(QWidget):
    """F1 (precision, recall) against the score threshold, and the two histograms.

    ``thresholdClicked(t)``: a point of the F1 plot (or "Use best") was chosen;
    ``scoreBin(kind, lo, hi, last)`` / ``iouBin(lo, hi, last)``: a histogram bar was.
    """

    thresholdClicked = Signal(float)  # noqa: N815
    scoreBin = Signal(str, float, float, bool)  # noqa: N815
    iouBin = Signal(float, float, bool)  # noqa: N815
    classChanged = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.curve: ThresholdCurve | None = None
        self.cls_combo = QComboBox()
        self.cls_combo.addItem("All classes", None)
        self.cls_combo.setToolTip("Plots of all classes together or of one class")
        self.cls_combo.currentIndexChanged.connect(lambda _i: self.classChanged.emit())
        self.best_button = QPushButton("Use best threshold")
        self.best_button.setToolTip("Set the score threshold to the one with the highest F1")
        self.best_button.clicked.connect(self._use_best)
        self.best_button.setEnabled(False)
        self.summary = QLabel()
        self.summary.setStyleSheet("color: #303030")
        self.f1 = _plot("score threshold (click: use it)", "")
        self.f1.setXRange(0, 1, padding=0.02)
        self.f1.setYRange(0, 1.05, padding=0)
        self.f1.setTitle(_title([("F1", "#202020"), (", ", "#303030"),
                                 ("precision", "#1f77b4"), (" and ", "#303030"),
                                 ("recall", "#ff7f0e"), (" against the threshold", "#303030")]))
        self.f1_line = self.f1.plot([], [], pen=pg.mkPen("#202020", width=2.5))
        self.p_line = self.f1.plot([], [], pen=pg.mkPen("#1f77b4", width=1.3))
        self.r_line = self.f1.plot([], [], pen=pg.mkPen("#ff7f0e", width=1.3))
        self.best_line = pg.InfiniteLine(angle=90, pen=pg.mkPen(_TP, width=2))
        self.best_text = pg.TextItem("", color=_TP, anchor=(0, 0))
        self.cur_line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#303030", width=1.2,
                                                               style=Qt.PenStyle.DashLine))
        for it in (self.best_line, self.best_text, self.cur_line):
            self.f1.addItem(it)
        self.f1.scene().sigMouseClicked.connect(self._f1_clicked)
        self.f1.setToolTip("Click anywhere: the score threshold becomes that value. Green: "
                           "the threshold with the best F1; dashed: the current one.")
        self.scores = HistogramPlot([("Scores of ", "#303030"), ("true", _TP),
                                     (" and ", "#303030"), ("false positives", _FP)],
                                    "score (dashed: the threshold)",
                                    (("tp", "true positives", _TP),
                                     ("fp", "false positives", _FP)), log=True)
        self.scores.setToolTip("Every prediction by score, split by outcome. Click a bar: "
                               "the images with those predictions, most first.")
        self.scores.binClicked.connect(self.scoreBin)
        self.ious = HistogramPlot([("IoU of ", "#303030"), ("matched boxes", _IOU),
                                   (" (score ≥ threshold)", "#303030")],
                                  "IoU with the ground-truth box",
                                  (("tp", "matched boxes", _IOU),))
        self.ious.setToolTip("How well the found objects are placed. Click a bar: the "
                             "images with those boxes, most first.")
        self.ious.binClicked.connect(lambda _k, lo, hi, last: self.iouBin.emit(lo, hi, last))
        top = QHBoxLayout()
        top.addWidget(QLabel("Class:"))
        top.addWidget(self.cls_combo)
        top.addSpacing(12)
        top.addWidget(self.summary, 1)
        top.addWidget(self.best_button)
        split = QSplitter(Qt.Orientation.Horizontal)
        for w in (self.f1, self.scores, self.ious):
            split.addWidget(w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addLayout(top)
        lay.addWidget(split, 1)

    @property
    def cls(self) -> int | None:
        v = self.cls_combo.currentData()
        return None if v is None else int(v)

    def set_classes(self, names: Sequence[str], wanted: Sequence[int]) -> None:
        have = [self.cls_combo.itemData(i) for i in range(1, self.cls_combo.count())]
        if have == list(wanted):
            return
        cur = self.cls_combo.currentData()
        self.cls_combo.blockSignals(True)
        self.cls_combo.clear()
        self.cls_combo.addItem("All classes", None)
        for k in wanted:
            self.cls_combo.addItem(names[k], int(k))
        i = self.cls_combo.findData(cur) if cur is not None else 0
        self.cls_combo.setCurrentIndex(max(i, 0))
        self.cls_combo.blockSignals(False)

    def draw(self, rec: MatchRecords | None, score_threshold: float) -> None:
        """Everything from the records (None: empty) at the current threshold."""
        if rec is None:
            self.curve = None
            for line in (self.f1_line, self.p_line, self.r_line):
                line.setData([], [])
            self.scores.draw(None)
            self.ious.draw(None)
            self.summary.setText("")
            self.best_button.setEnabled(False)
            return
        cls = self.cls
        c = threshold_curve(rec, cls)
        self.curve = c
        t = c.thresholds
        self.f1_line.setData(t, np.nan_to_num(c.f1))
        self.p_line.setData(t, np.nan_to_num(c.precision, nan=1.0))
        self.r_line.setData(t, np.nan_to_num(c.recall))
        best = c.best_threshold
        ok = not math.isnan(best)
        for it in (self.best_line, self.best_text):
            it.setVisible(ok)
        self.cur_line.setValue(score_threshold)
        k = c.index_of(score_threshold)
        now = c.f1[k]
        if ok:
            self.best_line.setValue(best)
            self.best_text.setText(f"best F1 {c.best_f1:.3f} at {best:.2f}")
            self.best_text.setAnchor((0, 1) if best < 0.55 else (1, 1))
            self.best_text.setPos(best + (0.01 if best < 0.55 else -0.01), 0.02)
            self.best_button.setText(f"Use best threshold ({best:.2f})")
        self.best_button.setEnabled(ok and abs(best - score_threshold) > 1e-9)
        self.summary.setText(
            f"at {score_threshold:.2f}: F1 {now:.3f} · precision {c.precision[k]:.3f} · "
            f"recall {c.recall[k]:.3f} ({c.tp[k]} TP, {c.fp[k]} FP, {c.fn[k]} FN)"
            if not math.isnan(now) else "no ground truth or predictions")
        self.scores.draw(score_histogram(rec, cls=cls), line=score_threshold)
        self.ious.draw(iou_histogram(rec, score_threshold, cls=cls))

    def _use_best(self) -> None:
        if self.curve is not None and not math.isnan(self.curve.best_threshold):
            self.thresholdClicked.emit(self.curve.best_threshold)

    def _f1_clicked(self, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self.curve is None:
            return
        vb = self.f1.getViewBox()
        if not vb.sceneBoundingRect().contains(ev.scenePos()):
            return
        x = vb.mapSceneToView(ev.scenePos()).x()
        self.click_threshold(x)

    def click_threshold(self, x: float) -> None:
        """Choose threshold ``x`` (snapped to the best one within 0.015, else to 0.01)."""
        c = self.curve
        if c is None:
            return
        x = min(max(float(x), 0.0), 1.0)
        if not math.isnan(c.best_threshold) and abs(x - c.best_threshold) <= 0.015:
            x = c.best_threshold
        self.thresholdClicked.emit(round(x, 2))
