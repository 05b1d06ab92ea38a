"""The side-by-side viewer: ground truth on the left, one run's predictions on the
right, zoom and pan linked.

Each pane is a pyqtgraph ``ViewBox`` holding an ``ImageItem`` and one
:class:`~detview.gui.box_item.BoxesItem`. Mouse interaction (select, Shift/Ctrl-click
to add, Shift-drag rubber band, move and resize with handles, draw a new box) is
handled in :class:`BoxViewBox`; a plain drag on empty space pans, the wheel zooms.
The panes only report gestures (signals); the main window turns them into edits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QSplitter, QVBoxLayout, QWidget

from detview.session.view import GT_CROWD, GT_MISSED, PRED_FP, PRED_IGNORED, ImageView

from .box_item import HANDLE_PX, STYLE_DASHED, STYLE_DOTTED, STYLE_SOLID, BoxesItem

__all__ = ["ImagePane", "SideBySideViewer", "BoxViewBox"]

pg.setConfigOptions(imageAxisOrder="row-major")

_BG = "#1e1f22"

# handle index -> which of x1, y1, x2, y2 it moves
_HANDLE_COORDS = {
    0: (0, 1), 1: (2, 1), 2: (2, 3), 3: (0, 3),
    4: (1,), 5: (2,), 6: (3,), 7: (0,),
}
_HANDLE_CURSORS = {
    0: Qt.CursorShape.SizeFDiagCursor, 2: Qt.CursorShape.SizeFDiagCursor,
    1: Qt.CursorShape.SizeBDiagCursor, 3: Qt.CursorShape.SizeBDiagCursor,
    4: Qt.CursorShape.SizeVerCursor, 6: Qt.CursorShape.SizeVerCursor,
    5: Qt.CursorShape.SizeHorCursor, 7: Qt.CursorShape.SizeHorCursor,
}


def _mods_add(mods: Any) -> bool:
    return bool(mods & (Qt.KeyboardModifier.ShiftModifier | Qt.KeyboardModifier.ControlModifier))


class BoxViewBox(pg.ViewBox):
    """A ViewBox that lets its pane handle box gestures before panning."""

    def __init__(self, pane: ImagePane) -> None:
        super().__init__(invertY=True, lockAspect=True, enableMenu=False)
        self.pane = pane
        self._mode = ""
        self._drag_row = -1
        self._drag_handle = -1
        self._start_box = np.zeros(4)
        self._start_boxes: dict[int, np.ndarray] = {}
        self._start = QPointF()
        self.setBackgroundColor(_BG)

    # ------------------------------------------------------------------ mouse
    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self.pane.click(self.mapSceneToView(ev.scenePos()), ev.modifiers())
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
            self._mode = "pan"
            if pane.draw_mode:
                self._mode = "draw"
            elif _mods_add(ev.modifiers()):
                self._mode = "band"
            elif pane.editable:
                row, handle = pane.handle_at(start)
                if row >= 0:
                    self._mode, self._drag_row, self._drag_handle = "resize", row, handle
                else:
                    row = pane.hit(start)
                    if row >= 0:
                        if int(pane.ids[row]) not in pane.selected:
                            pane.set_selected([int(pane.ids[row])], emit=True)
                        self._mode, self._drag_row = "move", row
            if self._mode in ("resize", "move"):
                self._start_box = pane.boxes.xyxy[self._drag_row].copy()
                rows = pane.rows_of(pane.selected) if self._mode == "move" else []
                rows = rows or [self._drag_row]
                self._start_boxes = {r: pane.boxes.xyxy[r].copy() for r in rows}
        if self._mode == "pan":
            super().mouseDragEvent(ev, axis)
            if ev.isFinish():
                self._mode = ""
            return
        ev.accept()
        pos = self.mapSceneToView(ev.scenePos())
        rect = QRectF(self._start, pos).normalized()
        if self._mode in ("draw", "band"):
            pane.boxes.set_rubber(None if ev.isFinish() else rect)
            if ev.isFinish():
                if self._mode == "draw":
                    pane.finish_draw(rect)
                else:
                    pane.band_select(rect, _mods_add(ev.modifiers()))
        else:
            new = self._dragged_boxes(pos)
            if ev.isFinish():
                pane.boxes.set_override(None)
                pane.finish_move(new)
            else:
                pane.boxes.set_override(new)
        if ev.isFinish():
            self._mode = ""

    def _dragged_boxes(self, pos: QPointF) -> dict[int, np.ndarray]:
        """Row -> new xyxy: a move drags every selected box along; a resize one box."""
        dx, dy = pos.x() - self._start.x(), pos.y() - self._start.y()
        if self._mode == "move":
            shift = np.array([dx, dy, dx, dy])
            return {r: b + shift for r, b in self._start_boxes.items()}
        return {self._drag_row: self._resized(dx, dy)}

    def _resized(self, dx: float, dy: float) -> np.ndarray:
        b = self._start_box.copy()
        for c in _HANDLE_COORDS[self._drag_handle]:
            b[c] += dx if c in (0, 2) else dy
        lo, hi = np.minimum(b[:2], b[2:]), np.maximum(b[:2], b[2:])
        return np.concatenate([lo, hi])

    def hoverEvent(self, ev: Any) -> None:  # noqa: N802
        if ev.isExit():
            return
        pane = self.pane
        cursor = Qt.CursorShape.ArrowCursor
        if pane.draw_mode:
            cursor = Qt.CursorShape.CrossCursor
        elif pane.editable:
            pos = self.mapSceneToView(ev.scenePos())
            row, handle = pane.handle_at(pos)
            if row >= 0:
                cursor = _HANDLE_CURSORS[handle]
            elif pane.hit(pos) >= 0:
                cursor = Qt.CursorShape.SizeAllCursor
        pane.view.setCursor(cursor)
        row = pane.hit(self.mapSceneToView(ev.scenePos()))
        tip = pane.tooltips[row] if 0 <= row < len(pane.tooltips) else ""
        if pane.view.toolTip() != tip:
            pane.view.setToolTip(tip)


class ImagePane(QWidget):
    """One image with its boxes, a header line above it."""

    selectionChanged = Signal()  # noqa: N815
    moveFinished = Signal(object, object)  # box ids, new xyxy (n, 4)  # noqa: N815
    drawFinished = Signal(object)  # xyxy of the new box  # noqa: N815
    drawCancelled = Signal()  # noqa: N815

    def __init__(self, title: str, editable: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.editable = editable
        self.header = QLabel(title)
        self.header.setTextFormat(Qt.TextFormat.RichText)
        self.header.setContentsMargins(6, 3, 6, 3)
        self.header.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.view = pg.GraphicsView(background=_BG)
        self.view.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.vb = BoxViewBox(self)
        self.view.setCentralItem(self.vb)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image_item)
        self.boxes = BoxesItem()
        self.boxes.setZValue(10)
        self.vb.addItem(self.boxes, ignoreBounds=True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.header)
        lay.addWidget(self.view, 1)
        self.ids = np.zeros(0, dtype=np.int64)
        self.tooltips: list[str] = []
        self.selected: list[int] = []
        self.partner_ids: set[int] = set()
        self.draw_mode = False
        self.image_size = (0, 0)

    # ------------------------------------------------------------------ content
    def set_image(self, arr: np.ndarray | None, width: int, height: int,
                  dim: bool = False) -> None:
        if arr is None:
            w, h = max(width, 1), max(height, 1)
            self.image_item.setImage(np.full((h, w), 40, dtype=np.uint8), levels=(0, 255))
        else:
            self.image_item.setImage(arr, levels=(0, 255), autoLevels=False)
        self.image_item.setOpacity(0.35 if dim else 1.0)
        self.image_size = (width, height)

    def set_content(self, ids: np.ndarray, xyxy: np.ndarray, cls: np.ndarray,
                    style: np.ndarray, labels: Sequence[str], tags: Sequence[str],
                    bounds: QRectF) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.boxes.set_boxes(xyxy, cls, style, labels, tags, bounds)
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

    def set_partner_ids(self, ids: Sequence[int]) -> None:
        self.partner_ids = {int(b) for b in ids if b >= 0}
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

    # ------------------------------------------------------------------ geometry
    def pixel_size(self) -> float:
        px = self.vb.viewPixelSize()
        return float(max(px[0], px[1], 1e-9))

    def hit(self, pt: QPointF) -> int:
        """Row of the smallest box containing ``pt`` (selected boxes first), -1 if none."""
        xy = self.boxes.xyxy
        if not len(xy):
            return -1
        tol = 3 * self.pixel_size()
        x, y = pt.x(), pt.y()
        inside = ((xy[:, 0] - tol <= x) & (x <= xy[:, 2] + tol)
                  & (xy[:, 1] - tol <= y) & (y <= xy[:, 3] + tol))
        rows = np.flatnonzero(inside)
        if not rows.size:
            return -1
        area = (xy[rows, 2] - xy[rows, 0]) * (xy[rows, 3] - xy[rows, 1])
        return int(rows[np.argmin(area)])

    def handle_at(self, pt: QPointF) -> tuple[int, int]:
        """(row, handle) of the single selected box's handle under ``pt``."""
        if not self.editable or len(self.selected) != 1:
            return -1, -1
        rows = self.rows_of(self.selected)
        if not rows:
            return -1, -1
        r = rows[0]
        b = self.boxes.xyxy[r]
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        pts = [(b[0], b[1]), (b[2], b[1]), (b[2], b[3]), (b[0], b[3]),
               (cx, b[1]), (b[2], cy), (cx, b[3]), (b[0], cy)]
        tol = (HANDLE_PX / 2 + 3) * self.pixel_size()
        for k, (hx, hy) in enumerate(pts):
            if abs(pt.x() - hx) <= tol and abs(pt.y() - hy) <= tol:
                return r, k
        return -1, -1

    def widget_point(self, x: float, y: float) -> QPoint:
        """Viewport coordinates of image point (x, y) (for tests and tooltips)."""
        scene = self.vb.mapViewToScene(QPointF(x, y))
        return self.view.mapFromScene(scene)

    def show_rect(self, rect: QRectF) -> None:
        self.vb.setRange(rect=rect, padding=0.02)

    # ------------------------------------------------------------------ gestures
    def click(self, pt: QPointF, mods: Any) -> None:
        if self.draw_mode:
            return
        row = self.hit(pt)
        if _mods_add(mods):
            if row < 0:
                return
            b = int(self.ids[row])
            sel = [s for s in self.selected if s != b] if b in self.selected else (
                self.selected + [b])
            self.set_selected(sel, emit=True)
        else:
            self.set_selected([] if row < 0 else [int(self.ids[row])], emit=True)

    def band_select(self, rect: QRectF, add: bool) -> None:
        xy = self.boxes.xyxy
        if not len(xy):
            return
        inside = ((xy[:, 0] >= rect.left()) & (xy[:, 2] <= rect.right())
                  & (xy[:, 1] >= rect.top()) & (xy[:, 3] <= rect.bottom()))
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
        self.draw_mode = True
        self.view.setCursor(Qt.CursorShape.CrossCursor)
        self.view.setFocus()

    def cancel_draw(self) -> None:
        if self.draw_mode:
            self.draw_mode = False
            self.boxes.set_rubber(None)
            self.view.setCursor(Qt.CursorShape.ArrowCursor)
            self.drawCancelled.emit()

    def finish_draw(self, rect: QRectF) -> None:
        self.draw_mode = False
        self.view.setCursor(Qt.CursorShape.ArrowCursor)
        if rect.width() < 2 or rect.height() < 2:
            self.drawCancelled.emit()
            return
        self.drawFinished.emit(np.array([rect.left(), rect.top(), rect.right(), rect.bottom()]))


