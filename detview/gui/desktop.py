"""The desktop side of the main window: the window fitted to the screen and its layout
remembered, the start page, recent datasets, drag and drop, the Messages panel, themes
and Help > About. Mixed into :class:`~detview.gui.main_window.MainWindow`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRect, Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QMenu,
    QMessageBox,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QWidget,
)

from detview.io.spec import DatasetSpec

from .messages import MessagesPanel
from .settings import AppSettings
from .start_page import StartPage
from .themes import THEMES, apply_theme

if TYPE_CHECKING:
    from detview.core.metrics import MetricParams
    from detview.session import Session

__all__ = ["DesktopMixin", "DropPlan", "plan_drop"]

#: below this available size the window starts maximised (laptops)
_MAXIMISE_BELOW = (1600, 1000)
#: the share of the window height the bottom docks get by default
_DOCK_SHARE = 0.26
#: the share of the window width the image list gets by default
_LIST_SHARE = 0.30
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


# ---------------------------------------------------------------------- drops
@dataclass
class DropPlan:
    """What dropped paths mean: ``folder`` (a dataset folder: open it at once) or the
    fields of the Open dialog to fill in (``images``, ``gt``, ``preds``, ``loss``)."""

    folder: Path | None = None
    images: Path | None = None
    gt: Path | None = None
    preds: list[Path] = field(default_factory=list)
    loss: Path | None = None
    ignored: list[Path] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.folder is None and not (self.images or self.gt or self.preds or self.loss)


def _is_dataset_folder(p: Path) -> bool:
    from detview.io import detect_layout
    from detview.io.errors import InputError

    try:
        layout = detect_layout(p)
    except (InputError, OSError, ValueError):
        return False
    return layout.gt is not None or getattr(layout, "labels", None) is not None


def _has_images(p: Path) -> bool:
    try:
        return any(f.suffix.lower() in _IMAGE_SUFFIXES for f in p.iterdir())
    except OSError:
        return False


def plan_drop(paths: list[Path]) -> DropPlan:
    """Sort dropped files and folders: one dataset folder opens as is; otherwise images
    folder, ground truth, prediction files and a loss CSV go to the Open dialog."""
    from detview.io import detect_format
    from detview.io.errors import InputError

    plan = DropPlan()
    folders = [p for p in paths if p.is_dir()]
    files = [p for p in paths if p.is_file()]
    if len(folders) == 1 and not files and _is_dataset_folder(folders[0]):
        plan.folder = folders[0]
        return plan
    for d in folders:
        if plan.images is None and _has_images(d):
            plan.images = d
        elif plan.gt is None and _is_dataset_folder(d):
            plan.gt = d
        else:
            plan.ignored.append(d)
    for f in files:
        try:
            fmt = detect_format(f)
        except (InputError, OSError):
            plan.ignored.append(f)
            continue
        if f.suffix.lower() == ".csv" and "loss" in f.stem.lower():
            plan.loss = f
        elif fmt == "coco_results":
            plan.preds.append(f)
        elif fmt in ("coco", "voc", "cvat", "labelme", "yolo", "csv") and plan.gt is None:
            plan.gt = f
        elif fmt == "coco":  # a second instances file: predictions in COCO form
            plan.preds.append(f)
        else:
            plan.ignored.append(f)
    return plan


class DesktopMixin:
    """Settings, layout, start page, recent datasets, drops, messages, theme, About."""

    if TYPE_CHECKING:
        splitter: QSplitter
        images: Any
        viewer: Any
        analysis_dock: QDockWidget
        summary_dock: QDockWidget
        history_dock: QDockWidget
        quiet: bool

        @property
        def session(self) -> Session | None: ...
        def _dock(self, title: str, name: str, widget: Any) -> QDockWidget: ...
        def tabifyDockWidget(self, a: QDockWidget, b: QDockWidget) -> None: ...  # noqa: N802
        def setCentralWidget(self, w: QWidget) -> None: ...  # noqa: N802
        def setAcceptDrops(self, on: bool) -> None: ...  # noqa: N802
        def statusBar(self) -> Any: ...  # noqa: N802
        def menuBar(self) -> Any: ...  # noqa: N802
        def resizeDocks(self, *a: Any) -> None: ...  # noqa: N802
        def open_spec(self, spec: DatasetSpec | Path,
                      params: MetricParams | None = None) -> None: ...
        def open_dialog(self, spec: DatasetSpec | None = None) -> None: ...
        def open_folder_dialog(self) -> None: ...
        def flash(self, text: str, ms: int = 4000) -> None: ...
        def screen(self) -> Any: ...
        def width(self) -> int: ...
        def height(self) -> int: ...
        def resize(self, w: int, h: int) -> None: ...
        def move(self, x: int, y: int) -> None: ...
        def frameGeometry(self) -> QRect: ...  # noqa: N802
        def saveGeometry(self) -> Any: ...  # noqa: N802
        def restoreGeometry(self, g: Any) -> bool: ...  # noqa: N802
        def saveState(self) -> Any: ...  # noqa: N802
        def restoreState(self, s: Any) -> bool: ...  # noqa: N802
        def setWindowState(self, s: Any) -> None: ...  # noqa: N802
        def windowState(self) -> Any: ...  # noqa: N802
        def dockWidgetArea(self, d: QDockWidget) -> Any: ...  # noqa: N802
        def findChildren(self, t: Any) -> Any: ...  # noqa: N802

    # ================================================================== build
    def _build_desktop(self) -> None:
        """After the widgets: the settings, the Messages dock, the start page in front
        of the viewer, drops."""
        self.settings = AppSettings()
        self.messages = MessagesPanel()
        self.messages_dock = self._dock("Messages", "messages_dock", self.messages)
        self.tabifyDockWidget(self.history_dock, self.messages_dock)
        self.analysis_dock.raise_()
        self.messages_button = QPushButton()
        self.messages_button.setFlat(True)
        self.messages_button.setToolTip("Every message of this session (the Messages panel)")
        self.messages_button.clicked.connect(self.show_messages)
        self.messages_button.setVisible(False)
        self.messages.countsChanged.connect(self._on_message_counts)
        self.statusBar().insertPermanentWidget(2, self.messages_button)
        self.start_page = StartPage()
        self.start_page.openDialog.connect(lambda: self.open_dialog())
        self.start_page.openFolder.connect(self.open_folder_dialog)
        self.start_page.openDemo.connect(self.open_demo)
        self.start_page.openRecent.connect(self.open_recent)
        self.start_page.forgetRecent.connect(self._forget_recent)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.start_page)
        self.stack.addWidget(self.splitter)
        self.setCentralWidget(self.stack)
        self.setAcceptDrops(True)
        self._layout_placed = False
        self._start_hidden: list[QDockWidget] | None = None
        self._list_fitted = False  # the list's width set for a dataset (or by the user)
        self.splitter.splitterMoved.connect(self._on_splitter_moved)
        self._theme = self.settings.theme()
        self.refresh_recent()
        self.stack.setCurrentWidget(self.start_page)  # panels hidden once placed

    def _build_desktop_menus(self, file_menu: QMenu, view_menu: QMenu, help_menu: QMenu,
                             before: QAction | None = None) -> None:
        """File > Open recent; View > Panels, Reset layout, Theme; Help > About."""
        self.recent_menu = QMenu("Open &recent", file_menu)
        if before is not None:
            file_menu.insertMenu(before, self.recent_menu)
        else:
            file_menu.addMenu(self.recent_menu)
        self.demo_action = QAction("Open the &demo dataset", file_menu)
        self.demo_action.triggered.connect(self.open_demo)
        if before is not None:
            file_menu.insertAction(before, self.demo_action)
        else:
            file_menu.addAction(self.demo_action)
        self.panels_menu = view_menu.addMenu("&Panels")
        self.panel_actions: dict[str, QAction] = {}
        self.panels_menu.aboutToShow.connect(self._fill_panels_menu)
        self._fill_panels_menu()
        reset = view_menu.addAction("&Reset the layout")
        reset.setToolTip("Every panel back where it was when detview was installed")
        reset.triggered.connect(self.reset_layout)
        theme = view_menu.addMenu("&Theme")
        group = QActionGroup(theme)
        self.theme_actions: dict[str, QAction] = {}
        for key, text in THEMES.items():
            a = theme.addAction(text)
            a.setCheckable(True)
            a.setChecked(key == self._theme)
            a.triggered.connect(lambda _c=False, k=key: self.set_theme(k))
            group.addAction(a)
            self.theme_actions[key] = a
        help_menu.addSeparator()
        about = help_menu.addAction("&About detview")
        about.triggered.connect(self.show_about)
        self.about_action = about
        self._fill_recent_menu()

    def _fill_panels_menu(self) -> None:
        """Every panel of the window, docks added by others included (listed when the
        menu opens), and the Compare strip under the viewer."""
        menu = self.panels_menu
        menu.clear()
        self.panel_actions.clear()
        for d in self._docks():
            a = d.toggleViewAction()
            a.setToolTip(f"Show or hide the {d.windowTitle()} panel")
            menu.addAction(a)
            self.panel_actions[d.objectName()] = a
        compare = getattr(self, "compare", None)  # the strip under the viewer (runs)
        if compare is not None:
            menu.addAction(compare.toggleViewAction())
            self.panel_actions["compare_strip"] = compare.toggleViewAction()

    # ================================================================== layout
    def place_window(self) -> None:
        """The window as it was last time (when it still fits a screen), else fitted
        to the available screen area."""
        self._persist_saved_views()
        g = self.settings.window_geometry()
        if g is not None and self.restoreGeometry(g) and self._fits_a_screen():
            st = self.settings.window_state()
            if st is not None:
                self.restoreState(st)
            sp = self.settings.splitter_state()
            if sp is not None and self.splitter.restoreState(sp):
                self._list_fitted = True
            self._layout_placed = True
            return
        self.fit_to_screen()

    def _fits_a_screen(self) -> bool:
        fg = self.frameGeometry()
        for s in QGuiApplication.screens():
            a = s.availableGeometry()
            if a.intersects(fg) and fg.width() <= a.width() + 8 and fg.height() <= a.height() + 8:
                return True
        return False

    def fit_to_screen(self) -> None:
        """Size the window to the screen's available area: maximised on a laptop
        screen, most of a large one otherwise (centred)."""
        screen = self.screen() or QGuiApplication.primaryScreen()
        avail: QRect = screen.availableGeometry()
        if avail.width() < _MAXIMISE_BELOW[0] or avail.height() < _MAXIMISE_BELOW[1]:
            self.resize(avail.width(), avail.height())
            self.move(avail.x(), avail.y())
            self.setWindowState(Qt.WindowState.WindowMaximized)
        else:
            w, h = int(avail.width() * 0.86), int(avail.height() * 0.88)
            self.resize(w, h)
            self.move(avail.x() + (avail.width() - w) // 2,
                      avail.y() + (avail.height() - h) // 2)
        self._layout_placed = False

    def apply_default_layout(self, reset: bool = False) -> None:
        """The images get most of the window: the list ~30% of the width, the panels
        below ~26% of the height, the Analysis panel in front. ``reset``: every panel
        back in its place and shown, too."""
        if reset:
            for d in self._docks():
                d.setFloating(False)
                d.setVisible(True)
        if self.analysis_dock.isVisible() or reset:
            self.analysis_dock.raise_()
        h = max(self.height(), 480)
        self.fit_list_width()
        self.resizeDocks([self.analysis_dock], [max(150, int(h * _DOCK_SHARE))],
                         Qt.Orientation.Vertical)
        self._layout_placed = True

    def fit_list_width(self) -> None:
        """The list shows its counts up to mean IoU when that leaves the images 60%
        of the width (at least ~30% otherwise)."""
        w = max(self.width(), 640)
        need = self.images.preferred_width()
        left = min(max(280, int(w * _LIST_SHARE), need), int(w * 0.4))
        total = self.splitter.width() if self.splitter.isVisible() else w
        inner = getattr(self.viewer, "splitter", None)
        rest = total - self.splitter.handleWidth() - left - (
            inner.handleWidth() if inner is not None else 0)
        if rest % 2:  # two panes of the same width: linked views show the same range
            left += 1
        self.splitter.setSizes([left, max(200, total - self.splitter.handleWidth() - left)])
        self._list_fitted = self.images.model is not None

    def reset_layout(self) -> None:
        self.apply_default_layout(reset=True)
        self.flash("Layout reset", 2000)

    def showEvent(self, ev: Any) -> None:  # noqa: N802
        super().showEvent(ev)  # type: ignore[misc]
        if not self._layout_placed:
            # once the window has its real size (a maximised window gets it from the
            # window manager a moment later)
            QTimer.singleShot(0, self._place_default_once)

    def _place_default_once(self) -> None:
        if not self._layout_placed and self._start_hidden is None:  # panels shown
            self.apply_default_layout()

    def _on_splitter_moved(self, *_a: object) -> None:
        self._list_fitted = True

    def session_shown(self) -> None:
        """A dataset is shown: leave the start page; the first time, size the list; the
        viewer's settings as they were last time."""
        self.show_start_page(False)
        self.restore_view_settings()
        if not self._layout_placed:
            QTimer.singleShot(0, self._place_default_once)
        elif not self._list_fitted:
            self.fit_list_width()

    # ================================================================== saved views
    def _persist_saved_views(self) -> None:
        """The query bar's named views (plain data) come back from the settings and
        are saved again on each change."""
        views = getattr(getattr(self, "panels", None), "views", None)
        if views is None or not hasattr(views, "to_json"):
            return
        stored = self.settings.view_record("saved_views").get("views")
        if stored is not None:
            try:
                views.load(stored)
            except ValueError as exc:  # written by another version, or damaged
                self.log(f"Saved views not restored: {exc}", "warning")
        views.subscribe(lambda: self.settings.save_view_record({"views": views.to_json()},
                                                               "saved_views"))

    # ================================================================== view settings
    def restore_view_settings(self) -> bool:
        """The session's view settings record (``session.view_settings``, when the
        session has one) as last saved: class colours and visibility by class name,
        layout, brightness/contrast. Saved again on each change."""
        s = self.session
        vs = getattr(s, "view_settings", None)
        if s is None or vs is None or not hasattr(s, "update_view"):
            return False
        qs = getattr(self, "qs", None)
        changed = getattr(qs, "viewChanged", None)
        if changed is not None:
            changed.connect(self.save_view_settings)
        record = self.settings.view_record()
        if not record:
            return False
        try:
            return bool(s.update_view(type(vs).from_dict(record, s.dataset.classes.names)))
        except (KeyError, TypeError, ValueError) as exc:  # an old or damaged record
            self.log(f"Saved view settings not used: {exc}", "warning")
            return False

    def save_view_settings(self) -> None:
        s = self.session
        vs = getattr(s, "view_settings", None)
        if s is not None and vs is not None and hasattr(vs, "to_dict"):
            self.settings.save_view_record(vs.to_dict(s.dataset.classes.names))

    def save_window_settings(self) -> None:
        if self._start_hidden is not None:  # the panels as the user left them
            hidden = self._start_hidden
            self.show_start_page(False)
            self.settings.save_window(self.saveGeometry(), self.saveState())
            self._start_hidden = hidden
            for d in hidden:
                d.hide()
        else:
            self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.save_splitter(self.splitter.saveState())
        self.settings.sync()

    # ================================================================== start page
    def show_start_page(self, on: bool) -> None:
        """The start page in front (no dataset): the toolbar and the panels, empty
        then, are hidden until a dataset is shown, and come back as they were."""
        self.stack.setCurrentWidget(self.start_page if on else self.splitter)
        bar = getattr(self, "toolbar", None)
        if on and self._start_hidden is None:
            self._start_hidden = [d for d in self._docks() if not d.isHidden()]
            for d in self._start_hidden:
                d.hide()
            if bar is not None:
                bar.hide()
        elif not on and self._start_hidden is not None:
            for d in self._start_hidden:
                d.show()
            self._start_hidden = None
            if bar is not None:
                bar.show()
            self.analysis_dock.raise_()
        if on:
            self.refresh_recent()

    def _docks(self) -> list[QDockWidget]:
        """The window's docks (not those of its other windows), in creation order."""
        return [d for d in self.findChildren(QDockWidget)
                if self.dockWidgetArea(d) != Qt.DockWidgetArea.NoDockWidgetArea
                or d.isFloating()]

    @property
    def start_page_shown(self) -> bool:
        return self.stack.currentWidget() is self.start_page

    def refresh_recent(self) -> None:
        self.start_page.set_recent(self.settings.recent())
        self._fill_recent_menu()

    def _fill_recent_menu(self) -> None:
        menu = getattr(self, "recent_menu", None)
        if menu is None:
            return
        menu.clear()
        items = self.settings.recent()
        for k, r in enumerate(items):
            a = menu.addAction(f"&{k + 1} {r.name}" if k < 9 else r.name)
            a.setToolTip(r.describe())
            a.triggered.connect(lambda _c=False, sp=r.spec: self.open_recent(sp))
        if items:
            menu.addSeparator()
            menu.addAction("Clear the list", self._clear_recent)
        else:
            a = menu.addAction("(none yet)")
            a.setEnabled(False)

    def remember_dataset(self, name: str, spec: DatasetSpec | None) -> None:
        if spec is not None and not spec.empty:
            self.settings.add_recent(name, spec)
            self.refresh_recent()

    def open_recent(self, spec: DatasetSpec) -> None:
        missing = [p for p in (spec.images, spec.gt, *[p for _, p in spec.preds])
                   if p and not Path(p).exists()]
        if missing:
            self.flash(f"{missing[0]}: no longer there", 8000)
            self.log(f"Cannot open a recent dataset: {missing[0]} is no longer there",
                     "warning")
            if not self.quiet:
                ans = QMessageBox.question(
                    self, "Dataset not found",  # type: ignore[arg-type]
                    f"{missing[0]} is no longer there.\nRemove this dataset from the "
                    "recent list?")
                if ans == QMessageBox.StandardButton.Yes:
                    self._forget_recent(spec)
            return
        self.open_spec(spec, self.settings.params())

    def _forget_recent(self, spec: DatasetSpec) -> None:
        self.settings.remove_recent(spec)
        self.refresh_recent()

    def _clear_recent(self) -> None:
        self.settings.clear_recent()
        self.refresh_recent()

    def open_demo(self) -> None:
        from .app import demo_spec

        try:
            spec = demo_spec()
        except FileNotFoundError as exc:
            self.flash(f"The demo dataset is not installed ({exc})", 8000)
            return
        self.open_spec(spec, self.settings.params())

    # ================================================================== drops
    def dragEnterEvent(self, ev: QDragEnterEvent) -> None:  # noqa: N802
        if ev.mimeData().hasUrls() and any(u.isLocalFile() for u in ev.mimeData().urls()):
            ev.acceptProposedAction()
        else:
            ev.ignore()

    def dropEvent(self, ev: QDropEvent) -> None:  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in ev.mimeData().urls() if u.isLocalFile()]
        ev.acceptProposedAction()
        self.open_dropped(paths)

    def open_dropped(self, paths: list[Path]) -> DropPlan:
        """A dataset folder opens at once; files and folders fill in the Open dialog
        (with the open dataset's sources when only predictions were dropped)."""
        plan = plan_drop(paths)
        for p in plan.ignored:
            self.log(f"Dropped {p}: not a dataset, annotation or prediction file; ignored",
                     "warning")
        if plan.folder is not None:
            self.open_spec(plan.folder, self.settings.params())
            return plan
        if plan.empty:
            self.flash("Nothing to open in what was dropped (a dataset folder, ground truth "
                       "or prediction files)", 6000)
            return plan
        base = self.session.spec if self.session is not None else None
        images = plan.images or (Path(base.images) if base and base.images and not plan.gt
                                 else None)
        gt = plan.gt or (Path(base.gt) if base and base.gt and not plan.images else None)
        preds = [(None, p) for p in plan.preds]
        if base is not None and plan.preds and not plan.gt:
            preds = [(n, Path(p)) for n, p in base.preds] + preds
        spec = DatasetSpec.make(images=images, gt=gt, preds=preds, loss=plan.loss,
                                gt_format=base.gt_format if base and gt and base.gt
                                and Path(base.gt) == gt else None)
        self.open_dialog(spec)
        return plan

    # ================================================================== messages
    def log(self, text: str, level: str = "info") -> None:
        """Keep ``text`` in the Messages panel."""
        self.messages.add(text, level)

    def show_messages(self) -> None:
        self.messages_dock.setVisible(True)
        self.messages_dock.raise_()

    def _on_message_counts(self, warnings: int, errors: int) -> None:
        parts = []
        if errors:
            parts.append(f"✖ {errors}")
        if warnings:
            parts.append(f"⚠ {warnings}")
        self.messages_button.setText("  ".join(parts) or "Messages")
        self.messages_button.setVisible(bool(parts) or self.messages.list.count() > 0)

    # ================================================================== theme
    def set_theme(self, theme: str) -> None:
        self._theme = theme
        self.settings.set_theme(theme)
        apply_theme(theme)
        a = self.theme_actions.get(theme)
        if a is not None:
            a.setChecked(True)

    # ================================================================== about
    def about_text(self) -> str:
        import platform

        import PySide6

        from detview import __version__

        try:
            import pyqtgraph

            pg = pyqtgraph.__version__
        except ImportError:  # pragma: no cover - a GUI install has it
            pg = "?"
        return (f"<h3>detview {__version__}</h3>"
                "<p>Error analysis and label fixing for object-detection predictions.</p>"
                f"<p>Python {platform.python_version()} · PySide6 {PySide6.__version__} · "
                f"pyqtgraph {pg}<br>Settings: {self.settings.store.fileName()}</p>"
                "<p>F1 lists the keyboard shortcuts.</p>")

    def show_about(self) -> None:
        box = QMessageBox(self)  # type: ignore[arg-type]
        box.setWindowTitle("About detview")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(self.about_text())
        box.setIconPixmap(QGuiApplication.windowIcon().pixmap(64, 64))
        self._about_box = box
        box.open()
