"""The one matching kernel: candidate pairs, IoU, greedy matching by score.

COCO evaluation (:mod:`.cocoeval`), per-image metrics (:mod:`.metrics`), TIDE error
types and the confusion matrix (:mod:`.tide`) pair predictions with boxes through the
same three pieces; they differ only in how they drive them (which boxes form a group,
the order of the predictions, the tie rule, what is kept of the pairs):

1. :func:`overlap_pairs` lists (prediction, box) pairs of the same *group* (an image,
   or an image and class) whose boxes can overlap, in chunks of at most ``budget``
   pairs. Inside large groups the boxes are bucketed by size and laid out in rows of a
   grid sorted by left edge, so a prediction is paired only with boxes near it: no
   dense IoU matrix is ever built, and one image with a million boxes costs what its
   overlaps cost.
2. :func:`~detview.core.geometry.box_iou` (pycocotools' ``bbIou`` arithmetic) scores
   them.
3. :class:`Greedy` matches: predictions in *steps* (their rank), each takes the
   available box of highest priority, then highest IoU at or above the threshold, ties
   going to the later box (COCO) or the earlier (TIDE); a *reusable* box (a crowd
   region) is never used up. Several columns (IoU thresholds x priority layers, e.g.
   COCO's area ranges) are matched at once.

:func:`match_groups` ties them together and bounds memory: predictions are visited in
step order, pairs below the lowest threshold are dropped chunk by chunk, and whole
steps are matched as soon as their pairs are complete.

Per-image semantics (:func:`match_image`) follow pycocotools' ``evaluateImg``:
predictions in descending score order (stable), each takes the not-yet-matched
ground-truth box of its own class with the highest IoU at or above the threshold (ties
go to the later box), regular boxes are preferred over crowd regions, a crowd region can
absorb any number of predictions, and a prediction matched to a crowd region is
*ignored* (neither TP nor FP).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .geometry import box_areas, box_iou
from .geometry import iou as iou_matrix

__all__ = [
    "FP",
    "IGNORED",
    "TP",
    "Greedy",
    "ImageMatch",
    "best_overlap",
    "group_ranks",
    "match_groups",
    "score_order",
    "match_image",
    "overlap_pairs",
    "rows_of_images",
]

TP, FP, IGNORED = 1, 0, -1

#: pairs per chunk (about 150 bytes of temporaries each)
PAIR_BUDGET = 1 << 20
#: a group is cut into a grid when it has more boxes than this ...
_PRUNE_MIN_BOXES = 48
#: ... and more candidate pairs than this
_PRUNE_MIN_PAIRS = 1 << 14

PairSink = Callable[[np.ndarray, np.ndarray, np.ndarray], None]


# --------------------------------------------------------------------------- pairs
def _box_ranges(
    d_key: np.ndarray, d_xyxy: np.ndarray, g_key: np.ndarray, g_xyxy: np.ndarray, prune: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate boxes of each prediction as ranges of a permutation of the boxes.

    Returns ``perm, r_det, r_start, r_count`` with ranges sorted by prediction: the
    candidates of prediction ``r_det[i]`` include ``perm[r_start[i] : r_start[i] +
    r_count[i]]``. Without ``prune`` every same-key box is a candidate; with it, boxes of
    zero width or height are dropped and inside large groups only the boxes of nearby
    grid cells are listed (:func:`_grid_ranges`).
    """
    n_d = d_key.shape[0]
    g_order = np.argsort(g_key, kind="stable")  # file order inside a group
    gk = g_key[g_order]
    lo = np.searchsorted(gk, d_key, "left")
    cnt = np.searchsorted(gk, d_key, "right") - lo
    dets = np.arange(n_d, dtype=np.int64)
    if not prune or gk.size == 0 or n_d == 0:
        return g_order, dets, lo, cnt
    # a box of zero width or height overlaps nothing
    d_ok = (d_xyxy[:, 2] > d_xyxy[:, 0]) & (d_xyxy[:, 3] > d_xyxy[:, 1])
    cnt = np.where(d_ok, cnt, 0)
    new = np.concatenate(([True], gk[1:] != gk[:-1]))
    g_start = np.flatnonzero(new)
    g_size = np.diff(np.append(g_start, gk.shape[0]))
    big_g = g_size > _PRUNE_MIN_BOXES
    if not big_g.any():
        return g_order, dets, lo, cnt
    grp = np.cumsum(new) - 1  # group of each sorted box
    d_grp = np.where(cnt > 0, grp[np.minimum(lo, gk.shape[0] - 1)], -1)
    n_d_grp = np.bincount(d_grp[d_grp >= 0], minlength=g_start.shape[0])
    big = np.flatnonzero(big_g & (n_d_grp * g_size > _PRUNE_MIN_PAIRS))
    if big.size == 0:
        return g_order, dets, lo, cnt
    perms = [g_order]
    offset = g_order.shape[0]
    rd, rs, rc = [dets], [lo], [cnt]
    in_big = np.zeros(g_start.shape[0], dtype=bool)
    in_big[big] = True
    d_in_big = (d_grp >= 0) & in_big[np.maximum(d_grp, 0)]
    rc[0] = np.where(d_in_big, 0, cnt)
    d_by_grp = np.argsort(np.where(d_in_big, d_grp, -1), kind="stable")
    d_sorted_grp = np.where(d_in_big, d_grp, -1)[d_by_grp]
    for gi in big.tolist():
        a, b = np.searchsorted(d_sorted_grp, [gi, gi + 1])
        ds = d_by_grp[a:b]
        rows = g_order[g_start[gi] : g_start[gi] + g_size[gi]]
        perm, r_local, r_s, r_c = _grid_ranges(rows, g_xyxy[rows], d_xyxy[ds])
        rd.append(ds[r_local])
        rs.append(r_s + offset)
        rc.append(r_c)
        perms.append(perm)
        offset += perm.shape[0]
    r_det = np.concatenate(rd)
    o = np.argsort(r_det, kind="stable")
    return (np.concatenate(perms), r_det[o], np.concatenate(rs)[o], np.concatenate(rc)[o])


