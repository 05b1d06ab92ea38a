"""The analysis panel: COCO numbers explained, per class, PR curves, error types,
confusion matrix, for the selected run.

Every number comes from the engine (:mod:`detview.core.analysis`); this widget only
schedules the work and draws. The COCO evaluator of the run is built once in a worker
and then kept current after each edit (:class:`~detview.core.analysis.LiveCOCO`, a few
milliseconds), so the 12 numbers follow the edits; the error breakdown (TIDE, confusion,
per-image error columns, per-box labels) is recomputed in a worker, debounced.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QRadioButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from detview.core.analysis import (
    COCO_EXPLAIN,
    NO_GT_NOTE,
    ErrorAnalysis,
    LiveCOCO,
    error_analysis,
    most_confused_classes,
    pr_curves,
    present_classes,
)
from detview.core.cocoeval import STAT_NAMES, COCOResult
from detview.core.image_columns import ERROR_HELP, ErrorLabels

from .session import Session
from .workers import Task

__all__ = ["AnalysisPanel", "fmt_stat"]

_ERROR_TITLES = {
    "Cls": "Cls — wrong class", "Loc": "Loc — poorly placed", "Both": "Both — both wrong",
    "Dupe": "Dupe — duplicate", "Bkg": "Bkg — nothing there", "Miss": "Miss — not found",
}
_NUM = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_ERROR_DEBOUNCE_MS = 400
_COCO_DEFER_MS = 30
_CM_TAB = 3
_KEEP_EVALUATORS = 4  # COCO evaluators kept for switching back (~45 MB each at 5k images)
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


class _Item(QTableWidgetItem):
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


def _table(cols: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(cols))
    t.setHorizontalHeaderLabels(cols)
    t.verticalHeader().setVisible(False)
    t.verticalHeader().setDefaultSectionSize(20)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setAlternatingRowColors(True)
    t.setWordWrap(False)
    return t


class AnalysisPanel(QWidget):
    """Analysis of the session's current run. ``set_session`` attaches it."""

    classClicked = Signal(int)  # a class chosen in the per-class table  # noqa: N815
    imageColumnsChanged = Signal()  # per-image ap/err_* columns were (re)set  # noqa: N815
    labelsChanged = Signal()  # per-box error labels changed  # noqa: N815
    cocoUpdated = Signal()  # the 12 numbers were (re)drawn  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.live: LiveCOCO | None = None
        self._live_key: tuple[Any, ...] | None = None
        self.result: COCOResult | None = None
        self.errors: ErrorAnalysis | None = None
        self._coco_task: Task | None = None
        # evaluators of other runs / modes, with the image revisions they are current to
        self._lives: OrderedDict[tuple[Any, ...], tuple[LiveCOCO, np.ndarray]] = OrderedDict()
        self._err_task: Task | None = None
        self._tasks: set[Task] = set()  # running ones, kept alive until they end
        self._err_dirty = False
        self._build()
        self._err_timer = QTimer(self)
        self._err_timer.setSingleShot(True)
        self._err_timer.setInterval(_ERROR_DEBOUNCE_MS)
        self._err_timer.timeout.connect(self._start_errors)
        # edits: the touched images are collected and the evaluator updated once per
        # burst, just after the edit is on screen (the edit itself stays within a frame)
        self._pending: set[int] = set()
        self._coco_dirty = False
        self._coco_timer = QTimer(self)
        self._coco_timer.setSingleShot(True)
        self._coco_timer.setInterval(_COCO_DEFER_MS)
        self._coco_timer.timeout.connect(self.flush)
        self._refresh_timer = QTimer(self)
        self._refresh_timer.setSingleShot(True)
        self._refresh_timer.setInterval(0)
        self._refresh_timer.timeout.connect(self.refresh)
        self._show_empty("Open a dataset with predictions to see the analysis.")

    # ================================================================== layout
    def _build(self) -> None:
        self.title = QLabel("<b>Analysis</b>")
        self.mode_all = QRadioButton("all predictions (as your training framework prints them)")
        self.mode_all.setToolTip(
            "Every prediction of the run, whatever its score: the COCO numbers pycocotools, "
            "Ultralytics, Detectron2 or MMDetection print after validation.")
        self.mode_thr = QRadioButton("predictions ≥ score threshold")
        self.mode_thr.setToolTip(
            "Only the predictions the viewer draws (score ≥ the toolbar's threshold): AP is "
            "then capped by the recall reachable at that threshold.")
        self.mode_thr.setChecked(True)
        self._mode_group = QButtonGroup(self)
        self._mode_group.addButton(self.mode_all)
        self._mode_group.addButton(self.mode_thr)
        self.mode_thr.toggled.connect(lambda _on: self._mode_changed())
        self.status = QLabel()
        self.status.setStyleSheet("color: gray")
        self.busy = QProgressBar()
        self.busy.setFixedWidth(140)
        self.busy.setMaximumHeight(14)
        self.busy.setTextVisible(False)
        self.busy.setVisible(False)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addSpacing(12)
        top.addWidget(QLabel("Numbers from:"))
        top.addWidget(self.mode_all)
        top.addWidget(self.mode_thr)
        top.addStretch(1)
        top.addWidget(self.status)
        top.addWidget(self.busy)

        # --- COCO numbers
        # two blocks side by side (precision | recall), 6 rows each: fits a short dock
        self.coco = _table(["precision", "value", "what it means", "recall", "value",
                            "what it means"])
        for c in (2, 5):
            self.coco.horizontalHeader().setSectionResizeMode(c, QHeaderView.ResizeMode.Stretch)
        self.coco.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.coco.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.coco_note = QLabel(
            "IoU = overlap of a predicted box with its object (intersection / union). "
            "Precision = share of predictions that are right; recall = share of objects "
            "found. " + NO_GT_NOTE)
        self.coco_note.setWordWrap(True)
        self.coco_note.setStyleSheet("color: gray")
        coco_w = QWidget()
        cv = QVBoxLayout(coco_w)
        cv.setContentsMargins(0, 0, 0, 0)
        cv.addWidget(self.coco, 1)
        cv.addWidget(self.coco_note)

        # --- per class
        self.per_class = _table(["class", "AP", "AP50", "AP75", "AR100", "GT boxes",
                                 "predictions"])
        tips = ["Click a class to list only the images that contain it",
                COCO_EXPLAIN["AP"][1], COCO_EXPLAIN["AP50"][1], COCO_EXPLAIN["AP75"][1],
                COCO_EXPLAIN["AR100"][1], "Ground-truth boxes of this class (crowd included)",
                "Predictions of this class that were evaluated"]
        for c, tip in enumerate(tips):
            self.per_class.horizontalHeaderItem(c).setToolTip(tip)
        self.per_class.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.per_class.setSortingEnabled(True)
        self.per_class.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.per_class.cellClicked.connect(self._on_class_cell)

        # --- PR curves
        self.pr_class = QComboBox()
        self.pr_class.setToolTip("Curves of all classes (averaged) or of one class")
        self.pr_class.currentIndexChanged.connect(lambda _i: self._draw_pr())
        self.pr_plot = pg.PlotWidget(background="w")
        self.pr_plot.setLabel("bottom", "Recall (share of the objects found)")
        self.pr_plot.setLabel("left", "Precision")
        self.pr_plot.setXRange(0, 1, padding=0.02)
        self.pr_plot.setYRange(0, 1.02, padding=0.02)
        self.pr_plot.showGrid(x=True, y=True, alpha=0.25)
        self.pr_plot.setMouseEnabled(x=False, y=False)
        self.pr_plot.hideButtons()
        self.pr_legend = self.pr_plot.addLegend(offset=(-10, 10), labelTextColor="#202020",
                                                brush=pg.mkBrush(255, 255, 255, 230),
                                                pen=pg.mkPen("#bbbbbb"))
        self._pr_items: dict[str, Any] = {}
        self._pr_empty: Any = None
        self.pr_plot.setToolTip(
            "Precision against recall as the score threshold is lowered, at IoU 0.50 "
            "(lenient), 0.75 (strict) and averaged over 0.50:0.95. The area under a curve "
            "is its AP. Area: all sizes; up to 100 predictions per image.")
        pr_w = QWidget()
        pv = QVBoxLayout(pr_w)
        pv.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Class:"))
        row.addWidget(self.pr_class, 1)
        pv.addLayout(row)
        pv.addWidget(self.pr_plot, 1)

        # --- TIDE errors
        self.err_table = _table(["error type", "count", "AP gain if fixed", "what it means"])
        self.err_table.horizontalHeaderItem(2).setToolTip(
            "dAP: how much AP@.50 (TIDE's) would rise if every error of this type were "
            "fixed. The biggest number is where the model loses most.")
        self.err_table.horizontalHeaderItem(1).setToolTip(
            "How many predictions (or, for Miss, ground-truth boxes) have this error")
        self.err_table.horizontalHeader().setSectionResizeMode(
            3, QHeaderView.ResizeMode.Stretch)
        self.err_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.err_note = QLabel()
        self.err_note.setWordWrap(True)
        self.err_note.setStyleSheet("color: gray")
        err_w = QWidget()
        ev = QVBoxLayout(err_w)
        ev.setContentsMargins(0, 0, 0, 0)
        ev.addWidget(self.err_table, 1)
        ev.addWidget(self.err_note)

        # --- confusion matrix
        self.cm_plot = pg.PlotWidget(background="w")
        self.cm_plot.setMouseEnabled(x=False, y=False)
        self.cm_plot.hideButtons()
        self.cm_plot.invertY(True)
        self.cm_plot.setAspectLocked(False)
        self.cm_plot.setLabel("bottom", "predicted class")
        self.cm_plot.setLabel("left", "true class")
        self.cm_image = pg.ImageItem(axisOrder="row-major")
        self.cm_plot.addItem(self.cm_image)
        self.cm_texts: list[pg.TextItem] = []
        self.cm_classes: np.ndarray = np.zeros(0, np.int64)
        self.cm_sub: np.ndarray = np.zeros((0, 0), np.int64)
        self.cm_plot.scene().sigMouseMoved.connect(self._cm_hover)
        self.cm_note = QLabel()
        self.cm_note.setStyleSheet("color: gray")
        self.cm_limit = QComboBox()
        self.cm_limit.addItem("the classes with the most errors (as many as fit)", -1)
        self.cm_limit.addItem("every class that occurs", 0)
        self.cm_limit.setToolTip("Which classes the matrix shows (background is always "
                                 "shown). Make the panel taller, or float it, to see more.")
        self.cm_limit.currentIndexChanged.connect(lambda _i: self._draw_confusion())
        self._cm_fit = 0  # how many classes fitted at the last drawing
        self._cm_resize = QTimer(self)
        self._cm_resize.setSingleShot(True)
        self._cm_resize.setInterval(100)
        self._cm_resize.timeout.connect(self._cm_resized)
        self.cm_plot.getViewBox().sigResized.connect(lambda *_a: self._cm_resize.start())
        cm_w = QWidget()
        mv = QVBoxLayout(cm_w)
        mv.setContentsMargins(0, 0, 0, 0)
        crow = QHBoxLayout()
        crow.addWidget(QLabel("Show:"))
        crow.addWidget(self.cm_limit)
        crow.addSpacing(8)
        crow.addWidget(self.cm_note, 1)
        mv.addLayout(crow)
        mv.addWidget(self.cm_plot, 1)

        self.tabs = QTabWidget()
        # per class and its PR curve side by side: clicking a class shows its curve
        pc_split = QSplitter(Qt.Orientation.Horizontal)
        pc_split.addWidget(self.per_class)
        pc_split.addWidget(pr_w)
        pc_split.setStretchFactor(0, 0)
        pc_split.setStretchFactor(1, 1)
        pc_split.setSizes([520, 700])
        self.tabs.addTab(coco_w, "COCO numbers")
        self.tabs.addTab(pc_split, "Per class · PR curves")
        self.tabs.addTab(err_w, "Error types")
        self.tabs.addTab(cm_w, "Confusion matrix")
        self.tabs.setTabToolTip(1, "AP per class (click a class: its precision-recall curve, "
                                   "and the image list shows only images containing it)")
        self.tabs.currentChanged.connect(self._on_tab)
        self._cm_stale = False
        self.tabs.setTabToolTip(2, "Why predictions are wrong (TIDE error types)")
        self.tabs.setTabToolTip(3, "Which class is mistaken for which, background included")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.tabs, 1)

    # ================================================================== session
    @property
    def all_predictions(self) -> bool:
        return self.mode_all.isChecked()

    def set_all_predictions(self, on: bool) -> None:
        (self.mode_all if on else self.mode_thr).setChecked(True)

    def set_session(self, session: Session | None) -> None:
        old = self.session
        if old is not None:
            for sig, slot in ((old.metricsReset, self._on_metrics_reset),
                              (old.imagesChanged, self._on_images_changed)):
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        self._cancel_tasks()
        self._pending.clear()
        self._coco_timer.stop()
        self.session = session
        self._lives.clear()
        self.live = None
        self._live_key = None
        self.result = None
        self.errors = None
        if session is not None:
            session.metricsReset.connect(self._on_metrics_reset)
            session.imagesChanged.connect(self._on_images_changed)
        self.refresh()

    def _cancel_tasks(self) -> None:
        for t in (self._coco_task, self._err_task):
            if t is not None and not t.done:
                t.cancel()
        self._coco_task = None
        self._err_task = None
        self._err_timer.stop()
        self._update_busy()

    def shutdown(self) -> None:
        """Stop the workers and wait for them (window closing)."""
        for t in list(self._tasks):
            t.cancel()
        for t in list(self._tasks):
            t.wait(10000)
        self.set_session(None)

    def _task(self, fn: Any, label: str) -> Task:
        task = Task(fn, label, self)
        self._tasks.add(task)

        def ended() -> None:
            self._tasks.discard(task)
            if self._coco_task is task:
                self._coco_task = None
            if self._err_task is task:
                self._err_task = None
            self._update_busy()
            task.deleteLater()

        task.finished.connect(ended)
        return task

    def is_idle(self) -> bool:
        """No work pending (tests wait for this)."""
        timers = (self._err_timer, self._coco_timer, self._refresh_timer)
        return (not self._tasks and not any(t.isActive() for t in timers)
                and not self._err_dirty and not self._pending)

    @property
    def labels(self) -> ErrorLabels | None:
        """Per-box error labels of the current run (None until computed)."""
        s = self.session
        e = self.errors
        if s is None or e is None or e.run != s.run:
            return None
        return e.labels

    def _key(self) -> tuple[Any, ...] | None:
        s = self.session
        if s is None or s.run is None:
            return None
        thr = None if self.all_predictions else s.params.score_threshold
        return (id(s.dataset), s.run, self.all_predictions, thr)

    def _mode_changed(self) -> None:
        self.refresh()

    def _on_metrics_reset(self) -> None:
        # run or thresholds changed; the per-image metrics objects may be new ones
        self._refresh_timer.start()

    def refresh(self) -> None:
        """Bring everything up to date with the session's run, thresholds and mode."""
        s = self.session
        key = self._key()
        if s is None or key is None:
            self._cancel_tasks()
            self.live, self._live_key, self.result, self.errors = None, None, None, None
            self._show_empty("No prediction run: open predictions to see the analysis."
                             if s is not None else "Open a dataset to see the analysis.")
            return
        self._update_title()
        self.flush()  # edits not yet applied go to the evaluator they were made under
        if key != self._live_key or self.live is None:
            if self.live is not None and self._live_key is not None:
                # keep it: switching back (run, mode) only re-matches what was edited since
                self._lives[self._live_key] = (self.live, s.dataset.image_revisions.copy())
                while len(self._lives) > _KEEP_EVALUATORS:
                    self._lives.popitem(last=False)
            parked = self._lives.pop(key, None)
            if parked is not None:
                self.live, self._live_key = parked[0], key
                parked[0].attach(s.dataset, parked[1])
                self._coco_changed(push_columns=True)
            else:
                self._start_coco(key)
        else:
            self._coco_changed(push_columns=True)
        self._schedule_errors(now=True)

    # ================================================================== COCO
    def _start_coco(self, key: tuple[Any, ...]) -> None:
        s = self.session
        assert s is not None and s.run is not None
        if self._coco_task is not None and not self._coco_task.done:
            self._coco_task.cancel()
        self.live, self._live_key, self.result = None, None, None
        ds = s.dataset
        gt = ds.gt.copy()  # edits may go on while it runs
        revisions = ds.image_revisions.copy()
        mask = ~ds.images.deleted
        dets = ds.runs[s.run]
        all_preds = self.all_predictions
        thr = s.params.score_threshold
        names, ids, k = ds.classes.names, ds.images.ids.copy(), len(ds.classes)

        def work(prog: Any) -> LiveCOCO:
            return LiveCOCO(gt, dets, k, mask, ids, names, all_predictions=all_preds,
                            score_threshold=thr, progress=prog)

        task = self._task(work, "COCO evaluation")
        self._coco_task = task

        def ok(live: LiveCOCO) -> None:
            if self._coco_task is not task or self.session is not s or self._key() != key:
                return
            live.attach(s.dataset, revisions)
            self.live, self._live_key = live, key
            self._coco_changed(push_columns=True)

        task.succeeded.connect(ok)
        task.failed.connect(lambda exc: self._failed("COCO evaluation", exc))
        task.progressed.connect(self._progress)
        task.start()
        self.status.setText("Computing the COCO numbers…")
        self._update_busy()

    def _coco_changed(self, push_columns: bool) -> None:
        s = self.session
        if self.live is None or s is None:
            return
        self.result = self.live.result()
        if self.isVisible():
            self._draw_coco()
            self._coco_dirty = False
        else:  # drawn when shown (the numbers are kept current either way)
            self._coco_dirty = True
        if push_columns:
            self._push_ap_columns()
        self.cocoUpdated.emit()

    def _push_ap_columns(self) -> None:
        s = self.session
        if self.live is None or s is None or s.run is None:
            return
        s.current.set_columns({"ap": self.live.ap.copy(), "ap50": self.live.ap50.copy()})
        self.imageColumnsChanged.emit()

    def _on_images_changed(self, touched: frozenset[int]) -> None:
        s = self.session
        if s is None or not touched:
            return
        self._pending |= set(touched)
        self._coco_timer.start()
        self._schedule_errors()

    def flush(self) -> None:
        """Apply the edits collected since the last update to the COCO numbers now
        (a few milliseconds: only the touched images are re-matched)."""
        self._coco_timer.stop()
        s = self.session
        touched, self._pending = sorted(self._pending), set()
        if s is None or not touched:
            return
        if self.live is not None and self._live_key == self._key():
            self.live.update(s.dataset, touched)  # also the touched images' AP
            self._coco_changed(push_columns=True)

    # ================================================================== errors
    def _schedule_errors(self, now: bool = False) -> None:
        self._err_dirty = True
        self._err_timer.start(0 if now else _ERROR_DEBOUNCE_MS)
        self._update_busy()

    def _start_errors(self) -> None:
        s = self.session
        if s is None or s.run is None:
            self._err_dirty = False
            return
        if self._err_task is not None and not self._err_task.done:
            self._err_task.cancel()  # its result would be stale; the dirty flag reruns
        self._err_dirty = False
        ds = s.dataset
        gt = ds.gt.copy()
        mask = ~ds.images.deleted
        run = s.run
        dets = ds.runs[run]
        names, k = ds.classes.names, len(ds.classes)
        all_preds = self.all_predictions
        p = s.params
        revision = ds.revision

        def work(prog: Any) -> ErrorAnalysis:
            return error_analysis(gt, dets, k, mask, names, run, all_predictions=all_preds,
                                  score_threshold=p.score_threshold,
                                  iou_threshold=p.iou_threshold, progress=prog)

        task = self._task(work, "Error breakdown")
        self._err_task = task

        def ok(ea: ErrorAnalysis) -> None:
            if self._err_task is not task or self.session is not s:
                return
            if (s.run != run or s.params != p or self.all_predictions != all_preds):
                return  # a newer request is queued
            self.errors = ea
            cols = {c: ea.images[c].to_numpy() for c in ea.images.columns if c != "confusion"}
            s.current.set_columns(cols)
            self._draw_errors()
            self.imageColumnsChanged.emit()
            self.labelsChanged.emit()
            if s.dataset.revision != revision:
                self._schedule_errors()

        task.succeeded.connect(ok)
        task.failed.connect(lambda exc: self._failed("Error breakdown", exc))
        task.start()
        self._update_busy()

    def confusion_text(self, image: int) -> str:
        """The image's class confusions ("dog→cat ×2"), "" when none or not computed."""
        e = self.errors
        if e is None or not 0 <= image < len(e.images):
            return ""
        return str(e.images["confusion"].iloc[image])

    # ================================================================== status
    def _progress(self, done: int, total: int) -> None:
        self.busy.setRange(0, max(total, 1))
        self.busy.setValue(done)

    def _update_busy(self) -> None:
        coco = self._coco_task is not None and not self._coco_task.done
        err = (self._err_task is not None and not self._err_task.done) or self._err_dirty
        self.busy.setVisible(coco or err)
        if coco:
            self.status.setText("Computing the COCO numbers…")
        elif err:
            self.busy.setRange(0, 0)
            self.status.setText("Updating the error breakdown…")
        else:
            self.status.setText("")
            self._update_title()

    def _failed(self, what: str, exc: object) -> None:
        from .workers import Cancelled

        if isinstance(exc, Cancelled):
            return
        self.status.setText(f"{what} failed: {exc}")

    def _update_title(self) -> None:
        s = self.session
        if s is None or s.run is None:
            self.title.setText("<b>Analysis</b>")
            return
        dets = s.dataset.runs[s.run]
        n_all = int(np.count_nonzero(dets.alive))
        thr = s.params.score_threshold
        self.mode_thr.setText(f"predictions with score ≥ {thr:.2f}")
        if self.all_predictions:
            which = f"all {n_all} predictions"
        else:
            n = int(np.count_nonzero(dets.alive & (dets.score >= thr)))
            which = f"{n} of {n_all} predictions (score ≥ {thr:.2f})"
        self.title.setText(f"<b>{s.run}</b>: {which}")

    # ================================================================== drawing
    def _show_empty(self, text: str) -> None:
        self.title.setText("<b>Analysis</b>")
        self.status.setText(text)
        for t in (self.coco, self.per_class, self.err_table):
            t.setRowCount(0)
        self.result = None
        self._draw_pr()
        self.cm_image.clear()
        for it in self.cm_texts:
            self.cm_plot.removeItem(it)
        self.cm_texts = []
        self.busy.setVisible(False)

    @staticmethod
    def stat_cell(name: str) -> tuple[int, int]:
        """(row, column) of a COCO number's value in :attr:`coco`: APs in the left
        block, ARs in the right one; the name is one column left, the meaning right."""
        k = STAT_NAMES.index(name)
        return k % 6, 1 + 3 * (k // 6)

    def showEvent(self, ev: Any) -> None:  # noqa: N802
        super().showEvent(ev)
        if self._coco_dirty and self.result is not None:
            self._coco_dirty = False
            self._draw_coco()

    def coco_values(self) -> dict[str, float]:
        """The 12 numbers as shown (for tests and copying)."""
        if self._coco_dirty and self.result is not None:
            self._coco_dirty = False
            self._draw_coco()
        out: dict[str, float] = {}
        if self.coco.rowCount() == 0:
            return out
        for name in STAT_NAMES:
            it = self.coco.item(*self.stat_cell(name))
            if it is not None:
                out[name] = float(it.data(Qt.ItemDataRole.UserRole))
        return out

    def _draw_coco(self) -> None:
        r = self.result
        if r is None:
            return
        self._update_title()
        bold = QFont()
        bold.setBold(True)
        self.coco.setRowCount(6)
        for name in STAT_NAMES:
            row, col = self.stat_cell(name)
            title, text = COCO_EXPLAIN[name]
            v = float(getattr(r, name))
            tip = f"{name} ({title}): {text}" + (f"\n{NO_GT_NOTE}" if name[-1] in "sml"
                                                  else "")
            a = QTableWidgetItem(name)
            a.setData(Qt.ItemDataRole.UserRole, name)
            if name in ("AP", "AP50", "AR100"):
                a.setFont(bold)
            b = _Item(fmt_stat(v), v)
            if v == -1:
                b.setForeground(QColor(140, 140, 140))
            c = QTableWidgetItem(text + (" -1 = none of that size." if v == -1 else ""))
            c.setForeground(QColor(90, 90, 90))
            for it in (a, b, c):
                it.setToolTip(tip)
            self.coco.setItem(row, col - 1, a)
            self.coco.setItem(row, col, b)
            self.coco.setItem(row, col + 1, c)
        for c in (0, 1, 3, 4):
            self.coco.resizeColumnToContents(c)
        self._draw_per_class()
        self._draw_pr()

    def _draw_per_class(self) -> None:
        r = self.result
        s = self.session
        if r is None or s is None:
            return
        pc = r.per_class
        names = [str(x) for x in pc["name"].tolist()]
        n_gt = pc["n_gt"].to_numpy()
        n_det = pc["n_det"].to_numpy()
        vals = {c: pc[c].to_numpy(np.float64) for c in ("AP", "AP50", "AP75", "AR100")}
        rows = np.flatnonzero((n_gt > 0) | (n_det > 0)).tolist()
        t = self.per_class
        hh = t.horizontalHeader()
        sort_col, sort_order = hh.sortIndicatorSection(), hh.sortIndicatorOrder()
        t.setSortingEnabled(False)
        first = t.rowCount() != len(rows)
        t.setRowCount(len(rows))
        for row, k in enumerate(rows):
            name = QTableWidgetItem(names[k])
            name.setData(Qt.ItemDataRole.UserRole, k)
            name.setToolTip("Click to list only the images that contain this class")
            t.setItem(row, 0, name)
            for c, col in enumerate(("AP", "AP50", "AP75", "AR100"), start=1):
                v = float(vals[col][k])
                t.setItem(row, c, _Item(fmt_stat(v) if v != -1 else "– (no GT)", v))
            t.setItem(row, 5, _Item(str(int(n_gt[k])), float(n_gt[k])))
            t.setItem(row, 6, _Item(str(int(n_det[k])), float(n_det[k])))
        t.setSortingEnabled(True)
        if 0 <= sort_col < t.columnCount():
            t.sortItems(sort_col, sort_order)
        if first:
            t.resizeColumnsToContents()
        # the PR class chooser
        wanted = [k for k in rows if n_gt[k] > 0]
        have = [self.pr_class.itemData(i) for i in range(1, self.pr_class.count())]
        if have != wanted:
            with QSignalBlocker(self.pr_class):
                cur = self.pr_class.currentData()
                self.pr_class.clear()
                self.pr_class.addItem("All classes (mean)", None)
                for k in wanted:
                    self.pr_class.addItem(names[k], int(k))
                idx = self.pr_class.findData(cur) if cur is not None else 0
                self.pr_class.setCurrentIndex(max(idx, 0))

    def _on_class_cell(self, row: int, _col: int) -> None:
        it = self.per_class.item(row, 0)
        if it is None:
            return
        k = int(it.data(Qt.ItemDataRole.UserRole))
        i = self.pr_class.findData(k)
        if i >= 0:
            self.pr_class.setCurrentIndex(i)
        self.classClicked.emit(k)

    def _draw_pr(self) -> None:
        """Three curves, made once and then only given new data (cheap after edits)."""
        r = self.result
        if not self._pr_items:
            for key, label, color, style in _PR_STYLES:
                pen = pg.mkPen(color, width=2, style=style)
                self._pr_items[key] = self.pr_plot.plot([], [], pen=pen, name=label)
            self._pr_empty = pg.TextItem("no ground truth for this class", color="#888888",
                                         anchor=(0.5, 0.5))
            self._pr_empty.setPos(0.5, 0.5)
            self.pr_plot.addItem(self._pr_empty)
        if r is None:
            for item in self._pr_items.values():
                item.setData([], [])
            self._pr_empty.setVisible(False)
            return
        curves = pr_curves(r, cls=self.pr_class.currentData())
        rec = curves["recall"]
        empty = True
        for key, label, _color, _style in _PR_STYLES:
            y = curves[key]
            item = self._pr_items[key]
            ok = not np.isnan(y).all()
            empty &= not ok
            item.setData(rec if ok else [], y if ok else [])
            lab = self.pr_legend.getLabel(item)
            if lab is not None:
                lab.setText(f"{label}: AP {float(np.mean(y)):.3f}" if ok else f"{label}: –")
        self._pr_empty.setVisible(empty)

    def _draw_errors(self) -> None:
        e = self.errors
        s = self.session
        if e is None or s is None:
            return
        tab = e.error_table()
        self.err_table.setRowCount(len(tab))
        biggest = tab["dAP"].idxmax() if len(tab) else None
        for row, (name, rec) in enumerate(tab.iterrows()):
            tip = ERROR_HELP[str(name)]
            a = QTableWidgetItem(_ERROR_TITLES[str(name)])
            n = _Item(str(int(rec["count"])), float(rec["count"]))
            d = _Item(f"+{100 * rec['dAP']:.1f} AP points", float(rec["dAP"]))
            if name == biggest and rec["dAP"] > 0:
                f = QFont()
                f.setBold(True)
                for it in (a, d):
                    it.setFont(f)
            c = QTableWidgetItem(tip)
            c.setForeground(QColor(90, 90, 90))
            for it in (a, n, d, c):
                it.setToolTip(tip)
            for col, it in enumerate((a, n, d, c)):
                self.err_table.setItem(row, col, it)
        self.err_table.resizeColumnToContents(0)
        self.err_table.resizeColumnToContents(1)
        self.err_table.resizeColumnToContents(2)
        which = ("all predictions" if e.all_predictions
                 else f"predictions with score ≥ {e.score_threshold:.2f}")
        self.err_note.setText(
            f"TIDE error types of {which}, a prediction counting as right at IoU ≥ "
            f"{e.iou_threshold:.2f}. AP gain: how much TIDE's AP ({100 * e.tide.ap:.1f} now) "
            "would rise if that error type were fixed. Hover a row for details; the image "
            "list has a column per type, the viewer tags each box with its type.")
        self._cm_stale = True
        if self.tabs.currentIndex() == _CM_TAB:  # else drawn when its tab is shown
            self._draw_confusion()

    def _on_tab(self, index: int) -> None:
        if index == _CM_TAB and self._cm_stale:
            self._draw_confusion()

    def _draw_confusion(self) -> None:
        self._cm_stale = False
        e = self.errors
        s = self.session
        for it in self.cm_texts:
            self.cm_plot.removeItem(it)
        self.cm_texts = []
        if e is None or s is None:
            self.cm_image.clear()
            return
        m = e.confusion
        k = m.shape[0] - 1
        limit = int(self.cm_limit.currentData() or 0)
        if limit < 0:  # as many rows as fit at a readable height (plus background)
            limit = self._cm_rows_that_fit() - 1
            self._cm_fit = limit
        present = present_classes(m)
        cls = most_confused_classes(m, limit) if limit else present
        idx = np.concatenate((cls, [k])).astype(np.int64)
        self.cm_classes = idx
        sub = m[np.ix_(idx, idx)]
        self.cm_sub = sub
        names = s.dataset.classes.names
        labels = [names[c] if c < k else "(background)" for c in idx.tolist()]
        n = len(idx)
        # colour by log count (display scaling only); the diagonal is what is right
        img = np.log1p(sub.astype(np.float64))
        lut = pg.ColorMap([0.0, 1.0], [(255, 255, 255), (31, 90, 180)]).getLookupTable(
            nPts=256)
        self.cm_image.setImage(img, levels=(0, max(float(img.max()), 1e-9)), lut=lut)
        self.cm_image.setRect(0, 0, n, n)
        step = max(1, math.ceil(n / _CM_LABELS))
        ticks = [(i + 0.5, lab) for i, lab in enumerate(labels) if i % step == 0 or i == n - 1]
        self.cm_plot.getAxis("bottom").setTicks([ticks])
        self.cm_plot.getAxis("left").setTicks([ticks])
        self.cm_plot.setXRange(0, n, padding=0)
        self.cm_plot.setYRange(0, n, padding=0)
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
                    self.cm_plot.addItem(t)
                    self.cm_texts.append(t)
        off = int(m[:k, :k].sum() - np.trace(m[:k, :k]))
        shown = (f"{len(cls)} of {len(present)} classes" if len(cls) < len(present)
                 else f"all {len(present)} classes")
        self.cm_note.setText(
            f"{shown} · {off} box(es) given another class · last column: objects missed · "
            "last row: predictions on nothing · hover a cell")
        explain = (
            f"Predictions with score ≥ {e.score_threshold:.2f} matched one to one to "
            f"ground-truth boxes at IoU ≥ {e.iou_threshold:.2f}, whatever the class. "
            "Rows: the true class; columns: the predicted class. The diagonal is the right "
            "class; the last column counts objects no prediction found, the last row "
            "predictions on no object. Colour: count (log scale).")
        self.cm_note.setToolTip(explain)
        self.cm_plot.getAxis("bottom").setToolTip(explain)

    def _cm_rows_that_fit(self) -> int:
        h = self.cm_plot.getViewBox().height()
        if h < 40:  # not laid out yet
            return _CM_TOP + 1
        return int(max(4, h // 16))

    def _cm_resized(self) -> None:
        if (self.tabs.currentIndex() == _CM_TAB and self.cm_limit.currentData() == -1
                and self._cm_rows_that_fit() - 1 != self._cm_fit):
            self._draw_confusion()

    def _cm_hover(self, pos: QPointF) -> None:
        if not len(self.cm_classes) or self.session is None:
            return
        vb = self.cm_plot.getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            return
        p = vb.mapSceneToView(pos)
        j, i = int(math.floor(p.x())), int(math.floor(p.y()))
        n = len(self.cm_classes)
        if not (0 <= i < n and 0 <= j < n):
            self.cm_plot.setToolTip("")
            return
        self.cm_plot.setToolTip(self.confusion_cell_text(i, j))

    def confusion_cell_text(self, i: int, j: int) -> str:
        """Tooltip of cell (row i, column j) of the shown matrix."""
        s = self.session
        assert s is not None
        names = s.dataset.classes.names
        k = len(names)
        t, p = int(self.cm_classes[i]), int(self.cm_classes[j])
        v = int(self.cm_sub[i, j])
        tn = names[t] if t < k else "background"
        pn = names[p] if p < k else "background"
        if t == k:
            return f"{v} prediction(s) of {pn} on no object"
        if p == k:
            return f"{v} {tn} box(es) not found by any prediction"
        if t == p:
            return f"{v} {tn} box(es) found with the right class"
        return f"{v} {tn} box(es) predicted as {pn}"
