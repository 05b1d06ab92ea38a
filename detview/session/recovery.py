"""The restore policy: what happens to a journal a previous session left behind.

When a dataset is opened, its journal (found by the dataset's sources, see
:func:`detview.io.journal.journal_path_for`) is inspected:

* it holds steps that were not exported: the user is **offered** to restore them
  (``ask(offer)``). Yes: the steps are **replayed** into the new session's history
  (the undo history, the redo list, the clean mark, who and when); a step that no
  longer applies (the files changed since) ends the replay, the steps before it are
  kept, the old journal is **archived** beside it (``*.old``) and a new one describing
  exactly the restored history takes its place. No: the journal is archived and a new
  one is started.
* it holds only exported (or undone) steps: archived, a new one is started, so a crash
  later never replays exported edits onto the original files.
* it cannot be read: archived, a new one is started, and the outcome says so.

From then on the journal records every change of the session's history.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detview.core.edits import Edit
from detview.io.journal import Journal, JournalState, archive_name, journal_path_for

from .history import RestoreReport, Step

if TYPE_CHECKING:
    from .session import Session

__all__ = ["RecoveryOutcome", "RestoreOffer", "recover"]


@dataclass(frozen=True)
class RestoreOffer:
    """What a journal left behind holds, for the question put to the user."""

    path: Path
    n_done: int  # applied steps
    n_undone: int  # the redo list
    n_unexported: int  # applied steps after the last export
    last_time: float | None  # when the last step was made
    #: exported steps undone afterwards (the export is further down the redo list)
    n_exported_undone: int = 0

    def question(self) -> str:
        exported = self.n_done - self.n_unexported
        if not self.n_unexported and self.n_exported_undone:
            k = self.n_exported_undone
            return (f"The last session on this dataset exported its edits, then undid "
                    f"{k} of them ({k} exported edit{'s' if k != 1 else ''} undone, nothing "
                    "else changed).")
        text = (f"The last session on this dataset ended with {self.n_unexported} edit(s) "
                "not exported")
        if exported:
            text += f" (after {exported} exported)"
        if self.n_undone:
            text += f" and {self.n_undone} undone"
        return text + "."


@dataclass(frozen=True)
class RecoveryOutcome:
    """``report`` is None when nothing was restored; ``error`` says why there is no
    journal (crash recovery off)."""

    path: Path | None
    offer: RestoreOffer | None = None
    report: RestoreReport | None = None
    archived: Path | None = None
    error: str | None = None

    @property
    def restored(self) -> bool:
        return self.report is not None and self.report.restored > 0

    def message(self) -> str:
        if self.error:
            return self.error
        r = self.report
        if r is None:
            return ""
        if r.complete:
            return f"Restored {r.restored} unsaved edit(s) from {self.path}"
        return (f"{self.path}: {r.restored} of {r.wanted} edit(s) restored; the next one no "
                f"longer applies to these files (were they changed?): {r.refused}. The "
                f"journal as it was is kept as {self.archived}.")


def _offer(path: Path, st: JournalState) -> RestoreOffer:
    n = len(st.done)
    clean = st.clean_index
    # the applied steps up to the export were exported, also when the export is further
    # on (exported steps undone since): only the steps after it are unexported
    exported = min(clean, n) if clean is not None else 0
    undone_exported = max(0, clean - n) if clean is not None else 0
    times = [float(t) for m in (*st.done_meta, *st.undone_meta)
             if isinstance(t := m.get("time"), (int, float))]
    return RestoreOffer(path, n, len(st.undone), n - exported, max(times) if times else None,
                        undone_exported)


def _steps(st: JournalState) -> tuple[list[Step], list[Step]]:
    def step(e: Edit, m: dict[str, Any]) -> Step:
        t = m.get("time")
        return Step(e, float(t) if isinstance(t, (int, float)) else 0.0, str(m.get("user") or ""))

    done = [step(e, st.done_meta[k] if k < len(st.done_meta) else {})
            for k, e in enumerate(st.done)]
    undone = [step(e, st.undone_meta[k] if k < len(st.undone_meta) else {})
              for k, e in enumerate(st.undone)]
    return done, undone


def recover(session: Session, ask: Callable[[RestoreOffer], bool],
            path: Path | None = None) -> RecoveryOutcome:
    """Apply the restore policy to ``session`` (whose history must be empty) and
    attach its journal. ``path`` overrides where the journal lives."""
    spec = session.spec
    if spec is None or spec.empty:
        return RecoveryOutcome(None, error="no source files: crash recovery is off")
    source = spec.to_json()
    try:
        path = path or journal_path_for(source, spec.root())
        journal = Journal(path, source)
    except (OSError, sqlite3.Error) as exc:
        return RecoveryOutcome(path, error=f"Edit journal unavailable: {exc}")
    archived: Path | None = None
    try:
        st = journal.state()
    except (ValueError, sqlite3.Error) as exc:  # a damaged journal: set aside
        archived = journal.archive()
        journal = Journal(path, source)
        session.attach_journal(journal)
        return RecoveryOutcome(path, archived=archived,
                               error=f"{path}: unreadable edit journal set aside as "
                                     f"{archived} ({exc})")
    offer: RestoreOffer | None = None
    report: RestoreReport | None = None
    if journal.has_edits():
        offer = _offer(path, st)
        if ask(offer):
            done, undone = _steps(st)
            report = session.history.restore(done, undone, st.clean_index)
            if not report.complete:
                journal.close()
                archived = _archive_copy(path)
                h = session.history
                journal = Journal.write_history(
                    path, source, [s.edit for s in h.done], [s.edit for s in h.undone],
                    h.clean_index, [s.meta() for s in h.done], [s.meta() for s in h.undone])
        else:
            archived = journal.archive()
            journal = Journal(path, source)
    elif st.n_ops:
        # everything was exported (or undone): this session starts from the original
        # files with an empty history, so must the journal
        archived = journal.archive()
        journal = Journal(path, source)
    session.attach_journal(journal)
    return RecoveryOutcome(path, offer, report, archived)


def _archive_copy(path: Path) -> Path:
    """A copy of a (closed) journal beside it, the original left in place."""
    import shutil

    dest = archive_name(path)
    shutil.copy2(path, dest)
    return dest
