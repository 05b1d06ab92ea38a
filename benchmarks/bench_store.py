"""Benchmark: the experiment store with 50 runs x 5,000 images.

    .venv/bin/python benchmarks/bench_store.py [--runs 50] [--images 5000] [--dir DIR]

Fills a store with seeded runs (the per-image table of each: n_gt, n_pred, tp, fp, fn,
mean_iou, ap, ap50, label_quality; 80 classes of per-class AP) through
``Store.add_run``, the write ``detview runs add`` does after its evaluation, and writes
the same tables as the CSV files ``detview eval`` makes (one per run, plus a summary
with each run's AP). Then it asks "the 100 lowest-mean-IoU images of the best run":

* in process, ``Store.worst("best", "mean_iou", 100)`` on an open store (what the Runs
  window calls), median and max over 30 queries, and the same for named runs;
* as whole processes: ``detview runs worst --metric mean_iou -n 100 --run best --csv``
  against the peer a user has without the store (Python + pandas reading the summary
  CSV, picking the best run, reading its per-image CSV, ``nsmallest``), wall time and
  peak RSS of each process; both answers are compared.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from detview.io.store import Store  # noqa: E402
from tests.io.store_helpers import synthetic_dataset, synthetic_run  # noqa: E402

PEER = """
import sys, pandas as pd
folder = sys.argv[1]
summary = pd.read_csv(folder + "/summary.csv")
best = summary.loc[summary["AP"].idxmax(), "name"]
t = pd.read_csv(f"{folder}/{best}.csv")
t = t[~t["deleted"]]
t.nsmallest(100, "mean_iou", keep="first").to_csv(sys.stdout, index=False)
"""

WRAP = """
import resource, subprocess, sys, time
t0 = time.perf_counter()
cp = subprocess.run(sys.argv[1:], capture_output=True)
dt = time.perf_counter() - t0
sys.stderr.buffer.write(cp.stderr)
sys.stdout.buffer.write(cp.stdout)
print(f"\\nWRAP {cp.returncode} {dt:.6f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
"""


def whole_process(cmd: list[str], repeat: int = 5) -> tuple[float, float, str]:
    """Median wall seconds, peak RSS MiB and the stdout of ``cmd`` run ``repeat`` times."""
    times, rss, out = [], 0.0, ""
    for _ in range(repeat):
        cp = subprocess.run([sys.executable, "-c", WRAP, *cmd], capture_output=True, text=True,
                            check=False)
        body, _, tail = cp.stdout.rpartition("\nWRAP ")
        rc, dt, kb = tail.split()
        if rc != "0":
            raise SystemExit(f"{cmd[:3]} failed: {cp.stderr.strip()[-400:]}")
        times.append(float(dt))
        rss = max(rss, int(kb) / 1024)
        out = body
    return statistics.median(times), rss, out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--dir", type=Path, default=None)
    a = ap.parse_args()
    folder = a.dir or Path(tempfile.mkdtemp(prefix="detview-bench-store-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "runs.sqlite"
    for p in folder.glob("runs.sqlite*"):
        p.unlink()
    csv_dir = folder / "csv"
    csv_dir.mkdir(exist_ok=True)

    ds = synthetic_dataset(a.images)
    recs = [synthetic_run(f"run{k:02d}", ds, seed=k) for k in range(a.runs)]
    t0 = time.perf_counter()
    with Store(path) as st:
        for r in recs:
            st.add_run(r)
    build = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in folder.glob("runs.sqlite*")) / 2**20
    summary = []
    for r in recs:
        t = r.images.copy()
        t.insert(0, "file_name", ds.file_names)
        t.to_csv(csv_dir / f"{r.name}.csv", index=False)
        summary.append({"name": r.name, "AP": r.summary["AP"]})
    pd.DataFrame(summary).to_csv(csv_dir / "summary.csv", index=False)
    print(f"store: {a.runs} runs x {a.images} images = {a.runs * a.images:,} per-image rows; "
          f"written in {build:.2f} s ({1000 * build / a.runs:.0f} ms per run), "
          f"{size:.1f} MiB on disk")

    with Store(path) as st:
        best = st.resolve("best")
        q = []
        for _ in range(30):
            t0 = time.perf_counter()
            res = st.worst("best", "mean_iou", 100)
            q.append(time.perf_counter() - t0)
        named = []
        for k in range(30):
            t0 = time.perf_counter()
            st.worst(f"run{k % a.runs:02d}", ("mean_iou", "fp", "ap")[k % 3], 100)
            named.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with Store(path) as cold:
            cold.worst("best", "mean_iou", 100)
        cold_s = time.perf_counter() - t0
    print(f"in process, open store: worst('best', mean_iou, 100) median "
          f"{1000 * statistics.median(q):.1f} ms, max {1000 * max(q):.1f} ms; named runs and "
          f"other metrics median {1000 * statistics.median(named):.1f} ms, max "
          f"{1000 * max(named):.1f} ms; opening the store + query {1000 * cold_s:.1f} ms")

    dv = [sys.executable, "-m", "detview", "runs", "worst", "--metric", "mean_iou", "-n", "100",
          "--run", "best", "--store", str(path), "--csv"]
    peer = [sys.executable, "-c", PEER, str(csv_dir)]
    t_dv, rss_dv, out_dv = whole_process(dv)
    t_pe, rss_pe, out_pe = whole_process(peer)
    files_dv = pd.read_csv(io.StringIO(out_dv))["file_name"].tolist()
    files_pe = pd.read_csv(io.StringIO(out_pe))["file_name"].tolist()
    same = files_dv == files_pe == res["file_name"].tolist()
    print(f"whole process, '100 lowest-mean-IoU images of the best run' ({best}), median of 5:")
    print(f"  {'tool':<44}{'wall s':>8}{'x detview':>11}{'peak MiB':>10}")
    print(f"  {'detview runs worst (store)':<44}{t_dv:>8.3f}{1.0:>11.2f}{rss_dv:>10.0f}")
    print(f"  {'python + pandas over the eval CSVs (peer)':<44}{t_pe:>8.3f}"
          f"{t_pe / t_dv:>11.2f}{rss_pe:>10.0f}")
    print(f"  same 100 images from both: {same}")
    t_ls, rss_ls, _ = whole_process([sys.executable, "-m", "detview", "runs", "list", "--sort",
                                     "AP", "--store", str(path)])
    print(f"  detview runs list --sort AP: {t_ls:.3f} s, {rss_ls:.0f} MiB")
    if not same:
        raise SystemExit("the answers differ")


if __name__ == "__main__":
    main()
