"""How a prediction file's classes map to the ground truth's, and the evidence.

Candidates (``pred_class_map``):

* ``"names"``: by name, through the prediction file's own class names;
* ``"ids"``: the same ids (COCO category ids / YOLO indices as in the ground truth);
* ``"index"``: a 0-based index into the ground-truth classes sorted by their id (YOLO
  indices beside COCO's sparse 1..90 ids);
* ``"offset:N"``: ground-truth id = prediction id + N (a model trained with ids
  shifted by one: 1-based vs 0-based, or a background class 0);
* ``"permutation"``: each prediction class to the ground-truth class its confident
  boxes overlap most (found from the boxes when nothing else fits);
* a dict ``{pred id or name: gt name or gt id}``.

Automatic choice (``None``): every candidate is scored by **agreement**: among the
confident predictions that overlap a ground-truth box (IoU >= 0.5) on their image,
the share whose mapped class is that box's class. Offsets and the permutation are
derived from the same overlaps. Names are preferred when they fit; a shifted or
permuted mapping is chosen only when it agrees clearly better than the plain ones,
and the choice is always reported (:class:`ClassMapChoice`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detview.core.geometry import box_areas, box_iou
from detview.core.matching import overlap_pairs as kernel_pairs
from detview.core.tables import Boxes, Classes

from .errors import InputError
from .model import PredData

__all__ = ["ClassMapChoice", "choose_class_map", "overlap_pairs"]

#: overlaps needed before the boxes can overrule the plain mappings
MIN_PAIRS = 20
_PREF = {"given map": 0, "names": 1, "ids": 2, "index": 3}


@dataclass(frozen=True)
class ClassMapChoice:
    """The class mapping used for one prediction run, and why."""

    method: str  # "names", "ids", "index", "offset:+1", "permutation", "given map"
    mapping: dict[Any, str]  # prediction class (id or name) -> ground-truth class name
    agreement: float | None  # share of overlapping confident predictions that agree
    evidence: int  # overlapping confident predictions the agreement is measured on
    alternatives: tuple[tuple[str, float | None], ...] = ()
    explanation: str = ""
    automatic: bool = True
    unmapped: tuple[Any, ...] = field(default=())


def _lookup(keys: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Position of each key in ``table`` (unique values), -1 when absent."""
    keys = np.asarray(keys, dtype=np.int64)
    out = np.full(keys.shape[0], -1, dtype=np.int64)
    if table.shape[0] == 0 or keys.shape[0] == 0:
        return out
    order = np.argsort(table, kind="stable")
    st = table[order]
    pos = np.clip(np.searchsorted(st, keys), 0, st.shape[0] - 1)
    return np.where(st[pos] == keys, order[pos], -1)


def overlap_pairs(img: np.ndarray, xyxy: np.ndarray, score: np.ndarray, gt: Boxes,
                  max_preds: int = 5_000) -> tuple[np.ndarray, np.ndarray]:
    """(prediction row, ground-truth class) for confident predictions whose best
    overlapping ground-truth box on their image has IoU >= 0.5 (at most ``max_preds``
    of the most confident predictions are looked at: evidence, not evaluation)."""
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    ok = (img >= 0) & np.isfinite(xyxy).all(axis=1) & np.isfinite(score)
    rows = np.flatnonzero(ok)
    if rows.shape[0] == 0 or len(gt) == 0:
        return empty
    s = score[rows]
    if rows.shape[0] > 200:  # the confident half: low-score tails are mostly noise
        rows = rows[s >= float(np.quantile(s, 0.5))]
    if rows.shape[0] > max_preds:
        rows = rows[np.argsort(-score[rows], kind="stable")[:max_preds]]
    # overlapping (prediction, ground-truth box of its image) pairs, in bounded chunks
    # (the engine's matching kernel: no dense matrix for an image with many boxes)
    g_alive = np.flatnonzero(gt.alive)
    px, gx = xyxy[rows], gt.xyxy[g_alive]
    pa, ga = box_areas(px), box_areas(gx)
    best = np.zeros(rows.shape[0])
    arg = np.full(rows.shape[0], -1, dtype=np.int64)
    for pd_, pg, _ in kernel_pairs(img[rows], px, gt.image[g_alive], gx):
        if pd_.size == 0:
            continue
        v = box_iou(px[pd_], pa[pd_], gx[pg], ga[pg])
        o = np.lexsort((pg, -v, pd_))  # per prediction: best IoU, the first box on ties
        head = o[np.concatenate(([True], pd_[o][1:] != pd_[o][:-1]))]
        d, val, g = pd_[head], v[head], pg[head]
        better = (val > best[d]) | ((val == best[d]) & (val > 0) & ((arg[d] < 0) | (g < arg[d])))
        best[d[better]] = val[better]
        arg[d[better]] = g[better]
    hit = best >= 0.5
    return rows[hit], gt.cls[g_alive[arg[hit]]].astype(np.int64)


