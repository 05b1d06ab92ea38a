"""The analysis panel: COCO numbers explained, per class, PR curves, error types,
confusion matrix, thresholds and histograms, for the session's run.

Every plot leads somewhere: a confusion cell, an error-type bar, a histogram bin emit
``hitsChosen(Hits)`` (the boxes it stands for: the window lists their images and
selects them); a PR-curve point or the F1 plot emit ``thresholdChosen(t)``.

Every number comes from the session's derived values (:mod:`detview.session.derived`):
the panel asks for them (``want``), is told when they arrive or change, and draws. The
COCO evaluator follows each edit incrementally (read here a few milliseconds after the
edit, so the edit itself stays within a frame); the error breakdown is recomputed by
the session in a worker once the edits pause.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QRadioButton,
    QSplitter,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from detview.core.analysis import COCO_EXPLAIN, NO_GT_NOTE, ErrorAnalysis
from detview.core.cocoeval import STAT_NAMES, COCOResult
from detview.core.drilldown import (
    MatchRecords,
    iou_bin_hits,
    score_bin_hits,
    threshold_curve,
    threshold_for_recall,
)
from detview.session import Session
from detview.session.derived import add_panel_producers

from .analysis_plots import ConfusionView, ErrorTypes, NumItem, PRCurves, fmt_stat, make_table
from .analysis_thresholds import ThresholdPlots
from .session import QtSession

__all__ = ["AnalysisPanel", "fmt_stat"]

_COCO_DEFER_MS = 30
_PC_TAB = 1
_CM_TAB = 3
_THR_TAB = 4


class AnalysisPanel(QWidget):
    """Analysis of the session's current run. ``set_session`` attaches it."""

    classClicked = Signal(int)  # a class chosen in the per-class table  # noqa: N815
    cocoUpdated = Signal()  # the 12 numbers were (re)drawn  # noqa: N815
    hitsChosen = Signal(object)  # Hits: a cell, bar or bin was clicked  # noqa: N815
    thresholdChosen = Signal(float)  # a PR point or the F1 plot was clicked  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.qs: QtSession | None = None
        self.result: COCOResult | None = None
        self._coco_dirty = False  # numbers changed while hidden: drawn when shown
        self._cm_stale = False
        self._thr_stale = False
        self._pc_stale = False
        self._build()
        # after an edit the evaluator is read once per burst, just after the edit is on
        # screen
        self._coco_timer = QTimer(self)
        self._coco_timer.setSingleShot(True)
        self._coco_timer.setInterval(_COCO_DEFER_MS)
        self._coco_timer.timeout.connect(self.flush)
        self._show_empty("Open a dataset with predictions to see the analysis.")

    @property
    def session(self) -> Session | None:
        return self.qs.session if self.qs is not None else None

    # ================================================================== layout
    def _build(self) -> None:
        self.title = QLabel("<b>Analysis</b>")
        self.mode_all = QRadioButton("all predictions")
        self.mode_all.setToolTip(
            "As your training framework prints them. "
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
        self.busy.setRange(0, 0)
        self.busy.setVisible(False)
        for lab, least in ((self.title, 120), (self.status, 60)):  # never widen the window
            lab.setMinimumWidth(least)
        top = QHBoxLayout()
        top.addWidget(self.title)
        top.addSpacing(12)
        top.addWidget(QLabel("Numbers from:"))
        top.addWidget(self.mode_all)
        top.addWidget(self.mode_thr)
        top.addStretch(1)
        top.addWidget(self.status)
        top.addWidget(self.busy)

        # --- COCO numbers: two blocks side by side (precision | recall), 6 rows each
        self.coco = make_table(["precision", "value", "what it means", "recall", "value",
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

        # --- per class and its PR curve side by side: clicking a class shows its curve
        self.per_class = make_table(["class", "AP", "AP50", "AP75", "AR100", "GT boxes",
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
        self.pr = PRCurves()
        self.pr.pointClicked.connect(self._on_pr_point)
        self.pr.cls_combo.currentIndexChanged.connect(lambda _i: self._mark_pr())
        self.pr_class, self.pr_plot = self.pr.cls_combo, self.pr.plot
        pc_split = QSplitter(Qt.Orientation.Horizontal)
        pc_split.addWidget(self.per_class)
        pc_split.addWidget(self.pr)
        pc_split.setStretchFactor(0, 0)
        pc_split.setStretchFactor(1, 1)
        pc_split.setSizes([520, 700])

        self.error_types = ErrorTypes()
        self.error_types.typeClicked.connect(self._on_error_type)
        self.err_table = self.error_types.table
        self.confusion = ConfusionView()
        self.confusion.cellClicked.connect(self._on_confusion_cell)
        self.thresholds = ThresholdPlots()
        self.thresholds.thresholdClicked.connect(self.thresholdChosen)
        self.thresholds.scoreBin.connect(self._on_score_bin)
        self.thresholds.iouBin.connect(self._on_iou_bin)
        self.thresholds.classChanged.connect(self._draw_thresholds)

        self.tabs = QTabWidget()
        self.tabs.addTab(coco_w, "COCO numbers")
        self.tabs.addTab(pc_split, "Per class · PR curves")
        self.tabs.addTab(self.error_types, "Error types")
        self.tabs.addTab(self.confusion, "Confusion matrix")
        self.tabs.addTab(self.thresholds, "Thresholds · histograms")
        self.tabs.setTabToolTip(1, "AP per class (click a class: its precision-recall curve, "
                                   "and the image list shows only images containing it)")
        self.tabs.setTabToolTip(2, "Why predictions are wrong (TIDE error types)")
        self.tabs.setTabToolTip(3, "Which class is mistaken for which, background included "
                                   "(click a cell: its images)")
        self.tabs.setTabToolTip(4, "F1 against the score threshold (click: use it), scores "
                                   "of true and false positives, IoU of matched boxes "
                                   "(click a bar: its images)")
        self.tabs.currentChanged.connect(self._on_tab)
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

    def set_session(self, qs: QtSession | None) -> None:
        """Show ``qs``'s session (None: nothing). Its COCO numbers and error breakdown
        are wanted from now on."""
        old = self.qs
        if old is not None:
            for sig, slot in ((old.derivedChanged, self._on_derived),
                              (old.derivedBusy, self._on_busy),
                              (old.settingsChanged, self.refresh),
                              (old.imagesChanged, self._on_images_changed)):
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        self._coco_timer.stop()
        self.qs = qs
        self.result = None
        if qs is not None:
            qs.derivedChanged.connect(self._on_derived)
            qs.derivedBusy.connect(self._on_busy)
            qs.settingsChanged.connect(self.refresh)
            qs.imagesChanged.connect(self._on_images_changed)
            s = qs.session
            self.mode_all.blockSignals(True)
            self.mode_thr.blockSignals(True)
            self.set_all_predictions(s.all_predictions)
            self.mode_all.blockSignals(False)
            self.mode_thr.blockSignals(False)
            add_panel_producers(s.derived)
            s.derived.want("coco")
            s.derived.want("errors")
            s.derived.want("matches")
        self.refresh()

    def is_idle(self) -> bool:
        """No work pending (tests and screenshots wait for this)."""
        s = self.session
        if s is None:
            return True
        assert self.qs is not None
        return (not s.derived.is_busy() and not self._coco_timer.isActive()
                and not self.qs.stale_pending())

    @property
    def errors(self) -> ErrorAnalysis | None:
        s = self.session
        return None if s is None else s.errors()

    def _mode_changed(self) -> None:
        s = self.session
        if s is not None:
            s.set_all_predictions(self.all_predictions)

    # ================================================================== updates
    def refresh(self) -> None:
        """Draw everything the session has for its run, thresholds and mode."""
        s = self.session
        if s is None or s.run is None:
            self._show_empty("No prediction run: open predictions to see the analysis."
                             if s is not None else "Open a dataset to see the analysis.")
            return
        self._update_title()
        self._coco_changed()
        self._draw_errors()
        self._draw_thresholds()
        self._update_busy()

    def _on_derived(self, name: str) -> None:
        if name == "coco":
            self._coco_changed()
        elif name == "errors":
            self._draw_errors()
        elif name == "matches":
            self._draw_thresholds()
        self._update_busy()

    def _on_busy(self, _name: str) -> None:
        self._update_busy()

    def _on_images_changed(self, touched: frozenset[int]) -> None:
        if touched:
            self._coco_timer.start()
            self._update_title()

    def flush(self) -> None:
        """Bring the COCO numbers up to the edits made since they were drawn (a few
        milliseconds: only the touched images are re-matched)."""
        self._coco_timer.stop()
        self._coco_changed()
        self._draw_thresholds()

    def _coco_changed(self) -> None:
        s = self.session
        live = s.derived.get("coco") if s is not None else None
        self.result = live.result() if live is not None else None
        if self.result is None:
            return
        if self.isVisible():
            self._draw_coco()
            self._coco_dirty = False
        else:  # drawn when shown (the numbers are kept current either way)
            self._coco_dirty = True
        self.cocoUpdated.emit()

    def confusion_text(self, image: int) -> str:
        """The image's class confusions ("dog→cat ×2"), "" when none or not computed."""
        e = self.errors
        if e is None or not 0 <= image < len(e.images):
            return ""
        return str(e.images["confusion"].iloc[image])

    # ================================================================== status
    def _update_busy(self) -> None:
        s = self.session
        coco = s is not None and s.derived.is_busy("coco")
        err = s is not None and (s.derived.is_busy("errors") or (
            self.qs is not None and self.qs.stale_pending()))
        self.busy.setVisible(coco or err)
        if coco:
            self.status.setText("Computing the COCO numbers…")
        elif err:
            self.status.setText("Updating the error breakdown…")
        else:
            self.status.setText("")
            self._update_title()

    def _update_title(self) -> None:
        s = self.session
        if s is None or s.run is None:
            self.title.setText("<b>Analysis</b>")
            return
        dets = s.dataset.runs[s.run]
        alive = dets.alive & ~s.dataset.images.deleted[dets.image]  # deleted images: out
        n_all = int(np.count_nonzero(alive))
        thr = s.params.score_threshold
        self.mode_thr.setText(f"predictions with score ≥ {thr:.2f}")
        if self.all_predictions:
            which = f"all {n_all} predictions"
        else:
            n = int(np.count_nonzero(alive & (dets.score >= thr)))
            which = f"{n} of {n_all} predictions (score ≥ {thr:.2f})"
        self.title.setText(f"<b>{s.run}</b>: {which}")

    # ================================================================== drawing
    def _show_empty(self, text: str) -> None:
        self.title.setText("<b>Analysis</b>")
        self.status.setText(text)
        for t in (self.coco, self.per_class):
            t.setRowCount(0)
        self.result = None
        self.pr.draw(None)
        self.error_types.draw(None)
        self.confusion.draw(None, ())
        self.thresholds.draw(None, 0.5)
        self.pr.mark(float("nan"), 0.0)
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
        if self._coco_timer.isActive():
            self.flush()
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
            b = NumItem(fmt_stat(v), v)
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
        if self.tabs.currentIndex() == _PC_TAB or self.pr.result is None:
            self._draw_pc_tab()
        else:  # drawn when its tab is shown (after an edit: ~15 ms saved per edit)
            self._pc_stale = True

    def _draw_pc_tab(self) -> None:
        self._pc_stale = False
        r = self.result
        if r is None:
            return
        self._draw_per_class()
        self.pr.draw(r)
        self._mark_pr()

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
                t.setItem(row, c, NumItem(fmt_stat(v) if v != -1 else "– (no GT)", v))
            t.setItem(row, 5, NumItem(str(int(n_gt[k])), float(n_gt[k])))
            t.setItem(row, 6, NumItem(str(int(n_det[k])), float(n_det[k])))
        t.setSortingEnabled(True)
        if 0 <= sort_col < t.columnCount():
            t.sortItems(sort_col, sort_order)
        if first:
            t.resizeColumnsToContents()
        self.pr.set_classes(names, [k for k in rows if n_gt[k] > 0])

    def _on_class_cell(self, row: int, _col: int) -> None:
        it = self.per_class.item(row, 0)
        if it is None:
            return
        k = int(it.data(Qt.ItemDataRole.UserRole))
        self.pr.choose(k)
        self.classClicked.emit(k)

    def _draw_errors(self) -> None:
        e = self.errors
        s = self.session
        if s is None or e is None:
            return
        self.error_types.draw(e)
        self._cm_stale = True
        if self.tabs.currentIndex() == _CM_TAB:  # else drawn when its tab is shown
            self._draw_confusion()

    def _on_tab(self, index: int) -> None:
        if index == _PC_TAB and self._pc_stale:
            self._draw_pc_tab()
        elif index == _CM_TAB and self._cm_stale:
            self._draw_confusion()
        elif index == _THR_TAB and self._thr_stale:
            self._draw_thresholds()

    def _draw_confusion(self) -> None:
        self._cm_stale = False
        s = self.session
        self.confusion.draw(self.errors, s.dataset.classes.names if s is not None else ())

    @property
    def cm_classes(self) -> np.ndarray:
        return self.confusion.classes

    def confusion_cell_text(self, i: int, j: int) -> str:
        """Tooltip of cell (row i, column j) of the shown matrix."""
        return self.confusion.cell_text(i, j)

    # ================================================================== drill-down
    def records(self) -> MatchRecords | None:
        """The run's match records over the images not deleted (None: not computed)."""
        s = self.session
        if s is None or s.run is None or "matches" not in s.derived.names:
            return None
        live = s.derived.get("matches")
        return None if live is None else live.records.select(~s.dataset.images.deleted)

    def _draw_thresholds(self) -> None:
        s = self.session
        rec = self.records()
        self._mark_pr(rec)
        if s is None:
            return
        if self.tabs.currentIndex() != _THR_TAB and self.thresholds.curve is not None:
            self._thr_stale = True  # drawn when its tab is shown
            return
        self._thr_stale = False
        names = s.dataset.classes.names
        if rec is not None:
            self.thresholds.set_classes(names, np.flatnonzero(
                np.bincount(rec.gt_cls, minlength=len(names)) > 0).tolist())
        self.thresholds.draw(rec, s.params.score_threshold)

    def _pr_class(self) -> int | None:
        v = self.pr.cls_combo.currentData()
        return None if v is None else int(v)

    def _mark_pr(self, rec: MatchRecords | None = None) -> None:
        s = self.session
        rec = rec if rec is not None else self.records()
        if s is None or rec is None:
            self.pr.mark(float("nan"), 0.0)
            return
        c = threshold_curve(rec, self._pr_class())
        k = c.index_of(s.params.score_threshold)
        self.pr.mark(float(c.recall[k]), s.params.score_threshold)

    def _on_pr_point(self, recall: float) -> None:
        rec = self.records()
        if rec is not None:
            self.thresholdChosen.emit(threshold_for_recall(
                threshold_curve(rec, self._pr_class()), recall))

    def _on_confusion_cell(self, true_cls: int, pred_cls: int) -> None:
        e, s = self.errors, self.session
        if e is not None and s is not None:
            self.hitsChosen.emit(e.confusion_hits(true_cls, pred_cls, s.dataset.classes.names))

    def _on_error_type(self, name: str) -> None:
        e = self.errors
        if e is not None:
            self.hitsChosen.emit(e.error_hits(name))

    def _on_score_bin(self, kind: str, lo: float, hi: float, last: bool) -> None:
        rec, s = self.records(), self.session
        if rec is None or s is None:
            return
        hits = score_bin_hits(rec, kind, lo, hi, self.thresholds.cls, last)
        thr = s.params.score_threshold
        if hi <= thr:  # the viewer draws none of them: say how to see them
            hits = replace(hits, label=f"{hits.label} (under the threshold {thr:.2f}: lower "
                                       "it to see them)")
        self.hitsChosen.emit(hits)

    def _on_iou_bin(self, lo: float, hi: float, last: bool) -> None:
        rec, s = self.records(), self.session
        if rec is not None and s is not None:
            self.hitsChosen.emit(iou_bin_hits(rec, s.params.score_threshold, lo, hi,
                                              self.thresholds.cls, last))
