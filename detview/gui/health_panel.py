"""The Health panel: the dataset check of ``detview check`` (unreadable or truncated
images, sizes that disagree with the file, duplicates, images without labels, boxes
outside the image, tiny boxes, rare classes), each finding a click away from its image.

The check is the session's ``health`` derived value
(:class:`~detview.session.derived.HealthProducer`): it runs in the session's task runner
when asked (Run), with a progress bar and Cancel, and an edit marks the report out of
date. Clicking a finding emits ``openFinding(image, box id)``; clicking a kind emits
``hitsChosen(Hits)`` with its images (the window lists them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from detview.core.drilldown import Hits
from detview.core.health import KINDS, HealthReport
from detview.session import Cancelled, Task, TaskEvent
from detview.session.derived import HealthProducer, add_panel_producers

from .session import QtSession

__all__ = ["HealthPanel"]

_SEVERITY = {"error": QColor(190, 30, 30), "warning": QColor(200, 120, 0),
             "info": QColor(90, 90, 90)}
_MAX_CHILDREN = 1000  # per kind; the rest is one click away in the image list
_SLOT = "recompute:health"


class HealthPanel(QWidget):
    openFinding = Signal(int, int)  # image, box id (-1)  # noqa: N815
    hitsChosen = Signal(object)  # Hits: the images of one kind  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.qs: QtSession | None = None
        self.report: HealthReport | None = None
        self.task: Task[Any] | None = None
        self._runner: Any = None
        self.run_button = QPushButton("Run check")
        self.run_button.setToolTip("Read every image file and check the annotations "
                                   "(as detview check does); runs in the background")
        self.run_button.clicked.connect(self.run)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(200)
        self.progress.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setVisible(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.status = QLabel("Not checked yet: Run check reads every image once.")
        self.status.setStyleSheet("color: gray")
        self.status.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["finding", "image", "box"])
        hh = self.tree.header()
        hh.setStretchLastSection(False)
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Interactive)
        self.tree.setColumnWidth(1, 200)
        self.tree.setColumnWidth(2, 60)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemActivated.connect(self._clicked)
        top = QHBoxLayout()
        top.addWidget(self.run_button)
        top.addWidget(self.progress)
        top.addWidget(self.cancel_button)
        top.addWidget(self.status, 1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(self.tree, 1)

    # ================================================================== session
    def set_session(self, qs: QtSession | None) -> None:
        if self.qs is not None:
            try:
                self.qs.derivedChanged.disconnect(self._on_derived)
                self.qs.imagesChanged.disconnect(self._on_edit)
            except (RuntimeError, TypeError):
                pass
        if self._runner is not None:
            self._runner.unsubscribe(self._on_task)
            self._runner = None
        self.qs = qs
        self.report = None
        self.task = None
        self.tree.clear()
        self._show_progress(False)
        if qs is None:
            self.status.setText("Open a dataset to check it.")
            return
        add_panel_producers(qs.session.derived)
        qs.derivedChanged.connect(self._on_derived)
        qs.imagesChanged.connect(self._on_edit)
        self._runner = qs.session.runner
        self._runner.subscribe(self._on_task)
        self.status.setText("Not checked yet: Run check reads every image once "
                            "(in the background; Cancel stops it).")
        self.run_button.setText("Run check")
        self._on_derived("health")

    @property
    def session(self) -> Any:
        return self.qs.session if self.qs is not None else None

    def run(self) -> Task[Any] | None:
        """Start the check (again)."""
        s = self.session
        if s is None:
            return None
        p = s.derived.producer("health")
        if s.derived.is_current("health") and isinstance(p, HealthProducer):
            p.again()  # asked again: the files may have changed on disk
        task = s.derived.request("health", sync=False)
        self.task = task
        if task is not None:
            self._show_progress(True)
            self.status.setText(f"Checking {s.dataset.n_images:,} images…")
        return task

    def cancel(self) -> None:
        if self.task is not None and not self.task.done:
            self.task.cancel()

    def is_idle(self) -> bool:
        return self.task is None or self.task.done

    # ================================================================== events
    def _on_task(self, ev: TaskEvent) -> None:
        t = ev.task
        if t.slot != _SLOT:
            return
        if ev.what == "started":
            self.task = t
            self._show_progress(True)
        elif ev.what == "progress":
            done, total = t.progress
            self.progress.setRange(0, max(total, 1))
            self.progress.setValue(done)
            self.progress.setFormat(f"{done:,} / {total:,} images")
        elif ev.what == "finished" and t is self.task:
            self._show_progress(False)
            if t.error is not None:
                cancelled = t.cancelled or isinstance(t.error, Cancelled)
                self.status.setText("Check cancelled: the findings below are from the last "
                                    "complete check." if cancelled and self.report is not None
                                    else "Check cancelled." if cancelled
                                    else f"Check failed: {t.error}")

    def _show_progress(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel_button.setVisible(on)
        self.run_button.setEnabled(not on)
        if on:
            self.progress.setRange(0, 0)

    def _on_edit(self, _touched: Any) -> None:
        if self.report is not None:
            self._update_status()

    def _on_derived(self, name: str) -> None:
        if name != "health":
            return
        s = self.session
        rep = s.derived.latest("health") if s is not None else None
        if rep is not None and rep is not self.report:
            self.report = rep
            self._fill(rep)
        self._update_status()

    def _update_status(self) -> None:
        s, rep = self.session, self.report
        if s is None or rep is None:
            return
        counts = rep.counts()
        problems = sum(v for k, v in counts.items() if KINDS[k].severity != "info")
        text = (f"{rep.n_images:,} images, {rep.n_boxes:,} boxes checked: "
                + (f"{problems:,} problem{'s' if problems != 1 else ''}" if problems
                   else "no problem found"))
        if not s.derived.is_current("health"):
            text += " · edited since: Run again to update"
        self.status.setText(text)
        self.run_button.setText("Run again")

    # ================================================================== tree
    def _fill(self, rep: HealthReport) -> None:
        t = self.tree
        t.setUpdatesEnabled(False)
        t.clear()
        bold = QFont()
        bold.setBold(True)
        by_kind: dict[str, list[Any]] = {}
        for f in rep.findings:
            by_kind.setdefault(f.kind, []).append(f)
        rank = {"error": 0, "warning": 1, "info": 2}
        found_kinds = sorted((k for k in KINDS if k in rep.checked and by_kind.get(k)),
                             key=lambda k: rank[KINDS[k].severity])
        clean = [k for k in KINDS if k in rep.checked and not by_kind.get(k)]
        for n, kind in enumerate(found_kinds):  # problems first, the worst on top
            found = by_kind[kind]
            info = KINDS[kind]
            top = QTreeWidgetItem([f"{info.title} ({len(found):,})", "", ""])
            top.setData(0, Qt.ItemDataRole.UserRole, ("kind", kind))
            top.setToolTip(0, f"{info.severity}: {info.help}\nClick: list these images")
            top.setFont(0, bold)
            top.setForeground(0, QBrush(_SEVERITY[info.severity]))
            t.addTopLevelItem(top)
            for f in found[:_MAX_CHILDREN]:
                child = QTreeWidgetItem([f.message, f.file_name,
                                         str(f.box_id) if f.box_id >= 0 else ""])
                child.setData(0, Qt.ItemDataRole.UserRole, ("finding", f.image, f.box_id))
                child.setToolTip(0, f"{f}\nClick: open the image"
                                 + (" with the box selected" if f.box_id >= 0 else ""))
                top.addChild(child)
            if len(found) > _MAX_CHILDREN:
                more = QTreeWidgetItem([f"… {len(found) - _MAX_CHILDREN:,} more: click the "
                                        "kind to list all its images", "", ""])
                more.setForeground(0, QBrush(QColor(120, 120, 120)))
                top.addChild(more)
            top.setExpanded(n == 0 or (info.severity != "info" and len(found) <= 50))
        if clean:
            ok = QTreeWidgetItem([f"✓ No problem found by {len(clean)} check"
                                  f"{'s' if len(clean) != 1 else ''}", "", ""])
            ok.setForeground(0, QBrush(QColor(40, 140, 60)))
            ok.setFont(0, bold)
            ok.setToolTip(0, "\n".join(f"{KINDS[k].title}: {KINDS[k].help}" for k in clean))
            for k in clean:
                c = QTreeWidgetItem([KINDS[k].title, "", ""])
                c.setForeground(0, QBrush(QColor(40, 140, 60)))
                c.setToolTip(0, KINDS[k].help)
                ok.addChild(c)
            t.addTopLevelItem(ok)
        t.setUpdatesEnabled(True)

    def _clicked(self, item: QTreeWidgetItem, _col: int = 0) -> None:
        data = item.data(0, Qt.ItemDataRole.UserRole)
        if not data:
            return
        if data[0] == "finding" and data[1] >= 0:
            self.openFinding.emit(int(data[1]), int(data[2]))
        elif data[0] == "kind":
            self.hitsChosen.emit(self.kind_hits(data[1]))

    def kind_hits(self, kind: str) -> Hits:
        """The images (and boxes) of one kind of finding."""
        rep = self.report
        found = [f for f in (rep.findings if rep is not None else []) if f.kind == kind
                 and f.image >= 0]
        images = [f.image for f in found]
        boxes = [f.box_id for f in found]
        seen = set(images)
        for f in found:  # the other copies of a duplicate
            for r in f.related:
                if r not in seen:
                    seen.add(r)
                    images.append(r)
                    boxes.append(-1)
        return Hits.of(f"health: {KINDS[kind].title.lower()}",
                       np.array(images, dtype=np.int64), np.array(boxes, dtype=np.int64))

    def items(self) -> list[tuple[str, list[str]]]:
        """(kind row text, its children's texts) as shown (tests)."""
        out = []
        for k in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(k)
            out.append((top.text(0), [top.child(j).text(0) for j in range(top.childCount())]))
        return out
