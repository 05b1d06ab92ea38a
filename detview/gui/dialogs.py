"""Dialogs: class picker, open, export options, keyboard shortcuts; the summary panel."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from detview.io.spec import CLASS_MAPS, DatasetSpec, parse_class_names, parse_pred_args

from .box_item import class_color
from .shortcuts import rows as shortcut_rows

__all__ = ["ClassPicker", "ExportDialog", "OpenDialog", "ShortcutsDialog", "SummaryPanel"]


def _finish_form_dialog(dialog: QDialog, form: QFormLayout, note_text: str,
                        ok: QDialogButtonBox.StandardButton, size: tuple[int, int]) -> None:
    """Lay out a form dialog: the form, a grey note, OK/Cancel-style buttons."""
    note = QLabel(note_text)
    note.setWordWrap(True)
    note.setStyleSheet("color: gray")
    buttons = QDialogButtonBox(ok | QDialogButtonBox.StandardButton.Cancel)
    buttons.accepted.connect(dialog.accept)
    buttons.rejected.connect(dialog.reject)
    lay = QVBoxLayout(dialog)
    lay.addLayout(form)
    lay.addWidget(note)
    lay.addWidget(buttons)
    dialog.resize(*size)


class ClassPicker(QDialog):
    """Type a few letters, Up/Down to choose, Enter to accept, Esc to cancel."""

    def __init__(self, names: Sequence[str], current: int = -1, title: str = "Class",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setObjectName("ClassPicker")
        self.names = list(names)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("type to filter classes…")
        self.list = QListWidget()
        for k, n in enumerate(self.names):
            it = QListWidgetItem(f"{n}")
            it.setData(Qt.ItemDataRole.UserRole, k)
            it.setForeground(Qt.GlobalColor.black)
            it.setData(Qt.ItemDataRole.DecorationRole, class_color(k))
            it.setToolTip(f"class index {k}")
            self.list.addItem(it)
        lay = QVBoxLayout(self)
        lay.addWidget(self.edit)
        lay.addWidget(self.list)
        hint = QLabel("Enter: choose · Esc: cancel")
        hint.setStyleSheet("color: gray")
        lay.addWidget(hint)
        self.edit.textChanged.connect(self._filter)
        self.edit.installEventFilter(self)
        self.list.itemActivated.connect(lambda _it: self.accept())
        self.list.itemDoubleClicked.connect(lambda _it: self.accept())
        self.resize(320, 420)
        if 0 <= current < len(self.names):
            self.list.setCurrentRow(current)
        else:
            self.list.setCurrentRow(0)

    def _filter(self, text: str) -> None:
        t = text.strip().lower()
        first_prefix, first_any = -1, -1
        for k in range(self.list.count()):
            it = self.list.item(k)
            name = self.names[k].lower()
            ok = t in name
            it.setHidden(not ok)
            if ok and first_any < 0:
                first_any = k
            if ok and first_prefix < 0 and name.startswith(t):
                first_prefix = k
        pick = first_prefix if first_prefix >= 0 else first_any
        if pick >= 0:
            self.list.setCurrentRow(pick)

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        if obj is self.edit and isinstance(ev, QKeyEvent) and ev.type() == QEvent.Type.KeyPress:
            if ev.key() in (Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp,
                            Qt.Key.Key_PageDown):
                step = -1 if ev.key() in (Qt.Key.Key_Up, Qt.Key.Key_PageUp) else 1
                k = self.list.currentRow()
                while True:
                    k += step
                    if not 0 <= k < self.list.count():
                        break
                    if not self.list.item(k).isHidden():
                        self.list.setCurrentRow(k)
                        break
                return True
            if ev.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.accept()
                return True
        return super().eventFilter(obj, ev)

    def chosen(self) -> int:
        it = self.list.currentItem()
        if it is None or it.isHidden():
            return -1
        return int(it.data(Qt.ItemDataRole.UserRole))


class ExportDialog(QDialog):
    """Folder, format and what to do with the images of an export."""

    IMAGE_MODES = (("none", "leave the images where they are"),
                   ("copy", "copy the kept images"),
                   ("link", "link the kept images (hard link or symlink)"))

    def __init__(self, formats: Sequence[str], default_dir: str = "", current: str = "",
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export dataset")
        self.folder = QLineEdit(default_dir)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        self.format = QComboBox()
        self.format.addItems(list(formats))
        if current in formats:
            self.format.setCurrentText(current)
        self.images = QComboBox()
        for key, text in self.IMAGE_MODES:
            self.images.addItem(text, key)
        form = QFormLayout()
        holder = QWidget()
        holder.setLayout(row)
        form.addRow("Folder", holder)
        form.addRow("Format", self.format)
        form.addRow("Images", self.images)
        _finish_form_dialog(self, form, "Deleted images and boxes are left out. A corrections "
                            "log (corrections.jsonl) of every edit is written beside the "
                            "data; `detview apply` replays it on the original files.",
                            QDialogButtonBox.StandardButton.Ok, (560, 200))

    def _browse(self) -> None:
        d = QFileDialog.getExistingDirectory(self, "Export to folder", self.folder.text())
        if d:
            self.folder.setText(d)

    def values(self) -> tuple[Path, str, str]:
        return (Path(self.folder.text()).expanduser(), self.format.currentText(),
                str(self.images.currentData()))


class ShortcutsDialog(QDialog):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        rows = shortcut_rows()  # the README's table is made from the same list
        table = QTableWidget(len(rows), 3)
        table.setHorizontalHeaderLabels(["Group", "Keys", "Action"])
        for r, (g, k, t) in enumerate(rows):
            for c, v in enumerate((g, k, t)):
                item = QTableWidgetItem(v)
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                table.setItem(r, c, item)
        table.verticalHeader().setVisible(False)
        table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        table.setWordWrap(True)
        table.resizeRowsToContents()
        self.table = table
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(table)
        lay.addWidget(buttons)
        self.resize(720, 640)


# ---------------------------------------------------------------------- summary
_TOTAL_COLUMNS = [
    ("run", "run", "Prediction run"),
    ("images", "images", "Images not deleted"),
    ("gt", "GT", "Ground-truth boxes (no crowd, no deleted boxes)"),
    ("pred", "pred", "Predictions kept by the score threshold"),
    ("tp", "TP", "Matched predictions (same class, IoU ≥ the IoU threshold)"),
    ("fp", "FP", "Unmatched predictions"),
    ("fn", "FN", "Ground-truth boxes no prediction matched"),
    ("precision", "P", "Precision = TP / (TP + FP) at the score threshold"),
    ("recall", "R", "Recall = TP / (TP + FN) at the score threshold"),
    ("mean_iou", "mean IoU", "Mean over images of the per-image mean IoU"),
]

def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "–" if math.isnan(v) else f"{v:.3f}"
    return str(v)


class SummaryPanel(QWidget):
    """Per-run totals at the current thresholds (the COCO numbers are in the Analysis
    dock)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.totals = QTableWidget(0, len(_TOTAL_COLUMNS))
        self.totals.setHorizontalHeaderLabels([c[1] for c in _TOTAL_COLUMNS])
        for k, c in enumerate(_TOTAL_COLUMNS):
            self.totals.horizontalHeaderItem(k).setToolTip(c[2])
        self.totals.verticalHeader().setVisible(False)
        self.totals.verticalHeader().setDefaultSectionSize(
            max(20, self.totals.fontMetrics().height() + 4))
        self.totals.setAlternatingRowColors(True)
        self.totals.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.totals.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.params = QLabel()
        self.params.setStyleSheet("color: gray")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(QLabel("<b>Totals per run</b> (current thresholds)"))
        lay.addWidget(self.totals, 1)
        lay.addWidget(self.params)

    def set_totals(self, rows: list[dict[str, Any]], params_text: str) -> None:
        self.totals.setRowCount(len(rows))
        for r, row in enumerate(rows):
            vals = dict(row)
            gt_only = row["run"] == "(ground truth only)"
            for c, (key, _t, _tip) in enumerate(_TOTAL_COLUMNS):
                shown = vals[key] if not gt_only or key in ("run", "images", "gt") else "–"
                item = QTableWidgetItem(_fmt(shown))
                if key != "run":
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.totals.setItem(r, c, item)
        self.params.setText(params_text)


