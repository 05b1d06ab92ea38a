"""The left pane: the filter box, the image list and its count."""

from __future__ import annotations

from PySide6.QtCore import (
    QEvent,
    QItemSelectionModel,
    QModelIndex,
    QObject,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from .image_table import WORST_FIRST_DESCENDING, ImageTableModel
from .session import QtSession

__all__ = ["ImageListPane"]

_FILTER_LEAVE_KEYS = (Qt.Key.Key_Tab, Qt.Key.Key_Backtab, Qt.Key.Key_Return, Qt.Key.Key_Enter,
                      Qt.Key.Key_Escape)
_METRIC_KEYS = ("n_pred", "tp", "fp", "fn", "mean_iou")
_FOLLOW_TYPING_MS = 150


class ImageListPane(QWidget):
    """Filter, sort and choose an image. ``imageChosen(i)`` when the current row moves
    to another image."""

    imageChosen = Signal(int)  # noqa: N815
    #: rows were filtered, sorted or edited: positions and counts may have changed
    listChanged = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model: ImageTableModel | None = None
        self.current_image = -1
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: file name, #tag, class:NAME, reviewed, "
                                            "unreviewed, deleted  (Ctrl+F)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._on_filter)
        self.filter_edit.textEdited.connect(self._on_typed)
        # while the user types, the first matching image is shown once typing pauses
        # (not one image per keystroke)
        self._typed = False
        self._follow_timer = QTimer(self)
        self._follow_timer.setSingleShot(True)
        self._follow_timer.setInterval(_FOLLOW_TYPING_MS)
        self._follow_timer.timeout.connect(self._follow_filter)
        self.filter_edit.installEventFilter(self)
        t = self.table = QTableView()
        t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        t.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        t.setSortingEnabled(False)  # sorting through the header, in the model
        t.horizontalHeader().setSortIndicatorShown(True)
        t.horizontalHeader().setSectionsClickable(True)
        t.horizontalHeader().sectionClicked.connect(self.header_clicked)
        t.verticalHeader().setVisible(False)
        # rows as tall as the font needs (a 150% or 200% desktop font stays readable)
        t.verticalHeader().setDefaultSectionSize(max(22, t.fontMetrics().height() + 6))
        # one height for every row: the view never measures 100k rows one by one
        t.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        t.setAlternatingRowColors(True)
        t.setWordWrap(False)
        t.setTextElideMode(Qt.TextElideMode.ElideLeft)  # keep the distinct end
        self.count = QLabel()
        self.count.setStyleSheet("color: gray")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 0, 4)
        lay.addWidget(self.filter_edit)
        lay.addWidget(t, 1)
        lay.addWidget(self.count)

    # ------------------------------------------------------------------ session
    def set_session(self, qs: QtSession | None) -> None:
        old = self.model
        self.current_image = -1
        self.model = ImageTableModel(qs, self) if qs is not None else None
        self.table.setModel(self.model)
        if old is not None:
            old.deleteLater()
        if self.model is None or qs is None:
            self.update_count()
            return
        self._size_columns()
        no_runs = not qs.session.run_names  # nothing to compare
        for c, col in enumerate(self.model.columns):
            self.table.setColumnHidden(c, no_runs and col.key in _METRIC_KEYS)
        self.table.selectionModel().currentRowChanged.connect(self._on_row_changed)
        qs.imagesChanged.connect(lambda _t: self.update_count())
        QTimer.singleShot(0, self.model.warm_up)  # the filter's arrays, once shown
        self.model.layoutChanged.connect(self.update_count)  # filters, masks, sorts
        self.update_count()

    def _size_columns(self) -> None:
        """Fixed widths from the header and a sample of rows, computed once: Qt's
        ResizeToContents would query every row on each edit (seconds at 20k images)."""
        assert self.model is not None
        hh = self.table.horizontalHeader()
        hh.setMinimumSectionSize(28)
        fm = self.table.fontMetrics()
        bold = hh.fontMetrics()
        n = self.model.rowCount()
        rows = range(0, n, max(1, n // 300))
        for c in range(1, self.model.columnCount()):
            title = str(self.model.headerData(c, Qt.Orientation.Horizontal))
            width = bold.horizontalAdvance(title) + 22  # sort arrow
            # status: room for the compact form (deleted, reviewed, a tag), rarely full
            samples = ["✗ ✓ #occluded+2"] if self.model.columns[c].key == "status" else (
                self.model.data(self.model.index(r, c)) for r in rows)
            for text in samples:
                width = max(width, fm.horizontalAdvance(str(text or "")) + 12)
            if self.model.columns[c].fmt == ".3f":  # filled later (analysis columns)
                width = max(width, fm.horizontalAdvance("0.000") + 12)
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
            hh.resizeSection(c, min(width, 260))
        if any(col.key == "ap" for col in self.model.columns):
            # the analysis columns make the list wider than its pane: keep the file
            # name readable and scroll sideways to them
            hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
            hh.resizeSection(0, 140)
        else:  # the file name takes the rest (elided on the left)
            hh.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        hh.setStretchLastSection(False)
        if self.model.sort_key is None:  # no arrow until the list is sorted
            hh.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)

    def preferred_width(self) -> int:
        """Width that shows the file name and the counts up to mean IoU without
        scrolling sideways (0 before a dataset)."""
        if self.model is None:
            return 0
        hh = self.table.horizontalHeader()
        keys = [c.key for c in self.model.columns]
        last = keys.index("mean_iou") if "mean_iou" in keys else len(keys) - 1
        if self.table.isColumnHidden(last):
            last = keys.index("n_gt") if "n_gt" in keys else last
        w = sum(hh.sectionSize(c) for c in range(last + 1) if not self.table.isColumnHidden(c))
        if hh.sectionResizeMode(0) == QHeaderView.ResizeMode.Stretch:
            w += 140 - hh.sectionSize(0)  # a readable file name
        sb = self.table.verticalScrollBar().sizeHint().width()
        return w + sb + 2 * self.table.frameWidth() + 8

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        """Keys typed in the filter box go to the filter: no window shortcut fires from
        there (Tab would select boxes, Esc clear them). Tab, Enter and Esc go back to
        the image list."""
        if obj is self.filter_edit and isinstance(ev, QKeyEvent):
            plain = not (ev.modifiers() & Qt.KeyboardModifier.ControlModifier)
            if ev.type() == QEvent.Type.ShortcutOverride:
                if ev.key() in _FILTER_LEAVE_KEYS and plain:
                    ev.accept()  # ours, not a shortcut's
                    return True
            elif ev.type() == QEvent.Type.KeyPress and ev.key() in _FILTER_LEAVE_KEYS and plain:
                self.table.setFocus(Qt.FocusReason.TabFocusReason)
                return True
        return super().eventFilter(obj, ev)

    # ------------------------------------------------------------------ sorting
    def header_clicked(self, section: int) -> None:
        if self.model is None:
            return
        prev = self.model.sort_key
        if prev is not None and prev[0] == section:
            order = (Qt.SortOrder.DescendingOrder if prev[1] == Qt.SortOrder.AscendingOrder
                     else Qt.SortOrder.AscendingOrder)
        else:
            # numbers that signal trouble sort worst first: low IoU, many FP/FN
            desc = self.model.columns[section].key in WORST_FIRST_DESCENDING
            order = Qt.SortOrder.DescendingOrder if desc else Qt.SortOrder.AscendingOrder
        self.sort_by(section, order)

    def sort_by(self, column: int | str, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder,
                select_first: bool = False) -> None:
        if self.model is None:
            return
        if isinstance(column, str):
            column = [c.key for c in self.model.columns].index(column)
        self.model.sort(column, order)
        self.table.horizontalHeader().setSortIndicator(column, order)
        self.update_count()
        if select_first:
            self.select_row(0)
        else:
            r = self.model.row_of(self.current_image)
            if r >= 0:
                self.table.scrollTo(self.model.index(r, 0))

    # ------------------------------------------------------------------ filter
    def _on_typed(self, _text: str) -> None:
        self._typed = True  # textChanged (after this) comes from a keystroke

    def _on_filter(self, text: str) -> None:
        if self.model is None:
            return
        typed, self._typed = self._typed, False
        self.model.set_filter(text)
        self.update_count()
        if typed:
            self._follow_timer.start()
        else:
            self._follow_timer.stop()
            self._follow_filter()

    def _follow_filter(self) -> None:
        """The current image filtered out: show the first one that is in."""
        if self.model is None:
            return
        r = self.model.row_of(self.current_image)
        if r < 0 and self.model.rowCount():
            self.select_row(0)
        elif r >= 0:
            self.table.scrollTo(self.model.index(r, 0))

    def update_count(self) -> None:
        m = self.model
        if m is None:
            self.count.setText("")
            return
        im = m.session.dataset.images
        n_del = int(im.deleted.sum())
        where = " (listed last)" if n_del and m.sort_key is not None else ""
        self.count.setText(f"{m.rowCount()} of {len(im)} images shown · "
                           f"{int(im.reviewed.sum())} reviewed · {n_del} deleted{where}")
        self.listChanged.emit()

    # ------------------------------------------------------------------ choosing
    def select_row(self, row: int) -> None:
        if self.model is None or not 0 <= row < self.model.rowCount():
            return
        idx = self.model.index(row, 0)
        self.table.selectionModel().setCurrentIndex(
            idx, QItemSelectionModel.SelectionFlag.ClearAndSelect
            | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(idx)

    def select_image(self, image: int) -> None:
        if self.model is None:
            return
        r = self.model.row_of(image)
        if r < 0:  # filtered out: clear the filter
            self.filter_edit.clear()
            r = self.model.row_of(image)
        self.select_row(r)

    def step_image(self, step: int) -> None:
        if self.model is None or not self.model.rowCount():
            return
        r = self.model.row_of(self.current_image)
        self.select_row(min(max(r + step, 0), self.model.rowCount() - 1))

    def _on_row_changed(self, current: QModelIndex, _prev: QModelIndex) -> None:
        if self.model is None or not current.isValid():
            return
        i = self.model.image_at(current.row())
        if i != self.current_image:
            self.current_image = i
            self.imageChosen.emit(i)
