"""The Details view of a training run, and the Training window (Graphs | Details).

Details lists what :func:`detview.session.training.details` finds for one log: its
origin (file, format, code version, steps, epochs, time span), the datasets its
parameters name, every parameter (``opt.yaml``, ``hyp.yaml``, arguments found in the log,
``config.yaml``) and the reader's warnings.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from detview.session import Session, SessionEvent

from .graphs import GraphsView

__all__ = ["DetailsView", "TrainingWindow"]


class DetailsView(QWidget):
    """Parameters, datasets and origin of one training log of the session."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.run_combo = QComboBox()
        self.run_combo.setMinimumContentsLength(30)
        self.run_combo.setToolTip("The training log whose run is described")
        self.run_combo.currentIndexChanged.connect(self.refresh)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter parameters")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._apply_filter)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the table as tab-separated text")
        self.copy_button.clicked.connect(self.copy)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(2)
        self.tree.setHeaderLabels(["name", "value"])
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.tree.header().resizeSection(0, 300)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.empty = QLabel("No training log opened.")
        self.empty.setStyleSheet("color: gray")
        top = QHBoxLayout()
        top.addWidget(QLabel("Run"))
        top.addWidget(self.run_combo)
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.copy_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(top)
        lay.addWidget(self.empty)
        lay.addWidget(self.tree, 1)

    def set_session(self, session: Session | None) -> None:
        if self.session is not None:
            self.session.unsubscribe(self._on_event)
        self.session = session
        if session is not None:
            session.subscribe(self._on_event)
        self._fill_runs()

    def _on_event(self, ev: SessionEvent) -> None:
        if ev.kind == "training" and ev.name == "logs":
            self._fill_runs()

    def _fill_runs(self) -> None:
        labels = self.session.training.labels if self.session is not None else []
        keep = self.run_combo.currentText()
        self.run_combo.blockSignals(True)
        self.run_combo.clear()
        for k, label in enumerate(labels):
            self.run_combo.addItem(label, k)
            self.run_combo.setItemData(k, self.session.training.logs[k].path  # type: ignore[union-attr]
                                       , Qt.ItemDataRole.ToolTipRole)
        if keep in labels:
            self.run_combo.setCurrentIndex(labels.index(keep))
        self.run_combo.blockSignals(False)
        self.refresh()

    def show_log(self, index: int) -> None:
        self.run_combo.setCurrentIndex(index)

    def refresh(self) -> None:
        self.tree.clear()
        s = self.session
        k = self.run_combo.currentIndex()
        has = s is not None and 0 <= k < len(s.training.logs)
        self.empty.setVisible(not has)
        self.tree.setVisible(has)
        if not has:
            return
        assert s is not None
        sections: dict[str, QTreeWidgetItem] = {}
        for section, name, value in s.training.details(k):
            parent = sections.get(section)
            if parent is None:
                parent = QTreeWidgetItem([section, ""])
                f = parent.font(0)
                f.setBold(True)
                parent.setFont(0, f)
                parent.setFirstColumnSpanned(True)
                self.tree.addTopLevelItem(parent)
                parent.setExpanded(True)
                sections[section] = parent
            item = QTreeWidgetItem([name, value])
            item.setToolTip(0, name)
            item.setToolTip(1, value)
            parent.addChild(item)
        self._apply_filter(self.filter_edit.text())

    def rows(self) -> list[tuple[str, str, str]]:
        """(section, name, value) of the rows shown (filter applied)."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            sec = self.tree.topLevelItem(i)
            for j in range(sec.childCount()):
                c = sec.child(j)
                if not c.isHidden():
                    out.append((sec.text(0), c.text(0), c.text(1)))
        return out

    def _apply_filter(self, text: str) -> None:
        want = text.strip().lower()
        for i in range(self.tree.topLevelItemCount()):
            sec = self.tree.topLevelItem(i)
            shown = 0
            for j in range(sec.childCount()):
                c = sec.child(j)
                hide = bool(want) and want not in (c.text(0) + " " + c.text(1)).lower()
                c.setHidden(hide)
                shown += not hide
            sec.setHidden(shown == 0)

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(
            "\n".join("\t".join(r) for r in self.rows()))


class TrainingWindow(QWidget):
    """A window with the Graphs and Details views of the session's training logs."""

    openLogRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setWindowTitle("Training — detview")
        self.setObjectName("training_window")
        self.graphs = GraphsView()
        self.details = DetailsView()
        self.graphs.openLogRequested.connect(self.openLogRequested)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.graphs, "Graphs")
        self.tabs.addTab(self.details, "Details")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.tabs)
        self.resize(1280, 860)
        QShortcut(QKeySequence("Ctrl+W"), self, activated=self.close)

    def set_session(self, session: Session | None, name: str = "") -> None:
        self.graphs.set_session(session)
        self.details.set_session(session)
        self.setWindowTitle(f"Training — {name or (session.name if session else '')} — detview")
