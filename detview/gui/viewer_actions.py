"""The viewer's commands: layout, classes, brightness/contrast and the
label-quality keys (J, Y). Each only changes the session (its view settings, its run,
an edit through its builders); the viewer follows the session's events. Mixed into
:class:`~detview.gui.viewer.SideBySideViewer`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from detview.session.view_settings import ViewSettings

from .viewer_bar import ViewerBar
from .viewer_pane import BoxLayer

if TYPE_CHECKING:
    from PySide6.QtCore import SignalInstance

    from detview.session import Session
    from detview.session.view import ImageView

__all__ = ["ActionsMixin"]


class ActionsMixin:
    """Commands of the viewer (see the module docstring)."""

    settings: ViewSettings
    bar: ViewerBar
    view: ImageView | None
    gt_view: ImageView | None
    gt_pane: BoxLayer
    pred_pane: BoxLayer
    ghost_layer: BoxLayer
    layers: dict[str, BoxLayer]
    message: SignalInstance

    if TYPE_CHECKING:
        @property
        def session(self) -> Session | None: ...
        def _update_view(self, **changes: Any) -> bool: ...

    # ================================================================== actions
    def _set_visible(self, classes: Sequence[int], visible: bool) -> None:
        self._update_view(hidden_classes=self.settings.with_visible(
            list(classes), visible).hidden_classes)

    def _set_color(self, cls: int, color: str | None) -> None:
        if cls < 0:
            self._update_view(class_colors=())
        else:
            self._update_view(class_colors=self.settings.with_color(cls, color).class_colors)

    def _set_threshold(self, cls: int, threshold: float | None) -> None:
        """A class's own score threshold (None: the global one; class -1: clear all)."""
        self._update_view(class_thresholds=self.settings.with_threshold(
            cls, threshold).class_thresholds)

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
