"""The main window: image list on the left, side-by-side viewer in the centre,
summary and history docked below. Widgets draw and dispatch; every change goes
through :class:`~detview.gui.session.Session` as an engine edit record."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QAction, QCloseEvent, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSlider,
    QSplitter,
    QTableView,
    QToolBar,
    QUndoView,
    QVBoxLayout,
    QWidget,
)

from detview.core.metrics import MetricParams

from .analysis_panel import AnalysisPanel
from .dialogs import ExportDialog, OpenDialog, ShortcutsDialog, SummaryPanel
from .editing import EditingMixin
from .image_table import WORST_FIRST_DESCENDING, ImageTableModel
from .loading import Loaded, OpenSpec, export, export_formats, load, source_json
from .session import Session, build_metrics
from .shortcuts import SHORTCUTS
from .viewer import SideBySideViewer
from .workers import Cancelled, ImageLoader, Task

__all__ = ["MainWindow"]

_SYNC_METRICS_MAX_IMAGES = 200  # re-compute thresholds on the GUI thread up to this size
# (about 0.15 ms an image: 30 ms at most; larger datasets use a worker, never blocking)
_FILTER_LEAVE_KEYS = (Qt.Key.Key_Tab, Qt.Key.Key_Backtab, Qt.Key.Key_Return, Qt.Key.Key_Enter,
                      Qt.Key.Key_Escape)


class MainWindow(EditingMixin, QMainWindow):
    """detview's window. ``set_session`` shows a loaded dataset."""

    sessionChanged = Signal()  # noqa: N815
    imageShown = Signal(int)  # noqa: N815

    def __init__(self) -> None:
        super().__init__()
        self.session: Session | None = None
        self.model: ImageTableModel | None = None
        self.current_image = -1
        self.last_class = 0
        self._task: Task | None = None
        self._follow_edits = False
        self._dataset_name = ""
        self.quiet = False  # no modal message boxes (screenshots, tests)
        self.open_spec_used: OpenSpec | None = None
        self.auto_coco = True  # kept for callers; the analysis panel computes by itself
        self.use_journal = True  # crash recovery: every edit on disk (detview.io.journal)
        self._coco_index = -1  # undo index the COCO numbers were computed at
        self._coco_title = ""
        self._discarded = False
        self.last_error = ""
        self.loader = ImageLoader(parent=self)
        self.loader.loaded.connect(self._on_image_loaded)
        self.loader.failed.connect(self._on_image_failed)
        self._build_widgets()
        self._build_actions()
        self._update_title()
        self.resize(1600, 1000)

    # ================================================================== layout
    def _build_widgets(self) -> None:
        # image list
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: file name, #tag, class:NAME, reviewed, "
                                            "unreviewed, deleted  (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._on_filter)
        self.filter_edit.installEventFilter(self)
        self.table = QTableView()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setSortingEnabled(False)  # sorting through the header, in the model
        self.table.horizontalHeader().setSortIndicatorShown(True)
        self.table.horizontalHeader().setSectionsClickable(True)
        self.table.horizontalHeader().sectionClicked.connect(self._on_header_clicked)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideLeft)  # keep the distinct end
        self.list_count = QLabel()
        self.list_count.setStyleSheet("color: gray")
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(4, 4, 0, 4)
        lv.addWidget(self.filter_edit)
        lv.addWidget(self.table, 1)
        lv.addWidget(self.list_count)
        # viewer
        self.viewer = SideBySideViewer()
        self.viewer.gtSelectionChanged.connect(self._update_status)
        self.viewer.predSelectionChanged.connect(self._update_status)
        self.viewer.gt_pane.moveFinished.connect(self._on_move_finished)
        self.viewer.gt_pane.drawFinished.connect(self._on_draw_finished)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.viewer)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([540, 1060])
        self.setCentralWidget(self.splitter)
        # toolbar: run, thresholds
        tb = QToolBar("Evaluation")
        tb.setObjectName("evaluation_toolbar")
        tb.setMovable(False)
        self.addToolBar(tb)
        self.run_combo = QComboBox()
        self.run_combo.setMinimumWidth(160)
        self.run_combo.setToolTip("Prediction run shown on the right and used for the metrics")
        self.run_combo.currentTextChanged.connect(self._on_run_changed)
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
        self.score_slider.valueChanged.connect(lambda v: self.score_spin.setValue(v / 100))
        self.score_spin.valueChanged.connect(self._on_score_spin)
        self.iou_spin.valueChanged.connect(lambda _v: self._params_timer.start())
        self._params_timer = QTimer(self)
        self._params_timer.setSingleShot(True)
        self._params_timer.setInterval(120)
        self._params_timer.timeout.connect(self._apply_params)
        for w in (QLabel(" Run "), self.run_combo, QLabel("   Score ≥ "), self.score_slider,
                  self.score_spin, QLabel("   IoU ≥ "), self.iou_spin):
            tb.addWidget(w)
        self._set_param_widgets(MetricParams())
        # docks
        self.summary = SummaryPanel()
        self.summary.coco_button.clicked.connect(lambda: self.compute_coco())
        self.summary.set_coco_available(False)  # the analysis panel shows COCO numbers
        self.summary_dock = QDockWidget("Summary", self)
        self.summary_dock.setObjectName("summary_dock")
        self.summary_dock.setWidget(self.summary)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.summary_dock)
        self.undo_view = QUndoView()
        self.undo_view.setEmptyLabel("<opened>")
        self.history_dock = QDockWidget("History", self)
        self.history_dock.setObjectName("history_dock")
        self.history_dock.setWidget(self.undo_view)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.history_dock)
        self.tabifyDockWidget(self.summary_dock, self.history_dock)
        # analysis: COCO numbers explained, per class, PR curves, error types, confusion
        self.analysis = AnalysisPanel()
        self.analysis.classClicked.connect(self._on_class_clicked)
        self.analysis.imageColumnsChanged.connect(self._on_image_columns)
        self.analysis.labelsChanged.connect(lambda: self.refresh_view(new_image=False))
        self.viewer.error_labels_for = lambda: self.analysis.labels
        self.analysis_dock = QDockWidget("Analysis", self)
        self.analysis_dock.setObjectName("analysis_dock")
        self.analysis_dock.setWidget(self.analysis)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.analysis_dock)
        self.tabifyDockWidget(self.summary_dock, self.analysis_dock)
        self.analysis_dock.raise_()
        self.resizeDocks([self.analysis_dock], [300], Qt.Orientation.Vertical)
        # status bar
        self.status_label = QLabel()
        self.status_label.setTextFormat(Qt.TextFormat.RichText)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(220)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel_task)
        self.message_label = QLabel()
        self.message_label.setStyleSheet("color: #1a5fb4")
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self.message_label.clear)
        sb = self.statusBar()
        sb.addWidget(self.status_label, 1)
        sb.addPermanentWidget(self.message_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)
        self.viewer.gt_pane.drawCancelled.connect(lambda: self.flash(
            "Drawing cancelled", 2000))

    def _build_actions(self) -> None:
        self.actions_by_name: dict[str, QAction] = {}
        handlers = {
            "open": self.open_dialog, "export": self.export_dialog, "quit": self.close,
            "next_image": lambda: self.step_image(1), "prev_image": lambda: self.step_image(-1),
            "first_image": lambda: self.select_row(0),
            "filter": lambda: (self.filter_edit.setFocus(), self.filter_edit.selectAll()),
            "fit": self.fit_view, "zoom_selection": self.zoom_to_selection,
            "next_box": lambda: self.cycle_box(1),
            "prev_box": lambda: self.cycle_box(-1), "escape": self.escape,
            "next_pred": lambda: self.cycle_prediction(1),
            "prev_pred": lambda: self.cycle_prediction(-1),
            "sort_iou": lambda: self.sort_by("mean_iou", Qt.SortOrder.AscendingOrder, True),
            "sort_fn": lambda: self.sort_by("fn", Qt.SortOrder.DescendingOrder, True),
            "sort_fp": lambda: self.sort_by("fp", Qt.SortOrder.DescendingOrder, True),
            "toggle_labels": self.toggle_labels,
            "delete_box": self.delete_selected, "relabel": self.relabel_selected,
            "draw": self.start_draw, "duplicate": self.duplicate_selected,
            "accept": self.accept_prediction, "replace": self.replace_selected,
            "select_all": self.select_all_boxes, "delete_image": self.toggle_image_deleted,
            "reviewed": self.toggle_reviewed, "tags": self.edit_tags,
            "undo": self.undo, "redo": self.redo, "help": self.show_shortcuts,
        }
        for s in SHORTCUTS:
            a = QAction(s.text, self)
            a.setShortcuts([QKeySequence(k) for k in s.keys])
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            a.setToolTip(f"{s.text} ({' / '.join(s.keys)})")
            a.triggered.connect(handlers[s.name])
            self.addAction(a)
            self.actions_by_name[s.name] = a
        # nudges: only while an image pane has the focus
        for key, dx, dy in (("Left", -1, 0), ("Right", 1, 0), ("Up", 0, -1), ("Down", 0, 1)):
            for mod, f in (("", 1), ("Shift+", 10)):
                a = QAction(f"Nudge {key.lower()} {f} px", self.viewer)
                a.setShortcut(QKeySequence(mod + key))
                a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                a.triggered.connect(lambda _c=False, x=dx * f, y=dy * f: self.nudge(x, y))
                self.viewer.addAction(a)
        A = self.actions_by_name  # noqa: N806
        mb = self.menuBar()
        m = mb.addMenu("&File")
        m.addAction(A["open"])
        self.open_folder_action = m.addAction("Open folder (auto-detect)…")
        self.open_folder_action.triggered.connect(self.open_folder_dialog)
        m.addAction(A["export"])
        m.addSeparator()
        m.addAction(A["quit"])
        m = mb.addMenu("&Edit")
        for n in ("undo", "redo"):
            m.addAction(A[n])
        m.addSeparator()
        for n in ("delete_box", "relabel", "draw", "duplicate", "select_all", "accept",
                  "replace"):
            m.addAction(A[n])
        m = mb.addMenu("&Image")
        for n in ("delete_image", "reviewed", "tags"):
            m.addAction(A[n])
        m.addSeparator()
        for n in ("next_image", "prev_image", "first_image", "filter"):
            m.addAction(A[n])
        m = mb.addMenu("&View")
        for n in ("sort_iou", "sort_fn", "sort_fp"):
            m.addAction(A[n])
        m.addSeparator()
        for n in ("fit", "zoom_selection", "toggle_labels", "next_box", "prev_box", "next_pred",
                  "prev_pred"):
            m.addAction(A[n])
        m.addSeparator()
        m.addAction(self.summary_dock.toggleViewAction())
        m.addAction(self.history_dock.toggleViewAction())
        m = mb.addMenu("&Help")
        m.addAction(A["help"])
        self._update_enabled()

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        """Keys typed in the filter box go to the filter: no window shortcut fires from
        there (Tab would select boxes, Esc clear them). Tab, Enter and Esc go back to
        the image list."""
        if obj is self.filter_edit and isinstance(ev, QKeyEvent):
            if ev.type() == QEvent.Type.ShortcutOverride:
                if ev.key() in _FILTER_LEAVE_KEYS and not (
                        ev.modifiers() & Qt.KeyboardModifier.ControlModifier):
                    ev.accept()  # ours, not a shortcut's
                    return True
            elif ev.type() == QEvent.Type.KeyPress and ev.key() in _FILTER_LEAVE_KEYS and not (
                    ev.modifiers() & Qt.KeyboardModifier.ControlModifier):
                self.table.setFocus(Qt.FocusReason.TabFocusReason)
                return True
        return super().eventFilter(obj, ev)

    # ================================================================== session
    def set_session(self, session: Session, name: str = "") -> None:
        self._detach_session()
        self.session = session
        self._dataset_name = name or session.name
        self._coco_index = -1
        old_model = self.model
        self.model = ImageTableModel(session, self)
        self.table.setModel(self.model)
        if old_model is not None:
            old_model.deleteLater()
        self._size_columns()
        for c, col in enumerate(self.model.columns):  # no run: nothing to compare
            self.table.setColumnHidden(c, not session.run_names and col.key in (
                "n_pred", "tp", "fp", "fn", "mean_iou"))
        self.table.selectionModel().currentRowChanged.connect(self._on_row_changed)
        session.imagesChanged.connect(self._on_images_changed)
        session.metricsReset.connect(self._on_metrics_reset)
        session.editFailed.connect(lambda msg: self.flash(msg, 5000))
        session.undo_stack.cleanChanged.connect(self._on_clean_changed)
        session.undo_stack.indexChanged.connect(self._on_index_changed)
        self.undo_view.setStack(session.undo_stack)
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        self.run_combo.addItems(session.run_names or ["(no predictions)"])
        self.run_combo.setEnabled(len(session.run_names) > 1)
        self.summary.set_coco_available(False)
        self.model.cell_tip = self._cell_tip
        self.analysis.set_session(session)
        self.summary.coco.setRowCount(0)
        self.summary.per_class.setRowCount(0)
        self.run_combo.blockSignals(False)
        self._set_param_widgets(session.params)
        self.current_image = -1
        self._update_title()
        self._update_summary()
        self._update_count()
        if self.model.rowCount():
            self.select_row(0)
        else:
            self.viewer.clear()
        self.table.setFocus()
        self._update_enabled()
        self.sessionChanged.emit()

    def _size_columns(self) -> None:
        """Fixed widths from the header and a sample of rows, computed once: Qt's
        ResizeToContents would query every row on each edit (seconds at 20k images)."""
        assert self.model is not None
        hh = self.table.horizontalHeader()
        hh.setMinimumSectionSize(28)
        fm = self.table.fontMetrics()
        bold = hh.fontMetrics()
        n = self.model.rowCount()
        rows = range(0, n, max(1, n // 300))
        for c in range(1, self.model.columnCount()):
            title = str(self.model.headerData(c, Qt.Orientation.Horizontal))
            width = bold.horizontalAdvance(title) + 22  # sort arrow
            # status: room for the compact form (deleted, reviewed, a tag), rarely full
            samples = ["✗ ✓ #occluded+2"] if self.model.columns[c].key == "status" else (
                self.model.data(self.model.index(r, c)) for r in rows)
            for text in samples:
                width = max(width, fm.horizontalAdvance(str(text or "")) + 12)
            if self.model.columns[c].fmt == ".3f":  # filled later (analysis columns)
                width = max(width, fm.horizontalAdvance("0.000") + 12)
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
            hh.resizeSection(c, min(width, 260))
        # the file name takes the rest (elided on the left: the distinct end stays)
        if any(col.key == "ap" for col in self.model.columns):
            # the analysis columns make the list wider than its pane: keep the file
            # name readable and scroll sideways to them
            hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
            hh.resizeSection(0, 140)
        else:
            hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        hh.setStretchLastSection(False)
        if self.model.sort_key is None:  # no arrow until the list is sorted
            hh.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)

    def _detach_session(self) -> None:
        old = self.session
        if old is None:
            return
        if old.journal is not None and not old.undo_stack.isClean() and self._discarded:
            try:  # the user chose to drop these edits: no restore offer next time
                old.journal.archive()
            except OSError:
                pass
            old.journal = None
        self._discarded = False
        try:
            old.undo_stack.cleanChanged.disconnect(self._on_clean_changed)
            old.undo_stack.indexChanged.disconnect(self._on_index_changed)
            old.imagesChanged.disconnect(self._on_images_changed)
            old.metricsReset.disconnect(self._on_metrics_reset)
        except (RuntimeError, TypeError):  # already gone
            pass
        old.close()
        self.undo_view.setStack(None)

    def _on_clean_changed(self, _clean: bool) -> None:
        self._update_title()

    def _on_index_changed(self, index: int) -> None:
        try:
            self._update_enabled()
        except RuntimeError:  # the stack is being destroyed
            return
        if self._coco_index >= 0 and self.summary.coco.rowCount():
            stale = index != self._coco_index
            self.summary.coco_button.setText(
                "Re-compute COCO metrics" + (" (after edits)" if stale else ""))
            self.summary.coco_title.setText(
                self._coco_title + (" · <span style='color:#d07000'>outdated: edits since"
                                    "</span>" if stale else ""))

    def _set_param_widgets(self, p: MetricParams) -> None:
        for w in (self.score_slider, self.score_spin, self.iou_spin):
            w.blockSignals(True)
        self.score_slider.setValue(int(round(p.score_threshold * 100)))
        self.score_spin.setValue(p.score_threshold)
        self.iou_spin.setValue(p.iou_threshold)
        for w in (self.score_slider, self.score_spin, self.iou_spin):
            w.blockSignals(False)

    def _update_title(self) -> None:
        name = self._dataset_name or "no dataset"
        self.setWindowTitle(f"{name}[*] — detview")
        clean = self.session is None or self.session.undo_stack.isClean()
        self.setWindowModified(not clean)

    def _update_enabled(self) -> None:
        has = self.session is not None
        for name, a in self.actions_by_name.items():
            if name not in ("open", "quit", "help"):
                a.setEnabled(has)
        if has:
            assert self.session is not None
            st = self.session.undo_stack
            self.actions_by_name["undo"].setEnabled(st.canUndo())
            self.actions_by_name["redo"].setEnabled(st.canRedo())
            self.actions_by_name["undo"].setText(
                f"Undo {st.undoText()}" if st.canUndo() else "Undo")
            self.actions_by_name["redo"].setText(
                f"Redo {st.redoText()}" if st.canRedo() else "Redo")

    def flash(self, text: str, ms: int = 4000) -> None:
        """A transient message at the right of the status bar."""
        first = text.splitlines()[0] if text else ""
        self.message_label.setText(first if len(first) < 120 else first[:117] + "…")
        self.message_label.setToolTip(text)
        self._message_timer.start(ms)

    # ================================================================== loading
    def open_spec(self, spec: OpenSpec, params: MetricParams | None = None) -> None:
        """Load in a worker with a progress bar and Cancel."""
        if not self.confirm_discard():
            return
        p = params or (self.session.params if self.session else MetricParams())
        self.run_task(lambda prog: load(spec, p, prog), f"Loading {spec.describe()}",
                      self._on_loaded, error_title=f"Cannot open {spec.describe()}")

    def open_loaded(self, loaded: Loaded) -> None:
        self._on_loaded(loaded)

    def _on_loaded(self, loaded: Loaded) -> None:
        session = Session(loaded.dataset, loaded.image_root, loaded.params, loaded.metrics,
                          name=loaded.name)
        self.open_spec_used = loaded.spec
        self.set_session(session, loaded.name)
        if self.use_journal:
            self.open_journal(session, source_json(loaded.spec))
        msg = loaded.summary.splitlines()[-1] if loaded.summary else "Loaded"
        self.flash(msg, 8000)
        if loaded.problems and not self.quiet:
            box = QMessageBox(self)
            box.setIcon(QMessageBox.Icon.Warning)
            box.setWindowTitle("Loaded with warnings")
            box.setText(f"{len(loaded.problems)} warning(s) while loading {loaded.name}.")
            box.setDetailedText("\n".join(loaded.problems[:500]))
            box.open()

    def open_journal(self, session: Session, source: dict[str, Any]) -> bool:
        """Attach the dataset's edit journal; offer to restore the edits a previous
        session left unexported. True when edits were restored."""
        try:
            from detview.io.journal import Journal, journal_path_for
            from detview.io.spec import DatasetSpec
        except ImportError:
            return False
        if not source:
            return False
        try:
            root = DatasetSpec.from_json(source).root()
            path = journal_path_for(source, root)
            journal = Journal(path, source)
            state = journal.state()
            restored = False
            complete = True
            if journal.has_edits():
                n = len(state.done)
                if self.ask_restore(n, len(state.undone)):
                    complete = session.restore(state.done, state.undone, state.clean_index,
                                               state.done_meta, state.undone_meta)
                    restored = True
                else:
                    journal.archive()
                    journal = Journal(path, source)
            elif state.n_ops:
                # everything was exported (or undone): this session starts from the
                # original files with an empty history, so must the journal; else a
                # crash later would replay the exported edits onto the originals
                journal.archive()
                journal = Journal(path, source)
        except Exception as exc:  # noqa: BLE001 - recovery is best effort, never fatal
            self.flash(f"Edit journal unavailable: {exc}", 8000)
            return False
        session.attach_journal(journal)
        self.journal_path = path
        if restored and not complete:
            self.show_error("Edits partly restored",
                            f"{path}: some edits no longer apply to these files (were they "
                            "changed?); the edits before them were restored.")
        elif restored:
            self.flash(f"Restored {len(state.done)} unsaved edit(s) from {path.name}", 10000)
            self.refresh_view(new_image=False)
        return restored

    def ask_restore(self, n_done: int, n_undone: int) -> bool:
        if self.quiet:
            return True
        ans = QMessageBox.question(
            self, "Restore unsaved edits?",
            f"The last session on this dataset ended with {n_done} edit(s) not exported"
            + (f" (and {n_undone} undone)" if n_undone else "") + ".\n"
            "Restore them? (No keeps a copy of that journal aside.)",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes)
        return ans == QMessageBox.StandardButton.Yes

    def open_dialog(self) -> None:
        dlg = OpenDialog(self)
        if dlg.exec():
            self.open_spec(dlg.spec())

    def open_folder_dialog(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Open dataset folder")
        if d:
            self.open_spec(OpenSpec(folder=Path(d)))

    # ================================================================== tasks
    def run_task(self, fn: Any, label: str, on_ok: Any, error_title: str = "Error") -> Task:
        if self._task is not None and not self._task.done:
            self._task.cancel()
            self._task.wait(5000)
        task = Task(fn, label, self)
        self._task = task
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.progress.setFormat(label + " %p%")
        self.cancel_button.setVisible(True)
        self.flash(label + "…")

        def progressed(done: int, total: int) -> None:
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)

        def failed(exc: object) -> None:
            if isinstance(exc, Cancelled):
                self.flash(f"{label}: cancelled", 4000)
                return
            from .app import error_text

            self.show_error(error_title, error_text(exc))

        def finished() -> None:
            if self.message_label.text() == label + "…":
                self.message_label.clear()
            if self._task is task:  # a newer task keeps its progress bar
                self._task = None
                self.progress.setVisible(False)
                self.cancel_button.setVisible(False)
            task.deleteLater()

        task.progressed.connect(progressed)
        task.succeeded.connect(on_ok)
        task.failed.connect(failed)
        task.finished.connect(finished)
        task.start()
        return task

    def cancel_task(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def show_error(self, title: str, text: str) -> None:
        self.flash(text.splitlines()[0] if text else title, 8000)
        self.last_error = text
        if self.quiet:
            return
        box = QMessageBox(QMessageBox.Icon.Critical, title, text, QMessageBox.StandardButton.Ok,
                          self)
        box.open()

    # ================================================================== parameters
    def _on_score_spin(self, v: float) -> None:
        self.score_slider.blockSignals(True)
        self.score_slider.setValue(int(round(v * 100)))
        self.score_slider.blockSignals(False)
        self._params_timer.start()

    def current_params(self) -> MetricParams:
        return MetricParams(round(self.score_spin.value(), 4), round(self.iou_spin.value(), 4))

    def _apply_params(self) -> None:
        s = self.session
        if s is None:
            return
        params = self.current_params()
        if params == s.params:
            return
        if s.dataset.n_images <= _SYNC_METRICS_MAX_IMAGES:
            s.set_params(params)
            return
        revisions = s.dataset.image_revisions.copy()
        ds = s.dataset
        self.run_task(lambda prog: build_metrics(ds, params, prog), "Re-computing metrics",
                      lambda m: s.install_metrics(params, m, revisions))

    def _on_run_changed(self, name: str) -> None:
        if self.session is not None and name in self.session.run_names:
            self.session.set_run(name)
            self.summary.coco.setRowCount(0)
            self.summary.per_class.setRowCount(0)
            self.summary.coco_title.setText("<b>COCO evaluation</b>")

    def _on_class_clicked(self, k: int) -> None:
        """A class chosen in the analysis panel: list the images that contain it."""
        if self.session is None:
            return
        name = self.session.dataset.classes.names[k].replace(" ", "_")
        self.filter_edit.setText(f"class:{name}")

    def _on_image_columns(self) -> None:
        if self.model is not None:
            self.model.refresh_columns()
            self._update_status()

    def _cell_tip(self, key: str, i: int) -> str:
        if key == "err_cls":
            text = self.analysis.confusion_text(i)
            return f"true class → predicted class: {text}" if text else ""
        return ""

    def _on_metrics_reset(self) -> None:
        self.refresh_view(new_image=False)
        self._update_summary()

    # ================================================================== image list
    def _on_header_clicked(self, section: int) -> None:
        if self.model is None:
            return
        hh = self.table.horizontalHeader()
        prev = self.model.sort_key
        if prev is not None and prev[0] == section:
            order = (Qt.SortOrder.DescendingOrder if prev[1] == Qt.SortOrder.AscendingOrder
                     else Qt.SortOrder.AscendingOrder)
        else:
            # numbers that signal trouble sort worst first: low IoU, many FP/FN
            desc = self.model.columns[section].key in WORST_FIRST_DESCENDING
            order = Qt.SortOrder.DescendingOrder if desc else Qt.SortOrder.AscendingOrder
        self.sort_by(section, order)
        hh.setSortIndicator(section, order)

    def sort_by(self, column: int | str, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder,
                select_first: bool = False) -> None:
        if self.model is None:
            return
        if isinstance(column, str):
            column = [c.key for c in self.model.columns].index(column)
        self.model.sort(column, order)
        self.table.horizontalHeader().setSortIndicator(column, order)
        if select_first:
            self.select_row(0)
        else:
            r = self.model.row_of(self.current_image)
            if r >= 0:
                self.table.scrollTo(self.model.index(r, 0))

    def _on_filter(self, text: str) -> None:
        if self.model is None:
            return
        self.model.set_filter(text)
        self._update_count()
        r = self.model.row_of(self.current_image)
        if r < 0 and self.model.rowCount():
            self.select_row(0)
        elif r >= 0:
            self.table.scrollTo(self.model.index(r, 0))

    def _update_count(self) -> None:
        if self.model is None:
            self.list_count.setText("")
            return
        n = self.session.dataset.n_images if self.session else 0
        shown = self.model.rowCount()
        im = self.session.dataset.images if self.session else None
        extra = ""
        if im is not None:
            extra = (f" · {int(im.reviewed.sum())} reviewed · {int(im.deleted.sum())} deleted")
        self.list_count.setText(f"{shown} of {n} images shown{extra}")

    def select_row(self, row: int) -> None:
        if self.model is None or not 0 <= row < self.model.rowCount():
            return
        idx = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            idx, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(idx)

    def select_image(self, image: int) -> None:
        if self.model is None:
            return
        r = self.model.row_of(image)
        if r < 0:  # filtered out: clear the filter
            self.filter_edit.clear()
            r = self.model.row_of(image)
        self.select_row(r)

    def step_image(self, step: int) -> None:
        if self.model is None or not self.model.rowCount():
            return
        r = self.model.row_of(self.current_image)
        self.select_row(min(max(r + step, 0), self.model.rowCount() - 1))

    def _on_row_changed(self, current: QModelIndex, _prev: QModelIndex) -> None:
        if self.model is None or not current.isValid():
            return
        i = self.model.image_at(current.row())
        if i != self.current_image:
            self.show_image(i)

    # ================================================================== viewer
    def show_image(self, i: int) -> None:
        self.current_image = i
        self.viewer.gt_pane.cancel_draw()
        self.viewer.gt_pane.selected = []
        self.viewer.pred_pane.selected = []
        self.refresh_view(new_image=True)
        self.imageShown.emit(i)

    def refresh_view(self, new_image: bool) -> None:
        s = self.session
        if s is None or self.current_image < 0:
            return
        view = s.image_view(self.current_image)
        image = None
        if view.path is not None and new_image:  # an edit keeps the image shown
            image = self.loader.request(self.current_image, view.path)
            self._prefetch()
        self.viewer.score_threshold = s.params.score_threshold
        self.viewer.show_view(view, s.dataset.classes.names, image, new_image)
        self._update_status()

    def load_current_image_now(self) -> None:
        """Decode the current image on this thread (screenshots)."""
        s = self.session
        if s is None or self.current_image < 0:
            return
        path = s.image_path(self.current_image)
        if path is None:
            return
        try:
            arr = self.loader.load_now(self.current_image, path)
        except Exception as exc:  # noqa: BLE001 - shown, not fatal
            self.flash(f"{path}: {exc}", 8000)
            return
        self.viewer.set_image(arr, s.dataset.images.deleted[self.current_image])

    def _prefetch(self) -> None:
        s = self.session
        if s is None or self.model is None:
            return
        r = self.model.row_of(self.current_image)
        for rr in (r + 1, r - 1, r + 2):
            i = self.model.image_at(rr)
            if i >= 0:
                p = s.image_path(i)
                if p is not None:
                    self.loader.request(i, p)

    def _on_image_loaded(self, i: int, arr: np.ndarray) -> None:
        if i == self.current_image and self.session is not None:
            self.viewer.set_image(arr, bool(self.session.dataset.images.deleted[i]))

    def _on_image_failed(self, i: int, msg: str) -> None:
        if i == self.current_image:
            self.flash(f"Cannot read image: {msg}", 8000)

    def fit_view(self) -> None:
        v = self.viewer.view
        if v is not None:
            w, h = self.viewer.gt_pane.image_size
            from PySide6.QtCore import QRectF

            self.viewer.gt_pane.show_rect(QRectF(0, 0, max(w, 1), max(h, 1)))

    def zoom_to_selection(self) -> None:
        """Z: the selected boxes (ground truth, else predictions) fill about half of
        the view, at least 64 px around them: a tiny box becomes visible."""
        from PySide6.QtCore import QRectF

        for pane in (self.viewer.gt_pane, self.viewer.pred_pane):
            rows = pane.rows_of(pane.selected)
            if rows:
                xy = pane.boxes.xyxy[rows]
                x1, y1 = xy[:, :2].min(axis=0)
                x2, y2 = xy[:, 2:].max(axis=0)
                side = max(x2 - x1, y2 - y1, 1.0)
                pad = max(side * 0.5, 32.0)
                self.viewer.gt_pane.show_rect(QRectF(x1 - pad, y1 - pad, x2 - x1 + 2 * pad,
                                                     y2 - y1 + 2 * pad))
                return
        self.flash("Select a box first (Tab, P or click); F fits the whole image", 3000)

    def toggle_labels(self) -> None:
        for pane in (self.viewer.gt_pane, self.viewer.pred_pane):
            pane.boxes.show_labels = not pane.boxes.show_labels
            pane.boxes.update()

    def _on_images_changed(self, touched: frozenset[int]) -> None:
        if self._follow_edits and self.current_image not in touched and touched:
            self.select_image(min(touched))  # undo/redo elsewhere: show where
        elif self.current_image in touched:
            self.refresh_view(new_image=False)
        self._summary_timer_start()
        self._update_count()

    def _summary_timer_start(self) -> None:
        if not hasattr(self, "_summary_timer"):
            self._summary_timer = QTimer(self)
            self._summary_timer.setSingleShot(True)
            self._summary_timer.setInterval(200)
            self._summary_timer.timeout.connect(self._update_summary)
        self._summary_timer.start()

    def _update_summary(self) -> None:
        s = self.session
        if s is None:
            return
        p = s.params
        self.summary.set_totals(s.run_totals(), f"score ≥ {p.score_threshold:.2f}, "
                                f"IoU ≥ {p.iou_threshold:.2f}; deleted images left out")

    def _update_status(self) -> None:
        s = self.session
        i = self.current_image
        if s is None or i < 0 or self.model is None:
            self.status_label.setText("Open a dataset (Ctrl+O)")
            return
        m = s.current
        row = self.model.row_of(i)
        im = s.dataset.images
        size = f"{im.widths[i]}×{im.heights[i]}"
        miou = float(m.column("mean_iou")[i])
        sel = self.viewer.gt_pane.selected
        psel = self.viewer.pred_pane.selected
        parts = [
            f"<b>{row + 1}/{self.model.rowCount()}</b> {im.file_names[i]} ({size})",
            f"GT {int(m.column('n_gt')[i])}",
        ]
        if s.run is not None:
            parts += [
                f"pred {int(m.column('n_pred')[i])}",
                f"TP {int(m.column('tp')[i])} · FP {int(m.column('fp')[i])} · "
                f"FN {int(m.column('fn')[i])}",
                f"mean IoU {miou:.3f}",
            ]
            if m.has_column("ap") and not np.isnan(m.column("ap")[i]):
                parts.append(f"image AP {float(m.column('ap')[i]):.3f}")
        if sel:
            names = s.dataset.classes.names
            _, cls, xy = s.gt_boxes(sel)
            if len(sel) == 1:
                b = xy[0]
                parts.append(f"selected GT: {names[int(cls[0])]} "
                             f"[{b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f}]")
            else:
                parts.append(f"{len(sel)} GT boxes selected")
        if psel:
            parts.append(f"{len(psel)} prediction(s) selected (A: accept)")
        self.status_label.setText(" · ".join(parts))

    # ================================================================== export/COCO
    def export_dialog(self) -> None:
        s = self.session
        if s is None:
            return
        root = s.image_root.parent if s.image_root else Path.cwd()
        dlg = ExportDialog(export_formats(), str(root / "detview_export"),
                           str(s.dataset.meta.get("format") or ""), self)
        ok = dlg.exec()
        self.activateWindow()
        if not ok:
            return
        out, fmt, images_mode = dlg.values()
        self.start_export(out, fmt, images_mode)

    def start_export(self, out: Path, fmt: str, images_mode: str = "none") -> Task | None:
        """Write the dataset and the corrections log in a worker."""
        s = self.session
        if s is None:
            return None
        ds, original, edits = s.dataset.copy(), s.original, s.history()
        meta = s.history_meta()
        source = source_json(self.open_spec_used)
        index = s.undo_stack.index()

        def ok(written: list[str]) -> None:
            if self.session is s and s.undo_stack.index() == index:
                s.undo_stack.setClean()
            self.flash("Exported " + "; ".join(written), 10000)

        def work(prog: Any) -> list[str]:
            return export(ds, original, edits, out, fmt, source, images_mode, prog, meta=meta)

        return self.run_task(work, f"Exporting to {out}", ok, error_title="Export failed")

    def coco_available(self) -> bool:
        return importlib.util.find_spec("detview.core.cocoeval") is not None

    def compute_coco(self, sync: bool = False) -> None:
        """COCO evaluation of the current run (all scores) in a worker."""
        s = self.session
        if s is None or s.current.preds is None or not self.coco_available():
            return
        from detview.core import cocoeval

        ds = s.dataset
        run = s.run
        preds = s.current.preds
        gt = ds.gt.copy()  # edits may go on while it runs
        mask = ~ds.images.deleted
        names = ds.classes.names
        n_edits = s.undo_stack.index()

        def work(prog: Any) -> Any:
            return cocoeval.evaluate(gt, preds, len(names), mask, class_names=names,
                                     image_ids=ds.images.ids, progress=prog)

        def ok(result: Any) -> None:
            if self.session is not s:
                return
            self.flash(f"COCO evaluation of {run}: AP {result.AP:.3f}, AP50 {result.AP50:.3f}")
            self.summary.set_coco(result, names)
            when = f"after {n_edits} edit(s)" if n_edits else "as loaded"
            self._coco_title = f"<b>COCO evaluation</b> · {run} · all scores · {when}"
            self._coco_index = n_edits
            self.summary.coco_title.setText(self._coco_title)
            self.summary.coco_button.setText("Re-compute COCO metrics")

        if sync:
            ok(work(None))
            return
        self.run_task(work, "COCO evaluation", ok, error_title="COCO evaluation failed")

    def show_shortcuts(self) -> None:
        dlg = ShortcutsDialog(self)
        dlg.open()
        self._shortcuts_dialog = dlg

    # ================================================================== closing
    def confirm_discard(self) -> bool:
        """True when there are no unsaved edits or the user agrees to drop them."""
        s = self.session
        if s is None or s.undo_stack.isClean():
            return True
        if self.quiet:  # no modal dialogs (screenshots, tests)
            self._discarded = True
            return True
        ans = QMessageBox.question(
            self, "Unsaved changes",
            f"{s.undo_stack.index()} edit(s) in {self._dataset_name} are not exported.\n"
            "Discard them?",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        self._discarded = ans == QMessageBox.StandardButton.Discard
        return self._discarded

    def closeEvent(self, ev: QCloseEvent) -> None:  # noqa: N802
        if not self.confirm_discard():
            ev.ignore()
            return
        if self._task is not None:
            self._task.cancel()
            self._task.wait(5000)
        self.loader.shutdown()
        self.analysis.shutdown()
        self._detach_session()
        self.session = None
        ev.accept()

