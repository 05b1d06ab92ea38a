"""The Graphs view: the session's training logs, one plot per metric group.

Losses, learning rate, precision/AP, recall/AR and speed each get a plot; training and
evaluation curves share it (evaluation curves carry dots), several logs are overlaid
(line style per log, colour per metric). Smoothing is TensorBoard's (the raw curve
stays faint behind), the y axis may be logarithmic, the x axis step or epoch. Hovering
shows the values under the pointer; each plot's tooltip explains its metrics. Clicking
a point at step S shows checkpoint S in the image view when its predictions are loaded
(dashed lines mark those steps, a solid one the checkpoint shown).

Everything drawn comes from :mod:`detview.session.training` (curves, smoothing,
checkpoint look-up); this module only draws and dispatches.
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QColor
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QScrollArea,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from detview.session import Session, SessionEvent
from detview.session.training import (
    GROUP_TITLES,
    LOG_GROUPS,
    Curve,
    group_curves,
    hover_rows,
)

__all__ = ["GraphsView", "PALETTE"]

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f")
_LOG_STYLES = (Qt.PenStyle.SolidLine, Qt.PenStyle.DashLine, Qt.PenStyle.DotLine,
               Qt.PenStyle.DashDotLine)
CLICK_RADIUS_PX = 14.0  # a click this close to a point picks it


class GraphsView(QWidget):
    """Plots of the training logs of one session. ``checkpointChosen(run)`` after a
    click showed a checkpoint; ``message(text)`` for the status bar; ``openLogRequested``
    from the "Open log…" button."""

    checkpointChosen = Signal(str)  # noqa: N815
    message = Signal(str)
    openLogRequested = Signal()  # noqa: N815

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session: Session | None = None
        self.hidden_logs: set[str] = set()
        self._known_logs: set[str] = set()  # labels seen (a new duplicate starts hidden)
        self._duplicates: list[str] = []
        self.curves: list[Curve] = []
        self.plots: dict[str, pg.PlotWidget] = {}
        self._items: dict[str, list[tuple[Curve, pg.PlotDataItem]]] = {}
        self._markers: dict[str, list[pg.InfiniteLine]] = {}
        self._hover: dict[str, tuple[pg.InfiniteLine, pg.TextItem]] = {}
        self._legend_top: dict[str, bool] = {}  # the hover label goes to the other half
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(60)
        self._timer.timeout.connect(self.refresh)
        # ---- controls
        self.logs_button = QToolButton()
        self.logs_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.logs_button.setToolTip("Which training logs are drawn")
        self.logs_menu = QMenu(self)
        self.logs_button.setMenu(self.logs_menu)
        self.open_button = QPushButton("Open log…")
        self.open_button.setToolTip("Add a training log: torchvision log, Ultralytics "
                                    "results.csv, TensorBoard event file, detectron2 "
                                    "metrics.json, MMDetection log.json")
        self.open_button.clicked.connect(self.openLogRequested)
        self.x_combo = QComboBox()
        self.x_combo.addItem("Step", "step")
        self.x_combo.addItem("Epoch", "epoch")
        self.x_combo.setToolTip("x axis: the log's own step counter (iterations; Ultralytics: "
                                "the epoch index) or the epochs completed")
        self.x_combo.currentIndexChanged.connect(self._schedule)
        self.smooth_slider = QSlider(Qt.Orientation.Horizontal)
        self.smooth_slider.setRange(0, 99)
        self.smooth_slider.setValue(60)
        self.smooth_slider.setFixedWidth(140)
        self.smooth_slider.setToolTip(
            "Smoothing as in TensorBoard: an exponential moving average with this weight, "
            "debiased so the first points are not pulled towards zero; the raw curve stays "
            "faint behind. 0 = raw values.")
        self.smooth_label = QLabel()
        self.smooth_slider.valueChanged.connect(self._on_smoothing)
        self.log_check = QCheckBox("Log scale")
        self.log_check.setToolTip("Logarithmic y axis for losses, learning rate and speed "
                                  "(values ≤ 0 are left out); AP and recall stay linear")
        self.log_check.toggled.connect(self._schedule)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter metrics (text or regex)")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._schedule)
        bar = QHBoxLayout()
        bar.addWidget(self.logs_button)
        bar.addWidget(self.open_button)
        bar.addSpacing(12)
        bar.addWidget(QLabel("x axis"))
        bar.addWidget(self.x_combo)
        bar.addSpacing(12)
        bar.addWidget(QLabel("Smoothing"))
        bar.addWidget(self.smooth_slider)
        bar.addWidget(self.smooth_label)
        bar.addSpacing(12)
        bar.addWidget(self.log_check)
        bar.addSpacing(12)
        bar.addWidget(self.filter_edit, 1)
        self.info = QLabel()
        self.info.setStyleSheet("color: gray")
        self.info.setWordWrap(True)
        self.grid_host = QWidget()
        self.grid = QGridLayout(self.grid_host)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(6)
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setWidget(self.grid_host)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(6, 6, 6, 6)
        lay.addLayout(bar)
        lay.addWidget(self.info)
        lay.addWidget(self.scroll, 1)
        self._on_smoothing(self.smooth_slider.value())

    # ------------------------------------------------------------------ session
    def set_session(self, session: Session | None) -> None:
        if self.session is not None:
            self.session.unsubscribe(self._on_event)
        self.session = session
        if session is not None:
            session.subscribe(self._on_event)
        self.refresh()

    def _on_event(self, ev: SessionEvent) -> None:
        if ev.kind == "training" and ev.name == "logs":
            self._schedule()
        elif ev.kind == "settings" or (ev.kind == "training" and ev.name == "checkpoint"):
            self.update_markers()

    # ------------------------------------------------------------------ settings
    @property
    def x_axis(self) -> str:
        return str(self.x_combo.currentData())

    @property
    def smoothing(self) -> float:
        return self.smooth_slider.value() / 100.0

    def set_smoothing(self, weight: float) -> None:
        self.smooth_slider.setValue(int(round(weight * 100)))

    def _on_smoothing(self, v: int) -> None:
        self.smooth_label.setText(f"{v / 100:.2f}")
        self._schedule()

    def _schedule(self) -> None:
        self._timer.start()

    # ------------------------------------------------------------------ drawing
    def refresh(self) -> None:
        """Rebuild every plot from the session's logs and the controls."""
        self._timer.stop()
        s = self.session
        for w in self.plots.values():
            self.grid.removeWidget(w)
            w.deleteLater()
        self.plots.clear()
        self._items.clear()
        self._markers.clear()
        self._hover.clear()
        self._update_logs_menu()
        logs = s.training.logs if s is not None else []
        if not logs:
            self.curves = []
            self.info.setText("No training log. Open one (File > Open training log…, or "
                              "detview open … --log PATH): torchvision log, Ultralytics "
                              "results.csv, TensorBoard event file, detectron2 metrics.json, "
                              "MMDetection log.json.")
            return
        assert s is not None
        all_curves = s.training.curves(self.x_axis, self.smoothing, self.log_check.isChecked())
        pattern = self.filter_edit.text().strip()
        self.curves = [c for c in all_curves if c.label not in self.hidden_logs
                       and _matches(pattern, c)]
        notes = []
        if self._duplicates:
            notes.append(f"Hidden as repeating another log: {', '.join(self._duplicates)} "
                         "(Logs menu shows it).")
        by_step = sorted({c.label for c in self.curves if c.x_is_step})
        if by_step:
            notes.append(f"No epochs in {', '.join(by_step)}: drawn by step.")
        if s.training.problems:
            notes.append(f"{len(s.training.problems)} problem(s) reading logs: "
                         + s.training.problems[0] + (" …" if len(s.training.problems) > 1
                                                     else ""))
        if not self.curves:
            notes.append("No metric matches the filter." if pattern else "Every log is hidden.")
        n_ck = sum(len(t.steps) for t in s.training.trainings())
        if n_ck:
            notes.append("Click a point to show that checkpoint's predictions (dashed lines: "
                         "checkpoints loaded).")
        self.info.setText("  ".join(notes))
        self.info.setVisible(bool(notes))
        labels = list(dict.fromkeys(c.label for c in all_curves))
        for k, (group, cs) in enumerate(group_curves(self.curves).items()):
            w = self._make_plot(group, cs, labels)
            self.grid.addWidget(w, k // 2, k % 2)
            self.plots[group] = w
        self.update_markers()

    @staticmethod
    def legend_corner(cs: list[Curve]) -> tuple[int, int]:
        """The legend's offset: the right-hand corner (top or bottom) with fewer points
        under it, so rising curves (AP) keep their legend below them."""
        xs = np.concatenate([c.x for c in cs]) if cs else np.zeros(0)
        ys = np.concatenate([c.smoothed for c in cs]) if cs else np.zeros(0)
        ok = np.isfinite(xs) & np.isfinite(ys)
        xs, ys = xs[ok], ys[ok]
        if not xs.size or xs.max() == xs.min() or ys.max() == ys.min():
            return (-6, 6)
        u = (xs - xs.min()) / (xs.max() - xs.min())
        v = (ys - ys.min()) / (ys.max() - ys.min())
        right = u > 0.45
        top = int(np.count_nonzero(right & (v > 0.5)))
        bottom = int(np.count_nonzero(right & (v <= 0.5)))
        return (-6, 6) if top <= bottom else (-6, -28)

    def _make_plot(self, group: str, cs: list[Curve], labels: list[str]) -> pg.PlotWidget:
        w = pg.PlotWidget(background="w")
        w.setMinimumHeight(260)
        pi = w.getPlotItem()
        pi.setTitle(GROUP_TITLES.get(group, group), color="#333333", size="10pt")
        pi.showGrid(x=True, y=True, alpha=0.15)
        pi.setLabel("bottom", "epoch" if self.x_axis == "epoch" else "step")
        log_y = self._log_y(group)
        pi.setLogMode(False, log_y)
        corner = self.legend_corner(cs)
        self._legend_top[group] = corner[1] > 0
        legend = pi.addLegend(offset=corner, labelTextSize="8pt", verSpacing=-6,
                              brush=pg.mkBrush(255, 255, 255, 220), pen=pg.mkPen("#cccccc"))
        tags = list(dict.fromkeys(_base(c.name) for c in cs))
        several = len({c.label for c in cs}) > 1
        items: list[tuple[Curve, pg.PlotDataItem]] = []
        for c in cs:
            # a per-epoch mean shares its metric's colour, drawn as dots, one legend entry
            mean = c.name != _base(c.name)
            color = QColor(PALETTE[tags.index(_base(c.name)) % len(PALETTE)])
            style = _LOG_STYLES[labels.index(c.label) % len(_LOG_STYLES)] if several \
                else Qt.PenStyle.SolidLine
            name = f"{c.name} · {c.label}" if several else c.name
            smoothing = self.smoothing > 0 and len(c.x) > 2
            if smoothing:
                faint = QColor(color)
                faint.setAlpha(55)
                raw = pg.PlotDataItem(c.x, c.y, pen=pg.mkPen(faint, width=1, style=style),
                                      connect="finite")
                pi.addItem(raw)
            sym = "o" if c.split != "train" or mean else None
            empty = bool(np.isnan(c.smoothed).all())  # e.g. APs -1 throughout: no points
            item = pg.PlotDataItem(c.x[:0] if empty else c.x, c.smoothed[:0] if empty
                                   else c.smoothed, pen=pg.mkPen(color, width=2, style=style),
                                   symbol=sym, symbolSize=5, symbolBrush=color,
                                   symbolPen=None, name=None if mean else name,
                                   connect="finite")
            if mean:
                item.setPen(pg.mkPen(color, width=1, style=Qt.PenStyle.DotLine))
            pi.addItem(item)
            items.append((c, item))
        self._items[group] = items
        n_legend = sum(1 for c, _ in items if c.name == _base(c.name))
        if n_legend > 8:
            legend.setColumnCount(2)
        legend.setVisible(n_legend <= 24)  # more: the filter narrows them down
        w.setToolTip(_tooltip(cs))
        line = pg.InfiniteLine(angle=90, movable=False, pen=pg.mkPen("#999999", width=1))
        text = pg.TextItem(color="#222222", anchor=(0, 0), fill=pg.mkBrush(255, 255, 255, 225),
                           border=pg.mkPen("#bbbbbb"))
        for it in (line, text):
            it.setZValue(1000)
            it.setVisible(False)
            pi.addItem(it, ignoreBounds=True)
        self._hover[group] = (line, text)
        w.scene().sigMouseMoved.connect(lambda pos, g=group: self._on_move(g, pos))
        w.scene().sigMouseClicked.connect(lambda ev, g=group: self._on_click(g, ev))
        w.viewport().setMouseTracking(True)
        return w

    def _log_y(self, group: str) -> bool:
        return self.log_check.isChecked() and group in LOG_GROUPS

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_x(self, group: str | None = None) -> tuple[list[float], float | None]:
        """x positions (on the current axis) of the points (of ``group``'s curves, or of
        every curve) whose step has predictions loaded, and that of the checkpoint shown
        (None when none)."""
        s = self.session
        if s is None or not s.training.trainings():
            return [], None
        cs = self.curves if group is None else [c for c, _ in self._items.get(group, [])]
        seen: dict[float, str] = {}
        for c in cs:
            for x, step, ep in zip(c.x.tolist(), c.step.tolist(), c.epoch.tolist(), strict=True):
                if x in seen:
                    continue
                run = s.training.checkpoint_at(int(step), None if math.isnan(ep) else ep,
                                               s.training.logs[c.log].run)
                if run is not None:
                    seen[x] = run
        current = next((x for x, r in seen.items() if r == s.run), None)
        return sorted(seen), current

    def update_markers(self) -> None:
        for group, w in self.plots.items():
            xs, current = self.checkpoint_x(group)
            pi = w.getPlotItem()
            for m in self._markers.get(group, []):
                pi.removeItem(m)
            marks = []
            for x in xs:
                solid = x == current
                pen = pg.mkPen("#e01b24" if solid else "#c0c0c0", width=2 if solid else 1,
                               style=Qt.PenStyle.SolidLine if solid else Qt.PenStyle.DashLine)
                m = pg.InfiniteLine(pos=x, angle=90, movable=False, pen=pen)
                m.setZValue(-10 if not solid else 5)
                pi.addItem(m, ignoreBounds=True)
                marks.append(m)
            self._markers[group] = marks

    # ------------------------------------------------------------------ hover
    def hover_text(self, group: str, x: float) -> str:
        """What hovering at ``x`` over a group's plot shows (HTML)."""
        rows = hover_rows([c for c, _ in self._items.get(group, [])], x)
        if not rows:
            return ""
        c0, k0 = rows[0]
        head = f"step {int(c0.step[k0])}"
        if not math.isnan(c0.epoch[k0]):
            head += f" · epoch {c0.epoch[k0]:g}"
        lines = [f"<b>{head}</b>"]
        tags = list(dict.fromkeys(_base(c.name) for c, _ in rows))
        several = len({c.label for c, _ in rows}) > 1
        for c, k in rows[:12]:
            color = PALETTE[tags.index(_base(c.name)) % len(PALETTE)]
            v = c.y[k]
            val = "–" if math.isnan(v) else f"{v:.4g}"
            if self.smoothing > 0 and not math.isnan(c.smoothed[k]) and len(c.x) > 2:
                val += f" (smoothed {c.smoothed[k]:.4g})"
            where = f" · {html.escape(c.label)}" if several else ""
            at = "" if c.x[k] == x or abs(c.x[k] - x) < 1e-9 else f" @{c.x[k]:g}"
            lines.append(f'<span style="color:{color}">■</span> {html.escape(c.name)}{where}: '
                         f"{val}{at}")
        if len(rows) > 12:
            lines.append(f"… {len(rows) - 12} more")
        return "<br>".join(lines)

    def _on_move(self, group: str, pos: QPointF) -> None:
        w = self.plots.get(group)
        if w is None or group not in self._hover:
            return
        line, text = self._hover[group]
        vb = w.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            line.setVisible(False)
            text.setVisible(False)
            return
        x = vb.mapSceneToView(pos).x()
        body = self.hover_text(group, x)
        if not body:
            return
        line.setPos(x)
        line.setVisible(True)
        text.setHtml(f'<div style="font-size:8pt">{body}</div>')
        (x0, x1), (y0, y1) = vb.viewRange()
        right = x > (x0 + x1) / 2
        top = not self._legend_top.get(group, True)  # away from the legend
        text.setAnchor((1 if right else 0, 0 if top else 1))
        text.setPos(x - (x1 - x0) * 0.01 if right else x + (x1 - x0) * 0.01, y1 if top else y0)
        text.setVisible(True)

    # ------------------------------------------------------------------ click
    def nearest_point(self, group: str, scene_pos: QPointF) -> tuple[Curve, int] | None:
        """The drawn point nearest to a scene position, within
        :data:`CLICK_RADIUS_PX` pixels."""
        w = self.plots.get(group)
        if w is None:
            return None
        vb = w.getPlotItem().getViewBox()
        log_y = self._log_y(group)
        best: tuple[float, Curve, int] | None = None
        for c, _item in self._items.get(group, []):
            if not len(c.x):
                continue
            y = c.smoothed
            ok = ~np.isnan(y)
            if log_y:
                ok &= y > 0
            idx = np.flatnonzero(ok)
            if not idx.size:
                continue
            yv = np.log10(y[idx]) if log_y else y[idx]
            for k, yy in zip(idx.tolist(), yv.tolist(), strict=True):
                p = vb.mapViewToScene(QPointF(float(c.x[k]), float(yy)))
                d = math.hypot(p.x() - scene_pos.x(), p.y() - scene_pos.y())
                if best is None or d < best[0]:
                    best = (d, c, k)
        if best is None or best[0] > CLICK_RADIUS_PX:
            return None
        return best[1], best[2]

    def point_scene_pos(self, group: str, curve: Curve, k: int) -> QPointF:
        """Where point ``k`` of ``curve`` is drawn (scene coordinates; for tests)."""
        vb = self.plots[group].getPlotItem().getViewBox()
        y = float(curve.smoothed[k])
        if self._log_y(group):
            y = math.log10(y)
        return vb.mapViewToScene(QPointF(float(curve.x[k]), y))

    def _on_click(self, group: str, ev: Any) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or ev.double():
            return
        hit = self.nearest_point(group, ev.scenePos())
        if hit is None:
            return
        ev.accept()
        self.choose_point(*hit)

    def choose_point(self, curve: Curve, k: int) -> str | None:
        """Show the checkpoint of point ``k`` of ``curve`` when its predictions are
        loaded; returns its run (None, with a message, when there is none)."""
        s = self.session
        if s is None:
            return None
        step = int(curve.step[k])
        ep = float(curve.epoch[k])
        run = s.training.checkpoint_at(step, None if math.isnan(ep) else ep,
                                       s.training.logs[curve.log].run)
        where = f"step {step}" + ("" if math.isnan(ep) else f" (epoch {ep:g})")
        if run is None:
            ts = s.training.trainings()
            have = "; ".join(f"{t.name}: {t.unit}s {', '.join(map(str, t.steps[:8]))}"
                             + (" …" if len(t.steps) > 8 else "") for t in ts)
            self.message.emit(f"No predictions loaded for {where}"
                              + (f" — checkpoints: {have}" if have else
                                 " — open prediction files named with their step "
                                 "(preds_step400.json, epoch_12/…) to compare checkpoints"))
            return None
        s.training.select_checkpoint(run)
        self.message.emit(f"Showing checkpoint {run!r} ({where})")
        self.checkpointChosen.emit(run)
        return run

    # ------------------------------------------------------------------ logs menu
    def _update_logs_menu(self) -> None:
        self.logs_menu.clear()
        s = self.session
        labels = s.training.labels if s is not None else []
        self.hidden_logs &= set(labels)
        dup = s.training.duplicates() if s is not None else set()
        for k, label in enumerate(labels):
            if label not in self._known_logs and k in dup:
                self.hidden_logs.add(label)
        self._known_logs = set(labels)
        self._duplicates = [labels[k] for k in sorted(dup) if labels[k] in self.hidden_logs]
        for label, log in zip(labels, s.training.logs if s is not None else [], strict=True):
            a = QAction(label, self.logs_menu)
            a.setCheckable(True)
            a.setChecked(label not in self.hidden_logs)
            a.setToolTip(log.path)
            a.toggled.connect(lambda on, lb=label: self.set_log_visible(lb, on))
            self.logs_menu.addAction(a)
        shown = len(labels) - len(self.hidden_logs)
        self.logs_button.setText(f"Logs ({shown}/{len(labels)})" if labels else "Logs")
        self.logs_button.setEnabled(bool(labels))

    def set_log_visible(self, label: str, on: bool) -> None:
        if on:
            self.hidden_logs.discard(label)
        else:
            self.hidden_logs.add(label)
        self._schedule()


def _base(name: str) -> str:
    """The metric a per-epoch mean summarises (torchvision logs print both)."""
    return name[: -len(" (epoch mean)")] if name.endswith(" (epoch mean)") else name


def _matches(pattern: str, c: Curve) -> bool:
    if not pattern:
        return True
    import re

    text = f"{c.name} {c.group} {c.label}"
    try:
        return re.search(pattern, text, re.IGNORECASE) is not None
    except re.error:
        return pattern.lower() in text.lower()


def _tooltip(cs: list[Curve]) -> str:
    """One line per metric of the plot: what it measures and which way is better."""
    lines = []
    seen: set[str] = set()
    for c in cs:
        if c.tag in seen:
            continue
        seen.add(c.tag)
        text = c.explanation or "No explanation known for this metric."
        lines.append(f"<b>{html.escape(c.tag)}</b>: {html.escape(text, quote=False)}")
    body = "<br>".join(lines[:16]) + ("<br>…" if len(lines) > 16 else "")
    return f"<qt>{body}</qt>"
