"""The corrections log: JSON lines, one record per edit, replayable headless.

Line 1 is a header: ``{"detview_corrections": 1, "source": {...}, "summary": {...}}``.
Each following line is one edit: who, when, what (``action``, ``description``), the
boxes and images it changed with their values before and after, and the edit record
itself (``edit``), which ``detview apply`` replays on the original files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from detview.core.dataset import Dataset
from detview.core.edits import (
    AddBoxes,
    Composite,
    DeleteBoxes,
    DeleteImages,
    Edit,
    MergeClasses,
    MoveBoxes,
    RelabelBoxes,
    RemoveBoxes,
    RestoreBoxes,
    RestoreImages,
    SetBoxAttribute,
    SetReviewed,
    SetTags,
    edit_from_json,
)

from ._common import decode_text, read_bytes
from .atomic import atomic_write_text
from .errors import InputError

__all__ = [
    "check_edit",
    "correction_records",
    "corrections_text",
    "read_corrections_lines",
    "read_corrections",
    "read_corrections_full",
    "summarize",
    "validate_edits",
    "write_corrections",
]

FORMAT_VERSION = 1


def _box_state(ds: Dataset, box_id: int) -> dict[str, Any] | None:
    gt = ds.gt
    try:
        r = int(gt.rows_of([box_id])[0])
    except KeyError:
        return None
    if not gt.alive[r]:
        return None
    return {
        "class": ds.classes.names[int(gt.cls[r])],
        "xyxy": [float(v) for v in gt.xyxy[r]],
    }


def _leaves(e: Edit) -> list[Edit]:
    if isinstance(e, Composite):
        out: list[Edit] = []
        for s in e.edits:
            out.extend(_leaves(s))
        return out
    return [e]


def _affected(e: Edit) -> tuple[list[int], list[int]]:
    boxes: list[int] = []
    images: list[int] = []
    for leaf in _leaves(e):
        if isinstance(leaf, (DeleteBoxes, RestoreBoxes, RelabelBoxes, MoveBoxes, AddBoxes,
                             RemoveBoxes, MergeClasses, SetBoxAttribute)):
            boxes.extend(int(b) for b in leaf.box_ids)
        elif isinstance(leaf, (DeleteImages, RestoreImages, SetReviewed, SetTags)):
            images.extend(int(i) for i in leaf.images)
    return list(dict.fromkeys(boxes)), list(dict.fromkeys(images))


def _image_state(ds: Dataset, i: int) -> dict[str, Any]:
    im = ds.images
    return {"deleted": bool(im.deleted[i]), "reviewed": bool(im.reviewed[i]),
            "tags": sorted(im.tags[i])}


def correction_records(original: Dataset, edits: Sequence[Edit],
                       meta: Sequence[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One record per edit, replayed on a copy of ``original`` (which is not changed).

    ``meta[k]`` may give ``time`` (seconds since the epoch) and ``user`` of edit k.
    """
    ds = original.copy()
    out: list[dict[str, Any]] = []
    for k, e in enumerate(edits):
        box_ids, image_ids = _affected(e)
        image_of_box = {}
        for b in box_ids:
            try:
                image_of_box[b] = int(ds.gt.image[ds.gt.rows_of([b])[0]])
            except KeyError:
                pass
        before_boxes = {b: _box_state(ds, b) for b in box_ids}
        before_images = {i: _image_state(ds, i) for i in image_ids}
        ds.apply(e)
        changes: list[dict[str, Any]] = []
        for b in box_ids:
            if b not in image_of_box:
                image_of_box[b] = int(ds.gt.image[ds.gt.rows_of([b])[0]])
            i = image_of_box[b]
            changes.append({"image": ds.images.file_names[i], "image_index": i, "box_id": b,
                            "before": before_boxes[b], "after": _box_state(ds, b)})
        for i in image_ids:
            changes.append({"image": ds.images.file_names[i], "image_index": i,
                            "before": before_images[i], "after": _image_state(ds, i)})
        rec: dict[str, Any] = {"seq": k + 1}
        if meta is not None and k < len(meta):
            rec.update({key: meta[k][key] for key in ("time", "user") if key in meta[k]})
        rec.update({"action": e.kind, "description": e.describe(ds.classes.names),
                    "changes": changes, "edit": e.to_json()})
        out.append(rec)
    return out


