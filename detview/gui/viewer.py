"""The viewer: ground truth and prediction runs side by side, overlaid, or in three
panes, zoom, pan and selection linked.

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
and the predictions matched to it; two predictions matched to the same box, or the best-
overlapping one). Switching run A (the Compare strip's checkpoint slider under the
panes, Ctrl+[ / Ctrl+]) keeps the image, the zoom and the selection (a selected
prediction is followed to the new run's prediction of the same object).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QApplication, QSplitter, QVBoxLayout, QWidget

from detview.core.matching import best_overlap
from detview.session.view import ImageView
from detview.session.view_settings import ViewSettings

from .viewer_actions import ActionsMixin
from .viewer_bar import ViewerBar
from .viewer_content import ContentMixin
from .viewer_pane import BoxLayer, BoxViewBox, ImagePane

if TYPE_CHECKING:
    from detview.session import Session

    from .session import QtSession

__all__ = ["BoxLayer", "BoxViewBox", "ImagePane", "SideBySideViewer"]

class SideBySideViewer(ContentMixin, ActionsMixin, QWidget):
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
        b.thresholdChosen.connect(self._set_threshold)
        b.imageAdjusted.connect(lambda br, co: self._update_view(brightness=br, contrast=co))
        b.lqToggled.connect(lambda on: self._update_view(lq_hints=on))
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
            self.bar.sync(self.settings, None, None, [], self.class_names, False)
            return
        lq = "label_quality" in s.derived.names and s.run is not None
        self.bar.sync(self.settings, s.run, s.run_b, s.run_names, s.dataset.classes.names,
                      lq, s.params.score_threshold)

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
