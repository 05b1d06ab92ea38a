"""Label placement for :class:`~detview.gui.box_item.BoxesItem`: which box label goes
where at the current zoom, and which is left out because it would cover another.

Greedy in rank order (the caller ranks: selected, partners, errors, larger boxes),
exact, and about linear in the number of labels: the placed labels are kept in a grid
of buckets for the exact overlap test, and in a coarse bitmap of the cell centres they
cover; before each batch of labels one summed-area table of that bitmap rejects at
once every candidate that covers a placed label's cell centre (most of them, in a
crowded image), so only the others are tested one by one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["place_labels"]

_CELL_W, _CELL_H = 96.0, 18.0  # px: the buckets of the exact test
_BULK_CELL = 4.0  # px: the bitmap of covered cell centres
_BULK_MAX_CELLS = 2_000_000


def place_labels(xs: np.ndarray, ws: np.ndarray, cand: np.ndarray, sel: np.ndarray, h: float,
                 taken: np.ndarray | None = None
                 ) -> tuple[list[tuple[float, float, float, float]], list[int], list[bool]]:
    """Place labels of height ``h`` in rank order: label ``k`` (left ``xs[k]``, width
    ``ws[k]``) takes the first of its candidate tops ``cand[k]`` (NaN: none) where it
    covers no label placed before it, nor one of ``taken`` (x, y, w, h: placed by a
    layer below); a selected label (``sel[k]``) is placed at its first candidate
    anyway. Returns the chips (x, y, w, h), their ``k`` and whether each was forced
    (selected).

    Exact, and about linear: the placed labels are kept in a grid of buckets for
    the exact test, and in a coarse bitmap of the cell centres they cover; before
    each batch of labels, one summed-area table of that bitmap rejects at once
    every candidate that covers a placed label's cell centre (most of them, in a
    crowded image), so only the others are tested one by one."""
    valid = ~np.isnan(cand)
    c = _BULK_CELL
    gx0 = float(xs.min())
    gy0 = float(np.nanmin(cand))
    span_x = float((xs + ws).max()) - gx0 + 2 * c
    span_y = float(np.nanmax(cand)) + h - gy0 + 2 * c
    if span_x * span_y / (c * c) > _BULK_MAX_CELLS:  # zoomed far in: coarser cells
        c = float(np.sqrt(span_x * span_y / _BULK_MAX_CELLS))
    nx, ny = int(span_x // c) + 2, int(span_y // c) + 2
    mark = np.zeros((ny, nx), dtype=np.int32)
    # the cells whose centres lie inside each candidate: [i0, i1) x [j0, j1)
    ci0 = np.clip(np.ceil((xs - gx0) / c - 0.5), 0, nx).astype(np.int64)
    ci1 = np.clip(np.ceil((xs + ws - gx0) / c - 0.5), 0, nx).astype(np.int64)
    cyy = np.where(valid, cand, gy0)
    cj0 = np.clip(np.ceil((cyy - gy0) / c - 0.5), 0, ny).astype(np.int64)
    cj1 = np.clip(np.ceil((cyy + h - gy0) / c - 0.5), 0, ny).astype(np.int64)
    grid: dict[tuple[int, int], list[tuple[float, float, float, float]]] = {}
    bw, bh = _CELL_W, _CELL_H
    seeded = False
    for tx, ty, tw, th in ([] if taken is None else taken.tolist()):  # placed already
        chip = (tx, ty, tx + tw, ty + th)
        for i in range(int(tx // bw), int((tx + tw) // bw) + 1):
            for j in range(int(ty // bh), int((ty + th) // bh) + 1):
                grid.setdefault((i, j), []).append(chip)
        i0, i1 = (int(np.clip(np.ceil((v - gx0) / c - 0.5), 0, nx)) for v in (tx, tx + tw))
        j0, j1 = (int(np.clip(np.ceil((v - gy0) / c - 0.5), 0, ny)) for v in (ty, ty + th))
        mark[j0:j1, i0:i1] = 1
        seeded = True
    xl, wl, sl = xs.tolist(), ws.tolist(), sel.tolist()
    candl, validl = cand.tolist(), valid.tolist()
    i0l, i1l = ci0.tolist(), ci1.tolist()
    j0l, j1l = cj0.tolist(), cj1.tolist()
    chips: list[tuple[float, float, float, float]] = []
    placed: list[int] = []
    forced: list[bool] = []
    sat = np.zeros((ny + 1, nx + 1), dtype=np.int32)
    start, size, m = 0, 16, len(xl)
    while start < m:
        stop = min(m, start + size)
        size = min(size * 2, 256)
        if placed or seeded:
            np.cumsum(np.cumsum(mark, axis=0), axis=1, out=sat[1:, 1:])
            a0, a1 = ci0[start:stop, None], ci1[start:stop, None]
            b0, b1 = cj0[start:stop], cj1[start:stop]
            covered = (sat[b1, a1] - sat[b0, a1] - sat[b1, a0] + sat[b0, a0]) > 0
            blocked = covered.tolist()
        else:
            blocked = [[False, False, False]] * (stop - start)
        for k in range(start, stop):
            x, cwid = xl[k], wl[k]
            bx = x + cwid
            spot = -1
            for q in range(3):
                if not validl[k][q] or blocked[k - start][q]:
                    continue
                ay = candl[k][q]
                by = ay + h
                free = True
                for i in range(int(x // bw), int(bx // bw) + 1):
                    for j in range(int(ay // bh), int(by // bh) + 1):
                        for qx, qy, qx2, qy2 in grid.get((i, j), ()):
                            if x < qx2 and qx < bx and ay < qy2 and qy < by:
                                free = False
                                break
                        if not free:
                            break
                    if not free:
                        break
                if free:
                    spot = q
                    break
            if spot < 0:
                if not sl[k]:
                    continue
                spot = next(q for q in range(3) if validl[k][q])
                is_forced = True
            else:
                is_forced = bool(sl[k])
            y = candl[k][spot]
            chip = (x, y, bx, y + h)
            for i in range(int(x // bw), int(bx // bw) + 1):
                for j in range(int(y // bh), int((y + h) // bh) + 1):
                    grid.setdefault((i, j), []).append(chip)
            mark[j0l[k][spot]:j1l[k][spot], i0l[k]:i1l[k]] = 1
            chips.append((x, y, cwid, h))
            placed.append(k)
            forced.append(is_forced)
        start = stop
    return chips, placed, forced