def summarize(original: Dataset, edited: Dataset) -> dict[str, int]:
    """Net effect: boxes deleted, relabeled, moved, added; images deleted."""
    a, b = original.gt, edited.gt
    ids_a = a.box_id[a.alive]
    ids_b = b.box_id[b.alive]
    common = np.intersect1d(ids_a, ids_b)
    ra, rb = a.rows_of(common), b.rows_of(common)
    return {
        "boxes_deleted": int(np.setdiff1d(ids_a, ids_b).size),
        "boxes_added": int(np.setdiff1d(ids_b, ids_a).size),
        "boxes_relabeled": int(np.count_nonzero(a.cls[ra] != b.cls[rb])),
        "boxes_moved": int(np.count_nonzero(np.any(a.xyxy[ra] != b.xyxy[rb], axis=1))),
        "images_deleted": int(np.count_nonzero(edited.images.deleted & ~original.images.deleted)),
        "images_restored": int(np.count_nonzero(~edited.images.deleted & original.images.deleted)),
        "images_reviewed": int(np.count_nonzero(edited.images.reviewed)),
    }


def corrections_text(original: Dataset, edits: Sequence[Edit],
                     source: dict[str, Any] | None = None,
                     meta: Sequence[dict[str, Any]] | None = None) -> tuple[str, dict[str, int]]:
    """The log as text (header line + one line per edit) and the summary in its header."""
    records = correction_records(original, edits, meta)
    final = original.copy()
    for e in edits:
        final.apply(e)
    summary = summarize(original, final)
    header = {"detview_corrections": FORMAT_VERSION, "source": source or {},
              "summary": summary, "n_edits": len(records)}
    lines = [json.dumps(header, sort_keys=True)]
    lines += [json.dumps(r, sort_keys=True) for r in records]
    return "\n".join(lines) + "\n", summary


def write_corrections(path: str | Path, original: Dataset, edits: Sequence[Edit],
                      source: dict[str, Any] | None = None,
                      meta: Sequence[dict[str, Any]] | None = None) -> dict[str, int]:
    """Write the log atomically; returns the summary written in its header."""
    text, summary = corrections_text(original, edits, source, meta)
    atomic_write_text(path, text)
    return summary


# ---------------------------------------------------------------------- validation
def _check_leaf(ds: Dataset, e: Edit) -> str | None:
    """What is wrong with applying ``e`` to ``ds`` now (None: nothing)."""
    n_img = len(ds.images)
    n_cls = len(ds.classes)
    images = getattr(e, "images", ())
    bad_img = [i for i in images if not 0 <= int(i) < n_img]
    if bad_img:
        return f"image index {bad_img[0]} out of range (the dataset has {n_img} images)"
    gt = ds.gt
    if isinstance(e, AddBoxes):
        if len(set(e.box_ids)) != len(e.box_ids):
            return "the same new box id twice"
        if gt.has_ids(e.box_ids):
            have = [b for b in e.box_ids if gt.has_ids([b])]
            return f"box id {have[0]} exists already"
        bad = [c for c in e.cls if not 0 <= c < n_cls]
        if bad:
            return f"class index {bad[0]} out of range ({n_cls} classes)"
        return None
    if isinstance(e, (DeleteBoxes, RestoreBoxes, RelabelBoxes, MoveBoxes, RemoveBoxes)):
        ids = np.asarray(e.box_ids, dtype=np.int64)
        known = np.isin(ids, gt.box_id)
        if not known.all():
            return f"box id {int(ids[~known][0])} does not exist in this dataset"
        rows = gt.rows_of(ids)
        if np.any(gt.image[rows] != np.asarray(e.images, dtype=np.int64)):
            k = int(np.flatnonzero(gt.image[rows] != np.asarray(e.images))[0])
            return (f"box {int(ids[k])} is on image {int(gt.image[rows[k]])}, not on image "
                    f"{e.images[k]} as the record says")
        if isinstance(e, RelabelBoxes):
            if np.any(gt.cls[rows] != np.asarray(e.old_cls, dtype=np.int64)):
                return "the boxes' classes are not the ones the record relabels from"
            bad = [c for c in e.new_cls if not 0 <= c < n_cls]
            if bad:
                return f"class index {bad[0]} out of range ({n_cls} classes)"
        if isinstance(e, MoveBoxes):
            old = np.asarray(e.old_xyxy, dtype=np.float64).reshape(-1, 4)
            if not np.allclose(gt.xyxy[rows], old, rtol=0, atol=1e-6):
                return "the boxes are not where the record moves them from"
        if isinstance(e, RemoveBoxes) and np.any(
                gt.cls[rows] != np.asarray(e.cls, dtype=np.int64)):
            return "the boxes to remove do not have the classes the record says"
        return None
    if isinstance(e, (SetReviewed,)) and len(e.old) != len(e.images):
        return "lists of different lengths"
    return None


