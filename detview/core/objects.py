"""Sets of boxes across the whole dataset (the object grid): which boxes, in what order.

An :class:`ObjectSet` is columnar, one row per box: a ground-truth box or a prediction
of the run (``is_pred``), its image, id, class, corners, and what it may be sorted by
(``score``, ``iou``, ``quality``: NaN where it does not apply). ``hint`` is a class the
box probably should have (a suspected swap's "likely <class>"), -1 when none.

The builders take the tables and the engine's results (match records, error analysis,
label quality) and never touch files; the GUI draws the crops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .drilldown import Hits, MatchRecords
from .matching import TP
from .tables import Boxes

__all__ = ["SORT_KEYS", "ObjectSet", "gt_objects", "hits_objects", "missed_objects",
           "pred_objects", "quality_objects"]

#: What an object set can be sorted by: key -> (title, worst first descending?)
SORT_KEYS: dict[str, tuple[str, bool]] = {
    "score": ("score", True),
    "iou": ("IoU", False),
    "quality": ("label quality", False),
    "area": ("box area", False),
    "image": ("image", False),
}


@dataclass(frozen=True, eq=False)
class ObjectSet:
    """Boxes to show as crops (see the module docstring)."""

    label: str
    is_pred: np.ndarray
    image: np.ndarray
    box_id: np.ndarray
    cls: np.ndarray
    xyxy: np.ndarray
    score: np.ndarray
    iou: np.ndarray
    quality: np.ndarray
    hint: np.ndarray

    def __len__(self) -> int:
        return int(self.box_id.shape[0])

    @staticmethod
    def make(label: str, is_pred: Any, image: Any, box_id: Any, cls: Any, xyxy: Any,
             score: Any = None, iou: Any = None, quality: Any = None,
             hint: Any = None) -> ObjectSet:
        img = np.asarray(image, dtype=np.int64).reshape(-1)
        n = img.shape[0]

        def f(a: Any) -> np.ndarray:
            return np.full(n, np.nan) if a is None else np.asarray(a, np.float64).reshape(n)

        return ObjectSet(
            label, np.broadcast_to(np.asarray(is_pred, bool), (n,)).copy(), img,
            np.asarray(box_id, np.int64).reshape(n), np.asarray(cls, np.int64).reshape(n),
            np.asarray(xyxy, np.float64).reshape(n, 4), f(score), f(iou), f(quality),
            np.full(n, -1, np.int64) if hint is None else np.asarray(hint, np.int64).reshape(n))

    def take(self, idx: np.ndarray) -> ObjectSet:
        i = np.asarray(idx, dtype=np.int64)
        return ObjectSet(self.label, self.is_pred[i], self.image[i], self.box_id[i],
                         self.cls[i], self.xyxy[i], self.score[i], self.iou[i],
                         self.quality[i], self.hint[i])

    def area(self) -> np.ndarray:
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        return wh[:, 0] * wh[:, 1]

    def order(self, key: str, descending: bool | None = None) -> np.ndarray:
        """Row order by ``key`` (:data:`SORT_KEYS`), NaN last either way, ties by image
        then box id. ``descending`` defaults to the key's worst-first direction."""
        if key not in SORT_KEYS:
            raise KeyError(f"unknown sort key {key!r}; known: {', '.join(SORT_KEYS)}")
        desc = SORT_KEYS[key][1] if descending is None else descending
        v = {"score": self.score, "iou": self.iou, "quality": self.quality,
             "area": self.area(), "image": self.image.astype(np.float64)}[key]
        nan = np.isnan(v)
        k = np.where(nan, 0.0, -v if desc else v)
        return np.lexsort((self.box_id, self.image, k, nan))

    def sorted(self, key: str, descending: bool | None = None) -> ObjectSet:
        return self.take(self.order(key, descending))

    def ids(self, rows: Sequence[int]) -> tuple[list[int], list[int]]:
        """(ground-truth box ids, prediction box ids) of ``rows``."""
        r = np.asarray(list(rows), dtype=np.int64)
        p = self.is_pred[r]
        return self.box_id[r][~p].tolist(), self.box_id[r][p].tolist()


def _empty(label: str) -> ObjectSet:
    return ObjectSet.make(label, False, np.zeros(0, np.int64), np.zeros(0), np.zeros(0),
                          np.zeros((0, 4)))


