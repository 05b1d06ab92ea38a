"""TIDE error types (Bolya et al., ECCV 2020) for every prediction and missed box.

:func:`tide_errors` reproduces the ``tidecv`` package (``TIDE().evaluate(...)``, box
mode, defaults ``pos_thresh=0.5``, ``bg_thresh=0.1``, 100 predictions per image) on
columns: the same matching, the same error rules and order of tests, and the same
"fix one error type, recompute mAP" deltas (``fix_main_errors``, not progressive).

TIDE's matching is not COCO's, which is why its AP50 differs from pycocotools':

* predictions are ranked per *image* (all classes together) by descending score, file
  order on ties, and cut at ``max_dets`` per image (COCO cuts per image and class);
* a prediction takes the unused same-class box of highest IoU if that IoU >= the
  threshold, ties going to the *first* box (COCO: the last); there are no area ranges;
* crowd boxes are "ignore regions": an unmatched prediction whose crowd IoU
  (intersection over its own area) with a same-class crowd box is *strictly* above
  the threshold is left out of AP (COCO matches crowd boxes with >=);
* AP is 101-point with precision ``tp / (tp + fp)`` (no eps), recall points
  ``i / 100``, and mAP averages every class that has ground truth *or* predictions
  (a class with predictions but no ground truth counts with AP 0).

Error rules for a prediction that is not a true positive (ignored ones included),
tested in this order: no ground truth in the image -> background; best same-class
IoU in ``[bg, pos]`` -> localisation; best other-class IoU >= ``pos`` -> classification;
best IoU with a same-class box already matched >= ``pos`` -> duplicate; best IoU with
any box <= ``bg`` -> background; otherwise "both" (tidecv's ``OtherError``). A ground
truth box that is not matched and not the target of a localisation or classification
error is missed. Fixing: classification/localisation errors become true positives
when their box is unused and they are its highest-scoring such error (others are
dropped); duplicates, background and both are dropped; a missed box is removed from
the ground-truth count. ``dAP = max(fixed mAP - mAP, 0)``.

Values are fractions (tidecv prints percentages: multiply by 100).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .geometry import box_areas, box_iou
from .matching import Greedy, overlap_pairs
from .tables import Boxes

__all__ = [
    "ERROR_NAMES",
    "BKG",
    "BOTH",
    "CLS",
    "ConfusionEntries",
    "DUPE",
    "LOC",
    "MISS",
    "NOT_EVALUATED",
    "OK",
    "TideResult",
    "confusion_entries",
    "confusion_matrix",
    "tide_errors",
]

NOT_EVALUATED, OK, CLS, LOC, BOTH, DUPE, BKG, MISS = -1, 0, 1, 2, 3, 4, 5, 6
_TIDE_CHUNK = 200_000  # predictions per chunk of images
ERROR_NAMES: dict[int, str] = {CLS: "Cls", LOC: "Loc", BOTH: "Both", DUPE: "Dupe",
                               BKG: "Bkg", MISS: "Miss"}  # fmt: skip


@dataclass(frozen=True, eq=False)
class TideResult:
    """TIDE errors of one prediction run.

    ``pred_error`` (int8 per prediction row): ``OK`` for a true positive, an error code
    (``CLS, LOC, BOTH, DUPE, BKG``) or ``NOT_EVALUATED`` (deleted, excluded image,
    beyond ``max_dets``). ``pred_gt``: the ground-truth row it matched (OK), or the one
    the error refers to (CLS/LOC/DUPE), else -1. ``pred_ignored``: inside a crowd
    region (error-typed but left out of AP, as tidecv). ``gt_error`` (int8 per
    ground-truth row): ``OK`` matched, ``MISS``, 0 also for boxes blamed on a CLS/LOC
    prediction, ``NOT_EVALUATED`` for crowd/deleted/excluded. ``ap`` is TIDE's mAP at
    ``pos_thresh``; ``dap`` maps error names to the mAP gained by fixing that type;
    ``counts`` maps names to numbers; ``per_image`` has a column per name.
    """

    pred_error: np.ndarray
    pred_gt: np.ndarray
    pred_ignored: np.ndarray
    gt_error: np.ndarray
    ap: float
    dap: dict[str, float]
    counts: dict[str, int]
    per_image: pd.DataFrame


def _seg_best(
    seg: np.ndarray, val: np.ndarray, pos: np.ndarray, n_seg: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per segment: max of ``val`` and the smallest ``pos`` reaching it (0, -1 if none)."""
    best = np.zeros(n_seg)
    arg = np.full(n_seg, -1, dtype=np.int64)
    if seg.size:
        o = np.lexsort((-pos, val, seg))
        s = seg[o]
        last = np.flatnonzero(np.concatenate((s[1:] != s[:-1], [True])))
        best[s[last]] = val[o][last]
        arg[s[last]] = pos[o][last]
    return best, arg


