"""The object grid's list view: its model (rows by number over numpy arrays), the
delegate that paints crop tiles, and the view whose act keys win over the window's.

See :mod:`detview.gui.object_grid` for the widget around them.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QRect,
    QSize,
    QStringListModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QFont, QImage, QKeyEvent, QKeySequence, QPainter, QPen
from PySide6.QtWidgets import (
    QListView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from detview.core.objects import ObjectSet

from .session import QtSession
from .thumbnails import Thumb

__all__ = ["GRID_GT", "GRID_HINT", "GRID_PRED", "GridDelegate", "GridView", "ObjectGridModel"]

Index = QModelIndex | QPersistentModelIndex
_CAPTION = 30  # pixels under a thumbnail for its caption
GRID_GT, GRID_PRED, GRID_HINT = QColor(40, 160, 70), QColor(230, 120, 20), QColor(200, 40, 160)
_GT, _PRED, _HINT = GRID_GT, GRID_PRED, GRID_HINT
_ACT_KEYS = (Qt.Key.Key_Delete, Qt.Key.Key_Backspace, Qt.Key.Key_R, Qt.Key.Key_A,
             Qt.Key.Key_Return, Qt.Key.Key_Enter)


class ObjectGridModel(QStringListModel):
    """Rows: the boxes of an :class:`ObjectSet`, or images (``set_images``).

    The rows are those of a C++ string list (empty strings) and ``rowCount`` is not
    overridden: the list view's layout asks for it at every item, and a Python call
    each time made a 50,000-row layout take ~1 s; this way it takes ~30 ms. What a
    row shows comes from the arrays, by row number, in the delegate.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.objects: ObjectSet | None = None
        self.images: np.ndarray | None = None
        self.qs: QtSession | None = None
        self.size = 112
        self._n = 0  # rows (rowCount is asked for at every layout step)
        self._paths: dict[int, str] = {}
        # per row, what painting needs (a repaint asks again for every visible row)
        self._thumbs: dict[int, Thumb] = {}
        self._captions: dict[int, tuple[str, str]] = {}

    def _reset_caches(self) -> None:
        self._thumbs.clear()
        self._captions.clear()

    # ------------------------------------------------------------------ content
    def set_objects(self, objs: ObjectSet | None) -> None:
        self._reset_caches()
        self.objects, self.images = objs, None
        self._n = len(objs) if objs is not None else 0
        self.setStringList([""] * self._n)  # one model reset

    def set_images(self, order: np.ndarray) -> None:
        self._reset_caches()
        self.objects, self.images = None, np.asarray(order, dtype=np.int64)
        self._n = int(self.images.shape[0])
        self.setStringList([""] * self._n)


    def image_of(self, row: int) -> int:
        if self.images is not None:
            return int(self.images[row])
        assert self.objects is not None
        return int(self.objects.image[row])

    def path(self, image: int) -> str:
        p = self._paths.get(image)
        if p is None and self.qs is not None:
            q = self.qs.session.image_path(image)
            p = str(q) if q is not None else ""
            self._paths[image] = p
        return p or ""

    def thumb(self, row: int) -> Thumb:
        t = self._thumbs.get(row)
        if t is None:
            if len(self._thumbs) > 20_000:
                self._thumbs.clear()
            t = self._thumbs[row] = self._make_thumb(row)
        return t

    def _make_thumb(self, row: int) -> Thumb:
        image = self.image_of(row)
        box = None
        if self.objects is not None:
            b = self.objects.xyxy[row]
            box = (round(float(b[0]), 2), round(float(b[1]), 2), round(float(b[2]), 2),
                   round(float(b[3]), 2))
        return Thumb(self.path(image), box, self.size)

    def caption(self, row: int) -> tuple[str, str]:
        """Two caption lines."""
        c = self._captions.get(row)
        if c is None:
            if len(self._captions) > 20_000:
                self._captions.clear()
            c = self._captions[row] = self._make_caption(row)
        return c

    def _make_caption(self, row: int) -> tuple[str, str]:
        s = self.qs.session if self.qs is not None else None
        if s is None:
            return "", ""
        names = s.dataset.classes.names
        if self.images is not None:
            i = int(self.images[row])
            return s.dataset.images.file_names[i].rsplit("/", 1)[-1], ""
        o = self.objects
        assert o is not None
        c = int(o.cls[row])
        name = names[c] if 0 <= c < len(names) else str(c)
        top = name + (f" {o.score[row]:.2f}" if o.is_pred[row] else "")
        bits = []
        if not np.isnan(o.iou[row]):
            bits.append(f"IoU {o.iou[row]:.2f}")
        if not np.isnan(o.quality[row]):
            bits.append(f"q {o.quality[row]:.2f}")
        h = int(o.hint[row])
        if h >= 0 and h < len(names):
            bits.append(f"→ {names[h]}")
        return top, " · ".join(bits)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = index.row()
        if role == Qt.ItemDataRole.DisplayRole:
            return " ".join(t for t in self.caption(row) if t)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(row)
        if role == Qt.ItemDataRole.UserRole:
            return self.image_of(row)
        return None

    def tooltip(self, row: int) -> str:
        s = self.qs.session if self.qs is not None else None
        if s is None:
            return ""
        i = self.image_of(row)
        text = f"{s.dataset.images.file_names[i]} (image {i})"
        if self.objects is not None:
            o = self.objects
            side = "prediction" if o.is_pred[row] else "ground-truth box"
            text += f"\n{side} {int(o.box_id[row])}: " + " · ".join(
                t for t in self.caption(row) if t)
            text += "\nclick: open it · Del: delete · R: relabel · A: accept"
        return text


