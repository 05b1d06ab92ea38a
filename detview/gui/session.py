"""Qt facade over one opened dataset: the engine's ``Dataset``, the undo stack and the
per-image metrics of every run.

Widgets never change data themselves: they build an engine edit record and call
:meth:`Session.push`. The undo stack only holds :class:`EditCommand` objects that
wrap those records (redo applies the record, undo applies its inverse). A dataset
listener re-computes the metrics of the touched images at once and emits
:attr:`Session.imagesChanged`.
"""

from __future__ import annotations

import getpass
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from detview.core.dataset import Dataset
from detview.core.edits import (
    AddBoxes,
    Composite,
    DeleteBoxes,
    DeleteImages,
    Edit,
    MoveBoxes,
    RelabelBoxes,
    RestoreImages,
    SetReviewed,
    SetTags,
)
from detview.core.matching import FP, IGNORED, TP, best_overlap
from detview.core.metrics import MetricParams, PerImageMetrics, run_totals

__all__ = ["EditCommand", "ImageView", "Session", "build_metrics"]

Progress = Callable[[int, int], bool]

# Outcome codes the viewer draws (GT side and prediction side).
GT_MATCHED, GT_MISSED, GT_CROWD = 0, 1, 2
PRED_TP, PRED_FP, PRED_IGNORED = 0, 1, 2

_NUDGE_MERGE_S = 1.5


def _user_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name on this system
        return ""


class EditCommand(QUndoCommand):
    """One undo step: an engine edit record applied through ``Dataset.apply``.

    ``when`` (seconds since the epoch) and ``user`` say who made it; the journal and the
    corrections log record them, so ``detview apply`` writes the same log again.
    """

    MERGE_ID = 0x6E75  # nudges of the same boxes merge into one step

    def __init__(self, session: Session, edit: Edit, merge_key: Any = None,
                 applied: bool = False, when: float | None = None, user: str = "") -> None:
        super().__init__(edit.describe(session.dataset.classes.names))
        self.session = session
        self.edit = edit
        self.merge_key = merge_key
        self._skip_redo = applied
        self._time = time.monotonic()
        self.when = time.time() if when is None else float(when)
        self.user = user

    def meta(self) -> dict[str, Any]:
        return {"time": self.when, "user": self.user}

    def redo(self) -> None:
        if self._skip_redo:  # Session.push applied it already (to surface errors)
            self._skip_redo = False
            return
        self.session.dataset.apply(self.edit)
        self.session._journal_op("redo")

    def undo(self) -> None:
        self.session.dataset.apply(self.edit.inverse())
        self.session._journal_op("undo")

    def id(self) -> int:
        return self.MERGE_ID if self.merge_key is not None else -1

    def can_merge(self, other: EditCommand) -> bool:
        return (other.merge_key is not None and other.merge_key == self.merge_key
                and other._time - self._time <= _NUDGE_MERGE_S
                and isinstance(self.edit, MoveBoxes) and isinstance(other.edit, MoveBoxes))

    def mergeWith(self, other: QUndoCommand) -> bool:  # noqa: N802 - Qt API
        if not isinstance(other, EditCommand) or not self.can_merge(other):
            return False
        a, b = self.edit, other.edit
        assert isinstance(a, MoveBoxes) and isinstance(b, MoveBoxes)
        self.edit = MoveBoxes(a.box_ids, a.images, a.old_xyxy, b.new_xyxy)
        self._time = other._time
        self.when = other.when
        return True


@dataclass
class ImageView:
    """What the viewer draws for one image (arrays, no Qt)."""

    index: int
    file_name: str
    path: Path | None
    width: int
    height: int
    deleted: bool
    reviewed: bool
    tags: tuple[str, ...]
    gt_ids: np.ndarray
    gt_xyxy: np.ndarray
    gt_cls: np.ndarray
    gt_state: np.ndarray  # GT_MATCHED / GT_MISSED / GT_CROWD
    gt_partner: np.ndarray  # matched prediction box id, -1 if none
    pred_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pred_xyxy: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    pred_cls: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pred_score: np.ndarray = field(default_factory=lambda: np.zeros(0))
    pred_state: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int8))
    pred_partner: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    pred_iou: np.ndarray = field(default_factory=lambda: np.zeros(0))
    run: str | None = None
    n_below: int = 0  # predictions of the run under the score threshold (not drawn)


