"""The main window's runs, checkpoints and training-log wiring (a mixin).

It adds the Compare strip under the viewer (:class:`~detview.gui.compare_strip.CompareStrip`), the
Training window (Graphs | Details), the Runs window over the experiment store, the
actions File > Open training log…, View > Training graphs, View > Runs window and the
checkpoint steps, and keeps them following the window's session. The main window calls
:meth:`TrainingMixin._build_training` once and merges :meth:`training_handlers` into
its actions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QFileDialog, QSplitter

from detview.session import Session, SessionEvent

from .compare_strip import CompareStrip, update_diff_columns
from .details import TrainingWindow
from .runs_window import RunsWindow

__all__ = ["TrainingMixin"]

LOG_FILTER = ("Training logs (*.log *.txt *.csv *.json *tfevents*);;All files (*)")


class TrainingMixin:
    """Runs, checkpoints and training logs for :class:`~detview.gui.main_window.MainWindow`."""

    if TYPE_CHECKING:  # provided by the main window
        session: Session | None
        images: Any
        analysis_dock: QDockWidget
        splitter: QSplitter
        viewer: Any
        toolbar: Any
        sessionChanged: Any  # noqa: N815
        imageShown: Any  # noqa: N815
        _dataset_name: str
        current_image: int

        def flash(self, text: str, ms: int = 4000) -> None: ...
        def show_error(self, title: str, text: str) -> None: ...
        def open_spec(self, spec: Any, params: Any = None) -> None: ...

    # ------------------------------------------------------------------ build
    def _build_training(self) -> None:
        self.compare = CompareStrip()
        self.compare.setObjectName("compare_strip")
        self.compare.message.connect(lambda text: self.flash(text, 6000))
        # a strip under the viewer (a bottom dock beside the analysis panel would make
        # the window wider than its panels allow); View > "Compare and checkpoints"
        # shows/hides it as the docks' actions do
        idx = self.splitter.indexOf(self.viewer)
        self.viewer_split = QSplitter(Qt.Orientation.Vertical)
        self.splitter.insertWidget(idx, self.viewer_split)
        self.viewer_split.addWidget(self.viewer)
        self.viewer_split.addWidget(self.compare)
        self.viewer_split.setStretchFactor(0, 1)
        self.viewer_split.setStretchFactor(1, 0)
        self.viewer_split.setChildrenCollapsible(False)
        self.splitter.setStretchFactor(idx, 1)
        self.splitter.setSizes([540, 1060])
        self.compare.set_shown(False)
        self.training_window: TrainingWindow | None = None
        self.runs_window: RunsWindow | None = None
        self.store_path: Path | None = None  # the Runs window's store (None: the default)
        self._pending_pair: tuple[str, str] | None = None
        self._training_session: Session | None = None
        self.sessionChanged.connect(self._training_session_changed)
        self.imageShown.connect(self.compare.set_image)

    def training_handlers(self) -> dict[str, Any]:
        return {"open_log": self.open_log_dialog, "graphs": self.show_training_window,
                "runs_window": self.show_runs_window,
                "next_checkpoint": lambda: self.step_checkpoint(1),
                "prev_checkpoint": lambda: self.step_checkpoint(-1)}

    # ------------------------------------------------------------------ session
    def _training_session_changed(self) -> None:
        old, s = self._training_session, self.session
        if old is not None and old is not s:
            old.unsubscribe(self._on_training_event)
        self._training_session = s
        self.compare.set_session(s)
        if s is not None:  # the first image was shown before this signal
            self.compare.set_image(self.current_image)
        if self.training_window is not None:
            self.training_window.set_session(s, self._dataset_name)
        if s is None:
            return
        s.subscribe(self._on_training_event)
        pair, self._pending_pair = self._pending_pair, None
        if pair is not None and all(r in s.run_names for r in pair):
            s.training.set_pair(*pair)
        update_diff_columns(self.images, s)
        # under the panes whenever there are two runs (checkpoints of a training among
        # them): the checkpoint slider of the window
        self.compare.set_shown(len(s.run_names) >= 2)
        if s.training.logs:
            explicit = s.spec is not None and bool(s.spec.logs)
            if explicit:
                self.show_training_window()
            else:
                n = len(s.training.logs)
                self.flash(f"{n} training log{'s' if n > 1 else ''} found beside the "
                           "predictions: View > Training graphs (Ctrl+G)", 8000)

    def _on_training_event(self, ev: SessionEvent) -> None:
        s = self.session
        if ev.kind == "settings" and s is not None and \
                self.toolbar.run_combo.currentText() != (s.run or ""):
            self.toolbar.set_runs(s.run_names, s.run)  # a checkpoint chosen elsewhere
        if ev.kind == "training" and ev.name == "pair":
            update_diff_columns(self.images, self.session)
        elif ev.kind == "derived" and ev.name == "metrics":
            update_diff_columns(self.images, self.session)  # label quality may be there now

    # ------------------------------------------------------------------ actions
    def open_log_dialog(self) -> None:
        s = self.session
        if s is None:
            return
        paths, _ = QFileDialog.getOpenFileNames(self, "Open training log", "",  # type: ignore[arg-type]
                                                LOG_FILTER)
        if paths:
            self.open_logs([Path(p) for p in paths])

    def open_logs(self, paths: list[Path]) -> int:
        """Read training logs into the session and show the Graphs view."""
        s = self.session
        if s is None:
            return 0
        n, problems = s.training.open_logs(paths)
        if problems:
            self.flash(f"{len(problems)} problem(s) reading logs: {problems[0]}", 10000)
        if n:
            self.show_training_window()
        elif not problems:
            self.flash("No training log read", 4000)
        return n

    def show_training_window(self) -> TrainingWindow:
        if self.training_window is None:
            w = TrainingWindow()
            w.openLogRequested.connect(self.open_log_dialog)
            w.graphs.message.connect(lambda text: self.flash(text, 6000))
            w.set_session(self.session, self._dataset_name)
            _fit_to_screen(w, self)
            self.training_window = w
        self.training_window.show()
        self.training_window.raise_()
        self.training_window.activateWindow()
        return self.training_window

    def show_runs_window(self) -> RunsWindow | None:
        if self.runs_window is None:
            try:
                w = RunsWindow(self.store_path)
            except Exception as exc:  # noqa: BLE001 - a bad store: one message
                from detview.io.errors import format_error

                self.show_error("Cannot open the experiment store", format_error(exc))
                return None
            w.openRequested.connect(self.open_request)
            w.message.connect(lambda text: self.flash(text, 8000))
            _fit_to_screen(w, self)
            self.runs_window = w
        self.runs_window.show()
        self.runs_window.raise_()
        self.runs_window.activateWindow()
        return self.runs_window

    def open_request(self, req: Any) -> None:
        """Open runs from the store (a :class:`~detview.session.catalog.OpenRequest`):
        two runs are compared A → B once loaded."""
        self._pending_pair = req.pair
        self.open_spec(req.spec, req.params)
        self.flash(f"Opening {' and '.join(req.runs)}…", 6000)

    def step_checkpoint(self, step: int) -> None:
        t = self.compare.training()
        if t is None:
            self.flash("No checkpoints: prediction files named with their step get a slider",
                       4000)
            return
        self.compare.set_shown(True)  # the one checkpoint slider, under the panes
        v = min(max(self.compare.slider.value() + step, 0), len(t.runs) - 1)
        self.compare.step_to(v)


def _fit_to_screen(w: Any, near: Any) -> None:
    """At most 90 % of the available screen (the one ``near`` is on) in each direction."""
    screen = near.screen() if hasattr(near, "screen") else None
    if screen is None:
        return
    avail = screen.availableGeometry()
    w.resize(min(w.width(), int(avail.width() * 0.9)), min(w.height(), int(avail.height() * 0.9)))