def _tide_map(cls: np.ndarray, score: np.ndarray, true: np.ndarray, n_gt: np.ndarray) -> float:
    """tidecv's mAP: points already in push order; classes with gt or points count."""
    k = n_gt.shape[0]
    n_pts = np.bincount(cls, minlength=k)
    order = np.lexsort((np.arange(cls.shape[0]), -score, cls))
    cls_s, true_s = cls[order], true[order]
    off = np.concatenate(([0], np.cumsum(n_pts)))
    x = np.arange(101) / 100
    aps = []
    for c in range(k):
        if n_pts[c] == 0 and n_gt[c] <= 0:
            continue
        if n_gt[c] <= 0:
            aps.append(0.0)
            continue
        t = true_s[off[c] : off[c + 1]]
        if t.size == 0:
            aps.append(0.0)
            continue
        tp = np.cumsum(t)
        n = np.arange(1, t.size + 1)
        prec = tp / n
        prec = np.maximum.accumulate(prec[::-1])[::-1]
        rec = tp / n_gt[c]
        idx = np.searchsorted(rec, x, side="left")
        y = np.where(idx < t.size, prec[np.minimum(idx, t.size - 1)], 0.0)
        aps.append(float(sum(y.tolist())) / 101 * 100)
    del cls_s
    return (sum(aps) / len(aps)) / 100 if aps else 0.0


