"""The object grid's side of a session: which boxes a filter names, and acting on many
boxes at once as one undo step.

:data:`SOURCES` names the filters (all boxes of a class, the false positives of one
TIDE type, the missed objects, the suspected label errors...); :func:`object_set` builds
the :class:`~detview.core.objects.ObjectSet` of one from the session's current numbers,
or returns None while a number it needs is still being computed (:func:`needs` says
which, for :meth:`~detview.session.derived.Derived.want`).

The batch edits (:func:`delete_many`, :func:`relabel_many`, :func:`apply_hints`,
:func:`accept_many`, :func:`review_many`) each push one
:class:`~detview.core.edits.Composite` through :meth:`Session.push`: one step in the
history, one undo, one journal record, whatever the number of boxes and images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from detview.core.edits import AddBoxes, Composite, DeleteBoxes, Edit, RelabelBoxes, SetReviewed
from detview.core.matching import FP, TP
from detview.core.objects import (
    ObjectSet,
    gt_objects,
    missed_objects,
    pred_objects,
    quality_objects,
)

if TYPE_CHECKING:
    from detview.core.drilldown import Hits

    from .session import Session

__all__ = ["SOURCES", "Source", "accept_many", "accept_objects", "apply_hints", "available",
           "delete_many", "drilled_objects", "needs", "object_set", "relabel_many",
           "review_many"]


@dataclass(frozen=True)
class Source:
    key: str
    title: str
    help: str
    needs: tuple[str, ...] = ()  # derived values
    run: bool = True  # needs a prediction run


_TYPES = {"Loc": "right class, poorly placed", "Cls": "right place, wrong class",
          "Both": "wrong class and poorly placed", "Dupe": "duplicate of a found object",
          "Bkg": "on background"}

#: The filters of the object grid, in menu order.
SOURCES: dict[str, Source] = {s.key: s for s in (
    Source("gt", "All ground-truth boxes", "every annotated box (of the chosen class)",
           run=False),
    Source("fn", "Missed objects (FN)", "annotated boxes no kept prediction matched",
           ("matches",)),
    Source("fp", "False positives", "kept predictions that match no annotated box",
           ("matches",)),
    Source("tp", "True positives", "kept predictions that match an annotated box",
           ("matches",)),
    Source("pred", "All predictions ≥ threshold", "every kept prediction"),
    *(Source(f"err:{n}", f"FP · {n}", f"false positives of TIDE type {n}: {h}", ("errors",))
      for n, h in _TYPES.items()),
    Source("err:Miss", "FN · Miss", "objects no prediction came close to (TIDE)",
           ("errors",)),
    Source("lq:swap", "Suspected swaps", "annotated boxes probably of another class "
           "(label quality; the likely class is shown)", ("label_quality",)),
    Source("lq:badloc", "Suspected bad boxes", "annotated boxes probably badly placed "
           "(label quality)", ("label_quality",)),
    Source("lq:overlooked", "Suspected missing labels", "confident predictions where no "
           "box is annotated (label quality)", ("label_quality",)),
)}


def available(s: Session) -> list[Source]:
    """The sources that apply to ``s`` (a run, the producers registered)."""
    out = []
    for src in SOURCES.values():
        if src.run and s.run is None:
            continue
        if any(n not in s.derived.names for n in src.needs):
            continue
        out.append(src)
    return out


def needs(source: str) -> tuple[str, ...]:
    return SOURCES[source].needs


def object_set(s: Session, source: str, cls: int | None = None) -> ObjectSet | None:
    """The boxes of ``source`` (of class ``cls``) now; None while a derived value it
    needs is not computed for the current settings."""
    src = SOURCES[source]
    ds = s.dataset
    mask = ~ds.images.deleted
    thr = s.params.score_threshold
    vals: dict[str, Any] = {}
    for n in src.needs:
        # the label-quality producer's value wraps the engine's result
        v = s.label_quality() if n == "label_quality" else s.derived.get(n)
        if v is None:
            return None
        vals[n] = v
    rec = vals["matches"].records if "matches" in vals else None
    if rec is None and "matches" in s.derived.names and s.run is not None:
        live = s.derived.get("matches")
        rec = live.records if live is not None else None
    names = ds.classes.names
    what = f" of {names[cls]}" if cls is not None and 0 <= cls < len(names) else ""
    label = src.title + what
    if source == "gt":
        out = gt_objects(ds.gt, cls, mask, rec, thr, label=label)
    elif source == "fn":
        assert rec is not None
        out = missed_objects(ds.gt, rec, thr, cls, label=label)
    elif source in ("fp", "tp", "pred"):
        assert s.run is not None
        outcome = {"fp": FP, "tp": TP}.get(source)
        out = pred_objects(ds.runs[s.run], thr, cls, mask, rec, outcome, label=label)
    elif source.startswith("err:"):
        out = _error_objects(s, vals["errors"], source[4:], rec, label)
    else:
        assert s.run is not None
        out = quality_objects(vals["label_quality"], ds.gt, ds.runs[s.run], source[3:])
        out = ObjectSet(label, *(getattr(out, f) for f in (
            "is_pred", "image", "box_id", "cls", "xyxy", "score", "iou", "quality", "hint")))
    if cls is not None and source.startswith(("err:", "lq:")):
        out = out.take(np.flatnonzero(out.cls == cls))
    keep = mask[out.image] if len(out) else np.zeros(0, bool)
    return out if keep.all() else out.take(np.flatnonzero(keep))


def drilled_objects(s: Session, hits: Hits, cls: int | None = None) -> ObjectSet:
    """Every box a drill-down (:class:`~detview.core.drilldown.Hits`) selects: its
    ground-truth boxes and its predictions of the current run, each once (of class
    ``cls``); boxes deleted since, and those of deleted images, are left out."""
    from detview.core.drilldown import Hits as _Hits
    from detview.core.objects import concat, hits_objects

    ds = s.dataset
    g = np.unique(hits.gt_box_id[hits.gt_box_id >= 0])
    p = np.unique(hits.pred_box_id[hits.pred_box_id >= 0]) if s.run is not None else g[:0]
    neg_g, neg_p = np.full(g.shape, -1, np.int64), np.full(p.shape, -1, np.int64)
    parts = []
    if g.size:
        only_gt = _Hits.of(hits.label, np.zeros(g.shape, np.int64), g, neg_g)
        parts.append(hits_objects(only_gt, ds.gt, ds.gt, prefer="gt"))
    if p.size:
        assert s.run is not None
        only_p = _Hits.of(hits.label, np.zeros(p.shape, np.int64), neg_p, p)
        parts.append(hits_objects(only_p, ds.gt, ds.runs[s.run]))
    out = concat(hits.label, parts)
    keep = ~ds.images.deleted[out.image] if len(out) else np.zeros(0, bool)
    if cls is not None:
        keep &= out.cls == cls
    return out if keep.all() else out.take(np.flatnonzero(keep))


def _error_objects(s: Session, e: Any, name: str, rec: Any, label: str) -> ObjectSet:
    from detview.core.objects import hits_objects

    assert s.run is not None
    hits = e.error_hits(name)
    dets = s.dataset.runs[s.run]
    iou: dict[int, float] = {}
    if name != "Miss" and len(hits):
        rows = e.labels.pred_rows(hits.pred_box_id)
        iou = {int(b): float(e.labels.pred_iou[r]) for b, r in
               zip(hits.pred_box_id.tolist(), rows.tolist(), strict=True) if r >= 0}
    out = hits_objects(hits, s.dataset.gt, dets, prefer="gt" if name == "Miss" else "pred",
                       iou=iou)
    return ObjectSet(label, *(getattr(out, f) for f in (
        "is_pred", "image", "box_id", "cls", "xyxy", "score", "iou", "quality", "hint")))


# =========================================================================== batch edits
def _n(k: int, word: str) -> str:
    return f"{k} {word}" + ("" if k == 1 else ("es" if word.endswith("x") else "s"))


def _alive_gt(s: Session, box_ids: Sequence[int]) -> tuple[list[int], np.ndarray]:
    """The ids among ``box_ids`` of alive ground-truth boxes, and their rows (one
    vectorised lookup: 10,000 ids at 50,000 boxes take milliseconds)."""
    gt = s.dataset.gt
    ids = np.asarray([int(b) for b in box_ids], dtype=np.int64)
    if not ids.size or not len(gt):
        return [], np.zeros(0, np.int64)
    order = np.argsort(gt.box_id, kind="stable")
    srt = gt.box_id[order]
    pos = np.minimum(np.searchsorted(srt, ids), srt.shape[0] - 1)
    hit = srt[pos] == ids
    rows = order[pos[hit]]
    ids = ids[hit]
    alive = gt.alive[rows]
    return ids[alive].tolist(), rows[alive]


def _push(s: Session, label: str, parts: list[Edit]) -> bool:
    if not parts:
        return False
    return s.push(Composite(label, tuple(parts)))


def delete_many(s: Session, box_ids: Sequence[int]) -> bool:
    """Delete ground-truth boxes of any images: one undo step."""
    ids, rows = _alive_gt(s, box_ids)
    if not ids:
        return False
    img = tuple(int(i) for i in s.dataset.gt.image[rows])
    return _push(s, f"Delete {_n(len(ids), 'box')} (object grid)",
                 [DeleteBoxes(tuple(ids), img)])


def relabel_many(s: Session, box_ids: Sequence[int], new_cls: int) -> bool:
    """Give ground-truth boxes class ``new_cls``: one undo step."""
    return apply_hints(s, box_ids, [new_cls] * len(box_ids),
                       label=f"as {s.dataset.classes.names[new_cls]}")


def _relabel_part(s: Session, box_ids: Sequence[int], classes: Sequence[int]
                  ) -> RelabelBoxes | None:
    want = {int(b): int(c) for b, c in zip(box_ids, classes, strict=True) if int(c) >= 0}
    ids, rows = _alive_gt(s, list(want))
    gt = s.dataset.gt
    old = gt.cls[rows]
    new = np.array([want[b] for b in ids], dtype=np.int64)
    change = old != new
    if not change.any():
        return None
    ids = [b for b, c in zip(ids, change.tolist(), strict=True) if c]
    rows, old, new = rows[change], old[change], new[change]
    return RelabelBoxes(tuple(ids), tuple(int(i) for i in gt.image[rows]),
                        tuple(int(c) for c in old), tuple(int(c) for c in new))


def apply_hints(s: Session, box_ids: Sequence[int], classes: Sequence[int],
                label: str = "as suggested") -> bool:
    """Relabel each ground-truth box to its own class (a suspected swap's likely class;
    -1 leaves a box as it is): one undo step."""
    edit = _relabel_part(s, box_ids, classes)
    if edit is None:
        return False
    return _push(s, f"Relabel {_n(len(edit.box_ids), 'box')} {label} (object grid)", [edit])


def _accept_part(s: Session, pred_ids: Sequence[int]) -> AddBoxes | None:
    if s.run is None or not pred_ids:
        return None
    preds = s.dataset.runs[s.run]
    rows = preds.rows_of([int(b) for b in pred_ids])
    new = s.dataset.new_box_ids(len(rows))
    return AddBoxes(new, tuple(int(i) for i in preds.image[rows]),
                    tuple(int(c) for c in preds.cls[rows]),
                    tuple((float(a), float(b), float(c), float(d)) for a, b, c, d in
                          preds.xyxy[rows].tolist()),
                    tuple(f"pred:{s.run}:{int(b)}" for b in preds.box_id[rows]))


def accept_many(s: Session, pred_ids: Sequence[int]) -> tuple[int, ...]:
    """Copy predictions of the current run (any images) into the ground truth: one
    undo step. Returns the new box ids (empty when refused)."""
    edit = _accept_part(s, pred_ids)
    if edit is None:
        return ()
    ok = _push(s, f"Accept {_n(len(edit.box_ids), 'prediction')} as ground truth "
               "(object grid)", [edit])
    return edit.box_ids if ok else ()


def _review_part(s: Session, images: Sequence[int], reviewed: bool) -> SetReviewed | None:
    im = s.dataset.images
    imgs = tuple(sorted({int(i) for i in images}))
    old = tuple(bool(im.reviewed[i]) for i in imgs)
    if all(o == reviewed for o in old):
        return None
    return SetReviewed(imgs, old, tuple(reviewed for _ in imgs))


def review_many(s: Session, images: Sequence[int], reviewed: bool = True) -> bool:
    """Mark images reviewed (their boxes checked and kept): one undo step."""
    edit = _review_part(s, images, reviewed)
    if edit is None:
        return False
    return _push(s, f"Mark {_n(len(edit.images), 'image')} reviewed (object grid)", [edit])


def accept_objects(s: Session, pred_ids: Sequence[int], hinted: Sequence[int] = (),
                   hint_classes: Sequence[int] = (), review_images: Sequence[int] = ()
                   ) -> bool:
    """The grid's Accept on a mixed selection, as one undo step: predictions become
    ground truth, hinted boxes take their likely class, the images of the other boxes
    are marked reviewed."""
    parts: list[Edit] = []
    said: list[str] = []
    add = _accept_part(s, pred_ids)
    if add is not None:
        parts.append(add)
        said.append(f"accept {_n(len(add.box_ids), 'prediction')}")
    rel = _relabel_part(s, hinted, hint_classes) if hinted else None
    if rel is not None:
        parts.append(rel)
        said.append(f"relabel {_n(len(rel.box_ids), 'box')} as suggested")
    rev = _review_part(s, review_images, True) if review_images else None
    if rev is not None:
        parts.append(rev)
        said.append(f"mark {_n(len(rev.images), 'image')} reviewed")
    if not parts:
        return False
    text = ", ".join(said)
    return _push(s, text[0].upper() + text[1:] + " (object grid)", parts)