def _gt_iou(rec: MatchRecords | None, box_ids: np.ndarray,
            score_threshold: float) -> np.ndarray:
    """IoU of each ground-truth box with the kept prediction matched to it (NaN)."""
    out = np.full(box_ids.shape[0], np.nan)
    if rec is None or not len(rec):
        return out
    tp = (rec.outcome == TP) & (rec.score >= score_threshold)
    g, v = rec.gt_box_id[tp], rec.iou[tp]
    order = np.argsort(g)
    g, v = g[order], v[order]
    if not g.size:
        return out
    pos = np.minimum(np.searchsorted(g, box_ids), g.shape[0] - 1)
    hit = g[pos] == box_ids
    out[hit] = v[pos[hit]]
    return out


def _pred_iou(rec: MatchRecords | None, box_ids: np.ndarray) -> np.ndarray:
    out = np.full(box_ids.shape[0], np.nan)
    if rec is None or not len(rec):
        return out
    order = np.argsort(rec.box_id)
    ids = rec.box_id[order]
    pos = np.minimum(np.searchsorted(ids, box_ids), ids.shape[0] - 1)
    hit = ids[pos] == box_ids
    r = order[pos[hit]]
    out[hit] = np.where(rec.outcome[r] == TP, rec.iou[r], np.nan)
    return out


def gt_objects(gt: Boxes, cls: int | None = None, image_mask: np.ndarray | None = None,
               rec: MatchRecords | None = None, score_threshold: float = 0.5,
               label: str = "ground-truth boxes") -> ObjectSet:
    """Alive, non-crowd ground-truth boxes (of class ``cls``) of the images in
    ``image_mask``; ``iou`` with their match in ``rec`` at ``score_threshold``."""
    sel = gt.alive & ~gt.iscrowd
    if image_mask is not None:
        sel &= np.asarray(image_mask, bool)[gt.image]
    if cls is not None:
        sel &= gt.cls == cls
    r = np.flatnonzero(sel)
    return ObjectSet.make(label, False, gt.image[r], gt.box_id[r], gt.cls[r], gt.xyxy[r],
                          iou=_gt_iou(rec, gt.box_id[r], score_threshold))


def pred_objects(dets: Boxes, score_threshold: float, cls: int | None = None,
                 image_mask: np.ndarray | None = None, rec: MatchRecords | None = None,
                 outcome: int | None = None, label: str = "predictions") -> ObjectSet:
    """Alive predictions with ``score >= score_threshold`` (of class ``cls``; with
    ``outcome`` TP or FP in ``rec`` when given)."""
    sel = dets.alive & (dets.score >= score_threshold)
    if image_mask is not None:
        sel &= np.asarray(image_mask, bool)[dets.image]
    if cls is not None:
        sel &= dets.cls == cls
    r = np.flatnonzero(sel)
    ids = dets.box_id[r]
    if outcome is not None:
        keep = np.zeros(r.shape[0], bool)
        if rec is not None and len(rec):
            order = np.argsort(rec.box_id)
            srt = rec.box_id[order]
            pos = np.minimum(np.searchsorted(srt, ids), srt.shape[0] - 1)
            hit = srt[pos] == ids
            keep[hit] = rec.outcome[order[pos[hit]]] == outcome
        r, ids = r[keep], ids[keep]
    return ObjectSet.make(label, True, dets.image[r], ids, dets.cls[r], dets.xyxy[r],
                          score=dets.score[r], iou=_pred_iou(rec, ids))


def missed_objects(gt: Boxes, rec: MatchRecords, score_threshold: float,
                   cls: int | None = None, label: str = "missed objects") -> ObjectSet:
    """Ground-truth boxes no prediction kept at ``score_threshold`` matched (false
    negatives, the image list's ``fn``), of class ``cls``."""
    miss = rec.gt_match_score < score_threshold
    if cls is not None:
        miss &= rec.gt_cls == cls
    ids = rec.gt_id[miss]
    ids = ids[np.isin(ids, gt.box_id)]
    if not ids.size:
        return _empty(label)
    rows = gt.rows_of(ids)
    ok = gt.alive[rows]
    rows = rows[ok]
    return ObjectSet.make(label, False, gt.image[rows], gt.box_id[rows], gt.cls[rows],
                          gt.xyxy[rows])