def tide_errors(
    gt: Boxes,
    dets: Boxes,
    n_classes: int,
    image_mask: np.ndarray | None = None,
    pos_thresh: float = 0.5,
    bg_thresh: float = 0.1,
    max_dets: int = 100,
) -> TideResult:
    """TIDE error types and dAP of ``dets`` against ``gt`` (see the module docstring).

    ``bg_thresh`` must be > 0 (pairs that do not overlap are never looked at).
    Images are visited in index order (tidecv: the order of the ground-truth file).
    """
    if bg_thresh <= 0:
        raise ValueError("bg_thresh must be > 0")
    n_img = gt.n_images
    k = int(n_classes)
    mask = np.ones(n_img, bool) if image_mask is None else np.asarray(image_mask, bool)
    # ---------------------------------------------------------------- predictions
    dkeep = dets.alive & (dets.cls >= 0) & (dets.cls < k) & mask[dets.image]
    drows = np.flatnonzero(dkeep)
    o = np.lexsort((drows, -dets.score[drows], dets.image[drows]))
    drows = drows[o]
    dimg = dets.image[drows]
    first = np.searchsorted(dimg, np.arange(n_img))
    rank = np.arange(drows.shape[0]) - first[dimg] if drows.size else drows
    cut = rank < max_dets
    drows, dimg, rank = drows[cut], dimg[cut], rank[cut]
    dcls = dets.cls[drows]
    dxy = dets.xyxy[drows]
    darea = box_areas(dxy, dets.wh[drows])
    dscore = dets.score[drows]
    nd = drows.shape[0]
    # ---------------------------------------------------------------- ground truth
    gkeep = gt.alive & (gt.cls >= 0) & (gt.cls < k) & mask[gt.image]
    crowd_rows = np.flatnonzero(gkeep & gt.iscrowd)
    grows = np.flatnonzero(gkeep & ~gt.iscrowd)
    gimg, gcls, gxy = gt.image[grows], gt.cls[grows], gt.xyxy[grows]
    garea = box_areas(gxy, gt.wh[grows])
    ng = grows.shape[0]
    # matching and the per-prediction IoU summaries, in chunks of images
    cimg, ccls, cxy = gt.image[crowd_rows], gt.cls[crowd_rows], gt.xyxy[crowd_rows]
    outs = []
    d_cut = np.searchsorted(dimg, np.arange(n_img + 1))
    g_cut = np.searchsorted(gimg, np.arange(n_img + 1))
    c_cut = np.searchsorted(cimg, np.arange(n_img + 1))
    lo = 0
    while lo < n_img:
        hi = int(np.searchsorted(d_cut, d_cut[lo] + _TIDE_CHUNK, "right")) - 1
        hi = min(max(hi, lo + 1), n_img)
        ds, gs, cs = (slice(int(c[lo]), int(c[hi])) for c in (d_cut, g_cut, c_cut))
        part = _tide_chunk(
            dimg[ds], dxy[ds], darea[ds], dcls[ds], rank[ds], gimg[gs], gxy[gs], garea[gs],
            gcls[gs], cimg[cs], cxy[cs], ccls[cs], pos_thresh,
        )  # fmt: skip
        for arr in (part[0], part[4], part[6], part[8]):  # gt positions -> global
            arr[arr >= 0] += gs.start
        part[-1][:] += gs.start
        outs.append(part)
        lo = hi
    if outs:
        cols = [np.concatenate(c) for c in zip(*outs, strict=True)]
    else:
        e_i, e_f, e_b = np.zeros(0, np.int64), np.zeros(0), np.zeros(0, bool)
        cols = [e_i, e_b, e_f, e_f, e_i, e_f, e_i, e_f, e_i, e_i]
    matched_gt, ignored, m_all, m_cls, a_cls, m_oth, a_oth, m_used, a_used, used_g = cols
    gt_used = np.zeros(ng, dtype=bool)
    gt_used[used_g] = True
    tp = matched_gt >= 0
    n_gt_img = np.bincount(gimg, minlength=n_img)
    err = np.full(nd, OK, dtype=np.int8)
    blame = np.where(tp, matched_gt, -1)
    fp = ~tp
    rest = fp.copy()

    def assign(cond: np.ndarray, code: int, target: np.ndarray | None = None) -> None:
        nonlocal rest
        c = rest & cond
        err[c] = code
        if target is not None:
            blame[c] = target[c]
        rest = rest & ~c

    assign(n_gt_img[dimg] == 0, BKG)
    assign((m_cls >= bg_thresh) & (m_cls <= pos_thresh), LOC, a_cls)
    assign(m_oth >= pos_thresh, CLS, a_oth)
    assign(m_used >= pos_thresh, DUPE, a_used)
    assign(m_all <= bg_thresh, BKG)
    assign(np.ones(nd, bool), BOTH)
    # BestGTMatch: per unused box, the highest-scoring CLS/LOC error (first on ties)
    fixable = ((err == CLS) | (err == LOC)) & (blame >= 0)
    fixable &= ~gt_used[np.maximum(blame, 0)] if ng else fixable
    usable = np.zeros(ng, dtype=bool)
    best_of = np.full(ng, -1, dtype=np.int64)
    fi = np.flatnonzero(fixable)  # in push order (image, rank)
    if fi.size:
        usable[blame[fi]] = True
        oo = np.lexsort((fi, -dscore[fi], blame[fi]))
        b = blame[fi][oo]
        head = np.concatenate(([True], b[1:] != b[:-1]))
        best_of[b[head]] = fi[oo][head]
    missed = ~gt_used & ~usable
    # ---------------------------------------------------------------- AP and dAP
    n_gt_cls = np.bincount(gcls, minlength=k)
    in_ap = ~ignored
    base = _tide_map(dcls[in_ap], dscore[in_ap], tp[in_ap], n_gt_cls)
    dap: dict[str, float] = {}
    err_idx = np.flatnonzero(fp)  # error-derived points keep push order, then the TPs
    tp_idx = np.flatnonzero(tp)
    for code, name in ERROR_NAMES.items():
        ngc = n_gt_cls.copy()
        if code == MISS:
            ngc -= np.bincount(gcls[missed], minlength=k)
            keep = err_idx[in_ap[err_idx]]
            cls_e, true_e = dcls[keep], np.zeros(keep.size, bool)
        elif code in (CLS, LOC):
            is_c = err[err_idx] == code
            win = np.zeros(err_idx.size, bool)
            bi = blame[err_idx]
            ok_b = is_c & (bi >= 0)
            win[ok_b] = best_of[bi[ok_b]] == err_idx[ok_b]
            keep_m = (~is_c & in_ap[err_idx]) | win
            keep = err_idx[keep_m]
            cls_e = dcls[keep].copy()
            if code == CLS:
                w = win[keep_m]
                cls_e[w] = gcls[blame[keep][w]]
            true_e = win[keep_m]
        else:
            keep = err_idx[(err[err_idx] != code) & in_ap[err_idx]]
            cls_e, true_e = dcls[keep], np.zeros(keep.size, bool)
        cls_all = np.concatenate((cls_e, dcls[tp_idx]))
        sc_all = np.concatenate((dscore[keep], dscore[tp_idx]))
        tr_all = np.concatenate((true_e, np.ones(tp_idx.size, bool)))
        dap[name] = max(_tide_map(cls_all, sc_all, tr_all, ngc) - base, 0.0)
    # ---------------------------------------------------------------- tables
    pred_error = np.full(len(dets), NOT_EVALUATED, dtype=np.int8)
    pred_error[drows] = err
    pred_gt = np.full(len(dets), -1, dtype=np.int64)
    pred_gt[drows] = np.where(blame >= 0, grows[np.maximum(blame, 0)] if ng else -1, -1)
    pred_ignored = np.zeros(len(dets), dtype=bool)
    pred_ignored[drows] = ignored
    gt_error = np.full(len(gt), NOT_EVALUATED, dtype=np.int8)
    gt_error[grows] = np.where(missed, MISS, OK)
    counts = {name: int(np.count_nonzero(err == c)) for c, name in ERROR_NAMES.items()}
    counts["Miss"] = int(np.count_nonzero(missed))
    per_col = {name: np.bincount(dimg[err == c], minlength=n_img)
               for c, name in ERROR_NAMES.items()}
    per_col["Miss"] = np.bincount(gimg[missed], minlength=n_img)
    per_image = pd.DataFrame(per_col)
    per_image.index.name = "image"
    return TideResult(pred_error, pred_gt, pred_ignored, gt_error, base, dap, counts, per_image)


