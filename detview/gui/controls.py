"""The evaluation toolbar (run, score and IoU thresholds) and the status bar's task
indicator (progress and Cancel of the long work the user started)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSlider,
    QToolBar,
    QWidget,
)

from detview.core.metrics import MetricParams
from detview.session import Task, TaskEvent, TaskRunner

__all__ = ["EvaluationBar", "TaskStatus"]

_PARAMS_DEBOUNCE_MS = 120


class EvaluationBar(QToolBar):
    """``runChanged(name)`` at once; ``paramsChanged(MetricParams)`` once the slider or
    the spin boxes rest for a moment (a drag is one change)."""

    runChanged = Signal(str)  # noqa: N815
    paramsChanged = Signal(object)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Evaluation", parent)
        self.setObjectName("evaluation_toolbar")
        self.setMovable(False)
        self.run_combo = QComboBox()
        self.run_combo.setMinimumWidth(160)
        self.run_combo.setToolTip("Prediction run shown on the right and used for the metrics")
        self.run_combo.currentTextChanged.connect(self.runChanged)
        self.score_slider = QSlider(Qt.Orientation.Horizontal)
        self.score_slider.setRange(0, 100)
        self.score_slider.setFixedWidth(180)
        self.score_spin = QDoubleSpinBox()
        self.score_spin.setRange(0.0, 1.0)
        self.score_spin.setSingleStep(0.05)
        self.score_spin.setDecimals(2)
        tip = ("Score threshold: predictions with score ≥ this are kept (shown, matched and "
               "counted)")
        self.score_slider.setToolTip(tip)
        self.score_spin.setToolTip(tip)
        self.iou_spin = QDoubleSpinBox()
        self.iou_spin.setRange(0.05, 0.95)
        self.iou_spin.setSingleStep(0.05)
        self.iou_spin.setDecimals(2)
        self.iou_spin.setToolTip("IoU threshold: a prediction matches a ground-truth box of its "
                                 "class when their IoU is at least this")
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_PARAMS_DEBOUNCE_MS)
        self._timer.timeout.connect(lambda: self.paramsChanged.emit(self.params()))
        self.score_slider.valueChanged.connect(lambda v: self.score_spin.setValue(v / 100))
        self.score_spin.valueChanged.connect(self._on_score_spin)
        self.iou_spin.valueChanged.connect(lambda _v: self._timer.start())
        for w in (QLabel(" Run "), self.run_combo, QLabel("   Score ≥ "), self.score_slider,
                  self.score_spin, QLabel("   IoU ≥ "), self.iou_spin):
            self.addWidget(w)
        self.set_params(MetricParams())

    def _on_score_spin(self, v: float) -> None:
        self.score_slider.blockSignals(True)
        self.score_slider.setValue(int(round(v * 100)))
        self.score_slider.blockSignals(False)
        self._timer.start()

    def params(self) -> MetricParams:
        return MetricParams(round(self.score_spin.value(), 4), round(self.iou_spin.value(), 4))

    def set_params(self, p: MetricParams) -> None:
        """Show ``p`` without emitting anything."""
        for w in (self.score_slider, self.score_spin, self.iou_spin):
            w.blockSignals(True)
        self.score_slider.setValue(int(round(p.score_threshold * 100)))
        self.score_spin.setValue(p.score_threshold)
        self.iou_spin.setValue(p.iou_threshold)
        for w in (self.score_slider, self.score_spin, self.iou_spin):
            w.blockSignals(False)

    def set_runs(self, names: list[str], current: str | None) -> None:
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        self.run_combo.addItems(names or ["(no predictions)"])
        if current is not None:
            self.run_combo.setCurrentText(current)
        self.run_combo.setEnabled(len(names) > 1)
        self.run_combo.blockSignals(False)


class TaskStatus(QWidget):
    """Progress bar and Cancel button of the task in front: an export before a load
    before re-computed metrics. Cancel stops that task, and only that one."""

    PRIORITY = ("export", "load", "recompute:metrics")

    def __init__(self, runner: TaskRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.shown: Task[object] | None = None
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.progress)
        lay.addWidget(self.cancel_button)
        runner.subscribe(self._on_event)

    def _front(self) -> Task[object] | None:
        for slot in self.PRIORITY:
            t = self.runner.current(slot)
            if t is not None and not t.done:
                return t
        return None

    def _on_event(self, _ev: TaskEvent) -> None:
        self.update_view()

    def update_view(self) -> None:
        t = self._front()
        self.shown = t
        self.progress.setVisible(t is not None)
        self.cancel_button.setVisible(t is not None)
        if t is None:
            return
        done, total = t.progress
        if total <= 0:
            self.progress.setRange(0, 0)
        else:
            self.progress.setRange(0, total)
            self.progress.setValue(done)
        self.progress.setFormat(f"{t.label} %p%")
        self.progress.setToolTip(t.label)
        what = "export" if t.kind == "export" else "loading" if t.kind == "load" else "it"
        self.cancel_button.setText(f"Cancel {what}" if what != "it" else "Cancel")
        self.cancel_button.setToolTip(f"Stop: {t.label}")

    def cancel(self) -> None:
        """The user's Cancel: the task shown, nothing else."""
        if self.shown is not None and not self.shown.done:
            self.shown.cancel()
