"""The viewer: ground truth and prediction runs side by side, overlaid, or in three
panes, zoom, pan and selection linked, with a checkpoint slider.

What is shown lives in the session (:class:`~detview.session.view_settings.ViewSettings`:
layout, which two of {ground truth, run A, run B}, run B, class colours and visibility,
brightness/contrast, label-quality hints; run A is ``Settings.run``); this widget
mirrors it. Its pieces:

* four :class:`~detview.gui.viewer_pane.BoxLayer` s: ``gt_pane`` (the ground truth,
  editable), ``pred_pane`` (run A), ``b_layer`` (run B) and ``ghost_layer`` (likely
  missing labels, drawn on the ground-truth side);
* up to three :class:`~detview.gui.viewer_pane.ImagePane` s that host them (one
  layer each side by side, two in one pane in the overlay), their zoom/pan linked;
* the :class:`~detview.gui.viewer_bar.ViewerBar` above them.

A selection in one layer highlights the linked boxes in the others (a ground-truth box
and the predictions matched to it; two predictions matched to the same box, or the
best-overlapping one). Moving the checkpoint slider switches run A and keeps the
image, the zoom and the selection (a selected prediction is followed to the new run's
prediction of the same object).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QSplitter, QVBoxLayout, QWidget

from detview.core.matching import best_overlap
from detview.session.view import GT_CROWD, GT_MISSED, PRED_FP, PRED_IGNORED, ImageView
from detview.session.view_settings import ViewSettings

from .box_item import STYLE_DASHED, STYLE_DOTTED, STYLE_GHOST, STYLE_SOLID, TAG_RED, TAG_VIOLET
from .viewer_bar import LQ_TIP, ViewerBar
from .viewer_pane import BoxLayer, BoxViewBox, ImagePane, LazyTips

if TYPE_CHECKING:
    from detview.session import Session

    from .session import QtSession

__all__ = ["BoxLayer", "BoxViewBox", "ImagePane", "SideBySideViewer"]

_NO_VIEW = "<span style='color:gray'>{}</span>"


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
    """The panes, their layers and the viewer bar (see the module docstring)."""

    gtSelectionChanged = Signal()  # noqa: N815
    predSelectionChanged = Signal()  # noqa: N815
    message = Signal(str)  # for the status bar

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bar = ViewerBar()
        self.gt_pane = BoxLayer("Ground truth", "gt", editable=True, parent=self)
        self.pred_pane = BoxLayer("Run A", "a", editable=False, parent=self)
        self.b_layer = BoxLayer("Run B", "b", editable=False, parent=self)
        self.ghost_layer = BoxLayer("Likely missing labels", "ghost", editable=False,
                                    parent=self)
        self.layers = {"gt": self.gt_pane, "a": self.pred_pane, "b": self.b_layer,
                       "ghost": self.ghost_layer}
        self.panes = [ImagePane() for _ in range(3)]
        for p in self.panes[1:]:
            p.vb.setXLink(self.panes[0].vb)
            p.vb.setYLink(self.panes[0].vb)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        for p in self.panes:
            self.splitter.addWidget(p)
        self.splitter.setChildrenCollapsible(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.bar)
        lay.addWidget(self.splitter, 1)
        self.qs: QtSession | None = None
        self.settings = ViewSettings()
        self.view: ImageView | None = None  # run A's view of the image shown
        self.views: dict[str, ImageView | None] = {"a": None, "b": None}
        self.gt_view: ImageView | None = None  # the view the ground truth is drawn from
        self.class_names: Sequence[str] = ()
        self.score_threshold = 0.5
        self._image: np.ndarray | None = None
        self._size = (0, 0)
        self._dim = False
        for src, la in self.layers.items():
            la.selectionChanged.connect(lambda s=src: self._on_selection(s))
        b = self.bar
        b.layoutChosen.connect(lambda name: self._update_view(layout=name))
        b.panesChosen.connect(lambda pair: self._update_view(panes=tuple(pair)))
        b.runBChosen.connect(lambda run: self._update_view(run_b=run))
        b.visibilityChanged.connect(self._set_visible)
        b.colorChosen.connect(self._set_color)
        b.imageAdjusted.connect(lambda br, co: self._update_view(brightness=br, contrast=co))
        b.lqToggled.connect(lambda on: self._update_view(lq_hints=on))
        b.checkpointChosen.connect(self._on_checkpoint)
        self._arrange()
        self._sync_bar()

    # ================================================================== session
    @property
    def session(self) -> Session | None:
        return self.qs.session if self.qs is not None else None

    def set_session(self, qs: QtSession | None) -> None:
        """Mirror ``qs``'s view settings (None: detach)."""
        if self.qs is not None:
            self.qs.viewChanged.disconnect(self._on_view_changed)
            self.qs.settingsChanged.disconnect(self._sync_bar)
            self.qs.derivedChanged.disconnect(self._on_derived)
        self.qs = qs
        if qs is not None:
            qs.viewChanged.connect(self._on_view_changed)
            qs.settingsChanged.connect(self._sync_bar)
            qs.derivedChanged.connect(self._on_derived)
            self.settings = qs.session.view_settings
            if self.settings.lq_hints:
                self._want_lq(True)
        else:
            self.settings = ViewSettings()
        self._arrange()
        self._sync_bar()

    def _update_view(self, **changes: Any) -> bool:
        """Change the view settings: the session's when there is one."""
        s = self.session
        if s is None:
            from dataclasses import replace

            new = replace(self.settings, **changes)
            if new != self.settings:
                self.settings = new
                self._on_view_changed()
                return True
            return False
        return s.update_view(**changes)

    def _on_view_changed(self) -> None:
        s = self.session
        old = self.settings
        if s is not None:
            self.settings = s.view_settings
        new = self.settings
        if new.lq_hints != old.lq_hints:
            self._want_lq(new.lq_hints)
        relayout = (new.layout, new.panes) != (old.layout, old.panes)
        if relayout:
            self._arrange()
        if new.levels() != old.levels():
            for p in self.panes:
                p.set_levels(new.levels())
        if self.view is not None:
            self.show_view(self.view, self.class_names, None, new_image=False)
        self._sync_bar()

    def _want_lq(self, on: bool) -> None:
        s = self.session
        if s is not None and "label_quality" in s.derived.names:
            s.derived.want("label_quality", on)

    def _on_derived(self, name: str) -> None:
        if name == "label_quality":
            self._sync_bar()
            if self.settings.lq_hints and self.view is not None:
                self.refresh()

    def refresh(self) -> None:
        """Rebuild the views of the image shown from the session (same image)."""
        s = self.session
        if s is not None and self.view is not None and self.view.index < s.dataset.n_images:
            self.show_view(s.image_view(self.view.index), s.dataset.classes.names, None,
                           new_image=False)

    def _sync_bar(self) -> None:
        s = self.session
        if s is None:
            self.bar.sync(self.settings, None, None, [], self.class_names, None, False)
            return
        lq = "label_quality" in s.derived.names and s.run is not None
        self.bar.sync(self.settings, s.run, s.run_b, s.run_names, s.dataset.classes.names,
                      s.training_of(), lq)

    # ================================================================== layout
    def pane_sources(self) -> list[list[str]]:
        """The sources each shown pane draws, left to right."""
        srcs = self.settings.pane_sources()
        s = self.session
        if self.settings.layout == "three" and (s is None or s.run_b is None):
            srcs = [["gt"], ["a"]]
        return [list(x) for x in srcs]

    def shown_panes(self) -> list[ImagePane]:
        return [p for p in self.panes if not p.isHidden()]

    def _arrange(self) -> None:
        srcs = self.pane_sources()
        placed: set[str] = set()
        for k, pane in enumerate(self.panes):
            if k < len(srcs):
                names = list(srcs[k])
                if "gt" in names:
                    names.insert(names.index("gt") + 1, "ghost")
                layers = [self.layers[n] for n in names]
                placed.update(names)
                pane.set_layers(layers)
                pane.show()
            else:
                pane.set_layers([])
                pane.hide()
        overlay = self.settings.layout == "overlay"
        for src, la in self.layers.items():
            la.shown = src in placed
            la.boxes.setVisible(la.shown)
            if not la.shown:
                la.cancel_draw()
                la.set_selected([], emit=True)
                if la.host is None or la.host.isHidden() or la not in la.host.layers:
                    la.host = self.panes[0]
            second = overlay and src != "ghost" and srcs and len(srcs[0]) > 1 and (
                src == srcs[0][-1])
            la.boxes.set_secondary(bool(second))
        # in a pane with several layers, each avoids the labels of those under it
        for pane in self.panes:
            below = None
            for la in pane.layers:
                la.boxes.below = below if pane.isVisible() or not pane.isHidden() else None
                below = la.boxes
        for la in self.layers.values():
            if la.host is None or la not in la.host.layers:
                la.boxes.below = None
        n = len(srcs)
        total = max(sum(self.splitter.sizes()), 3)
        self.splitter.setSizes([total // n if k < n else 0 for k in range(3)])
        focus = QApplication.focusWidget()
        if focus is not None and self.splitter.isAncestorOf(focus) and not focus.isVisibleTo(
                self.splitter):  # the focused pane went away: the keys go to the first
            self.panes[0].view.setFocus()

    # ================================================================== content
    def show_view(self, view: ImageView, class_names: Sequence[str], image: np.ndarray | None,
                  new_image: bool) -> None:
        """Show image ``view.index``: run A's ``view`` (from the session's
        ``image_view``); run B's view is asked from the session when a pane shows it.
        ``image``: the decoded pixels when they are at hand (else they follow through
        :meth:`set_image`)."""
        s = self.session
        old_views = dict(self.views)
        self.view = view
        self.class_names = class_names
        views: dict[str, ImageView | None] = {"a": view if view.run is not None else None,
                                              "b": None}
        srcs = {x for p in self.pane_sources() for x in p}
        run_b = s.run_b if s is not None else None
        if "b" in srcs and s is not None and run_b is not None:
            views["b"] = view if run_b == view.run else s.image_view(view.index, run=run_b)
        self.views = views
        # the ground truth is drawn against the run it is paired with
        self.gt_view = views["b"] if (srcs == {"gt", "b"} and views["b"] is not None) else view
        w, h = view.width, view.height
        if image is not None:
            h, w = image.shape[:2]
        if w <= 0 or h <= 0:  # unknown size: fit the boxes
            allxy = np.concatenate([view.gt_xyxy, view.pred_xyxy]) if (
                len(view.gt_xyxy) or len(view.pred_xyxy)) else np.array([[0, 0, 100, 100.0]])
            w, h = int(np.ceil(allxy[:, 2].max())), int(np.ceil(allxy[:, 3].max()))
        bounds = QRectF(0, 0, w, h)
        self._dim = view.deleted
        if new_image or image is not None:
            self._image, self._size = image, (w, h)
            for pane in self.panes:
                pane.set_image(image, w, h, dim=view.deleted, levels=self.settings.levels())
        else:
            for pane in self.panes:
                pane.image_item.setOpacity(0.35 if view.deleted else 1.0)
        carry = {src: self._carry_state(src, old_views.get(src)) for src in ("a", "b")
                 if not new_image}
        colors = {c: QColor(v) for c, v in self.settings.class_colors}
        for la in self.layers.values():
            la.boxes.set_colors(colors)
        self._fill_gt(self.gt_view, bounds)
        self._fill_preds(self.pred_pane, views["a"], bounds)
        self._fill_preds(self.b_layer, views["b"], bounds)
        self._fill_ghosts(view, bounds)
        for src, state in carry.items():
            if state is not None:
                self._carry_selection(src, *state)
        if new_image:
            self.panes[0].show_rect(bounds)
        self._update_headers()
        self._sync_partners()

    def set_image(self, image: np.ndarray, dim: bool) -> None:
        h, w = image.shape[:2]
        self._image, self._size, self._dim = image, (w, h), dim
        for pane in self.panes:
            pane.set_image(image, w, h, dim=dim, levels=self.settings.levels())

    def _name(self, c: int) -> str:
        names = self.class_names
        return names[c] if 0 <= c < len(names) else str(c)

    def _visible(self, cls: np.ndarray) -> np.ndarray:
        hidden = self.settings.hidden_classes
        if not hidden or not len(cls):
            return np.ones(len(cls), dtype=bool)
        return ~np.isin(cls, list(hidden))

    def _fill_gt(self, v: ImageView | None, bounds: QRectF) -> None:
        la = self.gt_pane
        if v is None:
            la.set_content(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, np.int64),
                           np.zeros(0, np.int8), [], [], bounds)
            la.tooltips = []
            return
        keep = self._visible(v.gt_cls)
        style = np.full(len(v.gt_ids), STYLE_SOLID, dtype=np.int8)
        style[v.gt_state == GT_MISSED] = STYLE_DASHED
        style[v.gt_state == GT_CROWD] = STYLE_DOTTED
        labels = [self._name(int(c)) + (" (crowd)" if st == GT_CROWD else "")
                  for c, st in zip(v.gt_cls.tolist(), v.gt_state.tolist(), strict=True)]
        # per-box error texts from the session ("FN·Miss"; plain FN until the error
        # analysis has run); a label-quality hint takes the tag's place, in violet
        tags = list(v.gt_tag) or [""] * len(v.gt_ids)
        tag_rgb = np.full(len(v.gt_ids), TAG_RED, dtype=np.int64)
        lq = self.settings.lq_hints and v.has_lq
        if lq:
            for k in range(len(v.gt_ids)):
                hint = self._lq_tag(v, k)
                if hint:
                    tags[k], tag_rgb[k] = hint, TAG_VIOLET

        def tip(k: int) -> str:
            parts = [_gt_tip(v, k, self._name), v.gt_help[k] if k < len(v.gt_help) else "",
                     v.gt_lq_help[k] if lq and k < len(v.gt_lq_help) else ""]
            return "\n".join(x for x in parts if x)

        rows = np.flatnonzero(keep)
        la.set_content(v.gt_ids[rows], v.gt_xyxy[rows], v.gt_cls[rows], style[rows],
                       [labels[r] for r in rows], [tags[r] for r in rows], bounds,
                       tag_rgb[rows])
        la.tooltips = LazyTips(len(rows), lambda j: tip(int(rows[j])))

    def _lq_tag(self, v: ImageView, k: int) -> str:
        if v.gt_likely[k] >= 0:
            return f"likely {self._name(int(v.gt_likely[k]))}"
        if v.gt_snap[k] >= 0:
            return "snap?"
        return ""

    def _fill_preds(self, la: BoxLayer, v: ImageView | None, bounds: QRectF) -> None:
        if v is None:
            la.set_content(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, np.int64),
                           np.zeros(0, np.int8), [], [], bounds)
            la.tooltips = []
            return
        keep = self._visible(v.pred_cls)
        style = np.full(len(v.pred_ids), STYLE_SOLID, dtype=np.int8)
        style[v.pred_state == PRED_FP] = STYLE_DASHED
        style[v.pred_state == PRED_IGNORED] = STYLE_DOTTED
        labels = [f"{self._name(int(c))} {sc:.2f}" for c, sc in
                  zip(v.pred_cls.tolist(), v.pred_score.tolist(), strict=True)]
        tags = list(v.pred_tag) or [""] * len(v.pred_ids)
        def tip(k: int) -> str:
            h = v.pred_help[k] if k < len(v.pred_help) else ""
            return _pred_tip(v, k, self._name) + ("\n" + h if h else "")

        rows = np.flatnonzero(keep)
        la.set_content(v.pred_ids[rows], v.pred_xyxy[rows], v.pred_cls[rows], style[rows],
                       [labels[r] for r in rows], [tags[r] for r in rows], bounds)
        la.tooltips = LazyTips(len(rows), lambda j: tip(int(rows[j])))

    def _fill_ghosts(self, v: ImageView, bounds: QRectF) -> None:
        la = self.ghost_layer
        on = self.settings.lq_hints and v.has_lq and len(v.ghost_ids) > 0
        rows = np.flatnonzero(self._visible(v.ghost_cls)) if on else np.zeros(0, np.int64)
        la.set_content(v.ghost_ids[rows], v.ghost_xyxy[rows], v.ghost_cls[rows],
                       np.full(len(rows), STYLE_GHOST, dtype=np.int8),
                       [f"{self._name(int(v.ghost_cls[r]))} {v.ghost_score[r]:.2f}"
                        for r in rows], ["missing?"] * len(rows), bounds,
                       np.full(len(rows), TAG_VIOLET, dtype=np.int64))
        la.tooltips = [v.ghost_help[r] if r < len(v.ghost_help) else "" for r in rows]

    # ================================================================== headers
    def _gt_header(self, v: ImageView) -> str:
        n_missed = int(np.count_nonzero(v.gt_state == GT_MISSED))
        state = ""
        if v.deleted:
            state = " <b style='color:#e04040'>DELETED</b>"
        elif v.reviewed:
            state = " <b style='color:#3a9a3a'>✓ reviewed</b>"
        tags = "".join(f" <span style='color:#2f6fc0'>#{t}</span>" for t in v.tags)
        hidden = len(v.gt_ids) - len(self.gt_pane.ids)
        lq = ""
        if self.settings.lq_hints and v.has_lq:
            n = int(np.count_nonzero((v.gt_likely >= 0) | (v.gt_snap >= 0))) + len(v.ghost_ids)
            lq = (f" · <span style='color:#7b3fe4'>quality {v.label_quality:.2f}"
                  + (f", {n} hint{'s' if n != 1 else ''} (J)" if n else "") + "</span>")
        elif self.settings.lq_hints and v.run is not None:
            lq = " · <span style='color:gray'>label quality…</span>"
        compact = bool(lq) or len(self.pane_sources()) > 2 or self.settings.layout == "overlay"
        return (f"<b>Ground truth</b> · {len(v.gt_ids)} box{'es' if len(v.gt_ids) != 1 else ''}"
                + (f" ({hidden} hidden)" if hidden else "")
                + (f" · <span style='color:#d02020'>{n_missed} FN"
                   f"{'' if compact else ' (dashed)'}</span>"
                   if v.run is not None and n_missed else "") + lq + state + tags)

    def _pred_header(self, v: ImageView | None, label: str, la: BoxLayer) -> str:
        if v is None or v.run is None:
            return _NO_VIEW.format(f"{label}: no prediction run loaded" if label == "Run A"
                                   else f"{label}: no second run loaded")
        n_tp = int(np.count_nonzero(v.pred_state == 0))
        n_fp = int(np.count_nonzero(v.pred_state == PRED_FP))
        hidden = len(v.pred_ids) - len(la.ids)
        # who is who when run B is on screen too ("A: yolo@400"); short in three panes
        s = self.session
        shows_b = any("b" in p for p in self.pane_sources())
        name = f"{label[-1]}: {v.run}" if shows_b and s is not None else v.run
        compact = len(self.pane_sources()) > 2 or self.settings.layout == "overlay"
        shown = (f"{len(v.pred_ids)} shown" if compact
                 else f"{len(v.pred_ids)} ≥ {self.score_threshold:.2f}")
        return (f"<b>{name}</b> · {shown} · {n_tp} TP"
                + (f" · <span style='color:#d02020'>{n_fp} FP{'' if compact else ' (dashed)'}"
                   "</span>" if n_fp else "")
                + (f" ({hidden} hidden)" if hidden else "")
                + (f" · <span style='color:gray'>+{v.n_below} below</span>"
                   if v.n_below and not compact else ""))

    def _update_headers(self) -> None:
        v = self.view
        if v is None:
            return
        texts = {"gt": self._gt_header(self.gt_view or v),
                 "a": self._pred_header(self.views["a"], "Run A", self.pred_pane),
                 "b": self._pred_header(self.views["b"], "Run B", self.b_layer)}
        tips = {
            "gt": ("Ground-truth boxes of this image. Dashed with a red FN tag: no prediction "
                   "matched it (missed). Click to select; drag a selected box to move it, its "
                   "handles to resize; drag elsewhere to pan."
                   + ("\n\n" + LQ_TIP if self.settings.lq_hints else "")),
            "a": (f"Predictions of run A with score ≥ {self.score_threshold:.2f} (the "
                  f"{self.views['a'].n_below if self.views['a'] else 0} below it are hidden). "
                  "Solid: "
                  "true positive; dashed with a red FP tag: matches no ground-truth box. "
                  "Select one and press A to accept it as ground truth."),
            "b": (f"Predictions of run B with score ≥ {self.score_threshold:.2f}, matched "
                  "against the ground truth like run A's (choose B in the bar above)."),
        }
        for pane, srcs in zip(self.panes, self.pane_sources(), strict=False):
            if len(srcs) == 1:
                pane.header.setText(texts[srcs[0]])
                pane.header.setToolTip(tips[srcs[0]])
            else:  # overlay: the first thick with labels above, the second thin below
                first, second = srcs
                pane.header.setText(
                    f"<b>Overlay</b> · {texts[first]} &nbsp;+&nbsp; "
                    f"<span style='color:gray'>(thin)</span> {texts[second]}")
                pane.header.setToolTip(
                    "Both sources in one pane: the first drawn with thick lines and labels "
                    "above the boxes, the second with thin lines and labels below them. O "
                    "goes back to side by side.\n\n" + tips[first] + "\n\n" + tips[second])

    # ================================================================== selection
    def _on_selection(self, src: str) -> None:
        if src == "ghost":  # a ghost is a prediction of run A: A accepts it
            ids = [b for b in self.ghost_layer.selected if b in set(self.pred_pane.ids.tolist())]
            if ids or self.ghost_layer.selected:
                self.pred_pane.set_selected(ids)
        self._sync_partners()
        if src == "gt":
            self.gtSelectionChanged.emit()
        else:
            self.predSelectionChanged.emit()

    def _pred_partners(self, src: str) -> dict[int, int]:
        v = self.views.get(src)
        if v is None:
            return {}
        return dict(zip(v.pred_ids.tolist(), v.pred_partner.tolist(), strict=True))

    def _sync_partners(self) -> None:
        """Highlight, in every layer, the boxes linked to a box selected elsewhere."""
        gt_sel = set(self.gt_pane.selected)
        gts = set(gt_sel)
        fp_sel: dict[str, list[int]] = {"a": [], "b": []}
        for src in ("a", "b"):
            part = self._pred_partners(src)
            for p in self.layers[src].selected:
                g = part.get(p, -1)
                if g >= 0:
                    gts.add(g)
                else:
                    fp_sel[src].append(p)
        self.gt_pane.set_partner_ids(gts - gt_sel)
        for src, other in (("a", "b"), ("b", "a")):
            la = self.layers[src]
            part = self._pred_partners(src)
            ids = {p for p, g in part.items() if g in gts and g >= 0}
            if self.layers[other].selected:
                ids |= self._overlapping(src, other, fp_sel[other])
            la.set_partner_ids(ids - set(la.selected))

    def _overlapping(self, src: str, other: str, pred_ids: list[int]) -> set[int]:
        """Predictions of ``src`` overlapping (IoU >= 0.5, same class) the unmatched
        predictions ``pred_ids`` of ``other``: the best one each."""
        v, o = self.views.get(src), self.views.get(other)
        if v is None or o is None or not pred_ids or not len(v.pred_ids):
            return set()
        out = set()
        for p in pred_ids:
            k = np.flatnonzero(o.pred_ids == p)
            if not k.size:
                continue
            same = np.flatnonzero(v.pred_cls == o.pred_cls[k[0]])
            j = best_overlap(o.pred_xyxy[k[0]], v.pred_xyxy[same], min_iou=0.5)
            if j >= 0:
                out.add(int(v.pred_ids[same[j]]))
        return out

    def _carry_state(self, src: str, old: ImageView | None
                     ) -> tuple[ImageView, list[int]] | None:
        sel = list(self.layers[src].selected)
        if old is None or not sel:
            return None
        return old, sel

    def _carry_selection(self, src: str, old: ImageView, sel: list[int]) -> None:
        """After run ``src`` changed (the checkpoint slider), select its predictions of
        the objects selected before: matched to the same ground-truth box, else the
        best overlap of the same class."""
        v = self.views.get(src)
        la = self.layers[src]
        if v is None or v.run == old.run or v.index != old.index:
            return
        new: list[int] = []
        for p in sel:
            k = np.flatnonzero(old.pred_ids == p)
            if not k.size:
                continue
            g = int(old.pred_partner[k[0]])
            hit = np.flatnonzero(v.pred_partner == g) if g >= 0 else np.zeros(0, np.int64)
            if hit.size:
                new.append(int(v.pred_ids[hit[0]]))
                continue
            same = np.flatnonzero(v.pred_cls == old.pred_cls[k[0]])
            j = best_overlap(old.pred_xyxy[k[0]], v.pred_xyxy[same], min_iou=0.3)
            if j >= 0:
                new.append(int(v.pred_ids[same[j]]))
        la.set_selected(new, emit=True)

    def clear(self) -> None:
        self.view = None
        self.views = {"a": None, "b": None}
        self.gt_view = None
        empty = QRectF(0, 0, 1, 1)
        for la in self.layers.values():
            la.set_content(np.zeros(0, np.int64), np.zeros((0, 4)), np.zeros(0, np.int64),
                           np.zeros(0, np.int8), [], [], empty)
            la.tooltips = []
        for pane, srcs in zip(self.panes, self.pane_sources(), strict=False):
            pane.header.setText(" + ".join(self.layers[s].title for s in srcs))

    # ================================================================== actions
    def _set_visible(self, classes: Sequence[int], visible: bool) -> None:
        self._update_view(hidden_classes=self.settings.with_visible(
            list(classes), visible).hidden_classes)

    def _set_color(self, cls: int, color: str | None) -> None:
        if cls < 0:
            self._update_view(class_colors=())
        else:
            self._update_view(class_colors=self.settings.with_color(cls, color).class_colors)

    def _on_checkpoint(self, training: str, step: int) -> None:
        s = self.session
        if s is not None:
            try:
                s.show_checkpoint(step, training)
            except KeyError:
                pass

    def toggle_overlay(self) -> None:
        """O: overlay <-> side by side (from three panes: the overlay of GT and A)."""
        self._update_view(layout="side" if self.settings.layout == "overlay" else "overlay")

    def toggle_three(self) -> None:
        """3: three panes (GT | A | B) <-> two."""
        s = self.session
        if self.settings.layout == "three":
            self._update_view(layout="side")
        elif s is not None and s.run_b is not None and s.run is not None:
            self._update_view(layout="three")

    def step_checkpoint(self, step: int) -> bool:
        """[ / ]: the previous / next checkpoint of run A's training."""
        s = self.session
        t = s.training_of() if s is not None else None
        if s is None or t is None or s.run is None or len(t.runs) < 2:
            return False
        k = t.runs.index(s.run) + step
        if not 0 <= k < len(t.runs):
            return False
        s.show_checkpoint(t.steps[k], t.name)
        return True

    def adjust_image(self, brightness: float = 0.0, contrast: float = 1.0,
                     reset: bool = False) -> None:
        """Brightness +/- (share of full scale), contrast x/÷; display only."""
        vs = self.settings
        if reset:
            self._update_view(brightness=0.0, contrast=1.0)
        else:
            self._update_view(brightness=round(vs.brightness + brightness, 3),
                              contrast=round(vs.contrast * contrast, 4))

    def show_classes(self) -> None:
        """Shift+H: the class visibility and colour list."""
        b = self.bar.classes_button
        b.showMenu()

    def toggle_lq(self) -> None:
        self._update_view(lq_hints=not self.settings.lq_hints)

    def shortcut_handlers(self) -> dict[str, Callable[[], object]]:
        """The viewer's rows of :data:`detview.gui.shortcuts.SHORTCUTS` -> handler."""
        return {
            "overlay": self.toggle_overlay, "three_panes": self.toggle_three,
            "next_checkpoint": lambda: self.step_checkpoint(1),
            "prev_checkpoint": lambda: self.step_checkpoint(-1),
            "classes": self.show_classes,
            "brighter": lambda: self.adjust_image(brightness=0.1),
            "darker": lambda: self.adjust_image(brightness=-0.1),
            "more_contrast": lambda: self.adjust_image(contrast=1.25),
            "less_contrast": lambda: self.adjust_image(contrast=0.8),
            "reset_image": lambda: self.adjust_image(reset=True),
            "lq_hints": self.toggle_lq,
            "lq_apply": self.apply_suggestion,
            "lq_next": lambda: self.next_suggestion(1),
            "lq_prev": lambda: self.next_suggestion(-1),
        }

    # ================================================================== label quality
    def _suggestions(self) -> list[tuple[BoxLayer, int]]:
        """The boxes of the image with a label-quality hint, in reading order: ground
        truth likely swapped or badly placed, and likely missing labels."""
        v = self.gt_view
        out: list[tuple[float, float, BoxLayer, int]] = []
        if v is None or not self.settings.lq_hints or not v.has_lq:
            return []
        hinted = set(v.gt_ids[(v.gt_likely >= 0) | (v.gt_snap >= 0)].tolist())
        for la in (self.gt_pane, self.ghost_layer):
            xy = la.boxes.xyxy
            for r, b in enumerate(la.ids.tolist()):
                if la is self.ghost_layer or b in hinted:
                    out.append((float(xy[r, 1]), float(xy[r, 0]), la, int(b)))
        out.sort(key=lambda t: (t[0], t[1]))
        return [(la, b) for _y, _x, la, b in out]

    def next_suggestion(self, step: int) -> None:
        """J / Shift+J: select the next / previous box with a label-quality hint."""
        items = self._suggestions()
        if not items:
            self.message.emit("No label-quality hint on this image" if self.settings.lq_hints
                              else "Label-quality hints are off (Ctrl+Shift+L)")
            return
        current = [(la, b) for la in (self.gt_pane, self.ghost_layer) for b in la.selected]
        k = items.index(current[-1]) + step if current and current[-1] in items else (
            0 if step > 0 else -1)
        la, b = items[k % len(items)]
        for other in self.layers.values():
            if other is not la and other.selected:
                other.set_selected([], emit=True)
        la.set_selected([b], emit=True)
        if la.host is not None:
            la.view.setFocus()

    def apply_suggestion(self) -> None:
        """Y: accept the selected likely missing labels, or apply the label-quality
        suggestion of the selected ground-truth boxes (relabel a likely swap, snap a
        badly placed box onto its prediction); one undo step."""
        s = self.session
        v = self.view
        if s is None or v is None:
            return
        ghosts = list(self.ghost_layer.selected)
        if ghosts:
            new = s.accept_predictions(v.index, ghosts)
            self.ghost_layer.set_selected([], emit=True)
            self.pred_pane.set_selected([], emit=True)
            self.gt_pane.set_selected(list(new), emit=True)
            return
        ids = list(self.gt_pane.selected)
        if not ids:
            self.message.emit("Select a box with a label-quality hint first (J)")
        elif not s.apply_lq_suggestions(ids):
            self.message.emit("No label-quality suggestion for the selected box(es)")
