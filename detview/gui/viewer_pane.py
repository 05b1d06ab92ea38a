"""Image panes and box layers of the viewer, and their mouse semantics.

A :class:`BoxLayer` is one set of boxes (the ground truth, run A's predictions, run B's,
suggested boxes) with its selection; an :class:`ImagePane` is one image view (header,
``pyqtgraph`` view box, image) that hosts one layer (side by side) or several (overlay).
Layers move between panes when the layout changes; the selection stays with the layer.

Mouse, as in the labeling tools (labelImg, CVAT):

* click a box or its label: select that box (a label selects *its own* box, not the one
  under it); Shift/Ctrl+click adds or removes; click on empty space clears;
* left-drag on empty space or on an unselected box: pan (every pane follows);
  Shift/Ctrl+drag: rubber band; wheel: zoom;
* only a *selected* ground-truth box moves (drag inside it) or resizes (drag a handle);
  a box too small for handles inside it has them just outside its corners, so its
  inside always moves it.

The panes only report gestures (signals); the main window turns them into edits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QObject, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

from .box_item import SMALL_BOX_PX, BoxesItem

__all__ = ["BoxLayer", "BoxViewBox", "ImagePane", "LazyTips"]

pg.setConfigOptions(imageAxisOrder="row-major")

BG = "#1e1f22"
_HANDLE_SLOP = 2.0  # px around a handle that still grab it

# handle index -> which of x1, y1, x2, y2 it moves
HANDLE_COORDS = {
    0: (0, 1), 1: (2, 1), 2: (2, 3), 3: (0, 3),
    4: (1,), 5: (2,), 6: (3,), 7: (0,),
}
_HANDLE_CURSORS = {
    0: Qt.CursorShape.SizeFDiagCursor, 2: Qt.CursorShape.SizeFDiagCursor,
    1: Qt.CursorShape.SizeBDiagCursor, 3: Qt.CursorShape.SizeBDiagCursor,
    4: Qt.CursorShape.SizeVerCursor, 6: Qt.CursorShape.SizeVerCursor,
    5: Qt.CursorShape.SizeHorCursor, 7: Qt.CursorShape.SizeHorCursor,
}


class LazyTips(Sequence[str]):
    """Per-box tooltips made when first read (hovering one box reads one): building a
    thousand of them on every image switch would cost more than drawing the boxes."""

    def __init__(self, n: int, make: Callable[[int], str]) -> None:
        self._n = n
        self._make = make
        self._done: dict[int, str] = {}

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, k: int) -> str:  # type: ignore[override]
        if not -self._n <= k < self._n:
            raise IndexError(k)
        k %= self._n
        tip = self._done.get(k)
        if tip is None:
            tip = self._done[k] = self._make(k)
        return tip


def mods_add(mods: Any) -> bool:
    return bool(mods & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier))


class BoxLayer(QObject):
    """One set of boxes with its selection, drawn by one :class:`BoxesItem` in the
    pane that hosts it (:attr:`host`)."""

    selectionChanged = Signal()  # noqa: N815
    moveFinished = Signal(object, object)  # box ids, new xyxy (n, 4)  # noqa: N815
    drawFinished = Signal(object)  # xyxy of the new box  # noqa: N815
    drawCancelled = Signal()  # noqa: N815

    def __init__(self, title: str, source: str, editable: bool,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.source = source
        self.editable = editable
        self.boxes = BoxesItem()
        self.boxes.setZValue(10)
        self.ids = np.zeros(0, dtype=np.int64)
        self.tooltips: Sequence[str] = []
        self.selected: list[int] = []
        self.partner_ids: set[int] = set()
        self.draw_mode = False
        self.shown = True
        self.host: ImagePane | None = None

    # ------------------------------------------------------------------ the host's
    def _pane(self) -> ImagePane:
        assert self.host is not None, f"layer {self.title!r} is in no pane"
        return self.host

    @property
    def view(self) -> pg.GraphicsView:
        return self._pane().view

    @property
    def vb(self) -> BoxViewBox:
        return self._pane().vb

    @property
    def header(self) -> QLabel:
        return self._pane().header

    @property
    def image_item(self) -> pg.ImageItem:
        return self._pane().image_item

    @property
    def image_size(self) -> tuple[int, int]:
        return self._pane().image_size

    def widget_point(self, x: float, y: float) -> QPoint:
        return self._pane().widget_point(x, y)

    def show_rect(self, rect: QRectF) -> None:
        self._pane().show_rect(rect)

    def pixel_size(self) -> float:
        return self._pane().pixel_size()

    # ------------------------------------------------------------------ content
    def set_content(self, ids: np.ndarray, xyxy: np.ndarray, cls: np.ndarray,
                    style: np.ndarray, labels: Sequence[str], tags: Sequence[str],
                    bounds: QRectF, tag_rgb: np.ndarray | None = None) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.boxes.set_boxes(xyxy, cls, style, labels, tags, bounds, tag_rgb)
        present = set(self.ids.tolist())
        self.selected = [b for b in self.selected if b in present]
        self._refresh_selection()

    def set_selected(self, ids: Sequence[int], emit: bool = False) -> None:
        present = set(self.ids.tolist())
        new = [int(b) for b in ids if int(b) in present]
        changed = new != self.selected
        self.selected = new
        self._refresh_selection()
        if emit and changed:
            self.selectionChanged.emit()

    def set_partner_ids(self, ids: Sequence[int] | set[int]) -> None:
        new = {int(b) for b in ids if b >= 0}
        if new != self.partner_ids:
            self.partner_ids = new
            self._refresh_selection()

    def _refresh_selection(self) -> None:
        sel = np.isin(self.ids, self.selected)
        partner = np.isin(self.ids, list(self.partner_ids)) & ~sel
        handles = -1
        if self.editable and len(self.selected) == 1:
            handles = int(np.flatnonzero(self.ids == self.selected[0])[0])
        self.boxes.set_selection(sel, partner, handles)

    def rows_of(self, ids: Sequence[int]) -> list[int]:
        pos = {int(b): r for r, b in enumerate(self.ids.tolist())}
        return [pos[int(b)] for b in ids if int(b) in pos]

    # ------------------------------------------------------------------ hit tests
    def hits(self, pt: QPointF) -> np.ndarray:
        """Rows of the boxes containing image point ``pt`` (3 screen px of slack)."""
        xy = self.boxes.xyxy
        if not len(xy) or not self.shown:
            return np.zeros(0, np.int64)
        tol = 3 * self.pixel_size()
        x, y = pt.x(), pt.y()
        inside = ((xy[:, 0] - tol <= x) & (x <= xy[:, 2] + tol)
                  & (xy[:, 1] - tol <= y) & (y <= xy[:, 3] + tol))
        return np.flatnonzero(inside)

    def hit(self, pt: QPointF) -> int:
        """Row of the smallest box containing ``pt``, -1 if none."""
        rows = self.hits(pt)
        if not rows.size:
            return -1
        xy = self.boxes.xyxy
        area = (xy[rows, 2] - xy[rows, 0]) * (xy[rows, 3] - xy[rows, 1])
        return int(rows[np.argmin(area)])

    def selected_hit(self, pt: QPointF) -> int:
        """Row of the smallest *selected* box containing ``pt``, -1 if none."""
        rows = self.hits(pt)
        sel = set(self.rows_of(self.selected))
        rows = np.array([r for r in rows.tolist() if r in sel], dtype=np.int64)
        if not rows.size:
            return -1
        xy = self.boxes.xyxy
        area = (xy[rows, 2] - xy[rows, 0]) * (xy[rows, 3] - xy[rows, 1])
        return int(rows[np.argmin(area)])

    def handle_at(self, pt: QPointF) -> tuple[int, int]:
        """(row, handle) of the single selected box's resize handle under image point
        ``pt``; (-1, -1) if none. Inside a box too small for inner handles there is
        none: there the box moves."""
        if not self.editable or len(self.selected) != 1 or not self.shown:
            return -1, -1
        rows = self.rows_of(self.selected)
        if not rows:
            return -1, -1
        r = rows[0]
        pane = self._pane()
        tr = self.boxes.deviceTransform(pane.view.viewportTransform())
        if tr is None:
            return -1, -1
        v = pane.view.mapFromScene(pane.vb.mapViewToScene(pt))
        vx, vy = float(v.x()), float(v.y())
        b = self.boxes.box(r)
        dev = tr.mapRect(QRectF(QPointF(b[0], b[1]), QPointF(b[2], b[3])))
        if (min(dev.width(), dev.height()) < SMALL_BOX_PX
                and dev.adjusted(1, 1, -1, -1).contains(QPointF(vx, vy))):
            return -1, -1
        for k, h in enumerate(self.boxes.handle_rects(tr, r)):
            if h.adjusted(-_HANDLE_SLOP, -_HANDLE_SLOP, _HANDLE_SLOP,
                          _HANDLE_SLOP).contains(QPointF(vx, vy)):
                return r, k
        return -1, -1

    # ------------------------------------------------------------------ gestures
    def band_select(self, rect: QRectF, add: bool) -> None:
        xy = self.boxes.xyxy
        inside = ((xy[:, 0] >= rect.left()) & (xy[:, 2] <= rect.right())
                  & (xy[:, 1] >= rect.top()) & (xy[:, 3] <= rect.bottom())) if len(xy) else (
            np.zeros(0, bool))
        ids = self.ids[inside].tolist()
        sel = list(self.selected) if add else []
        sel += [b for b in ids if b not in sel]
        self.set_selected(sel, emit=True)

    def finish_move(self, boxes: dict[int, np.ndarray]) -> None:
        rows = [r for r in boxes if 0 <= r < len(self.ids)]
        if not rows:
            return
        new = np.array([boxes[r] for r in rows], dtype=np.float64).reshape(-1, 4)
        if np.allclose(new, self.boxes.xyxy[rows]):
            return
        self.moveFinished.emit([int(self.ids[r]) for r in rows], new)

    def start_draw(self) -> None:
        if self.host is None or not self.shown:
            self.drawCancelled.emit()
            return
        self.draw_mode = True
        self.view.setCursor(Qt.CursorShape.CrossCursor)
        self.view.setFocus()

    def cancel_draw(self) -> None:
        if self.draw_mode:
            self.draw_mode = False
            self.boxes.set_rubber(None)
            if self.host is not None:
                self.view.setCursor(Qt.CursorShape.ArrowCursor)
            self.drawCancelled.emit()

    def finish_draw(self, rect: QRectF) -> None:
        self.draw_mode = False
        self.view.setCursor(Qt.CursorShape.ArrowCursor)
        if rect.width() < 2 or rect.height() < 2:
            self.drawCancelled.emit()
            return
        self.drawFinished.emit(np.array([rect.left(), rect.top(), rect.right(), rect.bottom()]))


class BoxViewBox(pg.ViewBox):
    """A ViewBox that lets its pane's layers handle box gestures before panning."""

    def __init__(self, pane: ImagePane) -> None:
        super().__init__(invertY=True, lockAspect=True, enableMenu=False)
        self.pane = pane
        self._mode = ""
        self._layer: BoxLayer | None = None
        self._drag_row = -1
        self._drag_handle = -1
        self._start_box = np.zeros(4)
        self._start_boxes: dict[int, np.ndarray] = {}
        self._start = QPointF()
        self.setBackgroundColor(BG)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.pane.click(self.mapSceneToView(ev.scenePos()), ev.scenePos(), ev.modifiers())
            return
        super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev: Any, axis: Any = None) -> None:  # noqa: N802
        pane = self.pane
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        if ev.isStart():
            start = self.mapSceneToView(ev.buttonDownScenePos())
            self._start = start
            self._mode, self._layer = "pan", None
            drawing = next((la for la in pane.layers if la.draw_mode), None)
            if drawing is not None:
                self._mode, self._layer = "draw", drawing
            elif mods_add(ev.modifiers()):
                self._mode = "band"
            else:
                self._grab(start)
        if self._mode == "pan":
            super().mouseDragEvent(ev, axis)
            if ev.isFinish():
                self._mode = ""
            return
        ev.accept()
        pos = self.mapSceneToView(ev.scenePos())
        rect = QRectF(self._start, pos).normalized()
        layer = self._layer
        if self._mode == "band":
            pane.set_rubber(None if ev.isFinish() else rect)
            if ev.isFinish():
                pane.band_select(rect, mods_add(ev.modifiers()))
        elif self._mode == "draw":
            assert layer is not None
            layer.boxes.set_rubber(None if ev.isFinish() else rect)
            if ev.isFinish():
                layer.finish_draw(rect)
        else:
            assert layer is not None
            new = self._dragged_boxes(pos)
            if ev.isFinish():
                layer.boxes.set_override(None)
                layer.finish_move(new)
            else:
                layer.boxes.set_override(new)
        if ev.isFinish():
            self._mode, self._layer = "", None

    def _grab(self, start: QPointF) -> None:
        """Resize (a handle of the selected box) or move (inside a selected box) in an
        editable layer; anything else pans."""
        for layer in self.pane.editable_layers():
            row, handle = layer.handle_at(start)
            if row >= 0:
                self._mode, self._layer = "resize", layer
                self._drag_row, self._drag_handle = row, handle
                break
            row = layer.selected_hit(start)
            if row >= 0:
                self._mode, self._layer, self._drag_row = "move", layer, row
                break
        layer = self._layer
        if layer is None:
            return
        self._start_box = layer.boxes.xyxy[self._drag_row].copy()
        rows = layer.rows_of(layer.selected) if self._mode == "move" else []
        rows = rows or [self._drag_row]
        self._start_boxes = {r: layer.boxes.xyxy[r].copy() for r in rows}

    def _dragged_boxes(self, pos: QPointF) -> dict[int, np.ndarray]:
        """Row -> new xyxy: a move drags every selected box along; a resize one box."""
        dx, dy = pos.x() - self._start.x(), pos.y() - self._start.y()
        if self._mode == "move":
            shift = np.array([dx, dy, dx, dy])
            return {r: b + shift for r, b in self._start_boxes.items()}
        b = self._start_box.copy()
        for c in HANDLE_COORDS[self._drag_handle]:
            b[c] += dx if c in (0, 2) else dy
        lo, hi = np.minimum(b[:2], b[2:]), np.maximum(b[:2], b[2:])
        return {self._drag_row: np.concatenate([lo, hi])}

    def hoverEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.isExit():
            return
        self.pane.hover(self.mapSceneToView(ev.scenePos()), ev.scenePos())


