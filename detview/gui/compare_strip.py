"""The Compare strip under the viewer: two runs compared image by image, the checkpoint
slider, and the selected image's metric across every checkpoint.

* **Compare** A → B: the image list gains the columns ΔIoU, ΔAP, ΔTP, ΔFP, ΔFN (and ΔLQ
  where both runs carry label quality), B minus A, sortable: "which images got worse";
* **Checkpoint**: prediction files of one training (``preds_step400.json``,
  ``epoch_12/``, ``--pred NAME@STEP=PATH``) get a slider that switches the predictions
  shown, keeping the image, zoom and selection;
* a small plot of the selected image's metric at each checkpoint (click a point to show
  that checkpoint).

The state is the session's (:attr:`detview.session.Session.training`); this widget only
shows it and dispatches.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QSize, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from detview.core.checkpoints import Training
from detview.session import Session, SessionEvent

from .image_table import DIFF_TABLE_COLUMNS

__all__ = ["CompareStrip", "update_diff_columns"]

_NONE = "(none)"
_METRIC_TITLES = {"mean_iou": "mean IoU", "ap": "AP", "ap50": "AP50", "tp": "TP", "fp": "FP",
                  "fn": "FN", "n_pred": "predictions"}


def update_diff_columns(pane: object, session: Session | None) -> None:
    """Show the image list's difference columns while two runs are compared (ΔLQ only
    where both carry label quality), with the runs' names in their tooltips."""
    model = getattr(pane, "model", None)
    table = getattr(pane, "table", None)
    if model is None or table is None:
        return
    pair = session.training.pair if session is not None else None
    lq = False
    if pair is not None and session is not None:
        lq = all(m is not None and m.has_column("label_quality")
                 for m in (session.metrics.get(pair[0]), session.metrics.get(pair[1])))
    base = {c.key: c.tip for c in DIFF_TABLE_COLUMNS}
    keys = [col.key for col in model.columns]
    header = table.horizontalHeader()
    after = header.visualIndex(keys.index("mean_iou")) if "mean_iou" in keys else -1
    for c, col in enumerate(model.columns):
        if col.key not in base:
            continue
        table.setColumnHidden(c, pair is None or (col.key == "d_label_quality" and not lq))
        if pair is not None:
            col.tip = f"{base[col.key]}\nA = {pair[0]}, B = {pair[1]}"
            if after >= 0:  # shown right after mean IoU: in view without scrolling
                after += 1
                header.moveSection(header.visualIndex(c), after)
            width = table.fontMetrics().horizontalAdvance("-0.000") + 16
            if header.sectionSize(c) < width:
                header.resizeSection(c, width)