class GridDelegate(QStyledItemDelegate):
    """Paints a crop tile: the thumbnail (or a placeholder while it decodes), its
    frame and caption. A tile is composed once into an image and kept (the last few
    hundred), again when its crop arrives: a repaint while scrolling is one image copy
    per crop."""

    TILES = 600

    def __init__(self, grid: Any) -> None:
        super().__init__(grid)
        self.grid = grid
        self.small = QFont()
        self.small.setPointSizeF(max(7.0, self.small.pointSizeF() - 1.5))
        self.tiles: OrderedDict[int, tuple[QImage, bool]] = OrderedDict()
        self._once: set[int] = set()  # rows drawn once as a placeholder
        self._sel = QColor(grid.palette().highlight().color())
        self._sel.setAlpha(80)
        self._sel_pen = QPen(self._sel.darker(140), 3)
        # made once: a repaint of 50 placeholders should not make 300 colour objects
        self._wait_fill, self._bad_fill = QColor(235, 235, 235), QColor(250, 225, 225)
        self._wait_pen, self._bad_pen = QColor(150, 150, 150), QColor(190, 40, 40)
        self._frame = {k: QPen(c, 3) for k, c in (("gt", _GT), ("pred", _PRED),
                                                   ("hint", _HINT))}
        self._text1, self._text2 = QColor(40, 40, 40), QColor(110, 110, 110)
        self._center = Qt.AlignmentFlag.AlignCenter
        self._hcenter = Qt.AlignmentFlag.AlignHCenter

    def clear(self) -> None:
        self.tiles.clear()
        self._once.clear()

    def sizeHint(self, option: QStyleOptionViewItem, index: Index) -> QSize:  # noqa: N802
        s = self.grid.model.size
        return QSize(s + 8, s + _CAPTION + 6)

    def paint(self, p: QPainter, option: QStyleOptionViewItem, index: Index) -> None:
        row = index.row()
        r: QRect = option.rect  # type: ignore[attr-defined]
        entry = self.tiles.get(row)
        if entry is not None:
            self.tiles.move_to_end(row)
        if entry is None and row not in self._once and \
                self.grid.service.get(self.grid.model.thumb(row)) is None:
            # first sight, not decoded (a jump): drawn directly, a tile next time
            self._once.add(row)
            if len(self._once) > 4 * self.TILES:
                self._once.clear()
            self._draw(p, row, r)
            self._selected(p, option, r)
            return
        if entry is None or entry[0].width() != r.width() or entry[0].height() != r.height() \
                or (not entry[1] and self.grid.service.get(self.grid.model.thumb(row))
                    is not None):  # new, resized, or its crop has arrived
            entry = self._compose(row, r.width(), r.height())
            self.tiles[row] = entry
            while len(self.tiles) > self.TILES:
                self.tiles.popitem(last=False)
        elif not entry[1]:  # still decoding: keep asking (it is on screen)
            self.grid.service.get(self.grid.model.thumb(row))
        p.drawImage(r.x(), r.y(), entry[0])
        self._selected(p, option, r)

    def _selected(self, p: QPainter, option: QStyleOptionViewItem, r: QRect) -> None:
        if option.state & QStyle.StateFlag.State_Selected:  # type: ignore[attr-defined]
            p.fillRect(r, self._sel)
            p.setPen(self._sel_pen)
            p.drawRect(r.adjusted(1, 1, -2, -2))

    def _compose(self, row: int, w: int, h: int) -> tuple[QImage, bool]:
        """The tile of ``row``, and whether it holds the crop (else the placeholder)."""
        done = self.grid.service.get(self.grid.model.thumb(row)) is not None
        tile = QImage(w, h, QImage.Format.Format_RGB32)
        tile.fill(self.grid.view.palette().base().color())
        p = QPainter(tile)
        self._draw(p, row, QRect(0, 0, w, h))
        p.end()
        return tile, done

    def _draw(self, p: QPainter, row: int, r: QRect) -> None:
        m = self.grid.model
        sz = m.size
        x0, y0 = r.x() + (r.width() - sz) // 2, r.y() + 3
        box = QRect(x0, y0, sz, sz)
        thumb = m.thumb(row)
        img = self.grid.service.get(thumb)
        if img is not None:
            p.drawImage(x0 + (sz - img.width()) // 2, y0 + (sz - img.height()) // 2, img)
        else:
            err = self.grid.service.error(thumb)
            p.fillRect(box, self._bad_fill if err else self._wait_fill)
            if err:
                p.setPen(self._bad_pen)
                p.drawText(box, self._center, "cannot read")
        o = m.objects
        if o is not None:
            p.setPen(self._frame["hint" if o.hint[row] >= 0 else
                                 "pred" if o.is_pred[row] else "gt"])
            p.drawRect(box.adjusted(1, 1, -1, -1))
        top, bottom = m.caption(row)
        p.setFont(self.small)
        p.setPen(self._text1)
        fm = p.fontMetrics()
        h = fm.height()
        w = r.width() - 4
        tr = QRect(r.x() + 2, y0 + sz + 1, w, h)
        p.drawText(tr, self._hcenter, top if fm.horizontalAdvance(top) <= w
                   else fm.elidedText(top, Qt.TextElideMode.ElideRight, w))
        if bottom:
            p.setPen(self._text2)
            p.drawText(tr.translated(0, h), self._hcenter,
                       bottom if fm.horizontalAdvance(bottom) <= w
                       else fm.elidedText(bottom, Qt.TextElideMode.ElideRight, w))


class GridView(QListView):
    """Icon-mode list whose act keys (Delete, R, A, Enter) win over window shortcuts
    while it has the focus."""

    act = Signal(int)

    def event(self, ev: QEvent) -> bool:
        if ev.type() == QEvent.Type.ShortcutOverride and isinstance(ev, QKeyEvent) and (
                ev.matches(QKeySequence.StandardKey.SelectAll) or (
                    ev.key() in _ACT_KEYS and not (ev.modifiers() & (
                        Qt.KeyboardModifier.ControlModifier
                        | Qt.KeyboardModifier.AltModifier)))):
            ev.accept()  # the grid's, not the window's (select all boxes, delete box)
            return True
        return super().event(ev)

    def keyPressEvent(self, ev: QKeyEvent) -> None:  # noqa: N802
        if ev.key() in _ACT_KEYS and not (ev.modifiers() & (
                Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)):
            self.act.emit(int(ev.key()))
            return
        super().keyPressEvent(ev)
