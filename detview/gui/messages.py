"""The Messages panel: every message of the session in one list, newest last.

The status bar shows a message for a few seconds; everything it showed, every line of a
load's summary (formats found, how classes were matched, counts) and every warning of
the load stays here, with the time it came. The status bar's message button opens the
panel and says how many warnings wait there.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QGuiApplication
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

__all__ = ["LEVELS", "MessagesPanel"]

LEVELS = ("info", "warning", "error")
_COLORS = {"warning": QColor(176, 110, 0), "error": QColor(200, 40, 40)}
_MARK = {"info": "", "warning": "⚠ ", "error": "✖ "}
MAX_ENTRIES = 5000


class MessagesPanel(QWidget):
    """``add(text, level)``; ``countsChanged(n_warnings, n_errors)`` after each change."""

    countsChanged = Signal(int, int)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setWordWrap(True)
        self.list.setAlternatingRowColors(True)
        self.list.setUniformItemSizes(False)
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.summary = QLabel()
        self.summary.setStyleSheet("color: gray")
        copy = QPushButton("Copy")
        copy.setToolTip("Copy the selected messages (all when none is selected)")
        copy.clicked.connect(self.copy)
        clear = QPushButton("Clear")
        clear.clicked.connect(self.clear)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.summary, 1)
        row.addWidget(copy)
        row.addWidget(clear)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.list, 1)
        lay.addLayout(row)
        self.counts = {level: 0 for level in LEVELS}
        self._update_summary()

    def add(self, text: str, level: str = "info", when: float | None = None) -> None:
        """One entry (a multi-line text stays one entry, its first line shown)."""
        text = text.rstrip()
        if not text:
            return
        level = level if level in LEVELS else "info"
        stamp = time.strftime("%H:%M:%S", time.localtime(time.time() if when is None
                                                          else when))
        first, _, rest = text.partition("\n")
        item = QListWidgetItem(f"{stamp}  {_MARK[level]}{first}" + (" …" if rest else ""))
        item.setData(Qt.ItemDataRole.UserRole, text)
        item.setData(Qt.ItemDataRole.UserRole + 1, level)
        item.setToolTip(text)
        if level in _COLORS:
            item.setForeground(QBrush(_COLORS[level]))
        self.list.addItem(item)
        self.counts[level] += 1
        while self.list.count() > MAX_ENTRIES:
            old = self.list.takeItem(0)
            if old is not None:
                self.counts[str(old.data(Qt.ItemDataRole.UserRole + 1))] -= 1
        self.list.scrollToBottom()
        self._update_summary()

    def add_many(self, lines: Iterable[str], level: str = "info") -> None:
        self.list.setUpdatesEnabled(False)
        try:
            for line in lines:
                self.add(line, level)
        finally:
            self.list.setUpdatesEnabled(True)

    def texts(self, level: str | None = None) -> list[str]:
        """The full texts (of one level), oldest first."""
        out = []
        for k in range(self.list.count()):
            it = self.list.item(k)
            if level is None or it.data(Qt.ItemDataRole.UserRole + 1) == level:
                out.append(str(it.data(Qt.ItemDataRole.UserRole)))
        return out

    def clear(self) -> None:
        self.list.clear()
        self.counts = {level: 0 for level in LEVELS}
        self._update_summary()

    def copy(self) -> None:
        items = self.list.selectedItems() or [self.list.item(k) for k in range(self.list.count())]
        QGuiApplication.clipboard().setText("\n".join(it.text() for it in items))

    def _update_summary(self) -> None:
        w, e = self.counts["warning"], self.counts["error"]
        n = self.list.count()
        parts = [f"{n} message" + ("" if n == 1 else "s")]
        if w:
            parts.append(f"{w} warning" + ("" if w == 1 else "s"))
        if e:
            parts.append(f"{e} error" + ("" if e == 1 else "s"))
        self.summary.setText(" · ".join(parts))
        self.countsChanged.emit(w, e)
