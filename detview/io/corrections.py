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
    MoveBoxes,
    RelabelBoxes,
    RemoveBoxes,
    RestoreBoxes,
    RestoreImages,
    SetReviewed,
    SetTags,
    edit_from_json,
)

from .atomic import atomic_write_text
from .errors import InputError

__all__ = [
    "correction_records",
    "read_corrections",
    "read_corrections_full",
    "summarize",
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
                             RemoveBoxes)):
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


def write_corrections(path: str | Path, original: Dataset, edits: Sequence[Edit],
                      source: dict[str, Any] | None = None,
                      meta: Sequence[dict[str, Any]] | None = None) -> dict[str, int]:
    """Write the log atomically; returns the summary written in its header."""
    records = correction_records(original, edits, meta)
    final = original.copy()
    for e in edits:
        final.apply(e)
    summary = summarize(original, final)
    header = {"detview_corrections": FORMAT_VERSION, "source": source or {},
              "summary": summary, "n_edits": len(records)}
    lines = [json.dumps(header, sort_keys=True)]
    lines += [json.dumps(r, sort_keys=True) for r in records]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return summary


def read_corrections(path: str | Path) -> tuple[dict[str, Any], list[Edit]]:
    """The header and the edit records of a corrections log."""
    header, edits, _ = read_corrections_full(path)
    return header, edits


def read_corrections_full(
    path: str | Path,
) -> tuple[dict[str, Any], list[Edit], list[dict[str, Any]]]:
    """Header, edit records, and each record's ``time``/``user``."""
    path = Path(path)
    text = path.read_text(encoding="utf-8-sig")
    header: dict[str, Any] | None = None
    edits: list[Edit] = []
    meta: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(path, f"line {n}, column {exc.colno}",
                             f"not JSON: {exc.msg}") from None
        if header is None:
            if not isinstance(obj, dict) or "detview_corrections" not in obj:
                raise InputError(path, f"line {n}", "not a detview corrections log (no header)")
            header = obj
            continue
        if not isinstance(obj, dict) or "edit" not in obj:
            raise InputError(path, f"line {n}", "record has no 'edit'")
        try:
            edits.append(edit_from_json(obj["edit"]))
        except (ValueError, TypeError) as exc:
            raise InputError(path, f"line {n}", f"bad edit record: {exc}") from None
        meta.append({k: obj[k] for k in ("time", "user") if k in obj})
    if header is None:
        raise InputError(path, "line 1", "empty file: not a corrections log")
    return header, edits, meta