class ImagePane(QWidget):
    """One image view with a header line; hosts one or more :class:`BoxLayer`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.header = QLabel()
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setContentsMargins(6, 3, 6, 3)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.view = pg.GraphicsView(background=BG)
        self.view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.vb = BoxViewBox(self)
        self.view.setCentralItem(self.vb)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image_item)
        self.rubber = BoxesItem()  # the rubber band of a band selection
        self.rubber.setZValue(30)
        self.vb.addItem(self.rubber, ignoreBounds=True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.header)
        lay.addWidget(self.view, 1)
        self.layers: list[BoxLayer] = []
        self.image_size = (0, 0)
        self._levels = (0.0, 255.0)

    # ------------------------------------------------------------------ layers
    def set_layers(self, layers: Sequence[BoxLayer]) -> None:
        """Host these layers (bottom first); the previous ones leave."""
        for la in self.layers:
            if la not in layers and la.boxes.scene() is not None:
                self.vb.removeItem(la.boxes)
        for k, la in enumerate(layers):
            if la.host is not None and la.host is not self and la in la.host.layers:
                la.host.vb.removeItem(la.boxes)
                la.host.layers.remove(la)
            if la.host is not self or la.boxes.scene() is None:
                self.vb.addItem(la.boxes, ignoreBounds=True)
            la.host = self
            la.boxes.setZValue(10 + k)
        self.layers = list(layers)

    def editable_layers(self) -> list[BoxLayer]:
        return [la for la in self.layers if la.editable and la.shown]

    # ------------------------------------------------------------------ image
    def set_image(self, arr: np.ndarray | None, width: int, height: int,
                  dim: bool = False, levels: tuple[float, float] | None = None) -> None:
        if levels is not None:
            self._levels = levels
        if arr is None:
            w, h = max(width, 1), max(height, 1)
            self.image_item.setImage(np.full((h, w), 40, dtype=np.uint8), levels=(0, 255))
        else:
            self.image_item.setImage(arr, levels=self._item_levels(arr), autoLevels=False)
        self.image_item.setOpacity(0.35 if dim else 1.0)
        self.image_size = (width, height)

    def set_levels(self, levels: tuple[float, float]) -> None:
        """Brightness/contrast: the input range mapped onto black..white (display only)."""
        if levels != self._levels:
            self._levels = levels
            if self.image_item.image is not None:
                self.image_item.setLevels(self._item_levels(self.image_item.image))

    def _item_levels(self, arr: np.ndarray) -> tuple[float, float] | None:
        """The levels to give pyqtgraph: none for an 8-bit image shown as it is, so that
        it is passed through to Qt instead of rescaled (by 1) on every render (~8 ms for
        1280x960 RGB: most of an image switch)."""
        if arr.dtype == np.uint8 and tuple(self._levels) == (0.0, 255.0):
            return None
        return self._levels

    # ------------------------------------------------------------------ geometry
    def pixel_size(self) -> float:
        px = self.vb.viewPixelSize()
        return float(max(px[0], px[1], 1e-9))

    def widget_point(self, x: float, y: float) -> QPoint:
        """Viewport coordinates of image point (x, y) (for tests and tooltips)."""
        scene = self.vb.mapViewToScene(QPointF(x, y))
        return self.view.mapFromScene(scene)

    def show_rect(self, rect: QRectF) -> None:
        self.vb.setRange(rect=rect, padding=0.02)

    def set_rubber(self, rect: QRectF | None) -> None:
        self.rubber.set_rubber(rect)

    # ------------------------------------------------------------------ gestures
    def pick(self, pt: QPointF, scene_pt: QPointF) -> tuple[BoxLayer | None, int]:
        """(layer, row) under the pointer: a label first (the top one), then a selected
        box, then the smallest box; in an overlay an editable (ground-truth) box counts
        half its area, so a click inside a box and its matched prediction takes the
        box (the labels tell them apart)."""
        v = self.view.mapFromScene(scene_pt)
        for la in reversed(self.layers):
            if la.shown:
                r = la.boxes.chip_at(float(v.x()), float(v.y()))
                if r >= 0:
                    return la, r
        best: tuple[float, int, BoxLayer | None, int] = (np.inf, 0, None, -1)
        for k, la in enumerate(self.layers):
            r = la.selected_hit(pt)
            if r >= 0:
                return la, r
            r = la.hit(pt)
            if r >= 0:
                b = la.boxes.xyxy[r]
                area = float((b[2] - b[0]) * (b[3] - b[1])) * (0.5 if la.editable else 1.0)
                if (area, k) < best[:2]:
                    best = (area, k, la, r)
        return best[2], best[3]

    def click(self, pt: QPointF, scene_pt: QPointF, mods: Any) -> None:
        if any(la.draw_mode for la in self.layers):
            return
        layer, row = self.pick(pt, scene_pt)
        if mods_add(mods):
            if layer is None:
                return
            b = int(layer.ids[row])
            sel = [s for s in layer.selected if s != b] if b in layer.selected else (
                layer.selected + [b])
            layer.set_selected(sel, emit=True)
            return
        for la in self.layers:
            if la is not layer:
                la.set_selected([], emit=True)
        if layer is not None:
            layer.set_selected([int(layer.ids[row])], emit=True)

    def band_select(self, rect: QRectF, add: bool) -> None:
        layers = self.editable_layers() or [la for la in self.layers if la.shown]
        for la in layers:
            la.band_select(rect, add)

    def hover(self, pt: QPointF, scene_pt: QPointF) -> None:
        cursor = Qt.CursorShape.ArrowCursor
        if any(la.draw_mode for la in self.layers):
            cursor = Qt.CursorShape.CrossCursor
        else:
            for la in self.editable_layers():
                row, handle = la.handle_at(pt)
                if row >= 0:
                    cursor = _HANDLE_CURSORS[handle]
                    break
                if la.selected_hit(pt) >= 0:
                    cursor = Qt.CursorShape.SizeAllCursor
                    break
        layer, row = self.pick(pt, scene_pt)
        if cursor == Qt.CursorShape.ArrowCursor and layer is not None:
            cursor = Qt.CursorShape.PointingHandCursor
        self.view.setCursor(cursor)
        tip = layer.tooltips[row] if layer is not None and 0 <= row < len(layer.tooltips) else ""
        if self.view.toolTip() != tip:
            self.view.setToolTip(tip)
