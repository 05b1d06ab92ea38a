"""The object grid: crops of every box a filter names, or thumbnails of the image list.

A :class:`QListView` in icon mode over a model that knows only the rows' numbers; the
delegate asks the :class:`~detview.gui.thumbnails.ThumbnailService` for what it paints,
so only the crops on screen are ever decoded (in workers, draft-mode JPEG, disk cache).
50,000 crops are 50,000 rows of a few numpy arrays.

* Filters: all boxes of a class, missed objects, false positives of one TIDE type,
  suspected swaps / bad boxes / missing labels (label quality), ... (the session's
  :data:`~detview.session.objects.SOURCES`); sorted by score, IoU, label quality, area.
* A click opens the crop's image with its box selected (``openBox``); Ctrl/Shift-click
  and Ctrl+A select many; then one key acts on all of them as one undo step: Delete
  deletes, R relabels, A accepts (predictions become ground truth; a suspected swap
  takes its likely class; other boxes: their images are marked reviewed).
* "Images" shows the image list's thumbnails in its order; a click opens the image.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import (
    QItemSelectionModel,
    QModelIndex,
    QPoint,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QPushButton,
    QSizePolicy,
    QSlider,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from detview.core.drilldown import Hits
from detview.core.objects import SORT_KEYS
from detview.session import objects as batch

from .object_grid_view import (
    GRID_GT,
    GRID_HINT,
    GRID_PRED,
    GridDelegate,
    GridView,
    ObjectGridModel,
)
from .session import QtSession
from .thumbnails import ThumbnailService

__all__ = ["ObjectGrid", "ObjectGridModel"]

_GT, _PRED, _HINT = GRID_GT, GRID_PRED, GRID_HINT
DRILL = "drill"  # the filter of a plot's drill-down (ObjectGrid.show_hits)


class ObjectGrid(QWidget):
    """The grid, its filter and sort controls and its action buttons."""

    openBox = Signal(int, object, object)  # image, gt ids, pred ids  # noqa: N815
    openImage = Signal(int)  # noqa: N815
    modeChanged = Signal(str)  # "objects" | "images"  # noqa: N815

    def __init__(self, service: ThumbnailService | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.qs: QtSession | None = None
        self.service = service if service is not None else ThumbnailService(parent=self)
        self.model = ObjectGridModel(self)
        self.mode = "objects"
        self._waiting: tuple[str, ...] = ()
        #: the drill-down shown as the filter "drill" (:meth:`show_hits`)
        self.hits: Hits | None = None
        self._build()
        self.service.ready.connect(self._thumb_ready)
        self.service.failed.connect(lambda _k, _e: self._thumb_ready(None))
        self._repaint = QTimer(self)  # thumbnails arriving: one repaint per frame
        self._repaint.setSingleShot(True)
        self._repaint.setInterval(16)
        self._repaint.timeout.connect(self.view.viewport().update)
        self._rebuild = QTimer(self)  # edits: rebuild the set once they pause
        self._rebuild.setSingleShot(True)
        self._rebuild.setInterval(150)
        self._rebuild.timeout.connect(self.refresh)
        self._retain = QTimer(self)
        self._retain.setSingleShot(True)
        self._retain.setInterval(40)
        self._retain.timeout.connect(self._drop_offscreen)

    # ================================================================== layout
    def _build(self) -> None:
        self.source = QComboBox()
        self.source.setToolTip("Which boxes to show")
        self.source.currentIndexChanged.connect(lambda _i: self.refresh())
        self.cls = QComboBox()
        self.cls.setToolTip("Only boxes of this class")
        self.cls.currentIndexChanged.connect(lambda _i: self.refresh())
        self.sort = QComboBox()
        for key, (title, _desc) in SORT_KEYS.items():
            self.sort.addItem(f"by {title}", key)
        self.sort.setToolTip("Order of the crops (worst first by default)")
        self.sort.currentIndexChanged.connect(self._sort_changed)
        self.desc = QCheckBox("high first")
        self.desc.setToolTip("Highest values first")
        self.desc.setChecked(True)
        self.desc.toggled.connect(lambda _c: self.refresh())
        self.size_slider = QSlider(Qt.Orientation.Horizontal)
        self.size_slider.setRange(64, 224)
        self.size_slider.setValue(112)
        self.size_slider.setFixedWidth(90)
        self.size_slider.setToolTip("Thumbnail size")
        self.size_slider.valueChanged.connect(self._resize)
        self.objects_button = QToolButton()
        self.objects_button.setText("Objects")
        self.images_button = QToolButton()
        self.images_button.setText("Images")
        group = QButtonGroup(self)
        for b in (self.objects_button, self.images_button):
            b.setCheckable(True)
            group.addButton(b)
        self.objects_button.setChecked(True)
        self.objects_button.setToolTip("Crops of the boxes the filter names")
        self.images_button.setToolTip("Thumbnails of the image list, in its order")
        self.objects_button.clicked.connect(lambda: self.set_mode("objects"))
        self.images_button.clicked.connect(lambda: self.set_mode("images"))
        self.count = QLabel()
        self.count.setStyleSheet("color: gray")
        self.count.setTextFormat(Qt.TextFormat.RichText)
        self.view = GridView()
        v = self.view
        v.setViewMode(QListView.ViewMode.IconMode)
        v.setMovement(QListView.Movement.Static)
        v.setResizeMode(QListView.ResizeMode.Adjust)
        v.setUniformItemSizes(True)
        v.setWrapping(True)
        v.setSpacing(2)
        v.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        v.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        v.setDragEnabled(False)
        v.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        v.verticalScrollBar().setSingleStep(24)
        v.setModel(self.model)
        self.delegate = GridDelegate(self)
        v.setItemDelegate(self.delegate)
        self.model.modelReset.connect(self.delegate.clear)
        v.setGridSize(self.delegate.sizeHint(QStyleOptionViewItem(), QModelIndex()))
        v.clicked.connect(self._clicked)
        v.act.connect(self._act_key)
        v.verticalScrollBar().valueChanged.connect(lambda _v: self._retain.start())
        v.selectionModel().selectionChanged.connect(lambda *_a: self._update_buttons())
        self.delete_button = QPushButton("Delete")
        self.delete_button.setToolTip("Delete the selected ground-truth boxes (Del): one undo "
                                      "step")
        self.delete_button.clicked.connect(self.delete_selected)
        self.relabel_button = QPushButton("Relabel…")
        self.relabel_button.setToolTip("Give the selected ground-truth boxes another class "
                                       "(R): one undo step")
        self.relabel_button.clicked.connect(lambda: self.relabel_menu())
        self.accept_button = QPushButton("Accept")
        self.accept_button.setToolTip(
            "A: selected predictions become ground truth; suspected swaps take their likely "
            "class; other boxes: their images are marked reviewed. One undo step.")
        self.accept_button.clicked.connect(self.accept_selected)
        self.selection_label = QLabel()
        for c in (self.source, self.cls, self.sort):  # the dock fits a narrow window
            c.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            c.setMinimumContentsLength(10)
        self.count.setMinimumWidth(60)
        self.count.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        top = QHBoxLayout()
        top.setSpacing(4)
        for w in (self.objects_button, self.images_button, self.source, self.cls, self.sort,
                  self.desc):
            top.addWidget(w)
        top.addStretch(1)
        top.addWidget(QLabel("size"))
        top.addWidget(self.size_slider)
        bottom = QHBoxLayout()
        bottom.addWidget(self.count, 1)
        bottom.addWidget(self.selection_label)
        for w in (self.delete_button, self.relabel_button, self.accept_button):
            bottom.addWidget(w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(top)
        lay.addWidget(v, 1)
        lay.addLayout(bottom)
        self._update_buttons()

    # ================================================================== session
    def set_session(self, qs: QtSession | None) -> None:
        old = self.qs
        if old is not None:
            for sig, slot in ((old.imagesChanged, self._edited),
                              (old.derivedChanged, self._derived),
                              (old.settingsChanged, self._settings)):
                try:
                    sig.disconnect(slot)
                except (RuntimeError, TypeError):
                    pass
        self.qs = qs
        self.hits = None
        self.model.qs = qs
        self.model._paths = {}
        self.model._reset_caches()
        if qs is not None:
            qs.imagesChanged.connect(self._edited)
            qs.derivedChanged.connect(self._derived)
            qs.settingsChanged.connect(self._settings)
        self._fill_choices()
        self.refresh()

    def _fill_choices(self) -> None:
        s = self.qs.session if self.qs is not None else None
        cur_src, cur_cls = self.source.currentData(), self.cls.currentData()
        for c in (self.source, self.cls):
            c.blockSignals(True)
            c.clear()
        if s is not None:
            if self.hits is not None:  # a plot's drill-down, first
                self.source.addItem(f"Drill-down: {self.hits.label}", DRILL)
                self.source.setItemData(0, "exactly the boxes the drill-down selects",
                                        Qt.ItemDataRole.ToolTipRole)
            for src in batch.available(s):
                self.source.addItem(src.title, src.key)
                self.source.setItemData(self.source.count() - 1, src.help,
                                        Qt.ItemDataRole.ToolTipRole)
            self.cls.addItem("all classes", None)
            for k, n in enumerate(s.dataset.classes.names):
                self.cls.addItem(n, k)
        i = self.source.findData(cur_src) if cur_src is not None else -1
        self.source.setCurrentIndex(max(i, 0))
        j = self.cls.findData(cur_cls) if cur_cls is not None else 0
        self.cls.setCurrentIndex(max(j, 0))
        for c in (self.source, self.cls):
            c.blockSignals(False)

    def choose(self, source: str, cls: int | None = None, sort: str | None = None,
               descending: bool | None = None) -> None:
        """Show ``source`` (a key of :data:`~detview.session.objects.SOURCES`)."""
        for c in (self.source, self.cls, self.sort, self.desc):
            c.blockSignals(True)
        if self.source.findData(source) < 0 and self.qs is not None:
            self._fill_choices()
        self.source.setCurrentIndex(max(self.source.findData(source), 0))
        self.cls.setCurrentIndex(max(self.cls.findData(cls), 0) if cls is not None else 0)
        if sort is not None:
            self.sort.setCurrentIndex(max(self.sort.findData(sort), 0))
            self.desc.setChecked(SORT_KEYS[sort][1] if descending is None else descending)
        for c in (self.source, self.cls, self.sort, self.desc):
            c.blockSignals(False)
        self.set_mode("objects", refresh=False)
        self.refresh()

    def show_hits(self, hits: Hits | None) -> None:
        """Show exactly the boxes of a plot's drill-down (None: back to the first
        filter); the filter menu gets a "Drill-down: ..." entry while it holds."""
        self.hits = hits if hits is not None and len(hits) else None
        self._fill_choices()
        self.choose(DRILL if self.hits is not None else (self.source.itemData(0) or "gt"))

    def _edited(self, _touched: Any) -> None:
        if self.mode == "objects":
            self._rebuild.start()
        else:
            self.view.viewport().update()

    def _derived(self, name: str) -> None:
        if name in self._waiting or (name in ("errors", "matches", "label_quality")
                                     and self.isVisible()):
            if name == "label_quality" and self.source.findData("lq:swap") < 0:
                self._fill_choices()
            self._rebuild.start()

    def _settings(self) -> None:
        self._fill_choices()
        self._rebuild.start()

    # ================================================================== content
    def set_mode(self, mode: str, refresh: bool = True) -> None:
        self.mode = mode
        (self.objects_button if mode == "objects" else self.images_button).setChecked(True)
        for w in (self.source, self.cls, self.sort, self.desc, self.delete_button,
                  self.relabel_button, self.accept_button):
            w.setVisible(mode == "objects")
        self.modeChanged.emit(mode)
        if refresh and mode == "objects":
            self.refresh()

    def set_images(self, order: np.ndarray) -> None:
        """Images mode: thumbnails of these images in this order."""
        first = self._first_visible_key()
        self.model.set_images(order)
        self.count.setText(f"{len(order):,} images (the list's order)")
        self._restore(first)

    def refresh(self) -> None:
        """Rebuild the crops of the chosen filter (keeping the scroll position)."""
        self._rebuild.stop()
        if self.mode != "objects":
            return
        s = self.qs.session if self.qs is not None else None
        src = self.source.currentData()
        if s is None or src is None:
            self.model.set_objects(None)
            self.count.setText("Open a dataset with predictions to see its boxes"
                               if s is None else "")
            return
        cls = self.cls.currentData()
        if src == DRILL and self.hits is not None:
            objs = batch.drilled_objects(s, self.hits, cls)
        else:
            objs = batch.object_set(s, src, cls)
        if objs is None:
            self._waiting = batch.needs(src)
            for n in self._waiting:
                s.derived.want(n)
            self.model.set_objects(None)
            self.count.setText("Computing the numbers this filter needs…")
            return
        self._waiting = ()
        first = self._first_visible_key()
        key = self.sort.currentData() or "score"
        objs = objs.sorted(key, self.desc.isChecked())
        self.model.set_objects(objs)
        self.count.setText(
            f"{len(objs):,} box{'es' if len(objs) != 1 else ''} · {objs.label} · by "
            f"{SORT_KEYS[key][0]} · frame: <span style='color:{_GT.name()}'>ground truth"
            f"</span>, <span style='color:{_PRED.name()}'>prediction</span>, "
            f"<span style='color:{_HINT.name()}'>likely another class</span>")
        self._restore(first)
        self._update_buttons()

    def _sort_changed(self) -> None:
        key = self.sort.currentData()
        if key in SORT_KEYS:
            self.desc.blockSignals(True)
            self.desc.setChecked(SORT_KEYS[key][1])
            self.desc.blockSignals(False)
        self.refresh()

    def _resize(self, size: int) -> None:
        self.model.size = int(size)
        self.model._reset_caches()
        self.delegate.clear()
        self.view.setGridSize(self.delegate.sizeHint(QStyleOptionViewItem(), QModelIndex()))
        self.model.layoutChanged.emit()

    def _first_visible_key(self) -> tuple[Any, ...] | None:
        idx = self.view.indexAt(QPoint(8, 8))
        if not idx.isValid():
            return None
        r = idx.row()
        o = self.model.objects
        if o is not None:
            return ("o", bool(o.is_pred[r]), int(o.box_id[r]))
        return ("i", self.model.image_of(r))

    def _restore(self, key: tuple[Any, ...] | None) -> None:
        if key is None:
            return
        o, imgs = self.model.objects, self.model.images
        rows = np.zeros(0, np.int64)
        if key[0] == "o" and o is not None:
            rows = np.flatnonzero((o.is_pred == key[1]) & (o.box_id == key[2]))
        elif key[0] == "i" and imgs is not None:
            rows = np.flatnonzero(imgs == key[1])
        if rows.size:
            self.view.scrollTo(self.model.index(int(rows[0])),
                               QAbstractItemView.ScrollHint.PositionAtTop)

    # ================================================================== thumbnails
    def _thumb_ready(self, _key: Any) -> None:
        if not self._repaint.isActive():
            self._repaint.start()

    def visible_rows(self) -> range:
        """The rows on screen now."""
        v = self.view
        n = self.model.rowCount()
        if not n:
            return range(0)
        vp = v.viewport().rect()
        first = v.indexAt(QPoint(4, 4))
        last = v.indexAt(QPoint(vp.width() - 4, vp.height() - 4))
        a = first.row() if first.isValid() else 0
        b = last.row() if last.isValid() else n - 1
        if not last.isValid():  # the last line is not full: the end of what is visible
            g = v.gridSize()
            per_line = max(1, vp.width() // max(g.width(), 1))
            lines = vp.height() // max(g.height(), 1) + 2
            b = min(n - 1, a + per_line * lines)
        return range(a, b + 1)

    def _drop_offscreen(self) -> None:
        self.service.retain(self.model.thumb(r) for r in self.visible_rows())

    # ================================================================== acting
    def _clicked(self, index: QModelIndex) -> None:
        from PySide6.QtWidgets import QApplication

        mods = QApplication.keyboardModifiers()
        if mods & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier):
            return  # extending the selection
        self.open_row(index.row())

    def open_row(self, row: int) -> None:
        m = self.model
        if not 0 <= row < m.rowCount():
            return
        if m.objects is None:
            self.openImage.emit(m.image_of(row))
            return
        g, p = m.objects.ids([row])
        self.openBox.emit(m.image_of(row), g, p)

    def selected_rows(self) -> list[int]:
        """Selected rows, ascending (from the selection's ranges: 10,000 selected rows
        cost microseconds, not 10,000 index objects)."""
        parts = [np.arange(r.top(), r.bottom() + 1) for r in
                 self.view.selectionModel().selection()]
        if not parts:
            return []
        return np.unique(np.concatenate(parts)).tolist()

    def select_rows(self, rows: range | list[int]) -> None:
        sm = self.view.selectionModel()
        sm.clearSelection()
        rs = list(rows)
        if not rs:
            return
        from PySide6.QtCore import QItemSelection

        sel = QItemSelection()
        # contiguous runs as ranges: selecting 10,000 rows stays fast
        start = prev = rs[0]
        for r in rs[1:] + [None]:  # type: ignore[list-item]
            if r is not None and r == prev + 1:
                prev = r
                continue
            sel.select(self.model.index(start), self.model.index(prev))
            if r is not None:
                start = prev = r
        sm.select(sel, QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _update_buttons(self) -> None:
        o = self.model.objects
        rows = self.selected_rows() if o is not None else []
        gt = sum(1 for r in rows if not o.is_pred[r]) if o is not None else 0
        pred = len(rows) - gt
        self.delete_button.setEnabled(gt > 0)
        self.relabel_button.setEnabled(gt > 0)
        self.accept_button.setEnabled(bool(rows))
        self.selection_label.setText(f"{len(rows):,} selected" if rows else "")
        if pred and gt:
            self.selection_label.setToolTip(f"{gt} ground-truth boxes, {pred} predictions")

    def _act_key(self, key: int) -> None:
        if key in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.delete_selected()
        elif key == Qt.Key.Key_R:
            self.relabel_menu()
        elif key == Qt.Key.Key_A:
            self.accept_selected()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            idx = self.view.currentIndex()
            if idx.isValid():
                self.open_row(idx.row())

    def _selected_ids(self) -> tuple[list[int], list[int], list[int]]:
        o = self.model.objects
        rows = self.selected_rows()
        if o is None or not rows:
            return [], [], rows
        g, p = o.ids(rows)
        return g, p, rows

    def delete_selected(self) -> bool:
        s = self.qs.session if self.qs is not None else None
        g, p, _rows = self._selected_ids()
        if s is None or not g:
            self._say("Select ground-truth boxes to delete (predictions are not edited: "
                      "A accepts them)" if p else "Select boxes first (click, Ctrl+A)")
            return False
        return batch.delete_many(s, g)

    def relabel_selected(self, cls: int) -> bool:
        s = self.qs.session if self.qs is not None else None
        g, _p, _rows = self._selected_ids()
        if s is None or not g:
            return False
        return batch.relabel_many(s, g, cls)

    def relabel_menu(self) -> QMenu | None:
        s = self.qs.session if self.qs is not None else None
        g, _p, _rows = self._selected_ids()
        if s is None or not g:
            self._say("Select ground-truth boxes to relabel")
            return None
        menu = QMenu(self)
        menu.addSection(f"Relabel {len(g)} box{'es' if len(g) != 1 else ''} as")
        for k, n in enumerate(s.dataset.classes.names):
            a = menu.addAction(n)
            a.triggered.connect(lambda _c=False, k=k: self.relabel_selected(k))
        menu.popup(self.view.mapToGlobal(self.view.viewport().rect().center()))
        self._menu = menu
        return menu

    def accept_selected(self) -> bool:
        """Predictions -> ground truth; hinted boxes -> their likely class; the other
        ground-truth boxes -> their images marked reviewed. One undo step each kind."""
        s = self.qs.session if self.qs is not None else None
        o = self.model.objects
        rows = self.selected_rows()
        if s is None or o is None or not rows:
            return False
        r = np.asarray(rows, dtype=np.int64)
        pred = o.is_pred[r]
        hint = (~pred) & (o.hint[r] >= 0)
        rest = (~pred) & ~hint
        done = batch.accept_objects(s, o.box_id[r[pred]].tolist(), o.box_id[r[hint]].tolist(),
                                    o.hint[r[hint]].tolist(), o.image[r[rest]].tolist())
        if done:
            self._say(s.step_text(s.history.done[-1]))
        return done

    def _say(self, text: str) -> None:
        self.selection_label.setText(text)
