"""Dataset-wide class edits, box attributes and the review walk: Edit > Rename or merge
a class (F2), Edit > Box attributes (I), Image > Next unreviewed (U) and the
auto-advance after marking an image reviewed. Each change is one edit record through
the :class:`~detview.session.Session` (one undo step). Mixed into
:class:`~detview.gui.main_window.MainWindow`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from detview.core.edits import BOX_ATTRIBUTES

from .box_item import class_color
from .wording import count

if TYPE_CHECKING:
    from detview.session import Session

    from .settings import AppSettings
    from .viewer import SideBySideViewer

__all__ = ["ATTRIBUTE_TEXT", "ClassEditDialog", "ClassToolsMixin"]

ATTRIBUTE_TEXT = {
    "iscrowd": ("&Crowd (iscrowd)", "A crowd region: matching ignores it (COCO iscrowd)"),
    "difficult": ("&Difficult", "Hard to recognise (VOC difficult)"),
    "truncated": ("&Truncated", "The object continues outside the box (VOC truncated)"),
    "occluded": ("&Occluded", "Partly hidden by something else (VOC/CVAT occluded)"),
}


class ClassEditDialog(QDialog):
    """Pick a class, type its new name. A name another class has merges the two."""

    def __init__(self, names: Sequence[str], counts: Sequence[int], current: int = 0,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Rename or merge a class")
        self.setObjectName("ClassEditDialog")
        self.names = list(names)
        self.list = QListWidget()
        for k, (n, c) in enumerate(zip(self.names, counts, strict=True)):
            it = QListWidgetItem(f"{n}   ({count(int(c), 'box')})")
            it.setData(Qt.ItemDataRole.UserRole, k)
            it.setData(Qt.ItemDataRole.DecorationRole, class_color(k))
            self.list.addItem(it)
        self.name = QLineEdit()
        self.name.setPlaceholderText("new name, or the name of the class to merge it into")
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: gray")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Class"))
        lay.addWidget(self.list, 1)
        lay.addWidget(QLabel("New name"))
        lay.addWidget(self.name)
        lay.addWidget(self.note)
        lay.addWidget(self.buttons)
        self.list.currentRowChanged.connect(self._on_class)
        self.name.textChanged.connect(self._update)
        self.list.setCurrentRow(max(0, min(current, len(self.names) - 1)))
        self.resize(420, 520)
        self.name.setFocus()

    def _on_class(self, row: int) -> None:
        if 0 <= row < len(self.names):
            self.name.setText(self.names[row])
            self.name.selectAll()
        self._update()

    def source(self) -> int:
        return self.list.currentRow()

    def target(self) -> int:
        """The class the typed name belongs to (-1: a new name)."""
        text = self.name.text().strip()
        return self.names.index(text) if text in self.names else -1

    def action(self) -> str:
        """``rename``, ``merge`` or ``""`` (nothing to do)."""
        k, text = self.source(), self.name.text().strip()
        if k < 0 or not text or text == self.names[k]:
            return ""
        return "merge" if self.target() >= 0 else "rename"

    def _update(self) -> None:
        ok = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        act = self.action()
        k = self.source()
        if act == "merge":
            ok.setText("&Merge")
            self.note.setText(f"Every ground-truth box of '{self.names[k]}' becomes "
                              f"'{self.names[self.target()]}', in the whole dataset (one undo "
                              f"step). '{self.names[k]}' stays in the class list, empty; "
                              "predictions keep their classes.")
        else:
            ok.setText("&Rename")
            self.note.setText("The class is renamed everywhere: the boxes, the lists, and "
                              "the class names of every export (one undo step)."
                              if act else "Type a new name.")
        ok.setEnabled(bool(act))


class ClassToolsMixin:
    """Rename/merge a class, box attributes, next unreviewed, auto-advance."""

    if TYPE_CHECKING:
        session: Session | None
        viewer: SideBySideViewer
        current_image: int
        settings: AppSettings
        images: Any

        def flash(self, text: str, ms: int = 4000, level: str = "info") -> None: ...
        def select_image(self, image: int) -> None: ...
        def activateWindow(self) -> None: ...  # noqa: N802

    # ================================================================== classes
    def ask_class_edit(self, current: int) -> tuple[str, int, int] | None:
        """The dialog; (action, source class, target class or -1) or None."""
        s = self.session
        assert s is not None
        dlg = ClassEditDialog(s.dataset.classes.names, s.class_counts().tolist(), current,
                              self)  # type: ignore[arg-type]
        ok = dlg.exec()
        out = (dlg.action(), dlg.source(), dlg.target()) if ok and dlg.action() else None
        self._class_edit_name = dlg.name.text().strip()
        dlg.deleteLater()
        self.activateWindow()
        return out

    def rename_or_merge_class(self) -> None:
        s = self.session
        if s is None:
            return
        sel = self.viewer.gt_pane.selected
        current = 0
        if sel:
            _, cls, _ = s.gt_boxes(sel[:1])
            current = int(cls[0])
        answer = self.ask_class_edit(current)
        if answer is None:
            return
        action, src, dst = answer
        names = s.dataset.classes.names
        if action == "merge":
            n = int(s.class_counts()[src])
            if s.merge_classes([src], dst):
                self.flash(f"Merged '{names[src]}' into '{names[dst]}' "
                           f"({count(n, 'box')}); Ctrl+Z undoes it", 6000)
        elif s.rename_class(src, self._class_edit_name):
            self.flash(f"Renamed the class to '{self._class_edit_name}'; Ctrl+Z undoes it",
                       6000)

    # ================================================================== attributes
    def attribute_menu(self) -> QMenu | None:
        """The menu of the selected boxes' attributes (checked: set on every one)."""
        s = self.session
        ids = list(self.viewer.gt_pane.selected)
        if s is None or not ids:
            self.flash("Select ground-truth boxes first (click, Tab, Ctrl+A)", 3000)
            return None
        m = QMenu(self)  # type: ignore[arg-type]
        m.setObjectName("AttributeMenu")
        m.setToolTipsVisible(True)
        for name in BOX_ATTRIBUTES:
            vals = s.box_attribute(ids, name)
            on = all(v == 1 for v in vals)
            some = any(v == 1 for v in vals)
            text, tip = ATTRIBUTE_TEXT[name]
            a = QAction(text + ("  (some)" if some and not on else ""), m)
            a.setCheckable(True)
            a.setChecked(on)
            a.setToolTip(tip)
            a.setData(name)
            a.triggered.connect(lambda checked, nm=name: self.set_attribute(nm, checked))
            m.addAction(a)
        return m

    def box_attributes(self) -> None:
        m = self.attribute_menu()
        if m is not None:
            self._attribute_menu = m
            m.popup(QCursor.pos())

    def set_attribute(self, name: str, on: bool) -> bool:
        s = self.session
        ids = list(self.viewer.gt_pane.selected)
        if s is None or not ids:
            return False
        done = s.set_box_attribute(ids, name, on)
        if done:
            word = ATTRIBUTE_TEXT[name][0].replace("&", "")
            self.flash(f"{word} {'on' if on else 'off'}: {count(len(ids), 'box')}", 3000)
        return done

    # ================================================================== review
    @property
    def auto_advance(self) -> bool:
        return self.settings.flag("auto_advance", True)

    def set_auto_advance(self, on: bool) -> None:
        self.settings.set_flag("auto_advance", on)

    def next_unreviewed(self) -> bool:
        """U: the next image in the list neither reviewed nor deleted (wrapping)."""
        s, m = self.session, self.images.model
        if s is None or m is None:
            return False
        i = s.next_unreviewed(m.order, self.current_image)
        if i < 0:
            self.flash("Every image in the list is reviewed", 4000)
            return False
        self.select_image(i)
        return True

    def after_reviewed(self, image: int) -> None:
        """Marked reviewed: on to the next unreviewed image when auto-advance is on."""
        if self.auto_advance and image == self.current_image:
            self.next_unreviewed()
