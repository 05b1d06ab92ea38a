"""A composite edit whose second part is invalid: the dataset, the revision counters,
the journal and the undo history are exactly as before, and the user is told why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detview.core.edits import (
    AddBoxes,
    Composite,
    DeleteBoxes,
    MoveBoxes,
    RelabelBoxes,
    RemoveBoxes,
    SetTags,
)
from detview.io.spec import DatasetSpec
from detview.session import load

from ._data import write_coco_dataset


def _snapshot(s: Any) -> dict[str, Any]:
    ds = s.dataset
    g = ds.gt
    rows = s.journal._db.execute("SELECT seq, op, edit, time, user FROM ops").fetchall()
    return {
        "columns": {c: getattr(g, c).copy() for c in ("box_id", "image", "cls", "xyxy", "score",
                                                      "iscrowd", "area", "alive", "offsets")},
        "extras": {k: dict(v) for k, v in g.extras.items()},
        "images": (ds.images.deleted.copy(), ds.images.reviewed.copy(), list(ds.images.tags)),
        "revision": ds.revision, "image_revisions": ds.image_revisions.copy(),
        "journal": rows, "steps": s.history.steps, "index": s.history.index,
        "clean": s.history.clean_index,
        "metrics": {c: s.current.column(c).copy() for c in ("n_gt", "tp", "fp", "fn",
                                                            "mean_iou")},
    }


def _equal(a: dict[str, Any], b: dict[str, Any]) -> None:
    for c, v in a["columns"].items():
        w = b["columns"][c]
        assert v.dtype == w.dtype and np.array_equal(v, w, equal_nan=v.dtype.kind == "f"), c
    for k in ("extras", "revision", "journal", "steps", "index", "clean"):
        assert a[k] == b[k], k
    for x, y in zip(a["images"], b["images"], strict=True):
        assert np.array_equal(np.asarray(x, dtype=object), np.asarray(y, dtype=object))
    assert np.array_equal(a["image_revisions"], b["image_revisions"])
    for c, v in a["metrics"].items():  # mean_iou is NaN for an image with nothing to score
        assert np.array_equal(v, b["metrics"][c], equal_nan=v.dtype.kind == "f"), c


@pytest.mark.parametrize("bad", ["relabel_stale", "unknown_box", "id_in_use", "bad_box"])
def test_composite_with_an_invalid_second_part_changes_nothing(tmp_path: Path, bad: str) -> None:
    p = write_coco_dataset(tmp_path / "ds", 12, seed=1)
    spec = DatasetSpec.make(images=p["images"], gt=p["gt"], preds=[("good", p["good"])])
    s = load(spec).session()
    out = s.recover(lambda offer: True)
    assert s.journal is not None, out
    gt = s.dataset.gt
    a, b = (int(x) for x in gt.box_id[:2])
    ra, rb = gt.rows_of([a, b])
    ia, ib = int(gt.image[ra]), int(gt.image[rb])
    # some history first, so "as before" is not just "empty"
    s.delete_boxes([int(gt.box_id[3])])
    s.set_tags([0], ["x"])
    s.undo()
    s.dataset.gt.extras[a] = {"note": "kept"}
    before = _snapshot(s)
    messages: list[str] = []
    s.subscribe(lambda e: messages.append(e.text) if e.kind == "message" else None)
    old = tuple(float(v) for v in gt.xyxy[ra])
    new_id = s.dataset.new_box_ids(1)[0]
    first = [
        MoveBoxes((a,), (ia,), (old,), ((old[0] + 3, old[1], old[2] + 3, old[3]),)),
        AddBoxes((new_id,), (ia,), (0,), ((1.0, 1.0, 9.0, 9.0),)),
    ]
    second = {
        "relabel_stale": RelabelBoxes((b,), (ib,), (int(gt.cls[rb]) + 1,), (0,)),
        "unknown_box": DeleteBoxes((10**9,), (0,)),
        "id_in_use": AddBoxes((b,), (ib,), (0,), ((0.0, 0.0, 1.0, 1.0),)),
        "bad_box": MoveBoxes((b,), (ib,), (tuple(float(v) for v in gt.xyxy[rb]),),
                             ((5.0, 5.0, float("nan"), 9.0),)),
    }[bad]
    for parts in ([first[0], second, first[1]], [first[1], second],
                  [first[1], second, RemoveBoxes((new_id,), (ia,), (0,), ((1.0, 1.0, 9.0, 9.0),)),
                   SetTags((0,), ((),), (("y",),))]):
        assert s.dataset.refusal(Composite("gesture", tuple(parts))) is not None
        assert not s.push(Composite("gesture", tuple(parts)))
        _equal(before, _snapshot(s))
    assert len(messages) == 3 and all("part 2 of" in m and "refused" in m for m in messages)
    # the undo history still works from where it was
    s.redo()
    assert s.dataset.images.tags[0] == frozenset({"x"})
    s.close()
