"""Query-bar speed: compile + evaluate expressions over a COCO-train-sized image table.

    .venv/bin/python benchmarks/bench_query.py [--images 118287]

Builds the per-image table the image list shows (118,287 rows, ~860k ground-truth and
~2.4M kept predictions over 80 classes, seeded) and times what the query bar does on
each keystroke: ``compile_query(text, table).mask(table)`` (median of 15 runs, per-class
counts warm as in a session). For the plain numeric query it also times pandas'
``DataFrame.query`` on the same frame, as a reference ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from detview.core.query import ClassCounts, QueryTable, compile_query
from detview.core.tables import Boxes, Images

QUERIES = [
    "mean_iou < 0.5 and fp >= 2",
    "label_quality < 0.3",
    "err_cls > 0",
    'class == "person"',
    "fp[person] > 3",
    'tag == "review"',
    "not reviewed and not deleted",
    "0.2 < mean_iou <= 0.5 or (fp in [1, 2, 3] and n_gt > 5)",
    'file ~ "0000"',
    'file ~ "*7.jpg"',
    'class in ["dog", "cat"] and fp[dog] + fp[cat] >= 2',
]


def build(n: int, seed: int = 0) -> tuple[pd.DataFrame, QueryTable]:
    rng = np.random.default_rng(seed)
    k = 80
    n_gt = rng.poisson(7.3, n)
    n_pr = rng.poisson(20, n)
    gi = np.repeat(np.arange(n), n_gt)
    pi = np.repeat(np.arange(n), n_pr)
    zeros_g = np.zeros((gi.size, 4))
    zeros_p = np.zeros((pi.size, 4))
    gt = Boxes.build(n, gi, rng.integers(0, k, gi.size), zeros_g)
    preds = Boxes.build(n, pi, rng.integers(0, k, pi.size), zeros_p, score=rng.random(pi.size))
    outcome = np.where(rng.random(pi.size) < 0.6, 1, 0).astype(np.int8)
    matched = rng.random(gi.size) < 0.7
    names = [f"c{i}" for i in range(k)]
    names[0], names[15], names[16] = "person", "cat", "dog"
    df = pd.DataFrame({
        "file_name": [f"{i:012d}.jpg" for i in range(n)],
        "n_gt": n_gt, "n_pred": rng.integers(0, 30, n), "tp": rng.integers(0, 10, n),
        "fp": rng.integers(0, 10, n), "fn": rng.integers(0, 10, n),
        "mean_iou": rng.random(n), "label_quality": rng.random(n),
        "err_cls": rng.integers(0, 3, n), "deleted": np.zeros(n, bool),
    })
    images = Images(np.arange(n), list(df["file_name"]), np.full(n, 640), np.full(n, 480))
    for i in rng.choice(n, n // 100, replace=False).tolist():
        images.tags[i] = frozenset({"review"})
    counts = ClassCounts.from_boxes(gt, k, preds, score_threshold=0.0,
                                    outcomes=(outcome, matched))
    t0 = time.perf_counter()
    table = QueryTable.from_frame(df, images=images, class_names=names, counts=counts)
    print(f"table of {n:,} rows built in {(time.perf_counter() - t0) * 1e3:.1f} ms "
          f"({gi.size:,} gt, {pi.size:,} predictions, {k} classes)")
    return df, table


def median_ms(fn, runs: int = 15) -> float:
    fn()  # warm: per-class columns and lower-case file names are cached per table
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=118_287)
    a = ap.parse_args()
    df, table = build(a.images)
    print(f"{'query':<58} {'rows':>8} {'ms':>8}")
    for q in QUERIES:
        m = compile_query(q, table).mask(table)
        ms = median_ms(lambda q=q: compile_query(q, table).mask(table))
        print(f"{q:<58} {int(m.sum()):>8} {ms:>8.2f}")
    q = "mean_iou < 0.5 and fp >= 2"
    ours = median_ms(lambda: compile_query(q, table).mask(table))
    ref = median_ms(lambda: df.query(q))  # trusted benchmark text, never user text
    print(f"pandas DataFrame.query({q!r}): {ref:.2f} ms; detview {ours:.2f} ms "
          f"({ref / ours:.1f}x)")


if __name__ == "__main__":
    main()
