"""Benchmark: loading, as users run it: whole processes, first open and reopen.

For each size (5,000 and 50,000 images; ``--xl`` adds 118,287 = COCO train2017) it
writes a seeded COCO-style data set (:mod:`cocogen`: ground truth with polygon
segmentations and crowd regions, ~7 boxes and ~56 detections per image), then runs one
after the other, each in its own process:

* ``detview coco-eval --gt GT --pred DETS --json``: first run (no column cache: the
  files are parsed and the cache written), then again (the cache is mapped);
* ``detview open --gt GT --pred DETS --screenshot PNG``: the desktop app, first open and
  reopen; ``list`` is when the ranked image list is shown with its first image drawn
  (the app's ``DETVIEW_TIMING`` hook), ``total`` when the analysis panel is done and
  the PNG written;
* ``load``: :func:`detview.io.spec.load_spec` alone in a process (first: parse and
  write the cache; reopen: map it), with the resident memory after loading against the
  bytes of every array the dataset holds.

and reports per process the wall time, CPU time (user + system) and peak resident
memory (the kernel's accounting of that child). ``--before DIR`` runs the same
commands with the detview package of another checkout (e.g. a worktree of the commit
before this work) in the same run, for before/after figures.

Usage::

    python benchmarks/bench_load.py [--xl] [--sizes 5000,50000] [--dir DIR]
        [--tools coco-eval,open,load] [--before DIR] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from bench_coco_eval import machine  # noqa: E402
from cocogen import write_coco  # noqa: E402

XL = 118_287

LOAD_PROBE = """\
import json, sys
import numpy as np
from detview.io.spec import DatasetSpec, load_spec
spec = DatasetSpec.make(gt=sys.argv[1], preds=[(None, sys.argv[2])])
ds = load_spec(spec).dataset
seen = set()
def arrays(x):  # every numpy array the dataset holds (columns, COCO originals, ...)
    if isinstance(x, np.ndarray):
        if id(x) not in seen:
            seen.add(id(x))
            yield x
    elif isinstance(x, dict):
        for v in x.values():
            yield from arrays(v)
    elif isinstance(x, (list, tuple)):
        pass
    elif hasattr(x, "__dict__"):
        yield from arrays(vars(x))
cols = sum(a.nbytes for a in arrays({"gt": ds.gt, "runs": ds.runs, "images": ds.images,
                                      "meta": ds.meta}))
rss = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in open("/proc/self/status")
       if l.startswith(("VmRSS", "RssAnon", "RssFile"))}
print(json.dumps({"columns": cols, "rss": rss, "boxes": len(ds.gt),
                  "preds": sum(len(r) for r in ds.runs.values()), "images": len(ds.images)}))
