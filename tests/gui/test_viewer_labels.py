"""The label layout (detview/gui/box_labels.py) against a plain quadratic greedy: the
bitmap that rejects candidates in bulk must never change the result."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detview.gui.box_labels import place_labels


def _oracle(xs, ws, cand, sel, h, taken):  # type: ignore[no-untyped-def]
    placed = [tuple(t) for t in ([] if taken is None else taken.tolist())]
    placed = [(x, y, x + w, y + hh) for x, y, w, hh in placed]
    chips, ks, forced = [], [], []
    for k in range(len(xs)):
        x, w = float(xs[k]), float(ws[k])
        spot = None
        for y in cand[k]:
            if np.isnan(y):
                continue
            if not any(x < q[2] and q[0] < x + w and y < q[3] and q[1] < y + h
                       for q in placed):
                spot = float(y)
                break
        f = bool(sel[k])
        if spot is None:
            if not sel[k]:
                continue
            spot = float(next(y for y in cand[k] if not np.isnan(y)))
        placed.append((x, spot, x + w, spot + h))
        chips.append((x, spot, w, h))
        ks.append(k)
        forced.append(f)
    return chips, ks, forced


@pytest.mark.parametrize("n,span,seed", [(50, 300, 0), (1000, 600, 1), (3000, 900, 2),
                                         (400, 40000, 3)])
def test_layout_equals_the_quadratic_greedy(n: int, span: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    xs = rng.uniform(0, span, n)
    ws = rng.uniform(20, 120, n)
    top = rng.uniform(-20, span, n)
    bottom = top + rng.uniform(3, 200, n)
    h = 17.0
    cand = np.stack([top - h, top, bottom], axis=1)
    cand[top - h < 0, 0] = np.nan
    sel = rng.random(n) < 0.01
    taken = np.column_stack([rng.uniform(0, span, 20), rng.uniform(0, span, 20),
                             np.full(20, 60.0), np.full(20, h)])
    for t in (None, taken):
        got = place_labels(xs, ws, cand, sel, h, t)
        want = _oracle(xs, ws, cand, sel, h, t)
        assert got[1] == want[1] and got[2] == want[2]
        np.testing.assert_array_equal(np.array(got[0]).reshape(-1, 4),
                                      np.array(want[0]).reshape(-1, 4))
    assert 0 < len(got[1]) <= n and (span > 10_000 or len(got[1]) < n)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 120), st.integers(0, 10_000), st.floats(1.0, 3000.0))
def test_layout_equals_the_quadratic_greedy_anywhere(n: int, seed: int, span: float) -> None:
    rng = np.random.default_rng(seed)
    xs = np.round(rng.uniform(-span, span, n), 1)  # ties and touching edges
    ws = np.round(rng.uniform(1, 90, n), 1)
    top = np.round(rng.uniform(-span, span, n), 1)
    cand = np.stack([top - 17, top, top + np.round(rng.uniform(0, 60, n), 1)], axis=1)
    cand[rng.random((n, 3)) < 0.2] = np.nan
    cand[:, 0] = np.where(np.isnan(cand).all(axis=1), top, cand[:, 0])
    sel = rng.random(n) < 0.1
    got = place_labels(xs, ws, cand, sel, 17.0)
    want = _oracle(xs, ws, cand, sel, 17.0, None)
    assert got[1] == want[1] and got[2] == want[2]
    np.testing.assert_array_equal(np.array(got[0]).reshape(-1, 4), np.array(want[0]).reshape(-1, 4))