def _tide_chunk(
    dimg: np.ndarray,
    dxy: np.ndarray,
    darea: np.ndarray,
    dcls: np.ndarray,
    rank: np.ndarray,
    gimg: np.ndarray,
    gxy: np.ndarray,
    garea: np.ndarray,
    gcls: np.ndarray,
    cimg: np.ndarray,
    cxy: np.ndarray,
    ccls: np.ndarray,
    pos_thresh: float,
) -> tuple[np.ndarray, ...]:
    """tidecv's matching and IoU summaries for the predictions of a run of images.

    Pairs, IoU and the greedy matching are the engine's kernel
    (:func:`.matching.overlap_pairs`, :class:`.matching.Greedy` with ties to the first
    box); the per-prediction best IoUs are reduced chunk by chunk. Returns
    ``matched_gt, ignored, m_all, m_cls, a_cls, m_oth, a_oth, m_used, a_used,
    used_gt`` (ground-truth positions local to the chunk).
    """
    nd, ng = dimg.shape[0], gimg.shape[0]
    best = {k: (np.zeros(nd), np.full(nd, -1, dtype=np.int64)) for k in ("all", "cls", "oth")}
    cands: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for pd_, pg, iou in _image_pairs(dimg, dxy, darea, gimg, gxy, garea, crowd=False):
        same = dcls[pd_] == gcls[pg]
        for name, sel in (("all", slice(None)), ("cls", same), ("oth", ~same)):
            _merge_best(best[name], *_seg_best(pd_[sel], iou[sel], pg[sel], nd))
        c = same & (iou >= pos_thresh)
        cands.append((pd_[c], pg[c], iou[c]))
    cd, cg, ci = (np.concatenate(x) for x in zip(*cands, strict=True)) if cands else (
        np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    gr = Greedy(nd, ng, np.array([pos_thresh]), tie_last=False, want_iou=False)
    gr.feed(cd, cg, ci, rank[cd])  # one prediction per image per step
    matched_gt = gr.det_gt[:, 0].astype(np.int64)
    gt_used = np.zeros(ng, dtype=bool)
    gt_used[matched_gt[matched_gt >= 0]] = True
    tp = matched_gt >= 0
    # crowd regions: unmatched predictions inside a same-class region are ignored
    ignored = np.zeros(nd, dtype=bool)
    if cimg.size and nd:
        carea = box_areas(cxy)
        for qd, qg, qi in _image_pairs(dimg, dxy, darea, cimg, cxy, carea, crowd=True):
            hit = (qi > pos_thresh) & (dcls[qd] == ccls[qg]) & ~tp[qd]
            ignored[qd[hit]] = True
    # best IoU with a used box of the class: only pairs >= pos_thresh can make a
    # duplicate, and those are the candidates
    su = gt_used[cg] if cg.size else np.zeros(0, bool)
    m_used, a_used = _seg_best(cd[su], ci[su], cg[su], nd)
    (m_all, _), (m_cls, a_cls), (m_oth, a_oth) = best["all"], best["cls"], best["oth"]
    return (matched_gt, ignored, m_all, m_cls, a_cls, m_oth, a_oth, m_used, a_used,
            np.flatnonzero(gt_used))  # fmt: skip


def _merge_best(run: tuple[np.ndarray, np.ndarray], val: np.ndarray, arg: np.ndarray) -> None:
    """Fold one chunk's per-prediction (best, smallest position reaching it) into ``run``."""
    rv, ra = run
    better = (arg >= 0) & ((val > rv) | ((val == rv) & ((ra < 0) | (arg < ra))))
    rv[better] = val[better]
    ra[better] = arg[better]


def _image_pairs(
    dimg: np.ndarray,
    dxy: np.ndarray,
    darea: np.ndarray,
    gimg: np.ndarray,
    gxy: np.ndarray,
    garea: np.ndarray,
    crowd: bool,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Same-image (prediction, box, IoU) with IoU > 0, chunk by chunk, through the
    kernel; ``crowd``: IoU over the prediction's area (boxes are crowd regions)."""
    if dimg.size == 0 or gimg.size == 0:
        return
    flag = np.ones(1, dtype=bool) if crowd else None
    for pd_, pg, _ in overlap_pairs(dimg, dxy, gimg, gxy):
        if pd_.size == 0:
            continue
        iou = box_iou(dxy[pd_], darea[pd_], gxy[pg], garea[pg], flag)
        keep = iou > 0
        yield pd_[keep], pg[keep], iou[keep]


def confusion_matrix(
    gt: Boxes,
    dets: Boxes,
    n_classes: int,
    image_mask: np.ndarray | None = None,
    iou_thresh: float = 0.5,
    score_thresh: float = 0.25,
) -> np.ndarray:
    """Dataset confusion matrix with a background row and column, ``int64[K+1, K+1]``.

    Rows are the true class, columns the predicted class; index ``K`` is background:
    ``M[t, K]`` counts ground-truth boxes of class ``t`` that no prediction found,
    ``M[K, p]`` predictions of class ``p`` on no box. Per image, predictions with
    ``score >= score_thresh`` are matched to non-crowd boxes one to one, *whatever the
    class*, greedily by descending IoU (>= ``iou_thresh``; ties by higher score, then
    file order). An unmatched prediction inside a crowd box (crowd IoU >= threshold)
    is left out rather than counted as background.
    """
    k = int(n_classes)
    e = confusion_entries(gt, dets, k, image_mask, iou_thresh, score_thresh)
    m = np.zeros((k + 1, k + 1), dtype=np.int64)
    np.add.at(m, (e.true_cls, e.pred_cls), 1)
    return m


@dataclass(frozen=True, eq=False)
class ConfusionEntries:
    """One row per counted cell entry of :func:`confusion_matrix` (same rules).

    ``true_cls``/``pred_cls`` use ``K`` for background; ``gt_row``/``pred_row`` are the
    rows in the ground-truth and prediction tables (-1 on the background side);
    ``image`` is the image index.
    """

    image: np.ndarray
    true_cls: np.ndarray
    pred_cls: np.ndarray
    gt_row: np.ndarray
    pred_row: np.ndarray


def confusion_entries(
    gt: Boxes,
    dets: Boxes,
    n_classes: int,
    image_mask: np.ndarray | None = None,
    iou_thresh: float = 0.5,
    score_thresh: float = 0.25,
) -> ConfusionEntries:
    """The entries :func:`confusion_matrix` counts, with their image and rows."""
    k = int(n_classes)
    n_img = gt.n_images
    mask = np.ones(n_img, bool) if image_mask is None else np.asarray(image_mask, bool)
    drows = np.flatnonzero(
        dets.alive
        & (dets.cls >= 0)
        & (dets.cls < k)
        & mask[dets.image]
        & (dets.score >= score_thresh)
    )
    gsel = gt.alive & (gt.cls >= 0) & (gt.cls < k) & mask[gt.image]
    grows = np.flatnonzero(gsel & ~gt.iscrowd)
    crows = np.flatnonzero(gsel & gt.iscrowd)
    dimg, dxy, dcls, dsc = dets.image[drows], dets.xyxy[drows], dets.cls[drows], dets.score[drows]
    darea = box_areas(dxy, dets.wh[drows])
    gimg, gxy, gcls = gt.image[grows], gt.xyxy[grows], gt.cls[grows]
    garea = box_areas(gxy, gt.wh[grows])
    parts = [(a, b, v) for a, b, v in _image_pairs(dimg, dxy, darea, gimg, gxy, garea, False)]
    if parts:
        pd_, pg, piou = (np.concatenate(x) for x in zip(*parts, strict=True))
    else:
        pd_, pg, piou = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    keep = piou >= iou_thresh
    pd_, pg, piou = pd_[keep], pg[keep], piou[keep]
    # greedy by (iou desc, score desc, det order, gt order) == iterated mutual best pairs
    order = np.lexsort((pg, pd_, -dsc[pd_], -piou))
    pd_, pg = pd_[order], pg[order]
    d_match = np.full(drows.shape[0], -1, dtype=np.int64)
    g_match = np.full(grows.shape[0], -1, dtype=np.int64)
    rank = np.arange(pd_.shape[0])
    while rank.size:
        big = np.iinfo(np.int64).max
        best_d = np.full(drows.shape[0], big, dtype=np.int64)
        best_g = np.full(grows.shape[0], big, dtype=np.int64)
        np.minimum.at(best_d, pd_, rank)
        np.minimum.at(best_g, pg, rank)
        win = (best_d[pd_] == rank) & (best_g[pg] == rank)
        d_match[pd_[win]] = pg[win]
        g_match[pg[win]] = pd_[win]
        alive = (d_match[pd_] < 0) & (g_match[pg] < 0)
        pd_, pg, rank = pd_[alive], pg[alive], rank[alive]
    hit = d_match >= 0
    missed = g_match < 0
    lone = ~hit
    if crows.size and lone.any():
        cxy = gt.xyxy[crows]
        in_crowd = np.zeros(drows.shape[0], bool)
        for qd, _, qi in _image_pairs(dimg, dxy, darea, gt.image[crows], cxy, box_areas(cxy),
                                      True):
            in_crowd[qd[qi >= iou_thresh]] = True
        lone &= ~in_crowd
    n_hit, n_miss, n_lone = (int(np.count_nonzero(x)) for x in (hit, missed, lone))
    return ConfusionEntries(
        image=np.concatenate((dimg[hit], gimg[missed], dimg[lone])),
        true_cls=np.concatenate((gcls[d_match[hit]], gcls[missed], np.full(n_lone, k))),
        pred_cls=np.concatenate((dcls[hit], np.full(n_miss, k), dcls[lone])),
        gt_row=np.concatenate((grows[d_match[hit]], grows[missed],
                               np.full(n_lone, -1))).astype(np.int64),
        pred_row=np.concatenate((drows[hit], np.full(n_miss, -1),
                                 drows[lone])).astype(np.int64),
    )
