"""One graphics item that paints every box of one image from arrays.

Boxes are mapped to device coordinates in ``paint`` and drawn with cosmetic pens; the
labels (class name, score, FP/FN tags) are drawn in device pixels too, so they stay
the same readable size at any zoom. Pattern: pyqtgraph's ``customGraphicsItem``
example, one item for all boxes instead of one item per box.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QPainter, QPen

__all__ = ["BoxesItem", "class_color", "STYLE_SOLID", "STYLE_DASHED", "STYLE_DOTTED"]

STYLE_SOLID, STYLE_DASHED, STYLE_DOTTED = 0, 1, 2

# Distinct, saturated colours that read on dark and light images (Ultralytics-like).
_PALETTE = [
    "#FF3838", "#2C99A8", "#FF9D97", "#FF701F", "#FFB21D", "#CFD231", "#48F90A",
    "#92CC17", "#3DDB86", "#1A9334", "#00D4BB", "#FF37C7", "#00C2FF", "#344593",
    "#6473FF", "#0018EC", "#8438FF", "#520085", "#CB38FF", "#FF95C8",
]
_QCOLORS = [QColor(c) for c in _PALETTE]
HANDLE_PX = 7.0  # handle square size in device pixels


def class_color(cls: int) -> QColor:
    return QColor(_QCOLORS[int(cls) % len(_QCOLORS)])


def _text_color(bg: QColor) -> QColor:
    lum = 0.299 * bg.red() + 0.587 * bg.green() + 0.114 * bg.blue()
    return QColor(0, 0, 0) if lum > 150 else QColor(255, 255, 255)


class BoxesItem(pg.GraphicsObject):
    """All boxes of one pane. Data coordinates are image pixels (xyxy)."""

    def __init__(self) -> None:
        super().__init__()
        self.xyxy = np.zeros((0, 4))
        self.cls = np.zeros(0, dtype=np.int64)
        self.style = np.zeros(0, dtype=np.int8)
        self.labels: list[str] = []
        self.tags: list[str] = []  # short red tag before the label ("FN", "FP")
        self.selected = np.zeros(0, dtype=bool)
        self.partner = np.zeros(0, dtype=bool)  # matched partner of the other pane's pick
        self.show_labels = True
        self.handles_for: int = -1  # row whose resize handles are drawn
        self.override: dict[int, np.ndarray] = {}  # rows drawn elsewhere (during a drag)
        self.rubber: QRectF | None = None  # rubber band / new box, data coordinates
        self._bounds = QRectF()
        self.font = QFont()
        self.font.setPixelSize(12)
        self.font.setBold(True)
        self._fm = QFontMetricsF(self.font)

    # ------------------------------------------------------------------ data
    def set_boxes(self, xyxy: np.ndarray, cls: np.ndarray, style: np.ndarray,
                  labels: Sequence[str], tags: Sequence[str], bounds: QRectF) -> None:
        self.prepareGeometryChange()
        self.xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        self.cls = np.asarray(cls, dtype=np.int64)
        self.style = np.asarray(style, dtype=np.int8)
        self.labels = list(labels)
        self.tags = list(tags)
        n = len(self.xyxy)
        self.selected = np.zeros(n, dtype=bool)
        self.partner = np.zeros(n, dtype=bool)
        self.handles_for = -1
        self.override = {}
        # generous bounds: labels are drawn in device pixels outside the boxes
        m = max(bounds.width(), bounds.height(), 1.0)
        self._bounds = bounds.adjusted(-m, -m, m, m)
        self.update()

    def set_selection(self, selected: np.ndarray, partner: np.ndarray, handles_for: int) -> None:
        self.selected = np.asarray(selected, dtype=bool)
        self.partner = np.asarray(partner, dtype=bool)
        self.handles_for = handles_for
        self.update()

    def set_override(self, boxes: dict[int, np.ndarray] | None) -> None:
        """Draw these rows at these positions (a drag in progress); None ends it."""
        self.override = {} if boxes is None else {
            r: np.asarray(b, dtype=np.float64) for r, b in boxes.items()}
        self.update()

    def set_rubber(self, rect: QRectF | None) -> None:
        self.rubber = rect
        self.update()

    def box(self, row: int) -> np.ndarray:
        if row in self.override:
            return self.override[row]
        return self.xyxy[row]

    # ------------------------------------------------------------------ Qt
    def boundingRect(self) -> QRectF:  # noqa: N802
        return self._bounds

    def paint(self, p: QPainter, *args: Any) -> None:
        tr = p.transform()
        p.save()
        p.resetTransform()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        p.setFont(self.font)
        n = len(self.xyxy)
        # unselected first, then partners, then selected on top
        order = np.lexsort((self.selected, self.partner)) if n else np.zeros(0, np.int64)
        label_jobs: list[tuple[QRectF, int]] = []
        for r in order.tolist():
            b = self.box(r)
            rect = tr.mapRect(QRectF(QPointF(b[0], b[1]), QPointF(b[2], b[3])))
            color = class_color(int(self.cls[r]))
            style = int(self.style[r])
            sel = bool(self.selected[r])
            if style == STYLE_DOTTED:
                color = QColor(170, 170, 170)
            width = 3.0 if sel else 2.0
            if sel or self.partner[r]:
                halo = QPen(QColor(255, 255, 255), width + 3)
                halo.setCosmetic(True)
                if self.partner[r] and not sel:
                    halo.setStyle(Qt.PenStyle.DotLine)
                p.setPen(halo)
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(rect)
            pen = QPen(color, width)
            pen.setCosmetic(True)
            if style == STYLE_DASHED:
                pen.setStyle(Qt.PenStyle.CustomDashLine)
                pen.setDashPattern([4.0, 3.0])
            elif style == STYLE_DOTTED:
                pen.setStyle(Qt.PenStyle.DotLine)
            p.setPen(pen)
            if sel:
                fill = QColor(color)
                fill.setAlpha(45)
                p.setBrush(fill)
            else:
                p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(rect)
            label_jobs.append((rect, r))
        if self.show_labels and label_jobs:
            # selected boxes first, then errors (FN/FP tags), then larger boxes; a label
            # that would cover an earlier one is skipped (zoom in to see it)
            def rank(job: tuple[QRectF, int]) -> tuple[int, int, float]:
                rect, r = job
                tag = bool(self.tags[r]) if r < len(self.tags) else False
                return (0 if self.selected[r] else 1 if self.partner[r] else 2,
                        0 if tag else 1, -rect.width() * rect.height())

            placed: list[QRectF] = []
            chips: list[tuple[QRectF, int, QRectF]] = []
            # the viewport being painted (args: option, widget): labels stay inside it
            widget = args[1] if len(args) > 1 else None
            area = QRectF(widget.rect()) if widget is not None else QRectF(p.window())
            for rect, r in sorted(label_jobs, key=rank):
                chip = self._place_label(rect, r, placed, force=bool(self.selected[r]),
                                         area=area)
                if chip is not None:
                    chips.append((rect, r, chip))
            for _rect, r, chip in reversed(chips):  # selected last, on top
                self._paint_label(p, chip, r)
        if 0 <= self.handles_for < n:
            b = self.box(self.handles_for)
            rect = tr.mapRect(QRectF(QPointF(b[0], b[1]), QPointF(b[2], b[3])))
            p.setPen(QPen(QColor(0, 0, 0), 1))
            p.setBrush(QColor(255, 255, 255))
            h = HANDLE_PX
            small = min(rect.width(), rect.height()) < 4 * h
            if small:
                # corner handles only, just outside the box: a tiny box stays visible
                h = 5.0
                rect = rect.adjusted(-h / 2, -h / 2, h / 2, h / 2)
            for pt in _handle_points(rect)[: 4 if small else 8]:
                p.drawRect(QRectF(pt.x() - h / 2, pt.y() - h / 2, h, h))
        if self.rubber is not None:
            rect = tr.mapRect(self.rubber)
            pen = QPen(QColor(255, 255, 255), 1.5)
            pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            fill = QColor(255, 255, 255)
            fill.setAlpha(30)
            p.setBrush(fill)
            p.drawRect(rect)
        p.restore()

    def _label_size(self, r: int) -> tuple[float, float, float]:
        text = self.labels[r] if r < len(self.labels) else ""
        tag = self.tags[r] if r < len(self.tags) else ""
        fm = self._fm
        pad = 3.0
        tag_w = fm.horizontalAdvance(tag) + 2 * pad if tag else 0.0
        text_w = fm.horizontalAdvance(text) + 2 * pad if text else 0.0
        return tag_w, text_w, fm.height() + 2

    def _place_label(self, rect: QRectF, r: int, placed: list[QRectF],
                     force: bool = False, area: QRectF | None = None) -> QRectF | None:
        tag_w, text_w, h = self._label_size(r)
        w = tag_w + text_w
        if w <= 0:
            return None
        x = rect.left()
        if area is not None and area.width() > w:  # not cut by the pane's right/left edge
            x = min(max(x, area.left()), area.right() - w)
        # above the box, else inside its top edge, else below it
        candidates = [QRectF(x, rect.top() - h, w, h), QRectF(x, rect.top(), w, h),
                      QRectF(x, rect.bottom(), w, h)]
        if rect.top() - h < 0:
            candidates.pop(0)
        chip = next((c for c in candidates if not any(c.intersects(q) for q in placed)), None)
        if chip is None:
            if not force:
                return None
            chip = candidates[0]
        placed.append(chip)
        return chip

    def _paint_label(self, p: QPainter, chip: QRectF, r: int) -> None:
        text = self.labels[r] if r < len(self.labels) else ""
        tag = self.tags[r] if r < len(self.tags) else ""
        tag_w, text_w, h = self._label_size(r)
        color = class_color(int(self.cls[r]))
        if int(self.style[r]) == STYLE_DOTTED:
            color = QColor(120, 120, 120)
        if self.selected[r]:  # a white frame marks the selected box's label
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(chip.adjusted(-1, -1, 1, 1))
        p.setPen(Qt.PenStyle.NoPen)
        if tag:
            p.setBrush(QColor(215, 25, 25))
            p.drawRect(QRectF(chip.left(), chip.top(), tag_w, h))
            p.setPen(QColor(255, 255, 255))
            p.drawText(QRectF(chip.left(), chip.top(), tag_w, h),
                       Qt.AlignmentFlag.AlignCenter, tag)
        if text:
            bg = QColor(color)
            bg.setAlpha(235)
            box = QRectF(chip.left() + tag_w, chip.top(), text_w, h)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(bg)
            p.drawRect(box)
            p.setPen(_text_color(bg))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, text)


def _handle_points(rect: QRectF) -> list[QPointF]:
    """Corners (TL, TR, BR, BL) then edges (T, R, B, L) of a device rectangle."""
    cx, cy = rect.center().x(), rect.center().y()
    return [
        rect.topLeft(), rect.topRight(), rect.bottomRight(), rect.bottomLeft(),
        QPointF(cx, rect.top()), QPointF(rect.right(), cy),
        QPointF(cx, rect.bottom()), QPointF(rect.left(), cy),
    ]
