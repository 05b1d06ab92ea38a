"""One graphics item that paints every box of one image from arrays.

Boxes are drawn in image coordinates with cosmetic pens, **batched by pen**: the rows
are grouped once per content or selection change (colour, line style, selected,
partner) and each group is one ``drawRects`` call. The labels (class name, score,
FP/FN tags) are drawn in device pixels, the same readable size at any zoom; their
*layout* (which label goes where, which is skipped because it would cover another) is
computed in zoom-scaled coordinates (about linear in the number of boxes:
:mod:`detview.gui.box_labels`) and cached until the boxes, the selection or the zoom
change: a pan only shifts it. The labels painted last are kept
(:attr:`BoxesItem.painted_chips`) so a click on a label selects the label's own box.
Pattern: pyqtgraph's ``customGraphicsItem`` example, one item for all boxes instead of
one item per box.
"""

from __future__ import annotations

import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QPainter,
    QPen,
    QStaticText,
    QTransform,
)

from .box_labels import place_labels

__all__ = ["BoxesItem", "class_color", "STYLE_SOLID", "STYLE_DASHED", "STYLE_DOTTED",
           "STYLE_GHOST", "TAG_RED", "TAG_VIOLET"]

#: solid: right; dashed: an error (FN/FP); dotted: crowd / ignored; ghost: a suggested
#: box that is not ground truth (a likely missing label)
STYLE_SOLID, STYLE_DASHED, STYLE_DOTTED, STYLE_GHOST = 0, 1, 2, 3

# Distinct, saturated colours that read on dark and light images (Ultralytics-like).
_PALETTE = [
    "#FF3838", "#2C99A8", "#FF9D97", "#FF701F", "#FFB21D", "#CFD231", "#48F90A",
    "#92CC17", "#3DDB86", "#1A9334", "#00D4BB", "#FF37C7", "#00C2FF", "#344593",
    "#6473FF", "#0018EC", "#8438FF", "#520085", "#CB38FF", "#FF95C8",
]
_QCOLORS = [QColor(c) for c in _PALETTE]
_PALETTE_RGB = np.array([c.rgb() & 0xFFFFFF for c in _QCOLORS], dtype=np.int64)
_GREY = 0xAAAAAA
TAG_RED = 0xD71919  # an error (FN, FP and their types)
TAG_VIOLET = 0x7B3FE4  # a label-quality hint
HANDLE_PX = 7.0  # handle square size in device pixels
SMALL_BOX_PX = 4 * HANDLE_PX  # below this (device px), handles sit outside the corners
_PAD = 3.0  # label padding
_WIDTHS: dict[str, float] = {}  # label text -> advance (same font everywhere)
_STATIC: dict[str, QStaticText] = {}  # label text -> its layout


def class_color(cls: int, colors: Mapping[int, QColor] | None = None) -> QColor:
    """The colour of class ``cls``: a chosen one, else the palette's."""
    if colors and int(cls) in colors:
        return QColor(colors[int(cls)])
    return QColor(_QCOLORS[int(cls) % len(_QCOLORS)])


def _text_color(bg: QColor) -> QColor:
    lum = 0.299 * bg.red() + 0.587 * bg.green() + 0.114 * bg.blue()
    return QColor(0, 0, 0) if lum > 150 else QColor(255, 255, 255)


def _pen(rgb: int, width: float, style: int, alpha: int = 255) -> QPen:
    c = QColor((rgb >> 16) & 255, (rgb >> 8) & 255, rgb & 255, alpha)
    pen = QPen(c, width)
    pen.setCosmetic(True)
    if style == STYLE_DASHED:
        pen.setStyle(Qt.PenStyle.CustomDashLine)
        pen.setDashPattern([4.0, 3.0])
    elif style == STYLE_DOTTED:
        pen.setStyle(Qt.PenStyle.DotLine)
    elif style == STYLE_GHOST:
        pen.setStyle(Qt.PenStyle.CustomDashLine)
        pen.setDashPattern([1.5, 2.0, 5.0, 2.0])
    return pen


#: one batch of boxes: pen, brush, rectangles, and for a doubled 1 px line the boxes
#: (xyxy) whose inner line is drawn 1 screen px inside
_Group = tuple[QPen | None, QBrush | None, list[QRectF], np.ndarray | None]


def _rects(xyxy: np.ndarray) -> list[QRectF]:
    return [QRectF(a, b, c - a, d - b) for a, b, c, d in xyxy.tolist()]


