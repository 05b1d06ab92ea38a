"""The dataset: images, classes, ground truth, prediction runs; edits applied here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .edits import (
    AddBoxes,
    Composite,
    DeleteBoxes,
    DeleteImages,
    Edit,
    MoveBoxes,
    RelabelBoxes,
    RemoveBoxes,
    RestoreBoxes,
    RestoreImages,
    SetReviewed,
    SetTags,
)
from .tables import Boxes, Classes, Images

__all__ = ["Dataset", "EditHistory"]

Listener = Callable[[Edit, frozenset[int]], None]


@dataclass(eq=False)
class Dataset:
    """Images, one class vocabulary, ground truth and named prediction runs.

    ``meta`` carries what the source format had that the engine does not interpret
    (COCO ``info``/``licenses``, the source format's name, ...). Only :meth:`apply`
    changes the data; every call bumps ``revision`` and notifies listeners with the
    set of image indices it touched.
    """

    images: Images
    classes: Classes
    gt: Boxes
    runs: dict[str, Boxes] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    revision: int = 0
    image_revisions: np.ndarray = field(default=None)  # type: ignore[assignment]
    _listeners: list[Listener] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.gt.n_images != len(self.images):
            raise ValueError("ground truth offsets do not match the image table")
        for name, run in self.runs.items():
            if run.n_images != len(self.images):
                raise ValueError(f"run {name!r}: offsets do not match the image table")
        if self.image_revisions is None:
            self.image_revisions = np.zeros(len(self.images), dtype=np.int64)

    # ----------------------------------------------------------------- info
    @property
    def n_images(self) -> int:
        return len(self.images)

    def add_listener(self, fn: Listener) -> None:
        self._listeners.append(fn)

    def remove_listener(self, fn: Listener) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def new_box_ids(self, n: int) -> tuple[int, ...]:
        """Fresh ground-truth box ids, never used before in this dataset."""
        start = max(self.gt.next_box_id(), int(self.meta.get("_next_box_id", 0)))
        self.meta["_next_box_id"] = start + n
        return tuple(range(start, start + n))

    def alive_images(self) -> np.ndarray:
        return ~self.images.deleted

    def copy(self) -> Dataset:
        return Dataset(
            self.images.copy(),
            self.classes,
            self.gt.copy(),
            {k: v for k, v in self.runs.items()},
            dict(self.meta),
            self.revision,
            self.image_revisions.copy(),
        )

    # ----------------------------------------------------------------- edits
    def apply(self, edit: Edit) -> frozenset[int]:
        """Apply one edit record; return the image indices it touched."""
        self._apply(edit)
        touched = edit.touched_images()
        self.revision += 1
        if touched:
            self.image_revisions[np.fromiter(touched, dtype=np.int64)] += 1
        for fn in list(self._listeners):
            fn(edit, touched)
        return touched

    def _check_images(self, boxes: Sequence[int], images: Sequence[int]) -> np.ndarray:
        rows = self.gt.rows_of(boxes)
        if len(images) != len(rows) or np.any(self.gt.image[rows] != np.asarray(images)):
            raise ValueError("edit names boxes on other images than it says")
        return rows

    def _apply(self, e: Edit) -> None:
        gt = self.gt
        if isinstance(e, Composite):
            for sub in e.edits:
                self._apply(sub)
        elif isinstance(e, DeleteBoxes):
            gt.alive[self._check_images(e.box_ids, e.images)] = False
        elif isinstance(e, RestoreBoxes):
            gt.alive[self._check_images(e.box_ids, e.images)] = True
        elif isinstance(e, RelabelBoxes):
            rows = self._check_images(e.box_ids, e.images)
            if np.any(gt.cls[rows] != np.asarray(e.old_cls)):
                raise ValueError("relabel: old classes do not match the data")
            if any(c < 0 or c >= len(self.classes) for c in e.new_cls):
                raise ValueError("relabel: unknown class index")
            gt.cls[rows] = np.asarray(e.new_cls, dtype=np.int64)
        elif isinstance(e, MoveBoxes):
            rows = self._check_images(e.box_ids, e.images)
            new = np.asarray(e.new_xyxy, dtype=np.float64).reshape(-1, 4)
            if np.any(~np.isfinite(new)) or np.any(new[:, 2:] < new[:, :2]):
                raise ValueError("move: new box is not a valid x1<=x2, y1<=y2 box")
            gt.xyxy[rows] = new
            # a moved box no longer has the source format's area (COCO mask area)
            gt.area[rows] = np.nan
        elif isinstance(e, AddBoxes):
            if gt.has_ids(e.box_ids) or len(set(e.box_ids)) != len(e.box_ids):
                raise ValueError(f"add: box id(s) {list(e.box_ids)} exist already")
            for k, b in enumerate(e.box_ids):
                gt._insert(b, e.images[k], e.cls[k], e.xyxy[k])
        elif isinstance(e, RemoveBoxes):
            for b in e.box_ids:
                gt._remove(b)
        elif isinstance(e, DeleteImages):
            self.images.deleted[list(e.images)] = True
        elif isinstance(e, RestoreImages):
            self.images.deleted[list(e.images)] = False
        elif isinstance(e, SetReviewed):
            self.images.reviewed[list(e.images)] = np.asarray(e.new, dtype=bool)
        elif isinstance(e, SetTags):
            for i, tags in zip(e.images, e.new, strict=True):
                self.images.tags[i] = frozenset(tags)
        else:  # pragma: no cover
            raise TypeError(f"unknown edit {type(e).__name__}")


class EditHistory:
    """Headless undo/redo over a dataset (the GUI uses QUndoStack instead)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.done: list[Edit] = []
        self.undone: list[Edit] = []

    def push(self, edit: Edit) -> None:
        self.dataset.apply(edit)
        self.done.append(edit)
        self.undone.clear()

    def undo(self) -> Edit | None:
        if not self.done:
            return None
        e = self.done.pop()
        self.dataset.apply(e.inverse())
        self.undone.append(e)
        return e

    def redo(self) -> Edit | None:
        if not self.undone:
            return None
        e = self.undone.pop()
        self.dataset.apply(e)
        self.done.append(e)
        return e
