"""The main window: layout and wiring only. The image list on the left, the side-by-side
viewer in the centre, the evaluation toolbar above, the analysis, summary and history
docked below, tasks in the status bar.

Everything the window shows comes from a :class:`detview.session.Session` (data,
history, journal, derived numbers, long work); :class:`~detview.gui.session.QtSession`
turns its events into the signals wired here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QLabel,
    QListView,
    QMainWindow,
    QMessageBox,
    QSizePolicy,
    QSplitter,
)

from detview.core.metrics import MetricParams
from detview.session import Session

from .analysis_panel import AnalysisPanel
from .class_tools import ClassToolsMixin
from .controls import EvaluationBar, TaskStatus
from .desktop import DesktopMixin
from .dialogs import ShortcutsDialog, SummaryPanel
from .editing import EditingMixin
from .files import FilesMixin
from .image_list import ImageListPane
from .panels import install_panels
from .session import QtSession
from .shortcuts import SHORTCUTS
from .training_wiring import TrainingMixin
from .viewer import SideBySideViewer
from .workers import ImageLoader, qt_runner

__all__ = ["MainWindow"]


class MainWindow(TrainingMixin, EditingMixin, FilesMixin, DesktopMixin, ClassToolsMixin,
                 QMainWindow):
    """detview's window. ``set_session`` shows a session; ``open_spec`` loads one."""

    sessionChanged = Signal()  # noqa: N815
    imageShown = Signal(int)  # noqa: N815
    #: a dataset with predictions opens ranked by lowest mean IoU (worst first)
    rank_on_open = True

    def __init__(self) -> None:
        super().__init__()
        self.qs: QtSession | None = None
        self.current_image = -1
        self.last_class = 0
        self._follow_edits = False
        self._dataset_name = ""
        self._discarded = False
        self._close_after_export = False
        self.quiet = False  # no modal message boxes (screenshots, tests)
        self.use_journal = True  # crash recovery: every edit on disk (the session journal)
        self.journal_path: Path | None = None
        self.last_error = ""
        #: one runner for every session of this window: a load, an export (which goes
        #: on after its session is replaced) and the recomputations each have a slot
        self.runner = qt_runner(self)
        self.loader = ImageLoader(parent=self)
        self.loader.loaded.connect(self._on_image_loaded)
        self.loader.failed.connect(self._on_image_failed)
        self._build_widgets()
        self._build_desktop()
        self._build_actions()
        self.panels = install_panels(self)  # plots → images, query bar, objects, health
        self._update_title()
        self.place_window()  # as last time, else fitted to the screen
        self.show_start_page(True)  # until a dataset is shown

    @property
    def session(self) -> Session | None:
        return self.qs.session if self.qs is not None else None

    # ================================================================== layout
    def _build_widgets(self) -> None:
        self.images = ImageListPane()
        self.images.imageChosen.connect(self.show_image)
        self.table, self.filter_edit = self.images.table, self.images.filter_edit
        self.viewer = SideBySideViewer()
        self.viewer.gtSelectionChanged.connect(self._update_status)
        self.viewer.predSelectionChanged.connect(self._update_status)
        self.viewer.gt_pane.moveFinished.connect(self._on_move_finished)
        self.viewer.gt_pane.drawFinished.connect(self._on_draw_finished)
        self.viewer.gt_pane.drawCancelled.connect(lambda: self.flash("Drawing cancelled", 2000))
        self.viewer.message.connect(lambda text: self.flash(text, 4000))
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.images)
        self.splitter.addWidget(self.viewer)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.toolbar = EvaluationBar(self)
        self.toolbar.runChanged.connect(self._on_run_changed)
        self.toolbar.paramsChanged.connect(self._on_params_changed)
        self.addToolBar(self.toolbar)
        self.run_combo = self.toolbar.run_combo
        self.score_spin, self.iou_spin = self.toolbar.score_spin, self.toolbar.iou_spin
        self.score_slider = self.toolbar.score_slider
        # docks: analysis in front, the summary and the history behind it
        self.summary = SummaryPanel()
        self.history_view = QListView()
        self.history_view.setToolTip("Every edit of this session; click a line to go back "
                                     "(undo) or forward (redo) to it")
        self.history_view.clicked.connect(lambda idx: self._go_to(idx.row()))
        self.analysis = AnalysisPanel()
        self.analysis.classClicked.connect(self._on_class_clicked)
        self.analysis.cocoUpdated.connect(self._update_status)  # the image AP, once current
        self.summary_dock = self._dock("Summary", "summary_dock", self.summary)
        self.history_dock = self._dock("History", "history_dock", self.history_view)
        self.analysis_dock = self._dock("Analysis", "analysis_dock", self.analysis)
        self.tabifyDockWidget(self.summary_dock, self.history_dock)
        self.tabifyDockWidget(self.summary_dock, self.analysis_dock)
        self.analysis_dock.raise_()
        # status bar
        self.status_label = QLabel()
        self.status_label.setTextFormat(Qt.TextFormat.RichText)
        self.message_label = QLabel()
        self.message_label.setStyleSheet("color: #3584e4")
        for lab in (self.status_label, self.message_label):  # long texts never widen
            lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.message_label.setMaximumWidth(520)
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self.message_label.clear)
        self.tasks = TaskStatus(self.runner)
        self.progress, self.cancel_button = self.tasks.progress, self.tasks.cancel_button
        sb = self.statusBar()
        sb.addWidget(self.status_label, 1)
        sb.addPermanentWidget(self.message_label)
        sb.addPermanentWidget(self.tasks)
        self._summary_timer = QTimer(self)
        self._summary_timer.setSingleShot(True)
        self._summary_timer.setInterval(200)
        self._summary_timer.timeout.connect(self._update_summary)
        self._build_training()  # the Compare dock, Training and Runs windows

    def _dock(self, title: str, name: str, widget: Any) -> QDockWidget:
        d = QDockWidget(title, self)
        d.setObjectName(name)
        d.setWidget(widget)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d)
        return d

    def _build_actions(self) -> None:
        self.actions_by_name: dict[str, QAction] = {}
        im = self.images
        handlers = {
            "open": self.open_dialog, "export": self.export_dialog, "quit": self.close,
            "next_image": lambda: self.step_image(1), "prev_image": lambda: self.step_image(-1),
            "first_image": lambda: im.select_row(0),
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
            "next_unreviewed": self.next_unreviewed, "attributes": self.box_attributes,
            "rename_class": self.rename_or_merge_class,
            **self.training_handlers(),
        }
        handlers.update(self.viewer.shortcut_handlers())
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
                a = QAction(f"Nudge {key.lower()} {f} px", self.viewer.splitter)
                a.setShortcut(QKeySequence(mod + key))
                a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                a.triggered.connect(lambda _c=False, x=dx * f, y=dy * f: self.nudge(x, y))
                self.viewer.splitter.addAction(a)  # the panes, not the viewer's bar
        A = self.actions_by_name  # noqa: N806
        menus = (
            ("&File", ["open", "open_folder", "open_log", "export", None, "quit"]),
            ("&Edit", ["undo", "redo", None, "delete_box", "relabel", "draw", "duplicate",
                       "select_all", "accept", "replace", "lq_apply", None, "attributes",
                       "rename_class"]),
            ("&Image", ["delete_image", "reviewed", "auto_advance", "tags", None, "next_image",
                        "prev_image", "next_unreviewed", "first_image", "filter"]),
            ("&View", ["sort_iou", "sort_fn", "sort_fp", None, "fit", "zoom_selection",
                       "toggle_labels", "next_box", "prev_box", "next_pred", "prev_pred", None,
                       "graphs", "runs_window", "next_checkpoint", "prev_checkpoint", None,
                       "overlay", "three_panes", "classes", "brighter", "darker",
                       "more_contrast", "less_contrast", "reset_image", "lq_hints", "lq_next",
                       "lq_prev", None]),
            ("&Help", ["help"]),
        )
        self.menus: dict[str, Any] = {}
        for title, names in menus:
            m = self.menus[title] = self.menuBar().addMenu(title)
            for n in names:
                if n is None:
                    m.addSeparator()
                elif n == "auto_advance":
                    self.auto_advance_action = m.addAction("&Auto-advance after marking reviewed")
                    self.auto_advance_action.setCheckable(True)
                    self.auto_advance_action.setChecked(self.auto_advance)
                    self.auto_advance_action.toggled.connect(self.set_auto_advance)
                elif n == "open_folder":
                    self.open_folder_action = m.addAction("Open folder (auto-detect)…")
                    self.open_folder_action.triggered.connect(self.open_folder_dialog)
                else:
                    m.addAction(A[n])
        self._build_desktop_menus(self.menus["&File"], self.menus["&View"], self.menus["&Help"],
                                  before=A["export"])
        self._update_enabled()

    # ================================================================== session
    def set_session(self, session: Session, name: str = "") -> None:
        """Show ``session``; its long work runs on this window's runner."""
        self._detach_session()
        qs = QtSession(session, self.runner, self)
        self.qs = qs
        self._dataset_name = name or session.name
        qs.imagesChanged.connect(self._on_images_changed)
        qs.settingsChanged.connect(self._on_settings_changed)
        qs.derivedChanged.connect(self._on_derived)
        qs.historyChanged.connect(self._on_history_changed)
        qs.message.connect(lambda msg: self.flash(msg, 6000, "warning"))
        self.history_view.setModel(qs.history_model)
        self.current_image = -1
        self.images.set_session(qs)
        self.images.model.cell_tip = self._cell_tip  # type: ignore[union-attr]
        self.images.listChanged.connect(self._update_status)
        self.session_shown()
        self.toolbar.set_runs(session.run_names, session.run)
        self.toolbar.set_params(session.params)
        self.analysis.set_session(qs)
        self.viewer.set_session(qs)
        self._update_title()
        self._update_summary()
        self._on_history_changed()
        if (self.rank_on_open and session.run_names and self.images.model is not None
                and session.derived.is_current("metrics")):
            # worst first, as the screenshot and the README show it (a click on a header
            # sorts by anything else)
            self.images.sort_by("mean_iou", Qt.SortOrder.AscendingOrder)
        if self.images.model is not None and self.images.model.rowCount():
            self.images.select_row(0)
        else:
            self.viewer.clear()
        self.table.setFocus()
        self.sessionChanged.emit()

    @property
    def model(self) -> Any:
        return self.images.model

    def _detach_session(self) -> None:
        qs = self.qs
        if qs is None:
            return
        self.analysis.set_session(None)
        self.viewer.set_session(None)
        self.history_view.setModel(None)
        self.images.set_session(None)
        self.qs = None
        qs.close(discard=self._discarded)  # dropped on purpose: no restore offer next time
        self._discarded = False
        qs.deleteLater()

    def _on_history_changed(self) -> None:
        s = self.session
        self._update_title()
        self._update_enabled()
        model = self.history_view.model()
        if s is not None and model is not None:
            self.history_view.setCurrentIndex(model.index(s.history.index, 0))

    def _go_to(self, row: int) -> None:
        if self.session is not None and row != self.session.history.index:
            self._follow_edits = True
            try:
                self.session.go_to(row)
            finally:
                self._follow_edits = False

    def _update_title(self) -> None:
        if self._dataset_name:
            self.setWindowTitle(f"{self._dataset_name}[*] — detview")
        else:
            self.setWindowTitle("detview")
        self.setWindowModified(self.session is not None and not self.session.history.is_clean)

    def _update_enabled(self) -> None:
        s = self.session
        for name, a in self.actions_by_name.items():
            if name not in ("open", "quit", "help", "about", "runs_window"):
                a.setEnabled(s is not None)
        if s is not None:
            h = s.history
            undo, redo = self.actions_by_name["undo"], self.actions_by_name["redo"]
            undo.setEnabled(h.can_undo)
            redo.setEnabled(h.can_redo)
            undo.setText(f"Undo {s.step_text(h.done[-1])}" if h.can_undo else "Undo")
            redo.setText(f"Redo {s.step_text(h.undone[0])}" if h.can_redo else "Redo")

    def flash(self, text: str, ms: int = 4000, level: str = "info") -> None:
        """A transient message at the right of the status bar (full text as tooltip),
        kept in the Messages panel."""
        self.log(text, level)
        first = text.splitlines()[0] if text else ""
        self.message_label.setText(first if len(first) < 120 else first[:117] + "…")
        self.message_label.setToolTip(text)
        self._message_timer.start(ms)

    def show_error(self, title: str, text: str, details: str = "") -> None:
        self.flash(f"{title}: {text}" if text else title, 8000, "error")
        self.last_error = text
        if not self.quiet:
            box = QMessageBox(QMessageBox.Icon.Critical, title, text,
                              QMessageBox.StandardButton.Ok, self)
            if details:
                box.setDetailedText(details)
            box.open()

    # ================================================================== parameters
    def _on_params_changed(self, params: MetricParams) -> None:
        self.settings.save_params(params)
        if self.session is not None:
            self.session.set_params(params)  # small: at once; large: in a worker

    def current_params(self) -> MetricParams:
        return self.toolbar.params()

    def _on_run_changed(self, name: str) -> None:
        if self.session is not None and name in self.session.run_names:
            self.session.set_run(name)

    def _on_settings_changed(self) -> None:
        self.refresh_view(new_image=False)
        self._update_summary()

    def _on_derived(self, name: str) -> None:
        if name == "metrics":
            self._on_settings_changed()
        elif name == "errors":
            self.refresh_view(new_image=False)  # the boxes' error types
            self._update_status()
        elif name == "coco":
            self._update_status()

    def _on_class_clicked(self, k: int) -> None:
        """A class chosen in the analysis panel: list the images that contain it."""
        if self.session is not None:
            name = self.session.dataset.classes.names[k].replace(" ", "_")
            self.filter_edit.setText(f"class:{name}")

    def _cell_tip(self, key: str, i: int) -> str:
        if key == "err_cls":
            text = self.analysis.confusion_text(i)
            return f"true class → predicted class: {text}" if text else ""
        return ""

    # ================================================================== image list
    def sort_by(self, column: int | str, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder,
                select_first: bool = False) -> None:
        self.images.sort_by(column, order, select_first)

    def _on_header_clicked(self, section: int) -> None:
        self.images.header_clicked(section)

    def select_row(self, row: int) -> None:
        self.images.select_row(row)

    def select_image(self, image: int) -> None:
        self.images.select_image(image)

    def step_image(self, step: int) -> None:
        self.images.step_image(step)

    # ================================================================== viewer
    def show_image(self, i: int) -> None:
        self.current_image = i
        self.images.current_image = i
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
        self.viewer.score_threshold = s.current.params.score_threshold
        self.viewer.show_view(view, s.dataset.classes.names, image, new_image)
        self._update_status()

    def load_current_image_now(self) -> None:
        """Decode the current image on this thread (screenshots)."""
        s = self.session
        path = s.image_path(self.current_image) if s and self.current_image >= 0 else None
        if s is None or path is None:
            return
        try:
            arr = self.loader.load_now(self.current_image, path)
        except (OSError, ValueError) as exc:  # shown, not fatal
            self.flash(f"{path}: {exc}", 8000)
            return
        self.viewer.set_image(arr, bool(s.dataset.images.deleted[self.current_image]))

    def _prefetch(self) -> None:
        s, m = self.session, self.images.model
        if s is None or m is None:
            return
        r = m.row_of(self.current_image)
        for rr in (r + 1, r - 1, r + 2):
            i = m.image_at(rr)
            p = s.image_path(i) if i >= 0 else None
            if p is not None:
                self.loader.request(i, p)

    def _on_image_loaded(self, i: int, arr: np.ndarray) -> None:
        if i == self.current_image and self.session is not None:
            self.viewer.set_image(arr, bool(self.session.dataset.images.deleted[i]))

    def _on_image_failed(self, i: int, msg: str) -> None:
        if i == self.current_image:
            self.flash(f"Cannot read image: {msg}", 8000)

    def fit_view(self) -> None:
        if self.viewer.view is not None:
            w, h = self.viewer.gt_pane.image_size
            self.viewer.gt_pane.show_rect(QRectF(0, 0, max(w, 1), max(h, 1)))

    def zoom_to_selection(self) -> None:
        """Z: the selected boxes (ground truth, else predictions) fill about half of
        the view, at least 64 px around them: a tiny box becomes visible."""
        for pane in (self.viewer.gt_pane, self.viewer.pred_pane):
            rows = pane.rows_of(pane.selected)
            if rows:
                xy = pane.boxes.xyxy[rows]
                x1, y1 = xy[:, :2].min(axis=0)
                x2, y2 = xy[:, 2:].max(axis=0)
                pad = max(max(x2 - x1, y2 - y1, 1.0) * 0.5, 32.0)
                self.viewer.gt_pane.show_rect(QRectF(x1 - pad, y1 - pad, x2 - x1 + 2 * pad,
                                                     y2 - y1 + 2 * pad))
                return
        self.flash("Select a box first (Tab, P or click); F fits the whole image", 3000)

    def toggle_labels(self) -> None:
        on = not self.viewer.gt_pane.boxes.show_labels
        for layer in self.viewer.layers.values():
            layer.boxes.set_show_labels(on)

    def _on_images_changed(self, touched: frozenset[int]) -> None:
        if not touched:  # a dataset-wide edit (a class renamed): names everywhere
            self.refresh_view(new_image=False)
            self.analysis.refresh()
        elif self._follow_edits and self.current_image not in touched:
            self.select_image(min(touched))  # undo/redo elsewhere: show where
        elif self.current_image in touched:
            self.refresh_view(new_image=False)
        self._summary_timer.start()

    def _update_summary(self) -> None:
        s = self.session
        if s is not None:
            p = s.current.params
            self.summary.set_totals(s.run_totals(), f"score ≥ {p.score_threshold:.2f}, "
                                    f"IoU ≥ {p.iou_threshold:.2f}; deleted images left out")

    def _update_status(self) -> None:
        s = self.session
        i = self.current_image
        m = self.images.model
        if s is None or i < 0 or m is None:
            self.status_label.setText("Open a dataset (Ctrl+O)")
            return
        im = s.dataset.images
        r = m.row_of(i)
        where = f"{r + 1}/{m.rowCount()}" if r >= 0 else f"not in the list ({m.rowCount()})"
        parts = [f"<b>{where}</b> {im.file_names[i]} "
                 f"({im.widths[i]}×{im.heights[i]})", f"GT {int(s.column('n_gt')[i])}"]
        if s.run is not None:
            c = {k: s.column(k)[i] for k in ("n_pred", "tp", "fp", "fn", "mean_iou")}
            # the image's COCO AP once the live numbers caught up with the edits (they do
            # when the Analysis panel's short timer fires; reading it here would do that
            # work inside every edit)
            c["ap"] = s.derived.column("ap", flush=False)
            c["ap"] = np.nan if c["ap"] is None else c["ap"][i]
            parts += [f"pred {int(c['n_pred'])}",
                      f"TP {int(c['tp'])} · FP {int(c['fp'])} · FN {int(c['fn'])}",
                      "mean IoU " + ("—" if np.isnan(m.value("mean_iou", i))
                                     else f"{m.value('mean_iou', i):.3f}")]
            if not np.isnan(c["ap"]):
                parts.append(f"image AP {float(c['ap']):.3f}")
        sel, psel = self.viewer.gt_pane.selected, self.viewer.pred_pane.selected
        if len(sel) == 1:
            _, cls, xy = s.gt_boxes(sel)
            b = xy[0]
            parts.append(f"selected GT: {s.dataset.classes.names[int(cls[0])]} "
                         f"[{b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f}]")
        elif sel:
            parts.append(f"{len(sel)} GT boxes selected")
        if psel:
            parts.append(f"{len(psel)} prediction(s) selected (A: accept)")
        self.status_label.setText(" · ".join(parts))

    def show_shortcuts(self) -> None:
        self._shortcuts_dialog = ShortcutsDialog(self)
        self._shortcuts_dialog.open()

    # ================================================================== closing
    def closeEvent(self, ev: QCloseEvent) -> None:  # noqa: N802
        if self.runner.busy("export"):
            # never cut an export short, never wait for it here: close when it ends
            self._close_after_export = True
            self.flash("Closing when the export has finished (Cancel export to stop it)",
                       10000)
            ev.ignore()
            return
        if not self.confirm_discard(closing=True):
            ev.ignore()
            return
        for t in self.runner.active():
            t.cancel()  # loads and recomputations: their results are not needed
        self.loader.shutdown()
        self.save_view_settings()
        self._detach_session()
        self.save_window_settings()
        ev.accept()