class OpenDialog(QDialog):
    """Images folder, ground truth, prediction files, class names, how prediction
    classes map to the ground truth's, per-image loss CSV: a
    :class:`~detview.io.spec.DatasetSpec`, as ``detview open`` options make one."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open dataset")
        self.images = QLineEdit()
        self.gt = QLineEdit()
        self.gt.setToolTip("A COCO json, a YOLO labels folder or data.yaml, a VOC "
                           "Annotations folder, LabelMe/CVAT/CSV; or a whole dataset folder")
        self.preds = QLineEdit()
        self.preds.setToolTip("One or more prediction files, separated by ';'. "
                              "Name a run with NAME=PATH.")
        self.names = QLineEdit()
        self.names.setPlaceholderText("from the dataset (optional)")
        self.names.setToolTip("Class names for YOLO labels: a data.yaml / classes.txt path, "
                              "or names separated by commas")
        self.class_map = QComboBox()
        for key, text in CLASS_MAPS.items():
            self.class_map.addItem(f"{key} — {text}", key)
        self.class_map.setToolTip("How the class ids of the prediction files map to the "
                                  "ground truth's classes (--class-map)")
        self.loss = QLineEdit()
        form = QFormLayout()
        for label, edit, kind in (("Images folder", self.images, "dir"),
                                  ("Ground truth", self.gt, "file"),
                                  ("Predictions", self.preds, "files"),
                                  ("Class names", self.names, "file"),
                                  ("Per-image loss (optional)", self.loss, "file")):
            row = QHBoxLayout()
            row.setContentsMargins(0, 0, 0, 0)
            row.addWidget(edit, 1)
            b = QPushButton("Browse…")
            b.clicked.connect(lambda _c=False, e=edit, k=kind: self._browse(e, k))
            row.addWidget(b)
            holder = QWidget()
            holder.setLayout(row)
            form.addRow(label, holder)
            if edit is self.names:
                form.addRow("Prediction classes", self.class_map)
        _finish_form_dialog(self, form, "Formats are detected from the files (COCO, YOLO, VOC, "
                            "LabelMe, CVAT, CSV). Ground truth may also be a whole dataset "
                            "folder. The same options as `detview open --help`.",
                            QDialogButtonBox.StandardButton.Open, (680, 290))

    def _browse(self, edit: QLineEdit, kind: str) -> None:
        if kind == "dir":
            d = QFileDialog.getExistingDirectory(self, "Images folder", edit.text())
            if d:
                edit.setText(d)
        elif kind == "files":
            files, _ = QFileDialog.getOpenFileNames(self, "Prediction files")
            if files:
                edit.setText(";".join(files))
        else:
            f, _ = QFileDialog.getOpenFileName(self, "File", edit.text())
            if f:
                edit.setText(f)

    def set_spec(self, spec: DatasetSpec) -> None:
        """Fill the fields in from ``spec`` (files dropped on the window)."""
        self.images.setText(spec.images or "")
        self.gt.setText(spec.gt or "")
        self.preds.setText("; ".join(f"{n}={p}" if n else str(p) for n, p in spec.preds))
        self.loss.setText(spec.loss or "")
        if isinstance(spec.class_names, str):
            self.names.setText(spec.class_names)
        elif spec.class_names:
            self.names.setText(", ".join(spec.class_names))
        k = self.class_map.findData(spec.class_map or "auto")
        if k >= 0:
            self.class_map.setCurrentIndex(k)

    def spec(self) -> DatasetSpec:
        def path(e: QLineEdit) -> Path | None:
            t = e.text().strip()
            return Path(t).expanduser() if t else None

        items = [t.strip() for t in self.preds.text().split(";") if t.strip()]
        return DatasetSpec.make(images=path(self.images), gt=path(self.gt),
                                preds=parse_pred_args(items), loss=path(self.loss),
                                class_map=str(self.class_map.currentData()),
                                class_names=parse_class_names(self.names.text()))