def _grid_ranges(
    rows: np.ndarray, xy: np.ndarray, dxy: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Candidate ranges inside one large group: boxes that can overlap each prediction.

    Boxes are bucketed by size (powers of two of width and height). Inside a bucket of
    boxes at most ``W`` wide and ``H`` high, a box overlapping ``[x1, x2) x [y1, y2)``
    has its corner in ``(x1 - W, x2) x (y1 - H, y2)``: the bucket is cut into rows of
    height ``ch >= H`` and sorted by (row, left edge), so each row a prediction spans
    is one contiguous range. Bounds are widened a little (a candidate too many costs a
    pair; one too few would lose a match). Returns ``perm`` (rows, reordered),
    ``det`` (index into ``dxy``), ``start``, ``count`` (ranges of ``perm``).
    """
    w = xy[:, 2] - xy[:, 0]
    h = xy[:, 3] - xy[:, 1]
    ok = (w > 0) & (h > 0)
    rows, xy, w, h = rows[ok], xy[ok], w[ok], h[ok]
    e64 = np.zeros(0, dtype=np.int64)
    if rows.size == 0 or dxy.shape[0] == 0:
        return rows, e64, e64, e64
    x0, y0 = float(xy[:, 0].min()), float(xy[:, 1].min())
    span_x = float(xy[:, 0].max()) - x0
    stride = 2.0 ** np.ceil(np.log2(span_x + 4.0))  # rows never interleave
    pred_h = float(np.median(dxy[:, 3] - dxy[:, 1]))
    bucket = np.floor(np.log2(w)).astype(np.int64) * 4096 + np.floor(np.log2(h)).astype(np.int64)
    ub, inv = np.unique(bucket, return_inverse=True)
    perms, rd, rs, rc = [], [], [], []
    offset = 0
    n_d = dxy.shape[0]
    for k in range(ub.shape[0]):
        sel = np.flatnonzero(inv == k)
        bw, bh = float(w[sel].max()), float(h[sel].max())
        ch = max(bh, pred_h, 1e-9)
        row = np.floor((xy[sel, 1] - y0) / ch)
        comp = row * stride + (xy[sel, 0] - x0)
        o = np.argsort(comp, kind="stable")
        comp = comp[o]
        n_rows = int(row.max()) + 1
        lo_y = dxy[:, 1] - bh * (1 + 1e-9) - 1e-9
        r_lo = np.clip(np.floor((lo_y - y0) / ch), 0, n_rows - 1).astype(np.int64)
        r_hi = np.clip(np.floor((dxy[:, 3] - y0) / ch), -1, n_rows - 1).astype(np.int64)
        n_r = np.maximum(r_hi - r_lo + 1, 0)
        det = np.repeat(np.arange(n_d, dtype=np.int64), n_r)
        first = np.repeat(np.cumsum(n_r) - n_r, n_r)
        r = np.repeat(r_lo, n_r) + (np.arange(det.shape[0], dtype=np.int64) - first)
        qx_lo = np.clip(dxy[det, 0] - bw * (1 + 1e-9) - 1e-9 - x0, -1.0, span_x + 1.0)
        qx_hi = np.clip(dxy[det, 2] - x0, -1.0, span_x + 1.0)
        lo = np.searchsorted(comp, r * stride + qx_lo, "left")
        hi = np.searchsorted(comp, r * stride + qx_hi, "right")
        cnt = hi - lo
        keep = cnt > 0
        rd.append(det[keep])
        rs.append(lo[keep] + offset)
        rc.append(cnt[keep])
        perms.append(rows[sel[o]])
        offset += sel.shape[0]
    return (np.concatenate(perms), np.concatenate(rd), np.concatenate(rs), np.concatenate(rc))


def _pair_chunks(
    d_key: np.ndarray,
    d_xyxy: np.ndarray,
    g_key: np.ndarray,
    g_xyxy: np.ndarray,
    budget: int | None,
    prune: bool,
) -> tuple[np.ndarray, Iterator[tuple[np.ndarray, np.ndarray, int]]]:
    """``(perm, chunks)``: like :func:`overlap_pairs`, but boxes are given as positions
    ``pp`` in ``perm`` (boxes in ``perm`` order are read nearly sequentially)."""
    budget = int(budget or PAIR_BUDGET)
    d_key = np.asarray(d_key, dtype=np.int64)
    g_key = np.asarray(g_key, dtype=np.int64)
    n_d = d_key.shape[0]
    perm, r_det, r_start, r_count = _box_ranges(d_key, d_xyxy, g_key, g_xyxy, prune)
    sel = r_count > 0
    r_det, r_start, r_count = r_det[sel], r_start[sel], r_count[sel]
    csum = np.cumsum(r_count)
    total = int(csum[-1]) if csum.size else 0

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
        a = 0
        while a < total:
            b = min(a + budget, total)
            i0 = int(np.searchsorted(csum, a, "right"))
            i1 = int(np.searchsorted(csum, b - 1, "right"))
            idx = np.arange(i0, i1 + 1)
            st = csum[idx] - r_count[idx]
            off = np.maximum(a - st, 0)
            length = np.minimum(csum[idx], b) - st - off
            m = int(length.sum())
            first = np.repeat(np.cumsum(length) - length, length)
            pd_ = np.repeat(r_det[idx], length)
            pp = np.repeat(r_start[idx] + off, length) + (np.arange(m, dtype=np.int64) - first)
            done = int(r_det[int(np.searchsorted(csum, b, "right"))]) if b < total else n_d
            yield pd_, pp, done
            a = b
        if total == 0:
            yield np.zeros(0, np.int64), np.zeros(0, np.int64), n_d

    return perm, chunks()


def overlap_pairs(
    d_key: np.ndarray,
    d_xyxy: np.ndarray,
    g_key: np.ndarray,
    g_xyxy: np.ndarray,
    budget: int | None = None,
    prune: bool = True,
) -> Iterator[tuple[np.ndarray, np.ndarray, int]]:
    """Same-key (prediction, box) index pairs, in chunks of at most ``budget`` pairs.

    Yields ``(pd, pg, done)``: positions in the prediction and box arrays, predictions
    in array order (a prediction's pairs may span chunks only when it alone has more
    than ``budget``); ``done`` is the number of leading predictions whose pairs are all
    out. With ``prune`` (the default) most pairs whose boxes cannot overlap (IoU 0) are
    left out; every overlapping pair is listed.
    """
    perm, chunks = _pair_chunks(d_key, d_xyxy, g_key, g_xyxy, budget, prune)
    for pd_, pp, done in chunks:
        yield pd_, perm[pp], done


def score_order(score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, level)``: positions by descending score, ties in array order, and the
    dense rank of each position's score (0 = highest), in array order."""
    score = np.asarray(score, dtype=np.float64)
    n = score.shape[0]
    o = np.argsort(-score)  # not stable: ties are put in array order below
    s = score[o]
    run = np.cumsum(np.concatenate(([True], s[1:] != s[:-1]))) - 1 if n else o
    o = o[np.argsort(run * max(n, 1) + o, kind="stable")]  # sorted runs: linear time
    level = np.empty(n, dtype=np.int64)
    level[o] = run
    return o, level


def group_ranks(key: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(order, rank)``: predictions ordered by group, then descending score, stable
    over array order; ``rank`` (in array order) is the 0-based place in its group."""
    key = np.asarray(key, dtype=np.int64)
    n = key.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    _, level = score_order(score)
    k_lo, k_hi = int(key.min()), int(key.max())
    n_lev = int(level.max()) + 1
    if (k_hi - k_lo + 1) * n_lev < 2**62:
        order = np.argsort((key - k_lo) * n_lev + level, kind="stable")
    else:
        order = np.lexsort((level, key))
    ks = key[order]
    new = np.concatenate(([True], ks[1:] != ks[:-1]))
    starts = np.flatnonzero(new)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64) - starts[np.cumsum(new) - 1]
    return order, rank


def rows_of_images(offsets: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Rows of the given images (in the order given) without a Python loop."""
    images = np.asarray(images, dtype=np.int64)
    starts = offsets[images]
    counts = offsets[images + 1] - starts
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.cumsum(counts) - counts
    return np.repeat(starts - first, counts) + np.arange(total, dtype=np.int64)


# --------------------------------------------------------------------------- greedy
@dataclass(eq=False)
class Greedy:
    """Greedy matching state of ``n_d`` predictions against ``n_g`` boxes.

    Columns are ``A x T``: ``thresholds[T]`` and priority layers ``prio[G, A]`` (a
    higher priority wins whatever the IoU; COCO: regular boxes 2, boxes ignored in an
    area range 1). ``reusable[G]`` boxes (crowd regions) are never used up. Feed
    candidate pairs (IoU >= the lowest threshold) with :meth:`feed`, whole steps at a
    time and steps in increasing order; predictions that share a step must not share
    a candidate box (a step holds at most one prediction per group).
    Results: ``det_gt[D, A*T]`` (matched box, -1) and, with ``want_iou``,
    ``det_iou`` (its IoU, 0).
    """

    n_d: int
    n_g: int
    thresholds: np.ndarray
    prio: np.ndarray | None = None
    reusable: np.ndarray | None = None
    tie_last: bool = True
    want_iou: bool = True
    det_gt: np.ndarray = field(init=False)
    det_iou: np.ndarray = field(init=False)
    taken: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.thresholds = np.asarray(self.thresholds, dtype=np.float64).reshape(-1)
        if self.prio is None:
            self.prio = np.ones((self.n_g, 1), dtype=np.int64)
        self.prio = np.asarray(self.prio, dtype=np.int64)
        if self.prio.ndim == 1:
            self.prio = self.prio[:, None]
        if self.reusable is None:
            self.reusable = np.zeros(self.n_g, dtype=bool)
        self.reusable = np.asarray(self.reusable, dtype=bool)
        n_col = self.prio.shape[1] * self.thresholds.shape[0]
        idx_t = np.int32 if self.n_g < 2**31 - 1 else np.int64
        self.det_gt = np.full((self.n_d, n_col), -1, dtype=idx_t)
        self.det_iou = np.zeros((self.n_d, n_col) if self.want_iou else (0, n_col))
        self.taken = np.zeros((self.n_g, n_col), dtype=bool)

    @property
    def min_threshold(self) -> float:
        return float(self.thresholds.min())

    def feed(self, cd: np.ndarray, cg: np.ndarray, ci: np.ndarray, step: np.ndarray) -> None:
        """Match the candidate pairs ``(cd[i], cg[i])`` of IoU ``ci[i]``; ``step`` is per
        pair (the step of its prediction)."""
        if cd.size == 0:
            return
        order = np.lexsort((cg if self.tie_last else -cg, ci, cd, step))
        cd, cg, ci, st = cd[order], cg[order], ci[order], step[order]
        bounds = np.concatenate(([0], np.flatnonzero(st[1:] != st[:-1]) + 1, [st.shape[0]]))
        thr = self.thresholds
        prio, reuse, taken = self.prio, self.reusable, self.taken
        assert prio is not None and reuse is not None
        n_a, n_t = prio.shape[1], thr.shape[0]
        n_at = n_a * n_t
        for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            pd_, pg, pi = cd[s:e], cg[s:e], ci[s:e]
            n = e - s
            starts = np.flatnonzero(np.concatenate(([True], pd_[1:] != pd_[:-1])))
            free = ~taken[pg]
            free |= reuse[pg][:, None]
            ok = (pi[:, None] >= thr[None, :])[:, None, :] & free.reshape(n, n_a, n_t)
            code_t = np.int32 if 3 * n < 2**31 else np.int64
            code = (ok * prio[pg][:, :, None].astype(code_t)).reshape(n, n_at)
            code *= n
            code += np.arange(n, dtype=code_t)[:, None]
            best = np.maximum.reduceat(code, starts, axis=0)
            hit = best >= n
            at = best % n
            gsel = pg[at]
            self.det_gt[pd_[starts]] = np.where(hit, gsel, -1)
            if self.want_iou:
                self.det_iou[pd_[starts]] = np.where(hit, pi[at], 0.0)
            rr, cc = np.nonzero(hit & ~reuse[gsel])
            taken[gsel[rr, cc], cc] = True


def match_groups(
    d_key: np.ndarray,
    d_step: np.ndarray,
    d_xyxy: np.ndarray,
    d_area: np.ndarray,
    g_key: np.ndarray,
    g_xyxy: np.ndarray,
    g_area: np.ndarray,
    thresholds: np.ndarray | float,
    *,
    g_crowd: np.ndarray | None = None,
    prio: np.ndarray | None = None,
    tie_last: bool = True,
    on_pairs: PairSink | None = None,
    budget: int | None = None,
    want_iou: bool = True,
) -> Greedy:
    """Greedy matching of predictions to the boxes of their group (see :class:`Greedy`).

    ``d_step``: the order of the predictions inside their group (e.g. the rank by
    descending score); ``*_area``: :func:`~detview.core.geometry.box_areas`;
    ``g_crowd``: crowd regions (IoU over the prediction's area, reusable).
    ``on_pairs(pd, pg, iou)`` sees every overlapping pair once (for summaries such as
    the best IoU of each box), chunk by chunk.
    """
    d_key = np.asarray(d_key, dtype=np.int64)
    d_step = np.asarray(d_step, dtype=np.int64)
    n_d, n_g = d_key.shape[0], int(np.asarray(g_key).shape[0])
    crowd = None if g_crowd is None else np.asarray(g_crowd, dtype=bool)
    gr = Greedy(n_d, n_g, np.minimum(np.atleast_1d(thresholds), 1 - 1e-10), prio, crowd,
                tie_last, want_iou)
    if n_d == 0 or n_g == 0:
        return gr
    min_thr = gr.min_threshold
    dperm = np.argsort(d_step, kind="stable")
    steps = d_step[dperm]
    d_xy, d_ar = d_xyxy[dperm], d_area[dperm]  # in step order: read sequentially
    gperm, chunks = _pair_chunks(d_key[dperm], d_xy, g_key, g_xyxy, budget, prune=min_thr > 0)
    g_xy, g_ar = g_xyxy[gperm], g_area[gperm]  # in candidate order: read sequentially
    g_cr = None if crowd is None else crowd[gperm]
    pend: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for pl, pp, done in chunks:
        ious = box_iou(d_xy[pl], d_ar[pl], g_xy[pp], g_ar[pp], None if g_cr is None else g_cr[pp])
        if on_pairs is not None:
            on_pairs(dperm[pl], gperm[pp], ious)
        keep = ious >= min_thr
        pend.append((dperm[pl[keep]], gperm[pp[keep]], ious[keep]))
        del pl, pp, ious, keep
        limit = steps[done] if done < n_d else np.iinfo(np.int64).max
        cd, cg, ci = (np.concatenate(c) for c in zip(*pend, strict=True))
        st = d_step[cd]
        ready = st < limit
        gr.feed(cd[ready], cg[ready], ci[ready], st[ready])
        pend = [(cd[~ready], cg[~ready], ci[~ready])]
    cd, cg, ci = (np.concatenate(c) for c in zip(*pend, strict=True))
    gr.feed(cd, cg, ci, d_step[cd])
    return gr


# --------------------------------------------------------------------------- one image
@dataclass(frozen=True, eq=False)
class ImageMatch:
    """Match records of one image. Indices are positions in the arrays passed in."""

    pred_gt: np.ndarray  # int64[P]: matched ground-truth position, -1 if none
    pred_iou: np.ndarray  # float64[P]: IoU with the matched box (0 if none)
    pred_outcome: np.ndarray  # int8[P]: TP, FP or IGNORED
    gt_pred: np.ndarray  # int64[G]: matching prediction position, -1 if missed
    boxes: tuple[np.ndarray, ...] = ()  # (pred xyxy, pred cls, gt xyxy, gt cls, gt crowd)

    @property
    def ious(self) -> np.ndarray:
        """float64[P, G]: the class-aware IoU matrix (-1 across classes), computed on
        demand (dense: for the boxes of one image as the viewer shows them)."""
        if not self.boxes:
            raise ValueError("this ImageMatch was built without its boxes")
        pxy, pcl, gxy, gcl, gcr = self.boxes
        m = iou_matrix(pxy, gxy, gcr)
        return np.where(pcl[:, None] == gcl[None, :], m, -1.0)

    @property
    def tp(self) -> int:
        return int(np.count_nonzero(self.pred_outcome == TP))

    @property
    def fp(self) -> int:
        return int(np.count_nonzero(self.pred_outcome == FP))


def match_image(
    pred_xyxy: np.ndarray,
    pred_score: np.ndarray,
    pred_cls: np.ndarray,
    gt_xyxy: np.ndarray,
    gt_cls: np.ndarray,
    gt_crowd: np.ndarray,
    iou_threshold: float = 0.5,
    *,
    pred_area: np.ndarray | None = None,
    gt_area: np.ndarray | None = None,
) -> ImageMatch:
    """Greedy matching of one image (see the module docstring), through the kernel.

    ``*_area``: box areas for the IoU (:func:`~detview.core.geometry.box_areas`;
    default from the xyxy boxes)."""
    pxy = np.asarray(pred_xyxy, dtype=np.float64).reshape(-1, 4)
    gxy = np.asarray(gt_xyxy, dtype=np.float64).reshape(-1, 4)
    pcl = np.asarray(pred_cls, dtype=np.int64).reshape(-1)
    gcl = np.asarray(gt_cls, dtype=np.int64).reshape(-1)
    crowd = np.asarray(gt_crowd, dtype=bool).reshape(-1)
    _, rank = group_ranks(pcl, np.asarray(pred_score, dtype=np.float64).reshape(-1))
    parea = box_areas(pxy) if pred_area is None else np.asarray(pred_area, dtype=np.float64)
    garea = box_areas(gxy) if gt_area is None else np.asarray(gt_area, dtype=np.float64)
    gr = match_groups(pcl, rank, pxy, parea, gcl, gxy, garea, iou_threshold,
                      g_crowd=crowd, prio=np.where(crowd, 1, 2))
    pred_gt = gr.det_gt[:, 0].astype(np.int64)
    hit = pred_gt >= 0
    outcome = np.where(hit, np.where(crowd[np.maximum(pred_gt, 0)] if crowd.size else hit,
                                     IGNORED, TP), FP).astype(np.int8)
    gt_pred = np.full(gcl.shape[0], -1, dtype=np.int64)
    tp = np.flatnonzero(outcome == TP)
    gt_pred[pred_gt[tp]] = tp
    return ImageMatch(pred_gt, gr.det_iou[:, 0], outcome, gt_pred, (pxy, pcl, gxy, gcl, crowd))


def best_overlap(box: np.ndarray, candidates: np.ndarray, min_iou: float = 0.1) -> int:
    """Position of the candidate box overlapping ``box`` most (IoU >= ``min_iou``), or -1."""
    if len(candidates) == 0:
        return -1
    ious = iou_matrix(np.asarray(box, dtype=np.float64).reshape(1, 4), candidates)[0]
    best = int(np.argmax(ious))
    return best if ious[best] >= min_iou else -1
