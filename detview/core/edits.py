"""Edit records: every change to a dataset is one small, serializable record.

A record holds the old and the new values, refers to boxes by their stable box id
and to images by image index, and has an exact inverse. ``Dataset.apply`` is the
only function that changes data. The GUI's undo stack, the crash-recovery journal,
the corrections log and export are all made from these records.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

__all__ = [
    "BOX_ATTRIBUTES",
    "AddBoxes",
    "Composite",
    "DeleteBoxes",
    "DeleteImages",
    "Edit",
    "EditRefused",
    "MergeClasses",
    "MoveBoxes",
    "RelabelBoxes",
    "RemoveBoxes",
    "RenameClass",
    "RestoreBoxes",
    "RestoreImages",
    "SetBoxAttribute",
    "SetReviewed",
    "SetTags",
    "edit_from_json",
]

XYXY = tuple[float, float, float, float]


def _t(seq: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(seq)


class EditRefused(ValueError):
    """``Dataset.apply`` (or ``Dataset.check``) refused an edit: nothing was changed.

    ``part`` is the 1-based position of the refused record inside a :class:`Composite`
    (0 for a single record); the message says which record and why.
    """

    def __init__(self, message: str, part: int = 0) -> None:
        super().__init__(message)
        self.part = part


@dataclass(frozen=True)
class Edit:
    """Base class. ``kind`` names the record in its JSON form."""

    kind: ClassVar[str] = "edit"

    def inverse(self) -> Edit:  # pragma: no cover - abstract
        raise NotImplementedError

    def touched_images(self) -> frozenset[int]:
        return frozenset(int(i) for i in getattr(self, "images", ()))

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        return self.kind

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple) and v and isinstance(v[0], Edit):
                d[f.name] = [e.to_json() for e in v]
            else:
                d[f.name] = _jsonable(v)
        return d


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, frozenset):
        return sorted(v)
    return v


def _n(count: int, word: str) -> str:
    if count == 1:
        return f"1 {word}"
    return f"{count} {word}" + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")


@dataclass(frozen=True)
class DeleteBoxes(Edit):
    """Mark ground-truth boxes deleted (``alive = False``)."""

    kind: ClassVar[str] = "delete_boxes"
    box_ids: tuple[int, ...]
    images: tuple[int, ...]  # image index of each box

    def inverse(self) -> Edit:
        return RestoreBoxes(self.box_ids, self.images)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        return f"Delete {_n(len(self.box_ids), 'box')}"


@dataclass(frozen=True)
class RestoreBoxes(Edit):
    kind: ClassVar[str] = "restore_boxes"
    box_ids: tuple[int, ...]
    images: tuple[int, ...]

    def inverse(self) -> Edit:
        return DeleteBoxes(self.box_ids, self.images)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        return f"Restore {_n(len(self.box_ids), 'box')}"


@dataclass(frozen=True)
class RelabelBoxes(Edit):
    kind: ClassVar[str] = "relabel_boxes"
    box_ids: tuple[int, ...]
    images: tuple[int, ...]
    old_cls: tuple[int, ...]
    new_cls: tuple[int, ...]

    def inverse(self) -> Edit:
        return RelabelBoxes(self.box_ids, self.images, self.new_cls, self.old_cls)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        new = set(self.new_cls)
        if class_names is not None and len(new) == 1:
            return f"Relabel {_n(len(self.box_ids), 'box')} as {class_names[next(iter(new))]}"
        return f"Relabel {_n(len(self.box_ids), 'box')}"


@dataclass(frozen=True)
class MoveBoxes(Edit):
    """Move and/or resize boxes (old and new xyxy in absolute pixels)."""

    kind: ClassVar[str] = "move_boxes"
    box_ids: tuple[int, ...]
    images: tuple[int, ...]
    old_xyxy: tuple[XYXY, ...]
    new_xyxy: tuple[XYXY, ...]

    def inverse(self) -> Edit:
        return MoveBoxes(self.box_ids, self.images, self.new_xyxy, self.old_xyxy)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        return f"Move/resize {_n(len(self.box_ids), 'box')}"


@dataclass(frozen=True)
class AddBoxes(Edit):
    """Add new ground-truth boxes (drawn, duplicated, or accepted from a prediction).

    ``sources[k]`` says where box k came from, e.g. ``"drawn"``, ``"duplicate:12"`` or
    ``"pred:yolov5s:3051"``.
    """

    kind: ClassVar[str] = "add_boxes"
    box_ids: tuple[int, ...]
    images: tuple[int, ...]
    cls: tuple[int, ...]
    xyxy: tuple[XYXY, ...]
    sources: tuple[str, ...] = ()

    def inverse(self) -> Edit:
        return RemoveBoxes(self.box_ids, self.images, self.cls, self.xyxy, self.sources)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        src = self.sources[0] if self.sources else "drawn"
        verb = "Accept prediction" if src.startswith("pred:") else "Add"
        if len(self.box_ids) > 1 or verb == "Add":
            return f"{verb}: {_n(len(self.box_ids), 'box')}"
        return verb


@dataclass(frozen=True)
class RemoveBoxes(Edit):
    """Inverse of :class:`AddBoxes`: removes the rows it added."""

    kind: ClassVar[str] = "remove_boxes"
    box_ids: tuple[int, ...]
    images: tuple[int, ...]
    cls: tuple[int, ...]
    xyxy: tuple[XYXY, ...]
    sources: tuple[str, ...] = ()

    def inverse(self) -> Edit:
        return AddBoxes(self.box_ids, self.images, self.cls, self.xyxy, self.sources)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        return f"Remove {_n(len(self.box_ids), 'added box')}"


@dataclass(frozen=True)
class DeleteImages(Edit):
    kind: ClassVar[str] = "delete_images"
    images: tuple[int, ...]

    def inverse(self) -> Edit:
        return RestoreImages(self.images)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        return f"Delete {_n(len(self.images), 'image')}"


@dataclass(frozen=True)
class RestoreImages(Edit):
    kind: ClassVar[str] = "restore_images"
    images: tuple[int, ...]

    def inverse(self) -> Edit:
        return DeleteImages(self.images)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        return f"Restore {_n(len(self.images), 'image')}"


@dataclass(frozen=True)
class SetReviewed(Edit):
    kind: ClassVar[str] = "set_reviewed"
    images: tuple[int, ...]
    old: tuple[bool, ...]
    new: tuple[bool, ...]

    def inverse(self) -> Edit:
        return SetReviewed(self.images, self.new, self.old)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        word = "reviewed" if all(self.new) else "not reviewed"
        return f"Mark {_n(len(self.images), 'image')} {word}"


@dataclass(frozen=True)
class SetTags(Edit):
    kind: ClassVar[str] = "set_tags"
    images: tuple[int, ...]
    old: tuple[tuple[str, ...], ...]
    new: tuple[tuple[str, ...], ...]

    def inverse(self) -> Edit:
        return SetTags(self.images, self.new, self.old)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        return f"Tag {_n(len(self.images), 'image')}"


@dataclass(frozen=True)
class RenameClass(Edit):
    """Rename class index ``cls`` from ``old_name`` to ``new_name``: every box of it,
    everywhere (ground truth, predictions, every export's class list). No box and no
    number changes; a name another class has is refused (that is a merge)."""

    kind: ClassVar[str] = "rename_class"
    cls: int
    old_name: str
    new_name: str

    def inverse(self) -> Edit:
        return RenameClass(self.cls, self.new_name, self.old_name)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        return f"Rename class {self.old_name!r} to {self.new_name!r}"


@dataclass(frozen=True)
class MergeClasses(Edit):
    """Every ground-truth box of the classes ``src`` becomes class ``dst``: the whole
    dataset in one step. ``box_ids``/``images``/``old_cls`` are those boxes as they were
    (deleted ones too, so a restored box keeps the merge); applying it refuses when a
    box of a source class is missing from them. The source classes stay in the class
    list, empty, so class indices (prediction runs, YOLO label files) keep their
    meaning; predictions are the model's and keep their classes. ``undo`` marks the
    inverse (the boxes back to ``old_cls``)."""

    kind: ClassVar[str] = "merge_classes"
    src: tuple[int, ...]
    dst: int
    box_ids: tuple[int, ...]
    images: tuple[int, ...]
    old_cls: tuple[int, ...]
    undo: bool = False

    def inverse(self) -> Edit:
        return MergeClasses(self.src, self.dst, self.box_ids, self.images, self.old_cls,
                            not self.undo)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        def name(k: int) -> str:
            return repr(class_names[k]) if class_names is not None and 0 <= k < len(
                class_names) else f"#{k}"

        src = ", ".join(name(k) for k in self.src)
        boxes = _n(len(self.box_ids), "box")
        if self.undo:
            return f"Split {src} out of {name(self.dst)} again ({boxes})"
        return f"Merge class {src} into {name(self.dst)} ({boxes})"


#: per-box attributes an edit may set: ``iscrowd`` (the crowd flag matching ignores),
#: and the VOC/CVAT flags kept with the box and written back by the formats that have
#: them (VOC ``difficult``/``truncated``/``occluded``, CVAT ``occluded``)
BOX_ATTRIBUTES = ("iscrowd", "difficult", "truncated", "occluded")


@dataclass(frozen=True)
class SetBoxAttribute(Edit):
    """Set the attribute ``name`` (one of :data:`BOX_ATTRIBUTES`) of ground-truth
    boxes; ``old``/``new`` per box, 0 or 1 (None: the box has no such attribute)."""

    kind: ClassVar[str] = "set_box_attribute"
    box_ids: tuple[int, ...]
    images: tuple[int, ...]
    name: str
    old: tuple[int | None, ...]
    new: tuple[int | None, ...]

    def inverse(self) -> Edit:
        return SetBoxAttribute(self.box_ids, self.images, self.name, self.new, self.old)

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        word = "crowd" if self.name == "iscrowd" else self.name
        on = {v for v in self.new}
        state = "on" if on == {1} else "off" if on <= {0, None} else "changed"
        return f"{word.capitalize()} {state}: {_n(len(self.box_ids), 'box')}"


@dataclass(frozen=True)
class Composite(Edit):
    """Several records applied as one user gesture (one undo step)."""

    kind: ClassVar[str] = "composite"
    label: str
    edits: tuple[Edit, ...]

    def inverse(self) -> Edit:
        return Composite(self.label, tuple(e.inverse() for e in reversed(self.edits)))

    def touched_images(self) -> frozenset[int]:
        out: frozenset[int] = frozenset()
        for e in self.edits:
            out |= e.touched_images()
        return out

    def describe(self, class_names: Sequence[str] | None = None) -> str:
        return self.label


_KINDS: dict[str, type[Edit]] = {
    c.kind: c
    for c in (
        DeleteBoxes,
        RestoreBoxes,
        RelabelBoxes,
        MoveBoxes,
        AddBoxes,
        RemoveBoxes,
        DeleteImages,
        RestoreImages,
        SetReviewed,
        SetTags,
        Composite,
        RenameClass,
        MergeClasses,
        SetBoxAttribute,
    )
}


_INT64 = (-(1 << 63), (1 << 63) - 1)
#: how deep composites may nest in a record (a gesture is one or two levels)
MAX_DEPTH = 32
_BOX_EDITS = ("delete_boxes", "restore_boxes", "relabel_boxes", "move_boxes", "add_boxes",
              "remove_boxes", "merge_classes", "set_box_attribute")
#: fields of the dataset-wide records that are not per-box lists
_SCALARS = {("rename_class", "cls"): "int", ("rename_class", "old_name"): "text",
            ("rename_class", "new_name"): "text", ("merge_classes", "dst"): "int",
            ("merge_classes", "undo"): "flag", ("merge_classes", "src"): "index",
            ("set_box_attribute", "name"): "text", ("set_box_attribute", "old"): "attr",
            ("set_box_attribute", "new"): "attr"}


def _field_kind(kind: str, name: str) -> str:
    if (kind, name) in _SCALARS:
        return _SCALARS[(kind, name)]
    if name == "box_ids":
        return "id"
    if name in ("images", "cls", "old_cls", "new_cls"):
        return "index"
    if name in ("xyxy", "old_xyxy", "new_xyxy"):
        return "box"
    if name == "sources":
        return "text_list"
    if name == "label":
        return "text"
    if name in ("old", "new"):
        return "bool" if kind == "set_reviewed" else "tags"
    return "edits"


def _is_int(v: Any, lo: int, hi: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi


def _is_real(v: Any) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        f = float(v)
    except OverflowError:
        return False
    return f == f and f not in (float("inf"), float("-inf"))


def _check_value(kind: str, name: str, v: Any) -> Any:
    """The field value as a tuple, or ValueError saying what is wrong with it."""
    what = _field_kind(kind, name)
    if what == "text":
        if not isinstance(v, str):
            raise ValueError(f"{kind}: '{name}' must be text")
        return v
    if what == "int":
        if not _is_int(v, 0, _INT64[1]):
            raise ValueError(f"{kind}: '{name}' must be a non-negative integer, got {v!r:.40}")
        return v
    if what == "flag":
        if not isinstance(v, bool):
            raise ValueError(f"{kind}: '{name}' must be true or false")
        return v
    if what == "attr":
        if not isinstance(v, list) or any(x is not None and not _is_int(x, 0, 1) for x in v):
            raise ValueError(f"{kind}: '{name}' must be a list of 0, 1 or null")
        return tuple(v)
    if not isinstance(v, list):
        raise ValueError(f"{kind}: '{name}' must be a list")
    for k, x in enumerate(v):
        if what == "id" and not _is_int(x, *_INT64):
            raise ValueError(f"{kind}: {name}[{k}] must be an integer box id, got {x!r:.40}")
        if what == "index" and not _is_int(x, 0, _INT64[1]):
            raise ValueError(f"{kind}: {name}[{k}] must be a non-negative integer index, got "
                             f"{x!r:.40}")
        if what == "box":
            if not (isinstance(x, list) and len(x) == 4 and all(_is_real(c) for c in x)):
                raise ValueError(f"{kind}: {name}[{k}] must be 4 finite numbers [x1, y1, x2, "
                                 f"y2], got {x!r:.60}")
            if x[2] < x[0] or x[3] < x[1]:
                raise ValueError(f"{kind}: {name}[{k}] is not ordered (x1 <= x2, y1 <= y2): "
                                 f"{x!r:.60}")
        if what == "text_list" and not isinstance(x, str):
            raise ValueError(f"{kind}: {name}[{k}] must be text")
        if what == "bool" and not isinstance(x, bool):
            raise ValueError(f"{kind}: {name}[{k}] must be true or false")
        if what == "tags" and not (isinstance(x, list) and all(isinstance(t, str) for t in x)):
            raise ValueError(f"{kind}: {name}[{k}] must be a list of tags (text)")
    if what == "box":
        return tuple(tuple(float(c) for c in x) for x in v)
    if what == "tags":
        return tuple(tuple(x) for x in v)
    return tuple(v)


def edit_from_json(d: dict[str, Any], _depth: int = 0) -> Edit:
    """Inverse of :meth:`Edit.to_json`. Raises ``ValueError`` on a malformed record:
    an unknown kind, a missing field, a value of the wrong type (ids and indices are
    integers, indices non-negative, boxes 4 finite ordered numbers, flags booleans,
    tags text), lists of different lengths, or composites nested too deeply. Checks
    against a dataset (do the boxes exist?) are the dataset's, not this function's."""
    if not isinstance(d, dict) or not isinstance(d.get("kind"), str):
        raise ValueError("edit record must be an object with a 'kind'")
    if _depth > MAX_DEPTH:
        raise ValueError(f"composite edits nested more than {MAX_DEPTH} deep")
    kind = d["kind"]
    cls = _KINDS.get(kind)
    if cls is None:
        raise ValueError(f"unknown edit kind {kind[:40]!r}")
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name not in d:
            if f.name in ("sources", "undo"):  # optional (defaults)
                continue
            raise ValueError(f"edit {kind!r} lacks field {f.name!r}")
        v = d[f.name]
        if cls is Composite and f.name == "edits":
            if not isinstance(v, list):
                raise ValueError("composite: 'edits' must be a list")
            kwargs[f.name] = tuple(edit_from_json(e, _depth + 1) for e in v)
        else:
            kwargs[f.name] = _check_value(kind, f.name, v)
    lengths = {n: len(v) for n, v in kwargs.items() if isinstance(v, tuple) and n != "edits"}
    if kind in _BOX_EDITS:
        n = lengths["box_ids"]
        bad = [k for k, m in lengths.items()
               if m != n and not (k == "sources" and m == 0) and k != "src"]
    else:
        n = lengths.get("images", 0)
        bad = [k for k, m in lengths.items() if m != n]
    if bad:
        shown = ", ".join(f"{k}: {lengths[k]}" for k in sorted(lengths))
        raise ValueError(f"{kind}: lists of different lengths ({shown})")
    return cls(**kwargs)
