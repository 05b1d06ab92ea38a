"""Edit gestures of the main window: each builds an engine edit record through the
:class:`~detview.session.Session` (one gesture = one undo step)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QInputDialog, QLineEdit

from detview.session.view import PRED_FP, PRED_TP

from .dialogs import ClassPicker
from .wording import count

if TYPE_CHECKING:
    from detview.session import Session

    from .viewer import SideBySideViewer

__all__ = ["EditingMixin"]


class EditingMixin:
    """Mixed into :class:`~detview.gui.main_window.MainWindow`."""

    session: Session | None
    viewer: SideBySideViewer
    current_image: int
    last_class: int
    _follow_edits: bool

    if TYPE_CHECKING:
        def flash(self, text: str, ms: int = 4000) -> None: ...
        def step_image(self, step: int) -> None: ...
        def refresh_view(self, new_image: bool) -> None: ...
        def activateWindow(self) -> None: ...  # noqa: N802
        def after_reviewed(self, image: int) -> None: ...

    # ================================================================== box edits
    def _sel(self) -> list[int]:
        return list(self.viewer.gt_pane.selected)

    def delete_selected(self) -> None:
        if self.session is None:
            return
        ids = self._sel()
        if not ids:
            self.flash("Select a ground-truth box first (click it)", 3000)
            return
        self.session.delete_boxes(ids)

    def pick_class(self, title: str, current: int) -> int:
        """The class picker; -1 when cancelled."""
        assert self.session is not None
        dlg = ClassPicker(self.session.dataset.classes.names, current, title, self)
        ok = dlg.exec()
        chosen = dlg.chosen() if ok else -1
        dlg.deleteLater()
        self.activateWindow()  # give the keys back to the viewer
        self.viewer.gt_pane.view.setFocus()
        return chosen

    def relabel_selected(self) -> None:
        s = self.session
        ids = self._sel()
        if s is None or not ids:
            self.flash("Select ground-truth boxes to relabel", 3000)
            return
        _, cls, _ = s.gt_boxes(ids)
        c = self.pick_class(f"Class of {count(len(ids), 'box')}", int(cls[0]))
        if c >= 0:
            self.last_class = c
            s.relabel_boxes(ids, c)

    def start_draw(self) -> None:
        if self.session is None or self.current_image < 0:
            return
        self.viewer.gt_pane.start_draw()
        self.flash("Drag on the ground-truth image to draw a box (Esc cancels)", 5000)

    def _on_draw_finished(self, xyxy: np.ndarray) -> None:
        s = self.session
        if s is None or self.current_image < 0:
            return
        box = s.clip_to_image(self.current_image, xyxy)[0]
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            return
        c = self.pick_class("Class of the new box", self.last_class)
        if c < 0:
            return
        self.last_class = c
        ids = s.add_boxes(self.current_image, [c], box[None, :], ["drawn"])
        self.viewer.gt_pane.set_selected(list(ids), emit=True)

    def _on_move_finished(self, box_ids: list[int], new: np.ndarray) -> None:
        """One drag = one MoveBoxes (all the boxes it moved), clipped to the image."""
        s = self.session
        if s is None:
            return
        _, _, old = s.gt_boxes(box_ids)
        same_size = np.allclose(new[:, 2:] - new[:, :2], old[:, 2:] - old[:, :2])
        boxes = (s.shift_inside(self.current_image, new) if same_size  # a move
                 else s.clip_to_image(self.current_image, new))  # a resize
        wh = boxes[:, 2:] - boxes[:, :2]
        if np.any(wh < 1) or not s.move_boxes(box_ids, boxes):
            self.refresh_view(new_image=False)

    def nudge(self, dx: int, dy: int) -> None:
        s = self.session
        ids = self._sel()
        if s is None:
            return
        if not ids:
            if dy:
                self.step_image(dy)
            return
        s.nudge_boxes(ids, dx, dy)

    def duplicate_selected(self) -> None:
        s = self.session
        ids = self._sel()
        if s is None or not ids:
            return
        new = s.duplicate_boxes(ids)
        self.viewer.gt_pane.set_selected(list(new), emit=True)

    def select_all_boxes(self) -> None:
        self.viewer.gt_pane.set_selected(self.viewer.gt_pane.ids.tolist(), emit=True)

    def cycle_box(self, step: int) -> None:
        pane = self.viewer.gt_pane
        n = len(pane.ids)
        if not n:
            return
        xy = pane.boxes.xyxy
        order = np.lexsort((xy[:, 0], xy[:, 1])).tolist()  # reading order
        rows = pane.rows_of(pane.selected[-1:]) if pane.selected else []
        if rows:
            k = (order.index(rows[0]) + step) % n
        else:
            k = 0 if step > 0 else n - 1
        pane.set_selected([int(pane.ids[order[k]])], emit=True)
        pane.view.setFocus()

    def cycle_prediction(self, step: int) -> None:
        """P / Shift+P: select the next / previous prediction by keyboard, false
        positives first (those A can accept), each group in reading order."""
        pane = self.viewer.pred_pane
        v = self.viewer.view
        n = len(pane.ids)
        if v is None or not n:
            self.flash("No prediction on this image (above the score threshold)", 3000)
            return
        xy = pane.boxes.xyxy
        not_fp = (np.asarray(v.pred_state) != PRED_FP) if len(v.pred_state) == n else (
            np.zeros(n, bool))
        order = np.lexsort((xy[:, 0], xy[:, 1], not_fp)).tolist()
        rows = pane.rows_of(pane.selected[-1:]) if pane.selected else []
        if rows:
            k = (order.index(rows[0]) + step) % n
        else:
            k = 0 if step > 0 else n - 1
        pane.set_selected([int(pane.ids[order[k]])], emit=True)
        pane.view.setFocus()

    def accept_prediction(self) -> None:
        """A: copy the selected predictions into the ground truth (one AddBoxes). True
        positives are skipped: they already have their ground-truth box."""
        s = self.session
        v = self.viewer.view
        psel = list(self.viewer.pred_pane.selected)
        if s is None or v is None or self.current_image < 0:
            return
        if not psel:
            self.flash("Select a prediction on the right first (click it)", 3000)
            return
        state = dict(zip(v.pred_ids.tolist(), v.pred_state.tolist(), strict=True))
        take = [p for p in psel if state.get(p) != PRED_TP]
        if not take:
            self.flash("Already matched by a ground-truth box (TP): nothing to add", 4000)
            return
        new = s.accept_predictions(self.current_image, take)
        skipped = len(psel) - len(take)
        if skipped:
            self.flash(f"Added {len(new)}; skipped {skipped} already matched (TP)", 4000)
        self.viewer.pred_pane.set_selected([], emit=True)
        self.viewer.gt_pane.set_selected(list(new), emit=True)

    def replace_selected(self) -> None:
        """R: move (and relabel) the selected GT box onto its matched prediction, the
        selected prediction, or the best-overlapping one: one undo step."""
        s = self.session
        ids = self._sel()
        v = self.viewer.view
        if s is None or v is None or len(ids) != 1:
            self.flash("Select one ground-truth box to replace", 3000)
            return
        psel = self.viewer.pred_pane.selected
        pid = s.replacement_for(v, ids[0], psel[0] if len(psel) == 1 else None)
        if pid < 0:
            self.flash("No matching or overlapping prediction for this box", 4000)
            return
        if not s.replace_with_prediction(ids[0], pid):
            self.flash("The box already equals that prediction", 3000)

    def escape(self) -> None:
        pane = self.viewer.gt_pane
        if pane.draw_mode:
            pane.cancel_draw()
            return
        pane.set_selected([], emit=True)
        self.viewer.pred_pane.set_selected([], emit=True)

    # ================================================================== image edits
    def toggle_image_deleted(self) -> None:
        s = self.session
        i = self.current_image
        if s is None or i < 0:
            return
        s.set_images_deleted([i], not bool(s.dataset.images.deleted[i]))

    def toggle_reviewed(self) -> None:
        s = self.session
        i = self.current_image
        if s is None or i < 0:
            return
        if s.set_reviewed([i], not bool(s.dataset.images.reviewed[i])) and bool(
                s.dataset.images.reviewed[i]):
            self.after_reviewed(i)

    def ask_tags(self, current: str) -> str | None:
        text, ok = QInputDialog.getText(self, "Tags", "Tags of this image (comma separated):",
                                        QLineEdit.EchoMode.Normal, current)
        self.activateWindow()
        return text if ok else None

    def edit_tags(self) -> None:
        s = self.session
        i = self.current_image
        if s is None or i < 0:
            return
        current = ", ".join(sorted(s.dataset.images.tags[i]))
        text = self.ask_tags(current)
        if text is None:
            return
        s.set_tags([i], [t.strip().lstrip("#") for t in text.split(",")])

    # ================================================================== history
    def undo(self) -> None:
        if self.session is None:
            return
        self._follow_edits = True
        try:
            self.session.undo()
        finally:
            self._follow_edits = False

    def redo(self) -> None:
        if self.session is None:
            return
        self._follow_edits = True
        try:
            self.session.redo()
        finally:
            self._follow_edits = False