def _box_text(b: np.ndarray) -> str:
    return (f"[{b[0]:.0f}, {b[1]:.0f}, {b[2]:.0f}, {b[3]:.0f}] · "
            f"{b[2] - b[0]:.0f}×{b[3] - b[1]:.0f} px")


def _gt_tip(v: ImageView, k: int, name: Any) -> str:
    state = int(v.gt_state[k])
    head = f"GT #{int(v.gt_ids[k])}: {name(int(v.gt_cls[k]))}"
    if state == GT_CROWD:
        what = "crowd region (ignored by matching)"
    elif v.run is None:
        what = ""
    elif state == GT_MISSED:
        what = "missed: no prediction matched it (FN) · R: replace by the best-overlapping one"
    else:
        p = int(v.gt_partner[k])
        j = np.flatnonzero(v.pred_ids == p)
        iou = f", IoU {v.pred_iou[j[0]]:.2f}" if j.size else ""
        what = f"matched by prediction #{p}{iou}"
    return "\n".join(x for x in (head, _box_text(v.gt_xyxy[k]), what) if x)


def _pred_tip(v: ImageView, k: int, name: Any) -> str:
    state = int(v.pred_state[k])
    head = f"prediction #{int(v.pred_ids[k])}: {name(int(v.pred_cls[k]))} {v.pred_score[k]:.3f}"
    if state == PRED_FP:
        what = "false positive: matches no GT box · A: accept it as ground truth"
    elif state == PRED_IGNORED:
        what = "matched a crowd region (ignored)"
    else:
        what = f"true positive: GT #{int(v.pred_partner[k])}, IoU {v.pred_iou[k]:.2f}"
    return "\n".join((head, _box_text(v.pred_xyxy[k]), what))