"""


def run_child(cmd: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """One process: wall, CPU (user + system) and peak RSS of that child alone; the
    ``detview: timing:`` lines of its stderr as seconds since it started."""
    t_wall = time.time()
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # not in the repository: "" on sys.path would import its detview for --before
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=tempfile.gettempdir(),
                                env=env)
        ru = None
        deadline = time.monotonic() + timeout
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                ru = usage
                break
            if time.monotonic() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if ru is None:
        return {"error": f"timed out after {timeout:.0f} s"}
    res: dict[str, Any] = {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime,
                           "peak_mib": ru.ru_maxrss / 1024, "stdout": stdout}
    for line in stderr.splitlines():
        if line.startswith("detview: timing: "):
            event, stamp = line.split()[2:4]
            res[f"t_{event}"] = float(stamp) - t_wall
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        tail = " | ".join(stderr.strip().splitlines()[-3:])
        res["error"] = f"exit {code}: {tail}"
    return res


def clear_cache(gt: Path) -> None:
    for d in (gt.parent / ".detview").glob("cache-*"):
        shutil.rmtree(d, ignore_errors=True)


def commands(tool: str, gt: Path, dets: Path, scratch: Path, quiet: bool = True) -> list[str]:
    py = sys.executable
    if tool == "coco-eval":
        return [py, "-m", "detview", "coco-eval", "--gt", str(gt), "--pred", str(dets),
                "--json", *(["--quiet"] if quiet else [])]
    if tool == "open":
        return [py, "-m", "detview", "open", "--gt", str(gt), "--pred", str(dets),
                "--screenshot", str(scratch / "shot.png")]
    if tool == "load":
        return [py, "-c", LOAD_PROBE, str(gt), str(dets)]
    raise ValueError(tool)


def env_for(src: Path | None) -> dict[str, str]:
    env = {**os.environ, "DETVIEW_TIMING": "1", "QT_QPA_PLATFORM": "offscreen"}
    env["PYTHONPATH"] = str(src or REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def fmt(r: dict[str, Any], key: str, unit: str = "s") -> str:
    if "error" in r:
        return "error"
    v = r.get(key)
    if v is None:
        return "-"
    return f"{v:.0f} MiB" if unit == "MiB" else f"{v:.2f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000,50000")
    ap.add_argument("--xl", action="store_true", help=f"add {XL:,} images (COCO train size)")
    ap.add_argument("--tools", default="coco-eval,open,load")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()) / "detview-bench")
    ap.add_argument("--before", type=Path, help="another checkout's root, run in the same run")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",") if s] + ([XL] if a.xl else [])
    tools = [t for t in a.tools.split(",") if t]
    variants: list[tuple[str, Path | None]] = [("after", None)]
    if a.before is not None:
        variants.insert(0, ("before", a.before.resolve()))
    print(f"machine: {machine()}")
    rows: list[list[str]] = []
    for n in sizes:
        gt, dets = write_coco(a.dir, n, 0)
        print(f"\n{n:,} images: {gt.stat().st_size / 2**20:.0f} MiB ground truth, "
              f"{dets.stat().st_size / 2**20:.0f} MiB detections", flush=True)
        with tempfile.TemporaryDirectory() as scratch:
            for label, src in variants:
                env = env_for(src)
                for tool in tools:
                    passes = ["first", "reopen"]
                    if label == "before":
                        passes = passes[:1]
                    for k, when in enumerate(passes):
                        if k == 0:
                            clear_cache(gt)  # first: parse the files (and write the cache)
                        r = run_child(commands(tool, gt, dets, Path(scratch), src is None), env,
                                      a.timeout)
                        extra = ""
                        if tool == "load" and "error" not in r:
                            info = json.loads(r["stdout"].strip().splitlines()[-1])
                            cols = info["columns"] / 2**20
                            rss = info["rss"]
                            extra = (f"columns {cols:.0f} MiB, RSS after load "
                                     f"{rss['VmRSS'] / 2**20:.0f} MiB "
                                     f"({rss['VmRSS'] / 2**20 / cols:.2f}x; anonymous "
                                     f"{rss.get('RssAnon', 0) / 2**20:.0f}, file-backed "
                                     f"{rss.get('RssFile', 0) / 2**20:.0f})")
                        if tool == "open" and "error" not in r:
                            extra = (f"loaded {fmt(r, 't_loaded')}, list shown "
                                     f"{fmt(r, 't_list')}, analysis {fmt(r, 't_analysis')}")
                        line = [f"{n:,}", label, tool, when, fmt(r, "wall_s"), fmt(r, "cpu_s"),
                                fmt(r, "peak_mib", "MiB"), extra or r.get("error", "")]
                        rows.append(line)
                        print("  " + " | ".join(line), flush=True)
            clear_cache(gt)
    if a.markdown:
        print("\n| images | code | command | pass | wall | CPU | peak RSS | notes |")
        print("|---|---|---|---|---|---|---|---|")
        for line in rows:
            print("| " + " | ".join(line) + " |")


if __name__ == "__main__":
    main()