class CompareStrip(QWidget):
    """Compare two runs; move along checkpoints; one image's metric at each checkpoint.
    ``message(text)`` for the status bar."""

    message = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.image = -1
        self._training: Training | None = None
        # ---- compare row
        self.a_combo = QComboBox()
        self.b_combo = QComboBox()
        for c, tip in ((self.a_combo, "Run A: the reference"),
                       (self.b_combo, "Run B: compared against A; the image list's Δ columns "
                                      "are B minus A")):
            c.setToolTip(tip)
            c.setMinimumContentsLength(8)
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            c.currentIndexChanged.connect(self._on_pair_chosen)
        self.swap_button = QToolButton()
        self.swap_button.setText("⇄")
        self.swap_button.setToolTip("Swap A and B")
        self.swap_button.clicked.connect(self.swap)
        self.pair_status = QLabel()
        self.pair_status.setStyleSheet("color: gray")
        self.pair_status.setWordWrap(True)
        row1 = QGridLayout()
        row1.setHorizontalSpacing(6)
        row1.setVerticalSpacing(2)
        row1.addWidget(QLabel("<b>Compare</b>"), 0, 0)
        row1.addWidget(QLabel("A"), 0, 1)
        row1.addWidget(self.a_combo, 0, 2)
        row1.addWidget(QLabel("B"), 1, 1)
        row1.addWidget(self.b_combo, 1, 2)
        row1.addWidget(self.swap_button, 0, 3, 2, 1)
        row1.setColumnStretch(2, 1)
        # ---- checkpoint row
        self.training_combo = QComboBox()
        self.training_combo.setToolTip("The training whose checkpoints the slider moves along")
        self.training_combo.currentIndexChanged.connect(self._on_training_chosen)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setTickPosition(QSlider.TickPosition.TicksBelow)
        self.slider.setPageStep(1)
        self.slider.setToolTip("Checkpoint: the predictions shown (the image, zoom and "
                               "selection stay)")
        self.slider.valueChanged.connect(self._on_slider)
        self.step_label = QLabel()
        self.step_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.step_label.setMinimumWidth(90)
        self.no_checkpoints = QLabel(
            "No checkpoints: prediction files named with their step (preds_step400.json, "
            "epoch_12/…, --pred NAME@STEP=PATH) get a slider here.")
        self.no_checkpoints.setStyleSheet("color: gray")
        self.no_checkpoints.setWordWrap(True)
        row2 = QHBoxLayout()
        self.slider_row = QHBoxLayout()
        self.slider_row.addWidget(self.slider)
        self.checkpoint_title = QLabel("<b>Checkpoint</b>")
        row2.addWidget(self.checkpoint_title)
        row2.addWidget(self.training_combo)
        row2.addWidget(self.step_label, 1)
        # ---- the plot
        self.metric_combo = QComboBox()
        for k, title in _METRIC_TITLES.items():
            self.metric_combo.addItem(title, k)
        self.metric_combo.setToolTip("The selected image's metric shown at each checkpoint")
        self.metric_combo.currentIndexChanged.connect(self._on_metric)
        self.plot = pg.PlotWidget(background="w")
        self.plot.setMinimumHeight(100)
        pi = self.plot.getPlotItem()
        pi.showGrid(x=True, y=True, alpha=0.15)
        pi.setMenuEnabled(False)
        pi.getViewBox().setMouseEnabled(False, False)
        pi.getViewBox().setDefaultPadding(0.12)  # room for the A/B letters
        self.curve = pg.PlotDataItem(pen=pg.mkPen("#1f77b4", width=2), symbol="o",
                                     symbolSize=7, symbolBrush="#1f77b4", symbolPen=None)
        self.current_dot = pg.ScatterPlotItem(size=13, brush=pg.mkBrush("#e01b24"),
                                              pen=pg.mkPen("w", width=1.5))
        self.pair_text: list[pg.TextItem] = []
        pi.addItem(self.curve)
        pi.addItem(self.current_dot)
        self.plot.scene().sigMouseClicked.connect(self._on_plot_click)
        self.plot_title = QLabel()
        self.plot_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.plot_title.setStyleSheet("color: gray")
        head = QHBoxLayout()
        head.addWidget(self.metric_combo)
        head.addWidget(self.plot_title, 1)
        # the controls on the left, the plot on the right: a strip under the viewer
        self.controls = QWidget()
        self.controls.setFixedWidth(430)
        cl = QVBoxLayout(self.controls)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(3)
        cl.addLayout(row1)
        cl.addWidget(self.pair_status)
        cl.addLayout(row2)
        cl.addLayout(self.slider_row)
        cl.addWidget(self.no_checkpoints)
        cl.addLayout(head)
        cl.addStretch(1)
        self.plot_box = self.plot
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.addWidget(self.controls)
        lay.addWidget(self.plot, 1)
        self._toggle = QAction("Compare and checkpoints", self)
        self._toggle.setCheckable(True)
        self._toggle.setChecked(True)
        self._toggle.toggled.connect(self.setVisible)
        self._sync_all()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(900, 150)

    def toggleViewAction(self) -> QAction:  # noqa: N802
        """Show/hide the strip (View menu), as a dock's action does."""
        return self._toggle

    def set_shown(self, on: bool) -> None:
        self._toggle.setChecked(on)
        self.setVisible(on)

    # ------------------------------------------------------------------ session
    def set_session(self, session: Session | None) -> None:
        if self.session is not None:
            self.session.unsubscribe(self._on_event)
        self.session = session
        self.image = -1
        self._training = None
        if session is not None:
            session.subscribe(self._on_event)
        self._sync_all()

    def set_image(self, i: int) -> None:
        self.image = i
        self.update_plot()

    def _on_event(self, ev: SessionEvent) -> None:
        if ev.kind == "training" and ev.name == "pair":
            self._sync_pair()
        elif ev.kind in ("settings",) or (ev.kind == "training" and ev.name == "checkpoint"):
            self._sync_checkpoint()
            self.update_plot()
        elif ev.kind == "images" and self.image in ev.images:
            self.update_plot()
        elif ev.kind == "derived" and ev.name in ("across", "metrics"):
            self.update_plot()

    def _sync_all(self) -> None:
        s = self.session
        runs = s.run_names if s is not None else []
        for c in (self.a_combo, self.b_combo):
            c.blockSignals(True)
            c.clear()
            c.addItem(_NONE, None)
            for r in runs:
                c.addItem(r, r)
            c.blockSignals(False)
        self.a_combo.setEnabled(len(runs) >= 2)
        self.b_combo.setEnabled(len(runs) >= 2)
        self.swap_button.setEnabled(len(runs) >= 2)
        ts = s.training.trainings() if s is not None else []
        self.training_combo.blockSignals(True)
        self.training_combo.clear()
        for t in ts:
            self.training_combo.addItem(f"{t.name} ({len(t.steps)} {t.unit}s)")
        self.training_combo.setVisible(len(ts) > 1)
        self.training_combo.blockSignals(False)
        for w in (self.checkpoint_title, self.slider, self.step_label, self.plot_box,
                  self.metric_combo, self.plot_title):
            w.setVisible(bool(ts))
        self.no_checkpoints.setVisible(s is not None and not ts)
        self._sync_pair()
        self._sync_checkpoint()
        self.update_plot()

    # ------------------------------------------------------------------ compare
    def _sync_pair(self) -> None:
        s = self.session
        pair = s.training.pair if s is not None else None
        if pair is not None:  # else the combos keep what the user chose so far
            for c, r in ((self.a_combo, pair[0]), (self.b_combo, pair[1])):
                c.blockSignals(True)
                c.setCurrentIndex(max(c.findData(r), 0))
                c.blockSignals(False)
        if s is None or len(s.run_names) < 2:
            self.pair_status.setText("One run: nothing to compare." if s is not None else "")
        elif pair is None:
            self.pair_status.setText("Choose runs A and B: the image list gains ΔIoU, ΔAP, "
                                     "ΔTP, ΔFP, ΔFN (B − A), sortable.")
        else:
            self.pair_status.setText("")
        self.pair_status.setVisible(bool(self.pair_status.text()))
        tip = "Δ columns in the image list: B − A" if pair else ""
        self.swap_button.setToolTip("Swap A and B" + (f"\n{tip}" if tip else ""))
        self.update_plot()

    def _on_pair_chosen(self) -> None:
        s = self.session
        if s is None:
            return
        a, b = self.a_combo.currentData(), self.b_combo.currentData()
        if a is not None and a == b:
            self.message.emit("A and B are the same run: choose two different runs")
            s.training.set_pair(None, None)
            return
        s.training.set_pair(a, b)

    def set_pair(self, a: str | None, b: str | None) -> None:
        """Choose the runs compared (as the combo boxes do)."""
        if self.session is not None:
            self.session.training.set_pair(a, b)

    def swap(self) -> None:
        s = self.session
        if s is None:
            return
        pair = s.training.pair
        if pair is not None:
            s.training.set_pair(pair[1], pair[0])
        else:
            a, b = self.a_combo.currentData(), self.b_combo.currentData()
            self.a_combo.setCurrentIndex(max(self.a_combo.findData(b), 0))
            self.b_combo.setCurrentIndex(max(self.b_combo.findData(a), 0))

    # ------------------------------------------------------------------ checkpoints
    def training(self) -> Training | None:
        """The training the slider moves along: the current run's, else the one chosen."""
        s = self.session
        if s is None:
            return None
        ts = s.training.trainings()
        if not ts:
            return None
        t = s.training.training_of(s.run)
        if t is None:
            k = self.training_combo.currentIndex()
            t = ts[k] if 0 <= k < len(ts) else ts[0]
        return t

    def _sync_checkpoint(self) -> None:
        t = self.training()
        s = self.session
        self._training = t
        if t is None or s is None:
            self.step_label.setText("")
            return
        k = s.training.trainings().index(t)
        if self.training_combo.currentIndex() != k:
            self.training_combo.blockSignals(True)
            self.training_combo.setCurrentIndex(k)
            self.training_combo.blockSignals(False)
        self.slider.blockSignals(True)
        self.slider.setRange(0, len(t.steps) - 1)
        on = s.run in t.runs
        if on:
            self.slider.setValue(t.runs.index(str(s.run)))
        self.slider.blockSignals(False)
        cur = t.steps[self.slider.value()]
        self.step_label.setText(f"{t.unit} {cur} · {t.runs[self.slider.value()]}" if on
                                else f"(showing {s.run or 'ground truth'})")
        self.step_label.setToolTip(f"{t.name}: {t.unit}s {', '.join(map(str, t.steps))}")

    def _on_training_chosen(self, k: int) -> None:
        s = self.session
        if s is None:
            return
        ts = s.training.trainings()
        if 0 <= k < len(ts):
            s.training.select_checkpoint(ts[k].runs[-1])

    def _on_slider(self, v: int) -> None:
        t, s = self.training(), self.session
        if t is None or s is None or not 0 <= v < len(t.runs):
            return
        s.training.select_checkpoint(t.runs[v])

    def step_to(self, k: int) -> None:
        """Move the slider to checkpoint ``k`` (0 = the first)."""
        self.slider.setValue(k)

    # ------------------------------------------------------------------ plot
    @property
    def metric(self) -> str:
        return str(self.metric_combo.currentData())

    def _on_metric(self) -> None:
        s = self.session
        if s is not None:
            s.derived.want("across", self.metric in ("ap", "ap50"))
        self.update_plot()

    def values(self) -> tuple[Training, np.ndarray] | None:
        s = self.session
        if s is None or self.image < 0:
            return None
        t = self.training()
        if t is None:
            return None
        return s.training.across(self.image, self.metric, t.runs[0])

    def update_plot(self) -> None:
        for t in self.pair_text:
            self.plot.getPlotItem().removeItem(t)
        self.pair_text = []
        got = self.values()
        s = self.session
        if got is None or s is None:
            self.curve.setData([], [])
            self.current_dot.setData([], [])
            self.plot_title.setText("")
            return
        t, v = got
        x = np.asarray(t.steps, dtype=np.float64)
        self.curve.setData(x, v, connect="finite")
        on = [k for k, r in enumerate(t.runs) if r == s.run and not math.isnan(v[k])]
        self.current_dot.setData([x[k] for k in on], [v[k] for k in on])
        pair = s.training.pair
        if pair is not None:
            for letter, run in zip("AB", pair, strict=True):
                if run in t.runs and not math.isnan(v[t.runs.index(run)]):
                    k = t.runs.index(run)
                    txt = pg.TextItem(letter, color="#5e3c99", anchor=(0.5, 1.2))
                    txt.setPos(x[k], v[k])
                    self.plot.getPlotItem().addItem(txt)
                    self.pair_text.append(txt)
        name = s.dataset.images.file_names[self.image]
        busy = self.metric in ("ap", "ap50") and bool(np.isnan(v).all()) and \
            s.derived.is_busy("across")
        self.plot_title.setText(f"of this image at each {t.unit}"
                                + (" (computing…)" if busy else ""))
        self.plot_title.setToolTip(f"{_METRIC_TITLES.get(self.metric, self.metric)} of {name} "
                                   f"at each checkpoint of {t.name}; click a point to show "
                                   "that checkpoint")
        finite = v[np.isfinite(v)]
        if finite.size:  # room above for the A/B letters
            lo, hi = float(finite.min()), float(finite.max())
            span = (hi - lo) or max(abs(hi), 1.0)
            self.plot.getPlotItem().setYRange(lo - 0.1 * span, hi + 0.3 * span, padding=0)
        self.plot.getPlotItem().setLabel("bottom", t.unit)

    def _on_plot_click(self, ev: object) -> None:
        got = self.values()
        s = self.session
        if got is None or s is None:
            return
        t, v = got
        vb = self.plot.getPlotItem().getViewBox()
        pos = ev.scenePos()  # type: ignore[attr-defined]
        best, dist = -1, 15.0
        for k, (x, y) in enumerate(zip(t.steps, v.tolist(), strict=True)):
            if math.isnan(y):
                continue
            p = vb.mapViewToScene(QPointF(float(x), float(y)))
            d = math.hypot(p.x() - pos.x(), p.y() - pos.y())
            if d < dist:
                best, dist = k, d
        if best >= 0:
            s.training.select_checkpoint(t.runs[best])