def _keys(pd: PredData) -> tuple[np.ndarray, list[Any]]:
    """Per prediction a small int code of its class, and the class of each code."""
    if pd.cls_names is not None:
        u, inv = np.unique(np.asarray(pd.cls_names, dtype=object).astype(str),
                           return_inverse=True)
        return inv.astype(np.int64), [str(x) for x in u.tolist()]
    assert pd.cls_ids is not None
    u, inv = np.unique(pd.cls_ids, return_inverse=True)
    return inv.astype(np.int64), [int(x) for x in u.tolist()]


def _int_key(k: Any) -> int:
    try:
        return int(k)
    except (TypeError, ValueError, OverflowError):
        raise InputError("pred_class_map", "", f"key {k!r} is not a class id") from None


def _map_value(v: Any, classes: Classes, names: dict[str, int]) -> int:
    if isinstance(v, str) and v in names:
        return names[v]
    try:
        sid = int(v)
    except (TypeError, ValueError, OverflowError):
        return -1
    return classes.index_of_source_id().get(sid, -1)


def _candidates(pd: PredData, classes: Classes, mode: Any, codes: list[Any],
                ) -> list[tuple[str, np.ndarray]]:
    """(name, gt class index per code) of every applicable plain mapping."""
    names = classes.index_of_name()
    lower = {n.lower(): i for n, i in names.items()}
    src = pd.source
    out: list[tuple[str, np.ndarray]] = []
    if isinstance(mode, dict):
        if pd.cls_names is not None:
            m = [_map_value(mode.get(c, c), classes, names) for c in codes]
        else:
            table = {_int_key(k): v for k, v in mode.items()}
            m = [_map_value(table[c], classes, names) if c in table else -1 for c in codes]
        return [("given map", np.asarray(m, dtype=np.int64))]
    if pd.cls_names is not None:
        m = [names.get(c, lower.get(c.lower(), -1)) for c in codes]
        return [("names", np.asarray(m, dtype=np.int64))]
    ids = np.asarray(codes, dtype=np.int64)
    if mode in (None, "names"):
        if pd.vocab:
            m = [names.get(pd.vocab.get(c, "\0"), lower.get(str(pd.vocab.get(c, "\0")).lower(),
                                                            -1)) for c in codes]
            out.append(("names", np.asarray(m, dtype=np.int64)))
        elif mode == "names":
            raise InputError(src, "", "pred_class_map='names' but the prediction file has no "
                             "class names")
    if mode in (None, "ids"):
        out.append(("ids", _lookup(ids, classes.source_ids)))
    if mode in (None, "index"):
        by_sorted = np.argsort(classes.source_ids, kind="stable")
        ok = (ids >= 0) & (ids < len(classes))
        idx = by_sorted[np.clip(ids, 0, max(len(classes) - 1, 0))] if len(classes) else ids * 0
        out.append(("index", np.where(ok, idx, -1)))
    if isinstance(mode, str) and mode.startswith("offset:"):
        try:
            k = int(mode.split(":", 1)[1])
        except ValueError:
            raise InputError(src, "", f"bad pred_class_map {mode!r}: use offset:+1, offset:-1, "
                             "...") from None
        out.append((f"offset:{k:+d}", _lookup(ids + k, classes.source_ids)))
    if mode == "permutation":
        out.append(("permutation", np.full(len(codes), -1, dtype=np.int64)))
    if not out:
        raise InputError(src, "", f"unknown pred_class_map {mode!r}: use 'ids', 'index', "
                         "'names', 'offset:N', 'permutation', a dict or None (automatic)")
    return out


def _agreement(m: np.ndarray, pair_code: np.ndarray, pair_cls: np.ndarray) -> float | None:
    if pair_code.shape[0] == 0:
        return None
    return float(np.mean(m[pair_code] == pair_cls))


def _permutation(table: np.ndarray) -> np.ndarray:
    """Greedy one-to-one assignment code -> class from a contingency table."""
    n_codes, n_cls = table.shape
    out = np.full(n_codes, -1, dtype=np.int64)
    used_c: set[int] = set()
    order = np.argsort(-table, axis=None, kind="stable")
    for flat in order.tolist():
        c, g = divmod(int(flat), n_cls)
        if table[c, g] <= 0:
            break
        if out[c] >= 0 or g in used_c:
            continue
        out[c] = g
        used_c.add(g)
    return out


