"""The start page: what the window shows before a dataset is open (``detview`` alone,
``detview open`` without a dataset): the recent datasets, Open, Open folder, the demo,
and a word about dropping a folder onto the window."""

from __future__ import annotations

import time

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from detview.io.spec import DatasetSpec

from .settings import RecentDataset

__all__ = ["StartPage", "ago"]


def ago(when: float, now: float | None = None) -> str:
    """``just now``, ``5 minutes ago``, ``yesterday``, ``3 days ago``, or the date."""
    if when <= 0:
        return ""
    d = max(0.0, (time.time() if now is None else now) - when)
    if d < 60:
        return "just now"
    if d < 3600:
        m = int(d // 60)
        return f"{m} minute{'s' if m != 1 else ''} ago"
    if d < 86400:
        h = int(d // 3600)
        return f"{h} hour{'s' if h != 1 else ''} ago"
    if d < 2 * 86400:
        return "yesterday"
    if d < 14 * 86400:
        return f"{int(d // 86400)} days ago"
    return time.strftime("%Y-%m-%d", time.localtime(when))


class StartPage(QWidget):
    """``openRecent(spec)``, ``openDialog()``, ``openFolder()``, ``openDemo()``,
    ``forgetRecent(spec)``."""

    openRecent = Signal(object)  # noqa: N815
    openDialog = Signal()  # noqa: N815
    openFolder = Signal()  # noqa: N815
    openDemo = Signal()  # noqa: N815
    forgetRecent = Signal(object)  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("StartPage")
        title = QLabel("detview")
        f = title.font()
        f.setPointSizeF(f.pointSizeF() * 2.2)
        f.setBold(True)
        title.setFont(f)
        subtitle = QLabel("Find what is wrong with a detector or with its labels, and fix it.")
        subtitle.setStyleSheet("color: gray")
        self.open_button = QPushButton("&Open dataset…")
        self.open_button.setToolTip("Images, ground truth and prediction files (Ctrl+O)")
        self.folder_button = QPushButton("Open &folder…")
        self.folder_button.setToolTip("A dataset folder: COCO, Ultralytics YOLO or Pascal VOC "
                                      "layouts are detected")
        self.demo_button = QPushButton("Open the &demo")
        self.demo_button.setToolTip("40 coco128 images with YOLOv5s predictions")
        for b in (self.open_button, self.folder_button, self.demo_button):
            b.setMinimumHeight(b.sizeHint().height() + 8)
        self.open_button.clicked.connect(self.openDialog)
        self.folder_button.clicked.connect(self.openFolder)
        self.demo_button.clicked.connect(self.openDemo)
        buttons = QVBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)
        self.drop_note = drop = QLabel("Or drop a dataset folder, or its files (ground truth, "
                                       "predictions, images folder), onto this window.")
        drop.setWordWrap(True)
        drop.setStyleSheet("color: gray")

        self.recent_title = QLabel("<b>Recent datasets</b>")
        self.recent = QListWidget()
        self.recent.setObjectName("RecentList")
        self.recent.setIconSize(QSize(0, 0))
        self.recent.setWordWrap(True)
        self.recent.setSpacing(2)
        self.recent.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.recent.customContextMenuRequested.connect(self._menu)
        self.recent.itemActivated.connect(self._activated)
        self.recent.itemDoubleClicked.connect(self._activated)
        self.empty_note = QLabel("No dataset opened yet. Datasets you open are listed here.")
        self.empty_note.setStyleSheet("color: gray")
        self.empty_note.setWordWrap(True)
        recent = QVBoxLayout()
        recent.setAlignment(Qt.AlignmentFlag.AlignTop)
        recent.addWidget(self.recent_title)
        recent.addWidget(self.empty_note)
        recent.addWidget(self.recent, 100)
        recent.addStretch(1)  # with no list, the title and the note stay at the top
        for lab in (self.recent_title, self.empty_note):
            lab.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

        body = QHBoxLayout()
        body.setAlignment(Qt.AlignmentFlag.AlignTop)
        for b in (self.open_button, self.folder_button, self.demo_button):
            b.setMinimumWidth(220)
        body.addLayout(buttons, 0)
        body.addSpacing(24)
        body.addLayout(recent, 1)
        card = QFrame()
        card.setObjectName("StartCard")
        card.setMaximumWidth(980)
        card.setMaximumHeight(620)
        lay = QVBoxLayout(card)
        lay.addWidget(title)
        lay.addWidget(subtitle)
        lay.addSpacing(16)
        lay.addLayout(body, 1)
        lay.addSpacing(12)
        lay.addWidget(drop)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(card, 8)
        row.addStretch(1)
        outer = QVBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(row, 6)
        outer.addStretch(2)

    def set_recent(self, items: list[RecentDataset]) -> None:
        self.recent.clear()
        for r in items:
            missing = not r.exists()
            when = ago(r.when)
            text = f"{r.name}" + (f"   ·   {when}" if when else "") + (
                "   ·   missing" if missing else "") + f"\n{r.describe()}"
            it = QListWidgetItem(text)
            it.setData(Qt.ItemDataRole.UserRole, r.spec)
            it.setToolTip(_spec_tip(r.spec) + ("\n(some of these files are gone)"
                                               if missing else ""))
            if missing:
                it.setForeground(Qt.GlobalColor.gray)
            self.recent.addItem(it)
        self.recent.setVisible(bool(items))
        self.empty_note.setVisible(not items)
        if items:
            self.recent.setCurrentRow(0)

    def _activated(self, item: QListWidgetItem) -> None:
        spec = item.data(Qt.ItemDataRole.UserRole)
        if isinstance(spec, DatasetSpec):
            self.openRecent.emit(spec)

    def _menu(self, pos: object) -> None:
        item = self.recent.itemAt(pos)  # type: ignore[call-overload]
        if item is None:
            return
        spec = item.data(Qt.ItemDataRole.UserRole)
        m = QMenu(self)
        m.addAction("Open", lambda: self.openRecent.emit(spec))
        m.addAction("Remove from this list", lambda: self.forgetRecent.emit(spec))
        m.exec(self.recent.viewport().mapToGlobal(pos))  # type: ignore[arg-type]


def _spec_tip(spec: DatasetSpec) -> str:
    lines = []
    if spec.images:
        lines.append(f"images: {spec.images}")
    if spec.gt:
        lines.append(f"ground truth: {spec.gt}")
    for name, p in spec.preds:
        lines.append(f"predictions{' ' + name if name else ''}: {p}")
    return "\n".join(lines)
