"""Files of the main window: open (a worker in the ``load`` slot), the journal's restore
offer, export (the ``export`` slot), and the question before unexported edits are
dropped. Mixed into :class:`~detview.gui.main_window.MainWindow`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtWidgets import QFileDialog, QMessageBox

from detview.core.metrics import MetricParams
from detview.io import WRITE_FORMATS
from detview.io.errors import format_error
from detview.io.spec import DatasetSpec, resolve_folder
from detview.session import Busy, Cancelled, Loaded, RestoreOffer, Session, Task
from detview.session import load as load_dataset

from .dialogs import ExportDialog, OpenDialog

if TYPE_CHECKING:
    from detview.session import TaskRunner

__all__ = ["FilesMixin"]


class FilesMixin:
    """Open, restore, export, discard."""

    runner: TaskRunner
    quiet: bool
    use_journal: bool
    journal_path: Path | None
    _dataset_name: str
    _discarded: bool
    _close_after_export: bool

    if TYPE_CHECKING:
        @property
        def session(self) -> Session | None: ...
        def set_session(self, session: Session, name: str = "") -> None: ...
        def flash(self, text: str, ms: int = 4000) -> None: ...
        def show_error(self, title: str, text: str) -> None: ...
        def refresh_view(self, new_image: bool) -> None: ...
        def activateWindow(self) -> None: ...  # noqa: N802
        def close(self) -> bool: ...

    # ================================================================== open
    def open_spec(self, spec: DatasetSpec | Path, params: MetricParams | None = None) -> None:
        """Load (a spec, or a folder to auto-detect) in the ``load`` slot: a progress bar
        and Cancel; a newer load replaces it. An export that runs goes on."""
        if not self.confirm_discard():
            return
        p = params or (self.session.params if self.session else MetricParams())
        what = str(spec) if isinstance(spec, Path) else spec.describe()

        def work(progress: Any) -> Loaded:
            sp = spec
            if isinstance(sp, Path):
                images, gt, fmt = resolve_folder(sp)
                sp = DatasetSpec.make(images=images, gt=gt, gt_format=fmt)
            return load_dataset(sp, p, progress)

        self.runner.start("load", work, label=f"Loading {what}", on_done=self.open_loaded,
                          on_error=lambda exc: self._load_failed(f"Cannot open {what}", exc))
        self.flash(f"Loading {what}…")

    def _load_failed(self, title: str, exc: BaseException) -> None:
        self._discarded = False  # the session shown stays: its edits are not dropped
        self._task_failed(title, exc)

    def _task_failed(self, title: str, exc: BaseException) -> None:
        if isinstance(exc, Cancelled):
            self.flash(f"{title}: cancelled", 4000)
        else:
            self.show_error(title, format_error(exc))

    def open_loaded(self, loaded: Loaded) -> None:
        """Show a dataset loaded in a worker; offer to restore its journal."""
        session = loaded.session(runner=self.runner)
        self.set_session(session, loaded.name)
        if self.use_journal:
            self.open_journal(session)
        self.flash(loaded.summary.splitlines()[-1] if loaded.summary else "Loaded", 8000)
        if loaded.problems and not self.quiet:
            box = QMessageBox(self)
            box.setIcon(QMessageBox.Icon.Warning)
            box.setWindowTitle("Loaded with warnings")
            box.setText(f"{len(loaded.problems)} warning(s) while loading {loaded.name}.")
            box.setDetailedText("\n".join(loaded.problems[:500]))
            box.open()

    def open_journal(self, session: Session) -> bool:
        """Attach the dataset's edit journal (the session's restore policy, asking the
        user); True when edits were restored."""
        out = session.recover(self.ask_restore)
        self.journal_path = out.path
        if out.error:
            self.flash(out.error, 8000)
        if out.report is not None and not out.report.complete:
            self.show_error("Edits partly restored", out.message())
        elif out.restored:
            self.flash(out.message(), 10000)
        if out.restored:
            self.refresh_view(new_image=False)
        return out.restored

    def ask_restore(self, offer: RestoreOffer) -> bool:
        if self.quiet:
            return True
        ans = QMessageBox.question(
            self, "Restore unsaved edits?",
            f"{offer.question()}\nRestore them? (No keeps a copy of that journal aside.)",
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
            self.open_spec(Path(d))

    def is_busy(self, slot: str | None = None) -> bool:
        """A task of this window runs (in ``slot``, or any)."""
        return self.runner.busy(slot) if slot else not self.runner.idle

    # ================================================================== export
    def export_dialog(self) -> None:
        s = self.session
        if s is None:
            return
        root = s.image_root.parent if s.image_root else Path.cwd()
        dlg = ExportDialog(WRITE_FORMATS, str(root / "detview_export"),
                           str(s.dataset.meta.get("format") or ""), self)
        ok = dlg.exec()
        self.activateWindow()
        if ok:
            self.start_export(*dlg.values())

    def start_export(self, out: Path, fmt: str, images_mode: str = "none") -> Task[Any] | None:
        """Write the dataset and its corrections log in the ``export`` slot: nothing
        but its own Cancel stops it (not a threshold change, not another load)."""
        s = self.session
        if s is None:
            return None

        def ok(result: Any) -> None:
            self.flash(f"Exported {result.describe()}", 10000)
            if self._close_after_export:
                self.close()

        def failed(exc: BaseException) -> None:
            self._close_after_export = False
            self._task_failed("Export failed", exc)

        try:
            return s.export(out, fmt, images_mode, on_done=ok, on_error=failed)
        except Busy as exc:
            self.flash(f"An export is running: {exc}", 6000)
            return None

    # ================================================================== closing
    def confirm_discard(self) -> bool:
        """True when there are no unexported edits or the user agrees to drop them."""
        s = self.session
        if s is None or s.history.is_clean:
            return True
        if self.quiet:  # no modal dialogs (screenshots, tests)
            self._discarded = True
            return True
        ans = QMessageBox.question(
            self, "Unsaved changes",
            f"{s.history.index} edit(s) in {self._dataset_name} are not exported.\n"
            "Discard them?",
            QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel)
        self._discarded = ans == QMessageBox.StandardButton.Discard
        return self._discarded
