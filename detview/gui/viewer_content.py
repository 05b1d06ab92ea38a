"""What the viewer's layers and pane headers show for one image: boxes, styles,
labels, error and label-quality tags, tooltips (made when first hovered), the class
filter. Mixed into :class:`~detview.gui.viewer.SideBySideViewer`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QRectF

from detview.session.view import GT_CROWD, GT_MISSED, PRED_FP, PRED_IGNORED, ImageView
from detview.session.view_settings import ViewSettings

from .box_item import STYLE_DASHED, STYLE_DOTTED, STYLE_GHOST, STYLE_SOLID, TAG_RED, TAG_VIOLET
from .viewer_bar import LQ_TIP
from .viewer_pane import BoxLayer, ImagePane, LazyTips

if TYPE_CHECKING:
    from detview.session import Session

__all__ = ["ContentMixin"]

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


class ContentMixin:
    """Fills the layers and the headers from the session's image views."""

    settings: ViewSettings
    class_names: Sequence[str]
    score_threshold: float
    view: ImageView | None
    views: dict[str, ImageView | None]
    gt_view: ImageView | None
    gt_pane: BoxLayer
    pred_pane: BoxLayer
    b_layer: BoxLayer
    ghost_layer: BoxLayer
    panes: list[ImagePane]

    if TYPE_CHECKING:
        @property
        def session(self) -> Session | None: ...
        def pane_sources(self) -> list[list[str]]: ...

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
        own = len(self.settings.class_thresholds)  # classes with their own threshold
        shown = (f"{len(v.pred_ids)} shown" if compact
                 else f"{len(v.pred_ids)} ≥ {self.score_threshold:.2f}"
                 + (f" (own threshold: {own} class{'es' if own > 1 else ''})" if own else ""))
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
                  f"{self.views['a'].n_below if self.views['a'] else 0} below it are hidden)"
                  + (", or ≥ their class's own threshold: " + ", ".join(
                      f"{self._name(c)} ≥ {t:.2f}"
                      for c, t in self.settings.class_thresholds)
                     if self.settings.class_thresholds else "")
                  + ". Solid: "
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