def choose_class_map(pd: PredData, img: np.ndarray, gt: Boxes, classes: Classes,
                     mode: Any = None) -> tuple[np.ndarray, ClassMapChoice]:
    """Ground-truth class index per prediction (-1: no class) and the choice made."""
    n = len(pd)
    codes, code_keys = _keys(pd)
    if mode == "auto":
        mode = None
    cands = _candidates(pd, classes, mode, code_keys)
    pr, pc = overlap_pairs(img, pd.xyxy, pd.score, gt) if n else (np.zeros(0, np.int64),) * 2
    pair_code = codes[pr]
    table = np.zeros((len(code_keys), max(len(classes), 1)), dtype=np.int64)
    if pr.shape[0]:
        np.add.at(table, (pair_code, pc), 1)
    derived: list[tuple[str, np.ndarray]] = []
    if pd.cls_names is None and pr.shape[0] and (mode is None or mode == "permutation"):
        ids = np.asarray(code_keys, dtype=np.int64)
        if mode is None:
            # constant offsets between the prediction ids and the ground-truth ids
            diff = classes.source_ids[pc] - ids[pair_code]
            vals, cnt = np.unique(diff, return_counts=True)
            order = np.argsort(-cnt, kind="stable")[:3]
            for k, c in zip(vals[order].tolist(), cnt[order].tolist(), strict=True):
                if k != 0 and c >= max(5, 0.2 * pr.shape[0]):
                    derived.append((f"offset:{int(k):+d}", _lookup(ids + int(k),
                                                                   classes.source_ids)))
    if pr.shape[0] and (mode is None or mode == "permutation"):
        perm = _permutation(table)
        if mode == "permutation":
            cands = [("permutation", perm)]
        else:
            derived.append(("permutation", perm))
    scored = [(name, m, _agreement(m, pair_code, pc)) for name, m in cands]
    dscored = [(name, m, _agreement(m, pair_code, pc)) for name, m in derived]
    enough = pr.shape[0] >= MIN_PAIRS

    def cov(m: np.ndarray) -> float:
        return float((m[codes] >= 0).mean()) if n else 0.0

    def plain_key(t: tuple[str, np.ndarray, float | None]) -> tuple[float, float, int]:
        a = t[2] if t[2] is not None else 0.0
        return (round(a, 3), round(cov(t[1]), 3), -_PREF.get(t[0], 9))

    best = max(scored, key=plain_key) if len(scored) > 1 else scored[0]
    if best[2] is None and len(scored) > 1:
        # no overlaps to judge by: coverage, then preference
        best = max(scored, key=lambda t: (round(cov(t[1]), 3), -_PREF.get(t[0], 9)))
    chosen = best
    if mode is None and enough and dscored:
        top = max(dscored, key=lambda t: (t[2] or 0.0, t[0].startswith("offset")))
        a_plain = best[2] or 0.0
        a_top = top[2] or 0.0
        # a shift/permutation must explain the boxes clearly better than the plain ones
        if a_top >= 0.5 and a_top >= a_plain + 0.25:
            if top[0] == "permutation":
                offs = [t for t in dscored if t[0].startswith("offset")
                        and (t[2] or 0.0) >= a_top - 0.02]
                if offs:
                    top = offs[0]
            chosen = top
    name, m, agree = chosen
    same = [s[0] for s in scored if s[0] != name and np.array_equal(s[1], m)]
    if name == "index" and "ids" in same:
        name = "ids"
    cls_idx = m[codes] if n else np.zeros(0, np.int64)
    mapping = {code_keys[c]: classes.names[int(m[c])] for c in range(len(code_keys))
               if m[c] >= 0}
    unmapped = tuple(code_keys[c] for c in range(len(code_keys)) if m[c] < 0)
    alts = tuple((s[0], s[2]) for s in scored + dscored
                 if s[0] != name and s[0] not in same and s[0] != chosen[0])
    shown = ", ".join(f"{a} {v:.0%}" for a, v in sorted(
        (t for t in alts if t[1] is not None), key=lambda t: -(t[1] or 0.0))[:3])
    if agree is not None:
        expl = (f"classes matched by {name}: {agree:.0%} of the {pr.shape[0]} confident "
                "predictions that overlap a ground-truth box have its class"
                + (f" (other mappings: {shown})" if shown else ""))
    else:
        expl = f"classes matched by {name}" + (" (no overlapping boxes to check it)"
                                              if n and len(gt) else "")
    if name.startswith("offset:"):
        k = int(name.split(":", 1)[1])
        expl += (f"; the prediction ids are shifted: prediction id i is ground-truth id "
                 f"i{k:+d}")
    elif name == "permutation":
        pairs = [f"{k}→{v}" for k, v in list(mapping.items())[:6]]
        expl += f"; the prediction classes are permuted ({', '.join(pairs)}" + (
            ", ...)" if len(mapping) > 6 else ")")
    choice = ClassMapChoice(name, mapping, agree, int(pr.shape[0]), alts, expl,
                            automatic=mode is None, unmapped=unmapped)
    return cls_idx, choice


def describe_unmapped(keys: Sequence[Any], limit: int = 10) -> str:
    """The first classes of ``keys``, ids in numeric order, names in text order."""
    ks = sorted(keys, key=lambda k: (isinstance(k, str), k if not isinstance(k, str) else 0,
                                     str(k)))
    return ", ".join(map(str, ks[:limit])) + (", ..." if len(ks) > limit else "")
