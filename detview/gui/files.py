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
from .wording import count, error_for_user

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
        def show_error(self, title: str, text: str, details: str = "") -> None: ...
        def log(self, text: str, level: str = "info") -> None: ...
        def remember_dataset(self, name: str, spec: DatasetSpec | None) -> None: ...
        def show_messages(self) -> None: ...
        tasks: Any
        _dataset_name: str
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

    def _task_failed(self, title: str, exc: BaseException, action: str = "",
                     target: Path | None = None) -> None:
        if isinstance(exc, Cancelled):
            self.flash(f"{title}: cancelled", 4000)
        else:
            raw = format_error(exc)
            text = error_for_user(exc, action, target)
            self.show_error(title, text, raw if raw not in text else "")

    def open_loaded(self, loaded: Loaded) -> None:
        """Show a dataset loaded in a worker; offer to restore its journal."""
        self.tasks.update_view()  # the load has ended: no progress bar behind a question
        session = loaded.session(runner=self.runner)
        self.set_session(session, loaded.name)
        # every line of the load stays in the Messages panel
        self.log(f"Opened {loaded.name}")
        for line in loaded.summary.splitlines():
            self.log(line)
        for p in loaded.problems[:5000]:
            self.log(p, "warning")
        self.remember_dataset(loaded.name, loaded.spec)
        if self.use_journal:
            self.open_journal(session)
        im = session.dataset.images
        head = (f"Loaded {loaded.name}: {count(len(im), 'image')}, "
                f"{count(len(session.run_names), 'prediction run')}")
        if loaded.problems:
            head += f" · {count(len(loaded.problems), 'warning')} (see Messages)"
        self.flash(head, 10000, "info")
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

    def open_dialog(self, spec: DatasetSpec | None = None) -> None:
        dlg = OpenDialog(self)
        if isinstance(spec, DatasetSpec):  # (a menu action passes its checked flag)
            dlg.set_spec(spec)
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
        self.ask_export()

    def ask_export(self) -> Task[Any] | None:
        """The export dialog, then the export (None when cancelled)."""
        s = self.session
        if s is None:
            return None
        dlg = ExportDialog(WRITE_FORMATS, str(default_export_dir(s)),
                           str(s.dataset.meta.get("format") or ""), self)
        ok = dlg.exec()
        self.activateWindow()
        return self.start_export(*dlg.values()) if ok else None

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
            self._task_failed("Export failed", exc, "export", Path(out))

        try:
            return s.export(out, fmt, images_mode, on_done=ok, on_error=failed)
        except Busy as exc:
            self.flash(f"An export is running: {exc}", 6000)
            return None

    # ================================================================== closing
    def confirm_discard(self, closing: bool = False) -> bool:
        """True when there are no unexported edits or the user agrees to drop them; the
        user may also export them first (when ``closing``, the window closes once the
        export has finished, so this answers False)."""
        s = self.session
        if s is None or s.history.is_clean:
            return True
        if self.quiet:  # no modal dialogs (screenshots, tests)
            self._discarded = True
            return True
        box = self.unsaved_box(s)
        box.exec()
        choice = box.clickedButton()
        self.activateWindow()
        if choice is box.export_button:
            task = self.ask_export()
            if task is None:
                return False
            if closing:
                self._close_after_export = True
                self.flash("Closing when the export has finished", 10000)
                return False
            return True  # the export goes on; its session is kept until it ends
        self._discarded = choice is box.discard_button
        return self._discarded

    def unsaved_box(self, s: Session) -> Any:
        """The question before unexported edits would be dropped: Export…, Discard,
        Cancel (Alt+E, Alt+D, Esc)."""
        box = QMessageBox(self)  # type: ignore[arg-type]
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle("Unsaved changes")
        box.setText(f"{self._dataset_name}: {s.unexported_text()}.")
        box.setInformativeText("Export them first, or discard them? (Discarded edits stay "
                               "in a journal set aside beside the dataset, .detview/.)")
        box.export_button = box.addButton("&Export…",  # type: ignore[attr-defined]
                                          QMessageBox.ButtonRole.AcceptRole)
        box.discard_button = box.addButton("&Discard",  # type: ignore[attr-defined]
                                           QMessageBox.ButtonRole.DestructiveRole)
        box.cancel_button = box.addButton("&Cancel",  # type: ignore[attr-defined]
                                          QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(box.export_button)  # type: ignore[attr-defined]
        box.setEscapeButton(box.cancel_button)  # type: ignore[attr-defined]
        box.setObjectName("UnsavedChanges")
        return box


def default_export_dir(s: Session) -> Path:
    """Where an export goes unless the user says otherwise: a new folder beside the
    dataset's folder (the folder holding its images and ground truth; never inside a
    folder it reads from), ``<name>-cleaned``, then ``-cleaned-2``... when that exists."""
    import os

    spec = s.spec
    parts = [p for p in ((spec.images, spec.gt) if spec is not None else ()) if p]
    if not parts and s.image_root is not None:
        parts = [str(s.image_root)]
    if not parts:
        root = Path.cwd() / "dataset"
    else:
        common = Path(os.path.commonpath([str(Path(p).resolve()) for p in parts]))
        root = common.parent if common.is_file() or common.suffix in (".json", ".yaml",
                                                                       ".xml", ".csv") else common
    if root.parent == root:  # the file system's root: nowhere beside it
        root = Path.home() / "dataset"
    base = root.parent / f"{root.name}-cleaned"
    out, k = base, 2
    while out.exists():
        out = base.with_name(f"{base.name}-{k}")
        k += 1
    return out
