"""Benchmark: live COCO numbers after a one-image edit (what the GUI calls).

Loads a :mod:`cocogen` data set the way the app does (``detview.io.load_dataset``),
builds ``LiveCOCO.for_run`` (the analysis panel's evaluator), then applies edits
through ``Dataset.apply`` and times ``LiveCOCO.update`` (re-match the image,
re-accumulate the blocks of its classes, the 12 numbers, per-class table, the image's
COCO AP). Two series: boxes drawn uniformly (the user edits anything), and boxes of
the largest class only (the worst case: its class has a fifth of all detections).
Each edit is a delete, a 3-pixel move or a relabel, in turn.

Usage::

    python benchmarks/bench_live_coco.py [--sizes 5000] [--large] [--xl] [--edits 200]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_coco_eval import machine  # noqa: E402
from cocogen import write_coco  # noqa: E402


def edits(n_edits: int, largest: bool, ds, live, rng) -> np.ndarray:  # type: ignore[no-untyped-def]
    from detview.core.edits import DeleteBoxes, MoveBoxes, RelabelBoxes

    k = len(ds.classes)
    times = []
    for step in range(n_edits):
        g = ds.gt
        cand = np.flatnonzero(g.alive & ~g.iscrowd)
        if largest:
            cand = cand[g.cls[cand] == 0]
        r = int(rng.choice(cand))
        i, bid, c = int(g.image[r]), int(g.box_id[r]), int(g.cls[r])
        kind = step % 3
        if kind == 0:
            e = DeleteBoxes((bid,), (i,))
        elif kind == 1:
            old = tuple(g.xyxy[r].tolist())
            e = MoveBoxes((bid,), (i,), (old,), (tuple(v + 3.0 for v in old),))
        else:
            e = RelabelBoxes((bid,), (i,), (c,), ((c + 1) % k,))
        touched = ds.apply(e)
        t0, c0 = time.perf_counter(), time.process_time()
        live.update(ds, touched)
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return np.array(times) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000")
    ap.add_argument("--large", action="store_true", help="also 50,000 images")
    ap.add_argument("--xl", action="store_true", help="also 118,287 images")
    ap.add_argument("--edits", type=int, default=200)
    ap.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "detview_bench"))
    a, _ = ap.parse_known_args(argv)  # install.sh passes the same options to every bench
    sizes = [int(s) for s in a.sizes.split(",") if s]
    sizes += [50_000] if a.large else []
    sizes += [118_287] if a.xl else []
    from detview.core.analysis import LiveCOCO
    from detview.io.loader import load_dataset

    print(f"machine: {machine()}")
    print(f"\n{'images':>8}{'build s':>9}  {'edits':<16}{'median':>8}{'p95':>8}{'p99':>8}"
          f"{'max':>8}  ms (wall; CPU in brackets)")
    for n in sizes:
        gt, dets = write_coco(Path(a.dir), n)
        ds = load_dataset(None, gt, [("dets", dets)]).dataset
        c0 = time.perf_counter()
        live = LiveCOCO.for_run(ds, "dets")
        build = time.perf_counter() - c0
        rng = np.random.default_rng(1)
        for label, largest in (("any box", False), ("largest class", True)):
            t = edits(a.edits, largest, ds, live, rng)
            w, c = t[:, 0], t[:, 1]
            q = [np.median, lambda x: np.percentile(x, 95), lambda x: np.percentile(x, 99), np.max]
            cells = "".join(f"{f(w):>6.1f}({f(c):.0f})" for f in q)
            print(f"{n:>8}{build:>9.1f}  {label:<16}{cells}", flush=True)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{'':>8}peak resident memory so far {peak:.0f} MiB", flush=True)
        del live, ds
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