def hits_objects(hits: Hits, gt: Boxes, dets: Boxes, prefer: str = "pred",
                 iou: dict[int, float] | None = None) -> ObjectSet:
    """The boxes of a plot's :class:`~detview.core.drilldown.Hits`: one per entry, the
    prediction when it has one (``prefer="pred"``), else its ground-truth box. Boxes
    deleted since are left out."""
    use_pred = hits.pred_box_id >= 0
    if prefer == "gt":
        use_pred &= hits.gt_box_id < 0
    pid = hits.pred_box_id[use_pred]
    gid = hits.gt_box_id[~use_pred & (hits.gt_box_id >= 0)]
    parts: list[ObjectSet] = []
    if pid.size:
        rows = dets.rows_of(pid)
        rows = rows[dets.alive[rows]]
        ids = dets.box_id[rows]
        parts.append(ObjectSet.make(hits.label, True, dets.image[rows], ids, dets.cls[rows],
                                    dets.xyxy[rows], score=dets.score[rows],
                                    iou=[(iou or {}).get(int(b), np.nan) for b in ids]))
    if gid.size:
        present = np.isin(gid, gt.box_id)
        rows = gt.rows_of(gid[present])
        rows = rows[gt.alive[rows]]
        parts.append(ObjectSet.make(hits.label, False, gt.image[rows], gt.box_id[rows],
                                    gt.cls[rows], gt.xyxy[rows]))
    return concat(hits.label, parts)


def concat(label: str, parts: Sequence[ObjectSet]) -> ObjectSet:
    if not parts:
        return _empty(label)
    cols = {n: np.concatenate([getattr(p, n) for p in parts])
            for n in ("is_pred", "image", "box_id", "cls", "score", "iou", "quality", "hint")}
    xy = np.concatenate([p.xyxy for p in parts]).reshape(-1, 4)
    return ObjectSet(label, cols["is_pred"], cols["image"], cols["box_id"], cols["cls"], xy,
                     cols["score"], cols["iou"], cols["quality"], cols["hint"])


def quality_objects(lq: Any, gt: Boxes, dets: Boxes, kind: str,
                    issues_only: bool = True) -> ObjectSet:
    """Boxes a label-quality result (:class:`detview.core.label_quality.LabelQuality`)
    suspects: ``kind`` ``"swap"`` (annotated boxes probably of another class, ``hint``
    the likely class), ``"badloc"`` (badly placed annotated boxes) or ``"overlooked"``
    (confident predictions where no box is annotated); ``quality`` is the box score
    (low = likely wrong). ``issues_only``: only the boxes counted as issues."""
    if kind == "overlooked":
        score = np.asarray(lq.overlooked, np.float64)
        sel = np.asarray(lq.overlooked_issue, bool) if issues_only else ~np.isnan(score)
        ids = np.asarray(lq.pred_box_id, np.int64)[sel]
        rows = dets.rows_of(ids) if ids.size else np.zeros(0, np.int64)
        return ObjectSet.make("suspected missing labels", True, dets.image[rows], ids,
                              dets.cls[rows], dets.xyxy[rows], score=dets.score[rows],
                              quality=score[sel])
    if kind not in ("swap", "badloc"):
        raise KeyError(f"unknown label-quality kind {kind!r}")
    score = np.asarray(getattr(lq, kind), np.float64)
    sel = np.asarray(getattr(lq, f"{kind}_issue"), bool) if issues_only else ~np.isnan(score)
    ids = np.asarray(lq.gt_box_id, np.int64)[sel]
    present = np.isin(ids, gt.box_id)
    ids = ids[present]
    rows = gt.rows_of(ids) if ids.size else np.zeros(0, np.int64)
    alive = gt.alive[rows]
    rows, ids = rows[alive], ids[alive]
    q = score[sel][present][alive]
    hint = None
    if kind == "swap":
        hint = np.asarray(lq.swap_class, np.int64)[sel][present][alive]
    label = "suspected swapped classes" if kind == "swap" else "suspected badly placed boxes"
    return ObjectSet.make(label, False, gt.image[rows], ids, gt.cls[rows], gt.xyxy[rows],
                          quality=q, hint=hint)