def check_edit(ds: Dataset, edit: Edit) -> str | None:
    """Why ``edit`` cannot be applied to ``ds`` as it is now (None: it can). The record
    is checked here (ids exist, indices and classes in range, boxes where the record
    says) and, when the engine has it, by ``Dataset.check`` too."""
    if isinstance(edit, Composite):
        scratch = ds.copy()
        for k, sub in enumerate(edit.edits):
            why = check_edit(scratch, sub)
            if why is not None:
                return f"part {k + 1} ({sub.kind}): {why}"
            try:
                scratch.apply(sub)
            except (ValueError, KeyError, IndexError) as exc:
                return f"part {k + 1} ({sub.kind}): {exc}"
        return None
    why = _check_leaf(ds, edit)
    if why is not None:
        return why
    engine_check = getattr(ds, "check", None)
    if callable(engine_check):  # the engine's own rules (issue 8: Dataset.check)
        try:
            engine_check(edit)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return str(exc) or type(exc).__name__
    return None


def validate_edits(original: Dataset, edits: Sequence[Edit], source: str | Path,
                   wheres: Sequence[str] | None = None) -> None:
    """Check every edit against the dataset, in order, before anything is applied:
    ids exist, indices in range, classes known, boxes where the record says. Raises
    :class:`InputError` naming ``source`` and the record (``wheres[k]``)."""
    scratch = original.copy()
    for k, e in enumerate(edits):
        where = wheres[k] if wheres is not None and k < len(wheres) else f"edit #{k + 1}"
        why = check_edit(scratch, e)
        if why is not None:
            raise InputError(source, where, f"{e.kind}: {why}; nothing was applied")
        try:
            scratch.apply(e)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise InputError(source, where, f"{e.kind}: {exc}; nothing was applied") from None


def read_corrections(path: str | Path) -> tuple[dict[str, Any], list[Edit]]:
    """The header and the edit records of a corrections log."""
    header, edits, _ = read_corrections_full(path)
    return header, edits


def read_corrections_full(
    path: str | Path,
) -> tuple[dict[str, Any], list[Edit], list[dict[str, Any]]]:
    """Header, edit records, and each record's ``time``/``user``; every record's shape
    is checked (see :func:`detview.core.edits.edit_from_json`) and a bad one is an
    InputError naming the line. :func:`validate_edits` checks them against a dataset."""
    header, edits, meta, _ = read_corrections_lines(path)
    return header, edits, meta


def read_corrections_lines(
    path: str | Path,
) -> tuple[dict[str, Any], list[Edit], list[dict[str, Any]], list[str]]:
    """As :func:`read_corrections_full`, with the place (``line N``) of each edit."""
    path = Path(path)
    text = decode_text(read_bytes(path), path)
    header: dict[str, Any] | None = None
    edits: list[Edit] = []
    meta: list[dict[str, Any]] = []
    wheres: list[str] = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"line {n}, column {exc.colno}",
                             f"not JSON: {exc.msg}") from None
        except (RecursionError, ValueError) as exc:
            raise InputError(path, f"line {n}", f"unusable JSON: {type(exc).__name__}") from None
        if header is None:
            if not isinstance(obj, dict) or "detview_corrections" not in obj:
                raise InputError(path, f"line {n}", "not a detview corrections log (no header)")
            version = obj.get("detview_corrections")
            if not (isinstance(version, int) and not isinstance(version, bool)
                    and 1 <= version <= FORMAT_VERSION):
                raise InputError(path, f"line {n}", f"corrections log version {version!r:.20} "
                                 f"is not one this detview reads ({FORMAT_VERSION})")
            if not isinstance(obj.get("source", {}), dict):
                raise InputError(path, f"line {n}", "'source' must be an object")
            header = obj
            continue
        if not isinstance(obj, dict) or "edit" not in obj:
            raise InputError(path, f"line {n}", "record has no 'edit'")
        try:
            edits.append(edit_from_json(obj["edit"]))
        except (ValueError, TypeError, RecursionError) as exc:
            raise InputError(path, f"line {n}", f"bad edit record: {exc}") from None
        meta.append({k: obj[k] for k in ("time", "user") if k in obj})
        wheres.append(f"line {n}")
    if header is None:
        raise InputError(path, "line 1", "empty file: not a corrections log")
    n_edits = header.get("n_edits")
    if isinstance(n_edits, int) and not isinstance(n_edits, bool) and n_edits != len(edits):
        raise InputError(path, "", f"the header says {n_edits} edits but the file has "
                         f"{len(edits)}: the log is incomplete")
    return header, edits, meta, wheres