class SideBySideViewer(QWidget):
    """GT pane and prediction pane with linked zoom/pan."""

    gtSelectionChanged = Signal()  # noqa: N815
    predSelectionChanged = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gt_pane = ImagePane("Ground truth", editable=True)
        self.pred_pane = ImagePane("Predictions", editable=False)
        self.pred_pane.vb.setXLink(self.gt_pane.vb)
        self.pred_pane.vb.setYLink(self.gt_pane.vb)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.gt_pane)
        self.splitter.addWidget(self.pred_pane)
        self.splitter.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.splitter)
        self.view: ImageView | None = None
        self.class_names: Sequence[str] = ()
        self.score_threshold = 0.5
        self.gt_pane.selectionChanged.connect(self._gt_sel)
        self.pred_pane.selectionChanged.connect(self._pred_sel)

    # ------------------------------------------------------------------ content
    def show_view(self, view: ImageView, class_names: Sequence[str], image: np.ndarray | None,
                  new_image: bool) -> None:
        self.view = view
        self.class_names = class_names
        w, h = view.width, view.height
        if image is not None:
            h, w = image.shape[:2]
        if w <= 0 or h <= 0:  # unknown size: fit the boxes
            allxy = np.concatenate([view.gt_xyxy, view.pred_xyxy]) if (
                len(view.gt_xyxy) or len(view.pred_xyxy)) else np.array([[0, 0, 100, 100.0]])
            w, h = int(np.ceil(allxy[:, 2].max())), int(np.ceil(allxy[:, 3].max()))
        bounds = QRectF(0, 0, w, h)
        for pane in (self.gt_pane, self.pred_pane):
            if new_image or image is not None:
                pane.set_image(image, w, h, dim=view.deleted)
            else:  # same image: only its deleted state may have changed
                pane.image_item.setOpacity(0.35 if view.deleted else 1.0)
        names = class_names

        def name(c: int) -> str:
            return names[c] if 0 <= c < len(names) else str(c)

        gstyle = np.full(len(view.gt_ids), STYLE_SOLID, dtype=np.int8)
        gstyle[view.gt_state == GT_MISSED] = STYLE_DASHED
        gstyle[view.gt_state == GT_CROWD] = STYLE_DOTTED
        glabels = [name(int(c)) + (" (crowd)" if s == GT_CROWD else "")
                   for c, s in zip(view.gt_cls.tolist(), view.gt_state.tolist(), strict=True)]
        # per-box error texts from the session ("FN·Miss", "FP·Loc 0.42"; plain FN/FP
        # until the error analysis has run)
        gtags = list(view.gt_tag) or [""] * len(view.gt_ids)
        self.gt_pane.set_content(view.gt_ids, view.gt_xyxy, view.gt_cls, gstyle, glabels,
                                 gtags, bounds)
        pstyle = np.full(len(view.pred_ids), STYLE_SOLID, dtype=np.int8)
        pstyle[view.pred_state == PRED_FP] = STYLE_DASHED
        pstyle[view.pred_state == PRED_IGNORED] = STYLE_DOTTED
        plabels = [f"{name(int(c))} {s:.2f}" for c, s in
                   zip(view.pred_cls.tolist(), view.pred_score.tolist(), strict=True)]
        ptags = list(view.pred_tag) or [""] * len(view.pred_ids)
        self.pred_pane.set_content(view.pred_ids, view.pred_xyxy, view.pred_cls, pstyle,
                                   plabels, ptags, bounds)
        self.gt_pane.tooltips = [_gt_tip(view, k, name) for k in range(len(view.gt_ids))]
        self.pred_pane.tooltips = [_pred_tip(view, k, name) for k in range(len(view.pred_ids))]
        for k, h in enumerate(view.gt_help):
            if h:
                self.gt_pane.tooltips[k] += "\n" + h
        for k, h in enumerate(view.pred_help):
            if h:
                self.pred_pane.tooltips[k] += "\n" + h
        if new_image:
            self.gt_pane.show_rect(bounds)
        self._update_headers()
        self._sync_partners()

    def set_image(self, image: np.ndarray, dim: bool) -> None:
        h, w = image.shape[:2]
        for pane in (self.gt_pane, self.pred_pane):
            pane.set_image(image, w, h, dim=dim)

    def _update_headers(self) -> None:
        v = self.view
        if v is None:
            return
        n_missed = int(np.count_nonzero(v.gt_state == GT_MISSED))
        state = ""
        if v.deleted:
            state = " <b style='color:#e04040'>DELETED</b>"
        elif v.reviewed:
            state = " <b style='color:#3a9a3a'>✓ reviewed</b>"
        tags = "".join(f" <span style='color:#2f6fc0'>#{t}</span>" for t in v.tags)
        n_gt = len(v.gt_ids)
        gt = (f"<b>Ground truth</b> · {n_gt} box{'es' if n_gt != 1 else ''}"
              + (f" · <span style='color:#d02020'>{n_missed} FN (dashed)</span>"
                 if v.run is not None and n_missed else "") + state + tags)
        self.gt_pane.header.setText(gt)
        self.gt_pane.header.setToolTip(
            "Ground-truth boxes of this image. Dashed with a red FN tag: no prediction "
            "matched it (missed). Click to select, drag to move, handles to resize.")
        if v.run is None:
            self.pred_pane.header.setText("<b>Predictions</b> · no prediction run loaded")
            return
        n_tp = int(np.count_nonzero(v.pred_state == 0))
        n_fp = int(np.count_nonzero(v.pred_state == PRED_FP))
        pred = (f"<b>Predictions · {v.run}</b> · {len(v.pred_ids)} ≥ "
                f"{self.score_threshold:.2f} · {n_tp} TP"
                + (f" · <span style='color:#d02020'>{n_fp} FP (dashed)</span>" if n_fp else "")
                + (f" · <span style='color:gray'>+{v.n_below} below</span>"
                   if v.n_below else ""))
        self.pred_pane.header.setText(pred)
        self.pred_pane.header.setToolTip(
            f"Predictions of run {v.run} with score ≥ {self.score_threshold:.2f} "
            f"({v.n_below} below the threshold are hidden). Solid: true positive; dashed "
            "with a red FP tag: matches no ground-truth box. Select one and press A to "
            "accept it as ground truth.")

    # ------------------------------------------------------------------ selection
    def _sync_partners(self) -> None:
        v = self.view
        if v is None:
            return
        g = self.gt_pane.rows_of(self.gt_pane.selected)
        p = self.pred_pane.rows_of(self.pred_pane.selected)
        self.pred_pane.set_partner_ids(v.gt_partner[g].tolist() if g else [])
        self.gt_pane.set_partner_ids(v.pred_partner[p].tolist() if p else [])

    def _gt_sel(self) -> None:
        self._sync_partners()
        self.gtSelectionChanged.emit()

    def _pred_sel(self) -> None:
        self._sync_partners()
        self.predSelectionChanged.emit()

    def clear(self) -> None:
        self.view = None
        for pane in (self.gt_pane, self.pred_pane):
            pane.set_content(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, np.int64),
                             np.zeros(0, np.int8), [], [], QRectF(0, 0, 1, 1))
            pane.header.setText(pane.title)