def build_metrics(dataset: Dataset, params: MetricParams,
                  progress: Progress | None = None) -> dict[str | None, PerImageMetrics]:
    """Per-image metrics of every run (or of the ground truth alone without runs).

    Pure engine work, safe to call in a worker thread.
    """
    runs: list[str | None] = list(dataset.runs) or [None]
    out: dict[str | None, PerImageMetrics] = {}
    n = max(1, len(runs))
    for k, run in enumerate(runs):
        def prog(done: int, total: int, k: int = k) -> bool:
            if progress is None:
                return True
            return progress(k * total + done, n * max(total, 1))
        out[run] = PerImageMetrics(dataset, run, params, prog)
    return out


class Session(QObject):
    """The opened dataset, its undo stack and metrics."""

    imagesChanged = Signal(object)  # frozenset[int] of image indices  # noqa: N815
    metricsReset = Signal()  # params or run changed: everything may differ  # noqa: N815
    editFailed = Signal(str)  # noqa: N815

    def __init__(self, dataset: Dataset, image_root: Path | str | None = None,
                 params: MetricParams | None = None,
                 metrics: dict[str | None, PerImageMetrics] | None = None,
                 name: str = "", parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.dataset = dataset
        self.name = name
        root = image_root or dataset.meta.get("image_root") or dataset.meta.get("images_dir")
        self.image_root: Path | None = Path(root) if root else None
        self.params = params or MetricParams()
        self.undo_stack = QUndoStack(self)
        self.original = dataset.copy()  # before any edit: the corrections log's base
        self.metrics = metrics if metrics is not None else build_metrics(dataset, self.params)
        self.run: str | None = next(iter(self.metrics))
        self.journal: Any = None  # detview.io.journal.Journal: every step on disk at once
        self._journal_paused = False
        dataset.add_listener(self._on_apply)

    def close(self) -> None:
        self.dataset.remove_listener(self._on_apply)
        if self.journal is not None:
            self.journal.close()
            self.journal = None

    # ------------------------------------------------------------------ journal
    def attach_journal(self, journal: Any) -> None:
        """Record every push/undo/redo/export in ``journal`` from now on."""
        self.journal = journal
        self.undo_stack.cleanChanged.connect(self._on_clean_changed)

    def _journal_op(self, op: str, edit: Edit | None = None) -> None:
        self._journal_rows([(op, edit, None, None)])

    def _journal_rows(self, rows: list[tuple[str, Edit | None, float | None, str | None]]
                      ) -> None:
        if self.journal is None or self._journal_paused:
            return
        try:
            if len(rows) == 1:
                self.journal.append(*rows[0])
            else:
                self.journal.append_many(rows)
        except Exception as exc:  # noqa: BLE001 - disk full, file gone: the edit stands
            path = getattr(self.journal, "path", "")
            self.journal = None
            self.editFailed.emit(f"Edit journal {path}: cannot write ({exc}); crash "
                                 "recovery is off for this session — export soon")

    def _on_clean_changed(self, clean: bool) -> None:
        if clean:
            self._journal_op("clean")

    def restore(self, done: Sequence[Edit], undone: Sequence[Edit],
                clean_index: int | None,
                done_meta: Sequence[dict[str, Any]] = (),
                undone_meta: Sequence[dict[str, Any]] = ()) -> bool:
        """Rebuild the undo history of a previous session (already in the journal):
        the same steps, the same index, the same clean state, the same time/user.
        False when an edit no longer applies (the files changed): the edits before it
        are kept, nothing after it."""
        self._journal_paused = True
        try:
            edits = list(done) + list(undone)
            meta = list(done_meta) + list(undone_meta)
            pushed = 0
            for k, e in enumerate(edits):
                if clean_index is not None and k == clean_index:
                    self.undo_stack.setClean()
                m = meta[k] if k < len(meta) else {}
                if not self.push(e, when=m.get("time"), user=m.get("user")):
                    break
                pushed += 1
            if clean_index is not None and clean_index == pushed:
                self.undo_stack.setClean()
            for _ in range(max(0, pushed - len(done))):
                self.undo_stack.undo()
            if clean_index is None or clean_index > pushed:
                self.undo_stack.resetClean()
        finally:
            self._journal_paused = False
        return pushed == len(edits)

    # ------------------------------------------------------------------ metrics
    @property
    def current(self) -> PerImageMetrics:
        return self.metrics[self.run]

    @property
    def run_names(self) -> list[str]:
        return list(self.dataset.runs)

    def set_run(self, run: str | None) -> None:
        if run == self.run or run not in self.metrics:
            return
        self.run = run
        self.metricsReset.emit()

    def install_metrics(self, params: MetricParams,
                        metrics: dict[str | None, PerImageMetrics],
                        revisions: np.ndarray | None = None) -> None:
        """Adopt metrics built (maybe in a worker) for ``params``; images edited since
        ``revisions`` was taken are re-computed here."""
        if revisions is not None:
            stale = np.flatnonzero(self.dataset.image_revisions != revisions)
            if stale.size:
                for m in metrics.values():
                    m.update(stale.tolist())
        self.params = params
        self.metrics = metrics
        if self.run not in metrics:
            self.run = next(iter(metrics))
        self.metricsReset.emit()

    def set_params(self, params: MetricParams) -> None:
        """Re-compute synchronously (small datasets; large ones use a worker)."""
        if params == self.params:
            return
        self.install_metrics(params, build_metrics(self.dataset, params))

    def _on_apply(self, edit: Edit, touched: frozenset[int]) -> None:
        if touched:
            for m in self.metrics.values():
                m.update(sorted(touched))
        self.imagesChanged.emit(touched)

    # ------------------------------------------------------------------ edits
    def push(self, edit: Edit, merge_key: Any = None, when: float | None = None,
             user: str | None = None) -> bool:
        """Apply ``edit`` and record it as one undo step (on disk in the journal first).
        False (and ``editFailed``) when the engine refuses it."""
        try:
            self.dataset.apply(edit)
        except (ValueError, KeyError, IndexError) as exc:
            self.editFailed.emit(f"{edit.describe(self.dataset.classes.names)}: {exc}")
            return False
        if user is None:
            user = self.journal.user if self.journal is not None else _user_name()
        cmd = EditCommand(self, edit, merge_key, applied=True, when=when, user=user)
        st = self.undo_stack
        index = st.index()
        top = st.command(index - 1) if index > 0 else None
        # QUndoStack merges into the top step unless that step is the clean (exported) one
        merges = (merge_key is not None and isinstance(top, EditCommand) and not st.isClean()
                  and top.can_merge(cmd))
        if merges:
            assert isinstance(top, EditCommand) and isinstance(top.edit, MoveBoxes)
            a = top.edit
            assert isinstance(edit, MoveBoxes)
            merged = MoveBoxes(a.box_ids, a.images, a.old_xyxy, edit.new_xyxy)
            # the journal holds one row per undo step: the merged step replaces the top
            self._journal_rows([("undo", None, None, None), ("do", merged, cmd.when, user)])
        else:
            self._journal_rows([("do", edit, cmd.when, user)])
        st.push(cmd)
        return True

    def history(self) -> list[Edit]:
        """The edits of the undo stack up to its current index (what export writes)."""
        return [c.edit for c in self._commands()]

    def history_meta(self) -> list[dict[str, Any]]:
        """``{"time", "user"}`` of each edit of :meth:`history`."""
        return [c.meta() for c in self._commands()]

    def _commands(self) -> list[EditCommand]:
        out: list[EditCommand] = []
        for k in range(self.undo_stack.index()):
            cmd = self.undo_stack.command(k)
            if isinstance(cmd, EditCommand):
                out.append(cmd)
        return out

    # ------------------------------------------------------------------ queries
    def image_path(self, i: int) -> Path | None:
        name = self.dataset.images.file_names[i]
        p = Path(name)
        if p.is_absolute():
            return p
        return (self.image_root / p) if self.image_root is not None else p

    def image_view(self, i: int) -> ImageView:
        ds = self.dataset
        im = ds.images
        gt = ds.gt
        res = self.current.image_result(i)
        m = res.match
        g_rows = res.gt_rows
        crowd = gt.iscrowd[g_rows]
        matched = (m.gt_pred >= 0) | (self.run is None)  # no run: nothing is "missed"
        gt_state = np.where(crowd, GT_CROWD, np.where(matched, GT_MATCHED, GT_MISSED))
        preds = self.current.preds
        view = ImageView(
            index=i,
            file_name=im.file_names[i],
            path=self.image_path(i),
            width=int(im.widths[i]),
            height=int(im.heights[i]),
            deleted=bool(im.deleted[i]),
            reviewed=bool(im.reviewed[i]),
            tags=tuple(sorted(im.tags[i])),
            gt_ids=gt.box_id[g_rows].copy(),
            gt_xyxy=gt.xyxy[g_rows].copy(),
            gt_cls=gt.cls[g_rows].copy(),
            gt_state=gt_state.astype(np.int8),
            gt_partner=np.full(len(g_rows), -1, dtype=np.int64),
            run=self.run,
        )
        if preds is not None:
            p_rows = res.pred_rows
            ps = preds.image_slice(i)
            view.n_below = int(np.count_nonzero(preds.alive[ps])) - len(p_rows)
            pid = preds.box_id[p_rows]
            view.pred_ids = pid.copy()
            view.pred_xyxy = preds.xyxy[p_rows].copy()
            view.pred_cls = preds.cls[p_rows].copy()
            view.pred_score = preds.score[p_rows].copy()
            state = np.full(len(p_rows), PRED_FP, dtype=np.int8)
            state[m.pred_outcome == TP] = PRED_TP
            state[m.pred_outcome == IGNORED] = PRED_IGNORED
            state[m.pred_outcome == FP] = PRED_FP
            view.pred_state = state
            view.pred_iou = m.pred_iou.copy()
            view.pred_partner = np.where(m.pred_gt >= 0, view.gt_ids[np.maximum(m.pred_gt, 0)]
                                         if len(g_rows) else -1, -1).astype(np.int64)
            if len(p_rows):
                view.gt_partner = np.where(m.gt_pred >= 0, pid[np.maximum(m.gt_pred, 0)],
                                           -1).astype(np.int64)
        return view

    def gt_boxes(self, box_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(images, classes, xyxy) of ground-truth boxes by id."""
        rows = self.dataset.gt.rows_of(list(box_ids))
        gt = self.dataset.gt
        return gt.image[rows], gt.cls[rows], gt.xyxy[rows]

    def run_totals(self) -> list[dict[str, Any]]:
        """Per-run totals over the images not deleted (computed by the engine)."""
        alive = ~self.dataset.images.deleted
        return [{"run": run or "(ground truth only)", **run_totals(m, alive)}
                for run, m in self.metrics.items()]

    # ------------------------------------------------------------------ edit builders
    def _xy(self, b: Sequence[float]) -> tuple[float, float, float, float]:
        return (float(b[0]), float(b[1]), float(b[2]), float(b[3]))

    def delete_boxes(self, box_ids: Sequence[int]) -> bool:
        if not box_ids:
            return False
        images, _, _ = self.gt_boxes(box_ids)
        return self.push(DeleteBoxes(tuple(int(b) for b in box_ids),
                                     tuple(int(i) for i in images)))

    def relabel_boxes(self, box_ids: Sequence[int], new_cls: int) -> bool:
        if not box_ids:
            return False
        images, cls, _ = self.gt_boxes(box_ids)
        if np.all(cls == new_cls):
            return False
        return self.push(RelabelBoxes(tuple(int(b) for b in box_ids),
                                      tuple(int(i) for i in images),
                                      tuple(int(c) for c in cls),
                                      tuple(int(new_cls) for _ in box_ids)))

    def move_boxes(self, box_ids: Sequence[int], new_xyxy: np.ndarray,
                   merge_key: Any = None) -> bool:
        if not box_ids:
            return False
        images, _, old = self.gt_boxes(box_ids)
        new = np.asarray(new_xyxy, dtype=np.float64).reshape(-1, 4)
        if np.allclose(old, new):
            return False
        return self.push(MoveBoxes(tuple(int(b) for b in box_ids),
                                   tuple(int(i) for i in images),
                                   tuple(self._xy(b) for b in old),
                                   tuple(self._xy(b) for b in new)), merge_key)

    def clip_to_image(self, i: int, xyxy: np.ndarray) -> np.ndarray:
        """Clip boxes to the image (when its size is known) and order corners."""
        b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
        lo = np.minimum(b[:, :2], b[:, 2:])
        hi = np.maximum(b[:, :2], b[:, 2:])
        b[:, :2], b[:, 2:] = lo, hi
        w, h = int(self.dataset.images.widths[i]), int(self.dataset.images.heights[i])
        if w > 0 and h > 0:
            b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0, w)
            b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0, h)
        return b

    def shift_inside(self, i: int, xyxy: np.ndarray) -> np.ndarray:
        """Shift boxes (keeping their size) so they lie inside image ``i`` when its
        size is known."""
        new = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
        w, h = int(self.dataset.images.widths[i]), int(self.dataset.images.heights[i])
        if w > 0 and h > 0:
            shift_x = np.clip(new[:, 0], 0, None) - new[:, 0]
            shift_x += np.clip(new[:, 2], None, w) - new[:, 2]
            shift_y = np.clip(new[:, 1], 0, None) - new[:, 1]
            shift_y += np.clip(new[:, 3], None, h) - new[:, 3]
            new += np.stack([shift_x, shift_y, shift_x, shift_y], axis=1)
        return new

    def nudge_boxes(self, box_ids: Sequence[int], dx: float, dy: float) -> bool:
        """Move boxes by (dx, dy), stopping at the border; consecutive nudges of the
        same boxes merge into one undo step."""
        if not box_ids:
            return False
        images, _, old = self.gt_boxes(box_ids)
        new = self.shift_inside(int(images[0]), old + np.array([dx, dy, dx, dy], dtype=float))
        key = ("nudge", tuple(sorted(int(b) for b in box_ids)))
        return self.move_boxes(box_ids, new, merge_key=key)

    def add_boxes(self, image: int, cls: Sequence[int], xyxy: np.ndarray,
                  sources: Sequence[str]) -> tuple[int, ...]:
        """Add ground-truth boxes; returns their new ids (empty when refused)."""
        xy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        ids = self.dataset.new_box_ids(len(xy))
        ok = self.push(AddBoxes(ids, tuple(image for _ in ids), tuple(int(c) for c in cls),
                                tuple(self._xy(b) for b in xy), tuple(sources)))
        return ids if ok else ()

    def duplicate_boxes(self, box_ids: Sequence[int], offset: float = 10.0) -> tuple[int, ...]:
        if not box_ids:
            return ()
        images, cls, xy = self.gt_boxes(box_ids)
        i = int(images[0])
        new = self.clip_to_image(i, xy + offset)
        return self.add_boxes(i, cls.tolist(), new, [f"duplicate:{int(b)}" for b in box_ids])

    def accept_predictions(self, image: int, pred_ids: Sequence[int]) -> tuple[int, ...]:
        """Copy predictions of the current run into the ground truth."""
        preds = self.current.preds
        if preds is None or not pred_ids:
            return ()
        rows = preds.rows_of(list(pred_ids))
        return self.add_boxes(image, preds.cls[rows].tolist(), preds.xyxy[rows],
                              [f"pred:{self.run}:{int(b)}" for b in pred_ids])

    def replacement_for(self, view: ImageView, gt_id: int, pred_id: int | None = None) -> int:
        """The prediction that should replace GT box ``gt_id``: the given one, else its
        match, else the prediction (any class) with the highest IoU >= 0.1; -1 if none."""
        if pred_id is not None and pred_id >= 0:
            return int(pred_id)
        k = np.flatnonzero(view.gt_ids == gt_id)
        if not k.size:
            return -1
        partner = int(view.gt_partner[k[0]])
        if partner >= 0 or not len(view.pred_ids):
            return partner
        best = best_overlap(view.gt_xyxy[k[0]], view.pred_xyxy, min_iou=0.1)
        return int(view.pred_ids[best]) if best >= 0 else -1

    def replace_with_prediction(self, gt_id: int, pred_id: int) -> bool:
        """Move (and relabel when the classes differ) GT box ``gt_id`` onto prediction
        ``pred_id``: one Composite, one undo step."""
        preds = self.current.preds
        if preds is None:
            return False
        prow = int(preds.rows_of([pred_id])[0])
        images, cls, old = self.gt_boxes([gt_id])
        i = int(images[0])
        new = preds.xyxy[prow]
        parts: list[Edit] = []
        if not np.allclose(old[0], new):
            parts.append(MoveBoxes((int(gt_id),), (i,), (self._xy(old[0]),), (self._xy(new),)))
        if int(cls[0]) != int(preds.cls[prow]):
            parts.append(RelabelBoxes((int(gt_id),), (i,), (int(cls[0]),),
                                      (int(preds.cls[prow]),)))
        if not parts:
            return False
        return self.push(Composite(f"Replace box with prediction {self.run}:{pred_id}",
                                   tuple(parts)))

    def set_images_deleted(self, images: Sequence[int], deleted: bool) -> bool:
        imgs = tuple(int(i) for i in images if bool(self.dataset.images.deleted[i]) != deleted)
        if not imgs:
            return False
        return self.push(DeleteImages(imgs) if deleted else RestoreImages(imgs))

    def set_reviewed(self, images: Sequence[int], reviewed: bool) -> bool:
        im = self.dataset.images
        imgs = tuple(int(i) for i in images)
        old = tuple(bool(im.reviewed[i]) for i in imgs)
        if all(o == reviewed for o in old):
            return False
        return self.push(SetReviewed(imgs, old, tuple(reviewed for _ in imgs)))

    def set_tags(self, images: Sequence[int], tags: Sequence[str]) -> bool:
        im = self.dataset.images
        imgs = tuple(int(i) for i in images)
        new_tags = tuple(sorted({t.strip() for t in tags if t.strip()}))
        old = tuple(tuple(sorted(im.tags[i])) for i in imgs)
        if all(o == new_tags for o in old):
            return False
        return self.push(SetTags(imgs, old, tuple(new_tags for _ in imgs)))
