"""The Qt face of a :class:`detview.session.Session`: its events as Qt signals, and its
history as a list model for the History dock.

Everything the session knows (data, history, journal, derived numbers, tasks) lives in
:mod:`detview.session`; this adapter only re-emits what happens there and debounces
the recomputations a burst of edits makes stale.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QFont

from detview.session import Session, SessionEvent, TaskRunner

from .workers import qt_runner

__all__ = ["HistoryModel", "QtSession"]

_STALE_DEBOUNCE_MS = 400  # recompute what edits made stale once the edits pause


class QtSession(QObject):
    """Signals of one session. ``runner``: the window's (one for all its sessions);
    without one the adapter makes a Qt runner of its own."""

    imagesChanged = Signal(object)  # frozenset[int]: an edit touched these  # noqa: N815
    settingsChanged = Signal()  # run, thresholds or COCO mode  # noqa: N815
    historyChanged = Signal()  # steps, position or clean mark  # noqa: N815
    derivedChanged = Signal(str)  # a derived value arrived (its name)  # noqa: N815
    derivedBusy = Signal(str)  # a derived value started recomputing  # noqa: N815
    message = Signal(str)  # for the user: an edit refused, a journal lost, a failure
    viewChanged = Signal()  # the session's ViewSettings (layout, colours...)  # noqa: N815

    def __init__(self, session: Session, runner: TaskRunner | None = None,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        if runner is not None or session.runner.idle:
            session.runner = runner if runner is not None else qt_runner(self)
        self._stale_timer = QTimer(self)
        self._stale_timer.setSingleShot(True)
        self._stale_timer.setInterval(_STALE_DEBOUNCE_MS)
        self._stale_timer.timeout.connect(self._refresh)
        self.history_model = HistoryModel(session, self)
        session.subscribe(self._on_event)

    def _on_event(self, ev: SessionEvent) -> None:
        if ev.kind == "images":
            self.imagesChanged.emit(ev.images)
        elif ev.kind == "history":
            self.history_model.refresh()
            self.historyChanged.emit()
        elif ev.kind == "settings":
            self.settingsChanged.emit()
        elif ev.kind == "derived":
            self.derivedChanged.emit(ev.name)
        elif ev.kind == "busy":
            self.derivedBusy.emit(ev.name)
        elif ev.kind == "stale":
            self._stale_timer.start()
        elif ev.kind == "message":
            self.message.emit(ev.text)
        elif ev.kind == "view":
            self.viewChanged.emit()

    def _refresh(self) -> None:
        if not self.session.closed:
            self.session.derived.refresh()

    def stale_pending(self) -> bool:
        return self._stale_timer.isActive()

    def close(self, discard: bool = False) -> None:
        self._stale_timer.stop()
        self.session.unsubscribe(self._on_event)
        self.session.close(discard)


class HistoryModel(QAbstractListModel):
    """Row 0 is the dataset as opened, row k the state after step k. The current row is
    the history's position; undone steps are grey; the exported state is marked.
    Selecting a row goes there (undo/redo)."""

    def __init__(self, session: Session, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self._n = len(session.history) + 1

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()  # noqa: B008, N802
                 ) -> int:
        return 0 if parent.isValid() else len(self.session.history) + 1

    def data(self, index: QModelIndex | QPersistentModelIndex,
             role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        h = self.session.history
        row = index.row()
        if role == Qt.ItemDataRole.DisplayRole:
            text = "<opened>" if row == 0 else self.session.step_text(h.steps[row - 1])
            return text + ("   (exported)" if h.clean_index == row else "")
        if role == Qt.ItemDataRole.ToolTipRole and row > 0:
            step = h.steps[row - 1]
            import time

            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(step.time))
            return f"{self.session.step_text(step)}\n{when}" + (
                f" by {step.user}" if step.user else "")
        if role == Qt.ItemDataRole.ForegroundRole and row > h.index:
            return QBrush(QColor(150, 150, 150))
        if role == Qt.ItemDataRole.FontRole and row == h.index:
            f = QFont()
            f.setBold(True)
            return f
        return None

    def refresh(self) -> None:
        n = len(self.session.history) + 1
        if n != self._n:
            self.beginResetModel()
            self._n = n
            self.endResetModel()
        elif n:
            self.dataChanged.emit(self.index(0), self.index(n - 1))