class BoxesItem(pg.GraphicsObject):
    """All boxes of one layer. Data coordinates are image pixels (xyxy)."""

    def __init__(self) -> None:
        super().__init__()
        self.xyxy = np.zeros((0, 4))
        self.cls = np.zeros(0, dtype=np.int64)
        self.style = np.zeros(0, dtype=np.int8)
        self.labels: list[str] = []
        self.tags: list[str] = []  # short red tag before the label ("FN", "FP")
        self.selected = np.zeros(0, dtype=bool)
        self.partner = np.zeros(0, dtype=bool)  # matched partner of another pane's pick
        self.colors: dict[int, QColor] = {}  # class -> chosen colour (else the palette)
        self.tag_rgb = np.zeros(0, dtype=np.int64)  # per row: the tag's colour
        #: the second source of an overlay: thinner lines, labels below the boxes
        self.secondary = False
        #: the item under this one in an overlay: its labels are not covered by ours
        self.below: BoxesItem | None = None
        self.show_labels = True
        self.handles_for: int = -1  # row whose resize handles are drawn
        self.override: dict[int, np.ndarray] = {}  # rows drawn elsewhere (during a drag)
        self.rubber: QRectF | None = None  # rubber band / new box, data coordinates
        #: the labels of the last paint, in viewport pixels, in painting order (the
        #: last one is on top): (chip, row)
        self.painted_chips: list[tuple[QRectF, int]] = []
        self.paint_errors = 0  # exceptions caught in paint() (tests check it stays 0)
        self._bounds = QRectF()
        self.font = QFont()
        self.font.setPixelSize(12)
        self.font.setBold(True)
        self._fm = QFontMetricsF(self.font)
        self._h = self._fm.height() + 2
        self._tag_w = np.zeros(0)
        self._text_w = np.zeros(0)
        self._groups: list[_Group] | None = None
        self._inset_key: tuple[float, float] | None = None
        self._inset: dict[int, list[QRectF]] = {}
        self._rgb_cache: tuple[int, np.ndarray] | None = None
        self._version = 0  # content, selection or style changed: layout again
        self._layout_key: tuple[Any, ...] | None = None
        self._chips = np.zeros((0, 4))  # x, y, w, h in zoom-scaled coordinates
        self._chip_rows = np.zeros(0, dtype=np.int64)
        self._chip_forced = np.zeros(0, dtype=bool)

    # ------------------------------------------------------------------ data
    def set_boxes(self, xyxy: np.ndarray, cls: np.ndarray, style: np.ndarray,
                  labels: Sequence[str], tags: Sequence[str], bounds: QRectF,
                  tag_rgb: np.ndarray | None = None) -> None:
        """The boxes (xyxy, image pixels), their class, style, label text and tag (a
        short chip before the label, red unless ``tag_rgb`` says otherwise)."""
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
        self.tag_rgb = (np.full(n, TAG_RED, dtype=np.int64) if tag_rgb is None
                        else np.asarray(tag_rgb, dtype=np.int64))
        self._tag_w = np.array([self._width(t) for t in self.tags] + [0.0] * (n - len(self.tags)))
        self._text_w = np.array([self._width(t) for t in self.labels]
                                + [0.0] * (n - len(self.labels)))
        # generous bounds: labels are drawn in device pixels outside the boxes
        m = max(bounds.width(), bounds.height(), 1.0)
        self._bounds = bounds.adjusted(-m, -m, m, m)
        self._changed()

    def _width(self, text: str) -> float:
        if not text:
            return 0.0
        w = _WIDTHS.get(text)
        if w is None:
            w = _WIDTHS[text] = self._fm.horizontalAdvance(text) + 2 * _PAD
        return w

    def set_selection(self, selected: np.ndarray, partner: np.ndarray, handles_for: int) -> None:
        self.selected = np.asarray(selected, dtype=bool)
        self.partner = np.asarray(partner, dtype=bool)
        self.handles_for = handles_for
        self._changed()

    def set_colors(self, colors: Mapping[int, QColor]) -> None:
        """Chosen class colours (class -> colour); the others keep the palette's."""
        new = {int(k): QColor(v) for k, v in colors.items()}
        if {k: c.rgb() for k, c in new.items()} != {k: c.rgb() for k, c in self.colors.items()}:
            self.colors = new
            self._changed()

    def set_secondary(self, on: bool) -> None:
        if bool(on) != self.secondary:
            self.secondary = bool(on)
            self._changed()

    def set_show_labels(self, on: bool) -> None:
        self.show_labels = bool(on)
        self.update()

    def set_override(self, boxes: dict[int, np.ndarray] | None) -> None:
        """Draw these rows at these positions (a drag in progress); None ends it."""
        self.override = {} if boxes is None else {
            r: np.asarray(b, dtype=np.float64) for r, b in boxes.items()}
        self._groups = None  # the dragged rows leave their batches
        self.update()

    def set_rubber(self, rect: QRectF | None) -> None:
        self.rubber = rect
        self.update()

    def box(self, row: int) -> np.ndarray:
        if row in self.override:
            return self.override[row]
        return self.xyxy[row]

    def color_of(self, row: int) -> QColor:
        if int(self.style[row]) == STYLE_DOTTED:
            return QColor(_GREY)
        return class_color(int(self.cls[row]), self.colors)

    def _changed(self) -> None:
        self._groups = None
        self._version += 1
        self.update()

    # ------------------------------------------------------------------ Qt
    def boundingRect(self) -> QRectF:  # noqa: N802
        return self._bounds

    def paint(self, p: QPainter, *args: Any) -> None:
        try:
            self._paint(p, *args)
        except Exception:  # noqa: BLE001 - an exception escaping paint() kills Qt
            self.paint_errors += 1
            if self.paint_errors <= 3:
                traceback.print_exc()

    def _paint(self, p: QPainter, *args: Any) -> None:
        tr = p.transform()
        p.setRenderHint(QPainter.RenderHint.Antialiasing, False)
        if self._groups is None:
            self._groups = self._build_groups()
            self._inset_key = None
        # boxes: in image coordinates, one call per pen. A dashed or dotted 2 px line
        # is two 1 px lines (the second 1 screen px inside): the raster engine strokes
        # wide dashed pens several times slower
        key = (tr.m11(), tr.m22())
        if key != self._inset_key:
            self._inset_key = key
            self._inset = {}
            px, py = 1.0 / max(abs(key[0]), 1e-12), 1.0 / max(abs(key[1]), 1e-12)
            for k, g in enumerate(self._groups):
                if g[3] is not None:
                    inner = g[3] + np.array([px, py, -px, -py])
                    inner[:, 2:] = np.maximum(inner[:, 2:], inner[:, :2])
                    self._inset[k] = _rects(inner)
        for k, (pen, brush, rects, _xy) in enumerate(self._groups):
            p.setPen(pen if pen is not None else Qt.PenStyle.NoPen)
            p.setBrush(brush if brush is not None else Qt.BrushStyle.NoBrush)
            p.drawRects(rects)
            inner = self._inset.get(k)
            if inner is not None:
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRects(inner)
        for r, b in self.override.items():  # a drag in progress: a few rows
            if 0 <= r < len(self.xyxy):
                p.setPen(_pen(self.color_of(r).rgb() & 0xFFFFFF, 3.0, int(self.style[r])))
                p.setBrush(Qt.BrushStyle.NoBrush)
                p.drawRect(QRectF(QPointF(b[0], b[1]), QPointF(b[2], b[3])))
        p.save()
        try:
            p.resetTransform()
            self._paint_device(p, tr, args[1] if len(args) > 1 else None)
        finally:  # an unbalanced painter would take the process down
            p.restore()

    def _paint_device(self, p: QPainter, tr: QTransform, widget: Any) -> None:
        """What is drawn in device pixels: labels, handles, the rubber band."""
        area = QRectF(widget.rect()) if widget is not None else QRectF(p.window())
        self.painted_chips = []
        if self.show_labels and len(self.xyxy):
            self._paint_labels(p, tr, area)
        n = len(self.xyxy)
        if 0 <= self.handles_for < n:
            self._paint_handles(p, tr)
        if self.rubber is not None:
            rect = tr.mapRect(self.rubber)
            pen = QPen(QColor(255, 255, 255), 1.5)
            pen.setStyle(Qt.PenStyle.DashLine)
            p.setPen(pen)
            fill = QColor(255, 255, 255)
            fill.setAlpha(30)
            p.setBrush(fill)
            p.drawRect(rect)

    # ------------------------------------------------------------------ batches
    def _rgb(self) -> np.ndarray:
        if self._rgb_cache is not None and self._rgb_cache[0] == self._version:
            return self._rgb_cache[1]
        rgb = _PALETTE_RGB[self.cls % len(_PALETTE_RGB)] if len(self.cls) else np.zeros(
            0, np.int64)
        for c, col in self.colors.items():
            rgb[self.cls == c] = col.rgb() & 0xFFFFFF
        rgb[self.style == STYLE_DOTTED] = _GREY
        self._rgb_cache = (self._version, rgb)
        return rgb

    def _build_groups(self) -> list[_Group]:
        n = len(self.xyxy)
        out: list[_Group] = []
        if not n:
            return out
        keep = np.ones(n, dtype=bool)
        keep[[r for r in self.override if 0 <= r < n]] = False
        sel = self.selected if len(self.selected) == n else np.zeros(n, bool)
        partner = (self.partner if len(self.partner) == n else np.zeros(n, bool)) & ~sel
        rgb = self._rgb()
        style = self.style.astype(np.int64)
        # 0: plain, 1: partner, 2: selected (drawn in this order, halos beneath)
        level = np.where(sel, 2, np.where(partner, 1, 0))
        key = (level * 8 + style) * (1 << 24) + rgb
        rows = np.flatnonzero(keep)
        if not rows.size:
            return out
        k = key[rows]
        order = np.argsort(k, kind="stable")
        uniq, starts = np.unique(k[order], return_index=True)
        bounds = np.append(starts, order.size)
        for j, u in enumerate(uniq.tolist()):
            rs = rows[order[bounds[j]:bounds[j + 1]]]
            lev, st, c = u >> 27, (u >> 24) & 7, u & 0xFFFFFF
            rects = _rects(self.xyxy[rs])
            if lev:  # a white halo under the selected / partner boxes
                halo = _pen(0xFFFFFF, 6.0 if lev == 2 else 5.0,
                            STYLE_SOLID if lev == 2 else STYLE_DOTTED)
                out.append((halo, None, rects, None))
            double = lev == 0 and st in (STYLE_DASHED, STYLE_DOTTED) and not self.secondary
            if lev:
                width = 2.5 if self.secondary else 3.0
            elif st == STYLE_GHOST or self.secondary or double:
                width = 1.0
            else:
                width = 2.0
            pen = _pen(c, width, st, 210 if st == STYLE_GHOST else 255)
            brush = None
            if lev == 2 or st == STYLE_GHOST:
                fill = QColor((c >> 16) & 255, (c >> 8) & 255, c & 255,
                              45 if lev == 2 else 35)
                brush = QBrush(fill)
            out.append((pen, brush, rects, self.xyxy[rs].copy() if double else None))
        return out

    # ------------------------------------------------------------------ labels
    def _layout(self, sx: float, sy: float) -> None:
        """Place the labels at this zoom (cached): selected first, then partners, then
        errors (tagged), then larger boxes; a label that would cover one placed before
        is skipped (zoom in to see it), except a selected box's."""
        below = self.below
        if below is not None:  # an overlay: avoid the labels of the layer under this one
            below._layout(sx, sy)
        key = (self._version, round(sx, 9), round(sy, 9),
               None if below is None else (id(below), below._layout_key, below.show_labels))
        if key == self._layout_key:
            return
        self._layout_key = key
        n = len(self.xyxy)
        w = self._tag_w + self._text_w
        xy = self.xyxy * np.array([sx, sy, sx, sy])
        x1 = np.minimum(xy[:, 0], xy[:, 2])
        y1 = np.minimum(xy[:, 1], xy[:, 3])
        y2 = np.maximum(xy[:, 1], xy[:, 3])
        area = np.abs((xy[:, 2] - xy[:, 0]) * (xy[:, 3] - xy[:, 1]))
        sel = self.selected if len(self.selected) == n else np.zeros(n, bool)
        partner = self.partner if len(self.partner) == n else np.zeros(n, bool)
        rank = np.where(sel, 0, np.where(partner, 1, 2))
        untagged = self._tag_w <= 0
        order = np.lexsort((-area, untagged, rank))
        order = order[w[order] > 0]
        h = self._h
        chips: list[tuple[float, float, float, float]] = []
        rows: list[int] = []
        forced: list[bool] = []
        m = int(order.size)
        if m:
            xs, ws, tops, bottoms = x1[order], w[order], y1[order], y2[order]
            # candidate tops: above the box, else inside its top edge, else below it (the
            # second source of an overlay: below, inside the bottom edge, above)
            if self.secondary:
                cand = np.stack([bottoms, bottoms - h, tops - h], axis=1)
                cand[tops - h < 0, 2] = np.nan
            else:
                cand = np.stack([tops - h, tops, bottoms], axis=1)
                cand[tops - h < 0, 0] = np.nan
            taken = below.placed_chips() if below is not None else None
            chips, placed, forced = place_labels(xs, ws, cand, sel[order], h, taken)
            rows = order[placed].tolist()
        self._chips = np.array(chips, dtype=np.float64).reshape(-1, 4)
        self._chip_rows = np.array(rows, dtype=np.int64)
        self._chip_forced = np.array(forced, dtype=bool)

    def placed_chips(self) -> np.ndarray:
        """(x, y, w, h) of the labels placed by this item and the ones under it (its
        last layout, zoom-scaled coordinates)."""
        own = self._chips if self.show_labels else np.zeros((0, 4))
        if self.below is None:
            return own
        return np.concatenate([self.below.placed_chips(), own])

    def _paint_labels(self, p: QPainter, tr: QTransform, area: QRectF) -> None:
        if tr.type().value > QTransform.TransformationType.TxScale.value:  # rotated: no labels
            return
        sx, sy, dx, dy = tr.m11(), tr.m22(), tr.dx(), tr.dy()
        self._layout(sx, sy)
        if not len(self._chip_rows):
            return
        chips = self._chips.copy()
        chips[:, 0] += dx
        chips[:, 1] += dy
        rows = self._chip_rows
        if self.override:  # dragged rows: their labels follow the drag
            for k, r in enumerate(rows.tolist()):
                if r in self.override:
                    d = (self.override[r] - self.xyxy[r])[:2]
                    chips[k, 0] += d[0] * sx
                    chips[k, 1] += d[1] * sy
        # only the labels in the viewport; those cut by its edge are pushed inside
        x, y, w, h = chips.T
        vis = ((x < area.right()) & (x + w > area.left())
               & (y < area.bottom()) & (y + h > area.top()))
        wide = w < area.width()
        x[:] = np.where(wide, np.clip(x, area.left(), area.right() - w), x)
        y[:] = np.clip(y, area.top(), max(area.top(), area.bottom() - self._h))
        idx = np.flatnonzero(vis)
        if not idx.size:
            return
        forced = self._chip_forced[idx]
        # the other labels grouped by colour, then the selected ones on top
        plain = idx[~forced]
        top = idx[forced][::-1]
        rgb = self._rgb()
        p.setFont(self.font)
        tag_w, text_w = self._tag_w, self._text_w
        if plain.size:
            self._paint_chip_batch(p, chips, plain, rows, rgb, tag_w, text_w)
        for k in top.tolist():
            self._paint_chip_batch(p, chips, np.array([k]), rows, rgb, tag_w, text_w)

    def _paint_chip_batch(self, p: QPainter, chips: np.ndarray, ks: np.ndarray,
                          rows: np.ndarray, rgb: np.ndarray, tag_w: np.ndarray,
                          text_w: np.ndarray) -> None:
        rs = rows[ks]
        cx, cy, _cw, chh = (chips[ks, 0], chips[ks, 1], chips[ks, 2], chips[ks, 3])
        tw, xw = tag_w[rs], text_w[rs]
        sel = self.selected[rs] if len(self.selected) == len(self.xyxy) else np.zeros(
            len(rs), bool)
        p.setPen(Qt.PenStyle.NoPen)
        if sel.any():  # a white frame marks the selected box's label
            p.setPen(QPen(QColor(255, 255, 255), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            s = np.flatnonzero(sel)
            p.drawRects([QRectF(a - 1, b - 1, c + 2, d + 2) for a, b, c, d in zip(
                cx[s].tolist(), cy[s].tolist(), (tw + xw)[s].tolist(), chh[s].tolist(),
                strict=True)])
            p.setPen(Qt.PenStyle.NoPen)
        tagged = np.flatnonzero(tw > 0)
        tag_rects: list[QRectF] = []
        if tagged.size:
            tag_rects = [QRectF(a, b, c, d) for a, b, c, d in zip(
                cx[tagged].tolist(), cy[tagged].tolist(), tw[tagged].tolist(),
                chh[tagged].tolist(), strict=True)]
            trgb = self.tag_rgb[rs[tagged]] if len(self.tag_rgb) == len(self.xyxy) else (
                np.full(tagged.size, TAG_RED))
            for c in np.unique(trgb).tolist():
                p.setBrush(QColor((c >> 16) & 255, (c >> 8) & 255, c & 255))
                p.drawRects([tag_rects[k] for k in np.flatnonzero(trgb == c).tolist()])
        texted = np.flatnonzero(xw > 0)
        text_rects = [QRectF(a, b, c, d) for a, b, c, d in zip(
            (cx + tw)[texted].tolist(), cy[texted].tolist(), xw[texted].tolist(),
            chh[texted].tolist(), strict=True)]
        colors = rgb[rs[texted]]
        ghost = self.style[rs[texted]] == STYLE_GHOST
        by_color: dict[tuple[int, bool], list[int]] = {}
        for k, (c, g) in enumerate(zip(colors.tolist(), ghost.tolist(), strict=True)):
            by_color.setdefault((c, g), []).append(k)
        for (c, g), ks2 in by_color.items():
            bg = QColor((c >> 16) & 255, (c >> 8) & 255, c & 255, 150 if g else 235)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(bg)
            p.drawRects([text_rects[k] for k in ks2])
            p.setPen(_text_color(bg) if not g else QColor(255, 255, 255))
            for k in ks2:
                rect = text_rects[k]
                p.drawStaticText(QPointF(rect.x() + _PAD, rect.y() + 1),
                                 self._static(self.labels[int(rs[texted[k]])]))
        if tagged.size:
            p.setPen(QColor(255, 255, 255))
            for k, rect in zip(tagged.tolist(), tag_rects, strict=True):
                p.drawStaticText(QPointF(rect.x() + _PAD, rect.y() + 1),
                                 self._static(self.tags[int(rs[k])]))
        for a, b, c, d, r in zip(cx.tolist(), cy.tolist(), (tw + xw).tolist(), chh.tolist(),
                                 rs.tolist(), strict=True):
            self.painted_chips.append((QRectF(a, b, c, d), int(r)))

    def _static(self, text: str) -> QStaticText:
        """The label text laid out once (drawn several times faster than drawText)."""
        st = _STATIC.get(text)
        if st is None:
            if len(_STATIC) > 20_000:
                _STATIC.clear()
            st = _STATIC[text] = QStaticText(text)
            st.setTextFormat(Qt.TextFormat.PlainText)
            st.prepare(QTransform(), self.font)
        return st

    def chip_at(self, x: float, y: float) -> int:
        """The row whose label is at viewport point (x, y) (the top one), -1 if none."""
        for rect, r in reversed(self.painted_chips):
            if rect.contains(QPointF(x, y)):
                return r
        return -1

    # ------------------------------------------------------------------ handles
    def handle_rects(self, tr: QTransform, row: int) -> list[QRectF]:
        """The resize handles of ``row`` in viewport pixels (corners, then edges). A
        box smaller than :data:`SMALL_BOX_PX` gets its four corners only, just
        outside it, so that its inside stays free for moving it."""
        b = self.box(row)
        rect = tr.mapRect(QRectF(QPointF(b[0], b[1]), QPointF(b[2], b[3])))
        h = HANDLE_PX
        small = min(rect.width(), rect.height()) < SMALL_BOX_PX
        if small:
            h = 5.0
            rect = rect.adjusted(-h / 2 - 1, -h / 2 - 1, h / 2 + 1, h / 2 + 1)
        pts = _handle_points(rect)[: 4 if small else 8]
        return [QRectF(pt.x() - h / 2, pt.y() - h / 2, h, h) for pt in pts]

    def _paint_handles(self, p: QPainter, tr: QTransform) -> None:
        p.setPen(QPen(QColor(0, 0, 0), 1))
        p.setBrush(QColor(255, 255, 255))
        p.drawRects(self.handle_rects(tr, self.handles_for))


def _handle_points(rect: QRectF) -> list[QPointF]:
    """Corners (TL, TR, BR, BL) then edges (T, R, B, L) of a device rectangle."""
    cx, cy = rect.center().x(), rect.center().y()
    return [
        rect.topLeft(), rect.topRight(), rect.bottomRight(), rect.bottomLeft(),
        QPointF(cx, rect.top()), QPointF(rect.right(), cy),
        QPointF(cx, rect.bottom()), QPointF(rect.left(), cy),
    ]
