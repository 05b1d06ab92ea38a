"""The dataset: images, classes, ground truth, prediction runs; edits applied here.

:meth:`Dataset.apply` is the only function that changes data, and it is atomic: every
record is checked before it touches a column, and when a later part of a
:class:`~detview.core.edits.Composite` is refused the parts already applied are rolled
back exactly (rows, areas, flags), so a refused edit changes nothing — no data, no
revision counter, no listener call — and raises :class:`~detview.core.edits.EditRefused`
saying which part and why. :meth:`Dataset.check` answers the same question without
changing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .edits import (
    BOX_ATTRIBUTES,
    AddBoxes,
    Composite,
    DeleteBoxes,
    DeleteImages,
    Edit,
    EditRefused,
    MergeClasses,
    MoveBoxes,
    RelabelBoxes,
    RemoveBoxes,
    RenameClass,
    RestoreBoxes,
    RestoreImages,
    SetBoxAttribute,
    SetReviewed,
    SetTags,
)
from .tables import _BOX_COLUMNS, Boxes, Classes, Images

__all__ = ["Dataset"]

Listener = Callable[[Edit, frozenset[int]], None]
_Undo = Callable[[], None]
_XYXY = tuple[float, float, float, float]


def _xyxy(row: np.ndarray) -> _XYXY:
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))


@dataclass(eq=False)
class Dataset:
    """Images, one class vocabulary, ground truth and named prediction runs.

    ``meta`` carries what the source format had that the engine does not interpret
    (COCO ``info``/``licenses``, the source format's name, ...). Only :meth:`apply`
    changes the data; every applied edit bumps ``revision`` and the touched images'
    ``image_revisions``, and notifies listeners with the set of image indices it
    touched.
    """

    images: Images
    classes: Classes
    gt: Boxes
    runs: dict[str, Boxes] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    revision: int = 0
    #: edits applied to each image (default: zeros)
    image_revisions: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    _listeners: list[Listener] = field(default_factory=list, repr=False)
    # (box id, xyxy) -> the source format's area a move replaced: moving the box back
    # to exactly that place (undo) brings the area back, so undo restores every column
    _area_stash: dict[tuple[int, _XYXY], float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.gt.n_images != len(self.images):
            raise ValueError("ground truth offsets do not match the image table")
        for name, run in self.runs.items():
            if run.n_images != len(self.images):
                raise ValueError(f"run {name!r}: offsets do not match the image table")
        if self.image_revisions.shape != (len(self.images),):
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
        """A copy whose ground truth and image flags edits can change independently
        (prediction tables are shared: edits never change them)."""
        return Dataset(
            self.images.copy(),
            self.classes,
            self.gt.copy(),
            dict(self.runs),
            dict(self.meta),
            self.revision,
            self.image_revisions.copy(),
            _area_stash=dict(self._area_stash),
        )

    # ----------------------------------------------------------------- edits
    def apply(self, edit: Edit) -> frozenset[int]:
        """Apply one edit record, all of it or nothing; return the image indices it
        touched. Raises :class:`EditRefused` (data unchanged) when it does not apply."""
        undo: list[_Undo] = []
        try:
            self._apply(edit, undo)
        except EditRefused:
            self._rollback(undo)
            raise
        touched = edit.touched_images()
        self.revision += 1
        if touched:
            self.image_revisions[np.fromiter(touched, dtype=np.int64)] += 1
        for fn in list(self._listeners):
            fn(edit, touched)
        return touched

    def check(self, edit: Edit) -> None:
        """Raise :class:`EditRefused` when :meth:`apply` would refuse ``edit``; change
        nothing either way (a composite's later parts are checked against the state its
        earlier parts make, then everything is rolled back)."""
        undo: list[_Undo] = []
        try:
            self._apply(edit, undo)
        finally:
            self._rollback(undo)

    def refusal(self, edit: Edit) -> str | None:
        """Why ``edit`` would be refused, or None when it applies."""
        try:
            self.check(edit)
        except EditRefused as exc:
            return str(exc)
        return None

    @staticmethod
    def _rollback(undo: list[_Undo]) -> None:
        for fn in reversed(undo):
            fn()

    def _apply(self, e: Edit, undo: list[_Undo]) -> None:
        if isinstance(e, Composite):
            for k, sub in enumerate(e.edits, start=1):
                try:
                    self._apply(sub, undo)
                except EditRefused as exc:
                    raise EditRefused(f"part {k} of {len(e.edits)} of {e.label!r} "
                                      f"({sub.kind}): {exc}", k) from None
            return
        try:
            self._apply_one(e, undo)
        except EditRefused:
            raise
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise EditRefused(f"{e.kind}: {exc}") from None

    # ----------------------------------------------------------------- checks
    def _image_indices(self, images: Sequence[int]) -> list[int]:
        out = [int(i) for i in images]
        n = self.n_images
        bad = [i for i in out if not 0 <= i < n]
        if bad:
            raise EditRefused(f"image index {bad[0]} out of range (0..{n - 1})")
        return out

    def _rows(self, boxes: Sequence[int], images: Sequence[int]) -> np.ndarray:
        if len(boxes) != len(images):
            raise EditRefused(f"{len(boxes)} box ids but {len(images)} image indices")
        try:
            rows = self.gt.rows_of(boxes)
        except KeyError as exc:
            raise EditRefused(f"no ground-truth box with id {exc.args[0]}") from None
        if np.any(self.gt.image[rows] != np.asarray(images, dtype=np.int64)):
            raise EditRefused("the edit names boxes on other images than it says")
        return rows

    def _classes_ok(self, cls: Sequence[int], what: str) -> None:
        k = len(self.classes)
        bad = [int(c) for c in cls if not 0 <= int(c) < k]
        if bad:
            raise EditRefused(f"{what}: unknown class index {bad[0]} ({k} classes)")

    @staticmethod
    def _boxes_ok(xyxy: Sequence[Sequence[float]], n: int, what: str) -> np.ndarray:
        arr = np.asarray(xyxy, dtype=np.float64)
        if arr.shape != (n, 4):
            raise EditRefused(f"{what}: expected {n} boxes of 4 numbers")
        if np.any(~np.isfinite(arr)) or np.any(arr[:, 2:] < arr[:, :2]):
            raise EditRefused(f"{what}: not a valid x1<=x2, y1<=y2 box")
        return arr

    # ----------------------------------------------------------------- records
    def _apply_one(self, e: Edit, undo: list[_Undo]) -> None:
        gt = self.gt
        im = self.images
        if isinstance(e, (DeleteBoxes, RestoreBoxes)):
            rows = self._rows(e.box_ids, e.images)
            self._set_box_column("alive", e.box_ids, rows, isinstance(e, RestoreBoxes), undo)
        elif isinstance(e, RelabelBoxes):
            rows = self._rows(e.box_ids, e.images)
            n = len(e.box_ids)
            if len(e.old_cls) != n or len(e.new_cls) != n:
                raise EditRefused("relabel: one old and one new class per box")
            if np.any(gt.cls[rows] != np.asarray(e.old_cls, dtype=np.int64)):
                raise EditRefused("relabel: old classes do not match the data")
            self._classes_ok(e.new_cls, "relabel")
            self._set_box_column("cls", e.box_ids, rows, np.asarray(e.new_cls, np.int64), undo)
        elif isinstance(e, MoveBoxes):
            rows = self._rows(e.box_ids, e.images)
            n = len(e.box_ids)
            new = self._boxes_ok(e.new_xyxy, n, "move")
            old = self._boxes_ok(e.old_xyxy, n, "move (old boxes)")
            if not np.allclose(gt.xyxy[rows], old, rtol=0, atol=1e-6):
                raise EditRefused("move: old boxes do not match the data")
            self._move(e.box_ids, rows, new, undo)
        elif isinstance(e, AddBoxes):
            n = len(e.box_ids)
            if len(e.images) != n or len(e.cls) != n:
                raise EditRefused("add: one image and one class per box")
            if len(set(e.box_ids)) != n or gt.has_ids(e.box_ids):
                raise EditRefused(f"add: box id(s) {list(e.box_ids)} exist already")
            self._image_indices(e.images)
            self._classes_ok(e.cls, "add")
            xy = self._boxes_ok(e.xyxy, n, "add")
            for k, b in enumerate(e.box_ids):
                gt._insert(int(b), int(e.images[k]), int(e.cls[k]), xy[k])
                undo.append(self._unadd(int(b)))
        elif isinstance(e, RemoveBoxes):
            self._rows(e.box_ids, e.images)
            for b in e.box_ids:
                undo.append(self._remove_row(int(b)))
        elif isinstance(e, (DeleteImages, RestoreImages)):
            idx = self._image_indices(e.images)
            self._set_image_flags(im.deleted, idx, [isinstance(e, DeleteImages)] * len(idx),
                                  undo)
        elif isinstance(e, SetReviewed):
            idx = self._image_indices(e.images)
            if len(e.old) != len(idx) or len(e.new) != len(idx):
                raise EditRefused("set_reviewed: one old and one new value per image")
            if [bool(im.reviewed[i]) for i in idx] != [bool(v) for v in e.old]:
                raise EditRefused("set_reviewed: old values do not match the data")
            self._set_image_flags(im.reviewed, idx, [bool(v) for v in e.new], undo)
        elif isinstance(e, SetTags):
            idx = self._image_indices(e.images)
            if len(e.old) != len(idx) or len(e.new) != len(idx):
                raise EditRefused("set_tags: one old and one new tag list per image")
            if any(im.tags[i] != frozenset(o) for i, o in zip(idx, e.old, strict=True)):
                raise EditRefused("set_tags: old tags do not match the data")
            before = [im.tags[i] for i in idx]
            for i, tags in zip(idx, e.new, strict=True):
                im.tags[i] = frozenset(str(t) for t in tags)

            def restore_tags() -> None:
                for i, t in zip(idx, before, strict=True):
                    self.images.tags[i] = t

            undo.append(restore_tags)
        elif isinstance(e, RenameClass):
            self._rename_class(e, undo)
        elif isinstance(e, MergeClasses):
            self._merge_classes(e, undo)
        elif isinstance(e, SetBoxAttribute):
            self._set_attribute(e, undo)
        else:
            raise EditRefused(f"unknown edit {type(e).__name__}")

    # ----------------------------------------------------------------- classes
    def _rename_class(self, e: RenameClass, undo: list[_Undo]) -> None:
        names = list(self.classes.names)
        k = int(e.cls)
        if not 0 <= k < len(names):
            raise EditRefused(f"rename: unknown class index {k} ({len(names)} classes)")
        if names[k] != e.old_name:
            raise EditRefused(f"rename: class {k} is {names[k]!r}, not {e.old_name!r}")
        new = str(e.new_name).strip()
        if not new or new != e.new_name:
            raise EditRefused("rename: a class name must be non-empty text without spaces "
                              "around it")
        if new in names and names.index(new) != k:
            raise EditRefused(f"rename: another class is called {new!r} already (merge "
                              "them instead)")
        old = self.classes
        names[k] = new
        self.classes = Classes(tuple(names), old.source_ids, old.extras)

        def restore() -> None:
            self.classes = old

        undo.append(restore)

    def _merge_classes(self, e: MergeClasses, undo: list[_Undo]) -> None:
        gt = self.gt
        src = [int(c) for c in e.src]
        dst = int(e.dst)
        self._classes_ok([*src, dst], "merge")
        if not src or dst in src or len(set(src)) != len(src):
            raise EditRefused("merge: the source classes must be distinct and not the target")
        rows = self._rows(e.box_ids, e.images)
        n = len(e.box_ids)
        if len(e.old_cls) != n:
            raise EditRefused("merge: one old class per box")
        old = np.asarray(e.old_cls, dtype=np.int64).reshape(n)
        if n and not np.isin(old, src).all():
            raise EditRefused("merge: a box's old class is not a source class")
        have = gt.cls[rows]
        if np.any(have != (dst if e.undo else old)):
            raise EditRefused("merge: the boxes' classes do not match the data")
        new_vals = old if e.undo else np.full(n, dst, dtype=np.int64)
        self._set_box_column("cls", e.box_ids, rows, new_vals, undo)
        if not e.undo and np.isin(gt.cls, src).any():
            left = int(np.count_nonzero(np.isin(gt.cls, src)))
            raise EditRefused(f"merge: {left} box(es) of the source classes are not in the "
                              "record (the data changed since it was made)")

    def _set_attribute(self, e: SetBoxAttribute, undo: list[_Undo]) -> None:
        if e.name not in BOX_ATTRIBUTES:
            raise EditRefused(f"attribute: unknown attribute {e.name!r} (known: "
                              f"{', '.join(BOX_ATTRIBUTES)})")
        rows = self._rows(e.box_ids, e.images)
        n = len(e.box_ids)
        if len(e.old) != n or len(e.new) != n:
            raise EditRefused("attribute: one old and one new value per box")
        for v in (*e.old, *e.new):
            if v is not None and (isinstance(v, bool) or v not in (0, 1)):
                raise EditRefused(f"attribute: values are 0, 1 or null, got {v!r}")
        gt = self.gt
        ids = [int(b) for b in e.box_ids]
        if e.name == "iscrowd":
            if any(v is None for v in e.new):
                raise EditRefused("attribute: every box has an iscrowd flag (0 or 1)")
            if [int(v) for v in gt.iscrowd[rows]] != [int(v or 0) for v in e.old]:
                raise EditRefused("attribute: old iscrowd values do not match the data")
            self._set_box_column("iscrowd", ids, rows, np.asarray(e.new, dtype=bool), undo)
            return
        before = [gt.extras.get(b) for b in ids]
        for b, ex, want in zip(ids, before, e.old, strict=True):
            have = None if ex is None or ex.get(e.name) is None else int(ex[e.name])
            if have != want:
                raise EditRefused(f"attribute: box {b} has {e.name}={have}, not {want}")
        for b, ex, v in zip(ids, before, e.new, strict=True):
            d = dict(ex or {})  # a new dict: copies of the dataset never share the change
            if v is None:
                d.pop(e.name, None)
            else:
                d[e.name] = int(v)
            if d:
                gt.extras[b] = d
            else:
                gt.extras.pop(b, None)

        def restore() -> None:
            for b, ex in zip(ids, before, strict=True):
                if ex is None:
                    self.gt.extras.pop(b, None)
                else:
                    self.gt.extras[b] = ex

        undo.append(restore)

    # ----------------------------------------------------------------- mutations
    def _set_box_column(self, column: str, box_ids: Sequence[int], rows: np.ndarray,
                        value: Any, undo: list[_Undo]) -> None:
        col = getattr(self.gt, column)
        old = col[rows].copy()
        col[rows] = value
        ids = [int(b) for b in box_ids]

        def restore() -> None:
            getattr(self.gt, column)[self.gt.rows_of(ids)] = old

        undo.append(restore)

    def _move(self, box_ids: Sequence[int], rows: np.ndarray, new: np.ndarray,
              undo: list[_Undo]) -> None:
        gt = self.gt
        ids = [int(b) for b in box_ids]
        old_xy = gt.xyxy[rows].copy()
        old_area = gt.area[rows].copy()
        stash_keys: list[tuple[int, _XYXY]] = []
        area = np.full(len(ids), np.nan)
        for k, b in enumerate(ids):
            if not np.isnan(old_area[k]):
                key = (b, _xyxy(old_xy[k]))
                if key not in self._area_stash:
                    stash_keys.append(key)
                self._area_stash[key] = float(old_area[k])
            # moved back exactly where the source format's area held: that area again
            area[k] = self._area_stash.get((b, _xyxy(new[k])), np.nan)
        gt.xyxy[rows] = new
        gt.area[rows] = area

        def restore() -> None:
            r = self.gt.rows_of(ids)
            self.gt.xyxy[r] = old_xy
            self.gt.area[r] = old_area
            for key in stash_keys:
                self._area_stash.pop(key, None)

        undo.append(restore)

    def _unadd(self, box_id: int) -> _Undo:
        return lambda: self.gt._remove(box_id)

    def _remove_row(self, box_id: int) -> _Undo:
        """Remove a row; return what puts it back exactly (position and every field)."""
        gt = self.gt
        pos = int(gt.rows_of([box_id])[0])
        image = int(gt.image[pos])
        saved = {c: getattr(gt, c)[pos].copy() for c in _BOX_COLUMNS}
        extras = gt.extras.get(box_id)
        gt._remove(box_id)

        def restore() -> None:
            g = self.gt
            for c in _BOX_COLUMNS:
                setattr(g, c, np.insert(getattr(g, c), pos, saved[c], axis=0))
            g.offsets[image + 1:] += 1
            if extras is not None:
                g.extras[box_id] = extras

        return restore

    def _set_image_flags(self, column: np.ndarray, idx: list[int], values: list[bool],
                         undo: list[_Undo]) -> None:
        old = column[idx].copy()
        column[idx] = np.asarray(values, dtype=bool)

        def restore() -> None:
            column[idx] = old

        undo.append(restore)
