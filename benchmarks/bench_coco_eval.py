"""Benchmark: the commands users run, as whole processes, against pycocotools and
faster-coco-eval in the same run.

For each size (1,000 and 5,000 images; ``--large`` adds 50,000, ``--xl`` 118,287 =
COCO train2017) it writes a seeded COCO-style data set (:mod:`cocogen`: ground truth
with polygon segmentations, crowd regions, two-decimal boxes, four-decimal scores),
then runs, one after the other, each in its own process:

* ``detview coco-eval --gt GT --pred DETS --json`` (the 12 numbers, per-class AP), as a
  first open (no column cache: the files are parsed and the cache written), then again
  as a reopen (``detview-reopen``: the columns mapped from that cache);
* ``detview eval --gt GT --pred DETS --out CSV`` (the per-image table);
* ``peer_cocoeval.py pycocotools|faster-coco-eval GT DETS`` (load, evaluate,
  accumulate, summarize: what a user of those tools runs).

and reports per process the wall time, CPU time (user + system) and peak resident
memory (from the kernel's accounting of that child), the ratio to ``detview
coco-eval`` in the same run, and whether all 12 numbers and every per-class AP are
identical to pycocotools (faster-coco-eval where pycocotools is not run).

Usage::

    python benchmarks/bench_coco_eval.py [--large] [--xl] [--sizes 1000,5000]
        [--tools detview,detview-eval,faster-coco-eval,pycocotools] [--dir DIR]
        [--markdown]

pycocotools needs about 14 GB at 50,000 images (and more than this machine has at
118k); peers run up to ``--peer-max-images`` (default 50,000).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cocogen import write_coco  # noqa: E402

STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
TOOLS = ("detview", "detview-reopen", "detview-eval", "faster-coco-eval", "pycocotools")
LABEL = {"detview": "detview coco-eval", "detview-reopen": "detview coco-eval, reopen",
         "detview-eval": "detview eval",
         "faster-coco-eval": "faster-coco-eval", "pycocotools": "pycocotools"}  # fmt: skip
MODULE = {"pycocotools": "pycocotools", "faster-coco-eval": "faster_coco_eval"}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    import numpy

    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load {os.getloadavg()[0]:.1f}"
    return (f"{cpu}, {os.cpu_count()} logical CPUs{mem}{load}; Python "
            f"{platform.python_version()}, numpy {numpy.__version__}")  # fmt: skip


def run_child(cmd: list[str], timeout: float) -> dict[str, Any]:
    """Run one process; wall time, CPU time and peak RSS of that child alone."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=HERE.parent)
    deadline = t0 + timeout
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []
    import selectors

    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ, out_chunks)
    sel.register(proc.stderr, selectors.EVENT_READ, err_chunks)
    while sel.get_map():
        left = deadline - time.perf_counter()
        if left <= 0:
            proc.kill()
            os.wait4(proc.pid, 0)
            return {"error": f"timed out after {timeout:.0f} s"}
        for key, _ in sel.select(timeout=min(left, 1.0)):
            data = os.read(key.fileobj.fileno(), 1 << 16)  # type: ignore[union-attr]
            if data:
                key.data.append(data)
            else:
                sel.unregister(key.fileobj)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    res: dict[str, Any] = {"wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime,
                           "peak_mib": ru.ru_maxrss / 1024, "stdout": b"".join(out_chunks),
                           "stderr": b"".join(err_chunks)}  # fmt: skip
    if proc.returncode != 0:
        tail = res["stderr"].decode(errors="replace").strip().splitlines()[-3:]
        res["error"] = f"exit {proc.returncode}: {' | '.join(tail)}"
    return res


def command(tool: str, gt: Path, dets: Path, scratch: Path) -> list[str]:
    py = sys.executable
    if tool in ("detview", "detview-reopen"):
        return [py, "-m", "detview", "coco-eval", "--gt", str(gt), "--pred", str(dets), "--json"]
    if tool == "detview-eval":
        return [py, "-m", "detview", "eval", "--gt", str(gt), "--pred", str(dets),
                "--out", str(scratch / "eval.csv")]  # fmt: skip
    return [py, str(HERE / "peer_cocoeval.py"), tool, str(gt), str(dets)]


def drop_column_cache(dataset_dir: Path) -> None:
    """Remove detview's column cache of this data set (``.detview/cache-*`` beside it),
    so that the next ``detview`` process parses the files as a first open does;
    ``detview-reopen`` runs right after ``detview`` and maps the cache it wrote."""
    import shutil

    for d in (dataset_dir / ".detview").glob("cache-*"):
        shutil.rmtree(d, ignore_errors=True)


def installed(tool: str) -> bool:
    import importlib.util

    mod = MODULE.get(tool)
    return mod is None or importlib.util.find_spec(mod) is not None


def compare(got: dict[str, Any], ref: dict[str, Any]) -> str:
    """What differs from the reference: the 12 numbers, the per-class APs (exactly)."""
    d12 = max(abs(got[s] - ref[s]) for s in STATS)
    names = set(got["per_class"]) | set(ref["per_class"])
    dpc = 0.0
    missing = 0
    for n in names:
        a = got["per_class"].get(n, {}).get("AP")
        b = ref["per_class"].get(n, {}).get("AP")
        if a is None or b is None:
            missing += 1
            continue
        dpc = max(dpc, abs(a - b))
    if d12 == 0 and dpc == 0 and not missing:
        return f"identical (12 numbers, {len(names)} per-class AP)"
    parts = ["12 numbers " + ("identical" if d12 == 0 else f"differ (max {d12:.1e})"),
             "per-class AP " + ("identical" if dpc == 0 else f"differ (max {dpc:.1e})")]
    if missing:
        parts.append(f"{missing} classes missing")
    return ", ".join(parts)


def bench_size(n: int, tools: list[str], folder: Path, timeout: float,
               peer_max: int) -> dict[str, Any]:
    t = time.perf_counter()
    gt, dets = write_coco(folder, n)
    made = time.perf_counter() - t
    info = {"images": n, "gt_mib": gt.stat().st_size / 2**20,
            "dets_mib": dets.stat().st_size / 2**20, "made_s": made}  # fmt: skip
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for tool in tools:
            if tool in MODULE and n > peer_max:
                results[tool] = {"error": f"not run above {peer_max} images (memory)"}
                continue
            if not installed(tool):
                results[tool] = {"error": "not installed (bash packaging/install.sh bench)"}
                continue
            if tool != "detview-reopen":  # a first open: parse, and write the column cache
                drop_column_cache(gt.parent)
            r = run_child(command(tool, gt, dets, Path(scratch)), timeout)
            if "error" not in r and tool != "detview-eval":
                text = r["stdout"].decode()
                r["numbers"] = json.loads(text[text.index("{"):])
            if tool == "detview-eval" and "error" not in r:
                with open(Path(scratch) / "eval.csv") as f:
                    r["rows"] = sum(1 for _ in f) - 1
            r.pop("stdout", None)
            r.pop("stderr", None)
            results[tool] = r
            print(f"  {LABEL[tool]:<18} " + (r["error"] if "error" in r else
                  f"{r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU, "
                  f"{r['peak_mib']:.0f} MiB"), flush=True)  # fmt: skip
    info["results"] = results
    return info


def report(info: dict[str, Any]) -> list[str]:
    """Text lines; the markdown row(s) for README are returned."""
    res = info["results"]
    base = res.get("detview")
    ref_name = next((t for t in ("pycocotools", "faster-coco-eval")
                     if "numbers" in res.get(t, {})), None)  # fmt: skip
    ref = res[ref_name]["numbers"] if ref_name else None
    n = info["images"]
    print(f"\n== {n} images (ground truth {info['gt_mib']:.0f} MiB with segmentations, "
          f"predictions {info['dets_mib']:.0f} MiB)")
    print(f"{'tool':<20}{'wall s':>9}{'CPU s':>9}{'peak MiB':>10}{'x wall':>8}{'x CPU':>7}"
          "  numbers (x: vs detview coco-eval)")
    rows = []
    for tool, r in res.items():
        if "error" in r:
            print(f"{LABEL[tool]:<20}{r['error']}")
            continue
        ratio = r["wall_s"] / base["wall_s"] if base and "wall_s" in base else float("nan")
        cratio = r["cpu_s"] / base["cpu_s"] if base and "cpu_s" in base else float("nan")
        note = ""
        if "numbers" in r and ref is not None and tool != ref_name:
            note = f"vs {ref_name}: {compare(r['numbers'], ref)}"
        elif tool == ref_name:
            note = "reference"
        elif tool == "detview-eval":
            note = f"{r.get('rows', '?')} rows"
        print(f"{LABEL[tool]:<20}{r['wall_s']:>9.2f}{r['cpu_s']:>9.2f}{r['peak_mib']:>10.0f}"
              f"{ratio:>8.1f}{cratio:>7.1f}  {note}")
        rows.append((tool, r, ratio, cratio, note))
    if base and "numbers" in base:
        st = base["numbers"]
        print(f"detview AP={st['AP']:.4f} AP50={st['AP50']:.4f} AR100={st['AR100']:.4f}")
    md = []
    for tool, r, ratio, cratio, note in rows:
        md.append(f"| {n:,} | {LABEL[tool]} | {r['wall_s']:.2f} | {r['cpu_s']:.2f} | "
                  f"{r['peak_mib']:.0f} | {ratio:.1f}x / {cratio:.1f}x | {note} |")
    return md


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1000,5000", help="comma-separated image counts")
    ap.add_argument("--large", action="store_true", help="also 50,000 images")
    ap.add_argument("--xl", action="store_true", help="also 118,287 images (COCO train2017)")
    ap.add_argument("--tools", default=",".join(TOOLS), help="comma-separated: " + ", ".join(TOOLS))
    ap.add_argument("--peer-max-images", type=int, default=50_000)
    ap.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "detview_bench"))
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--markdown", action="store_true", help="print README table rows")
    a, _ = ap.parse_known_args(argv)  # install.sh passes the same options to every bench
    sizes = [int(s) for s in a.sizes.split(",") if s]
    sizes += [50_000] if a.large else []
    sizes += [118_287] if a.xl else []
    tools = [t for t in a.tools.split(",") if t]
    bad = [t for t in tools if t not in TOOLS]
    if bad:
        ap.error(f"unknown tools: {', '.join(bad)}")
    print(f"machine: {machine()}")
    md: list[str] = []
    for n in sizes:
        print(f"\n{n} images: writing/reusing data in {a.dir} ...", flush=True)
        md += report(bench_size(n, tools, Path(a.dir), a.timeout, a.peer_max_images))
    if a.markdown:
        print("\n| images | tool | wall s | CPU s | peak MiB | wall / CPU vs detview coco-eval | "
              "numbers |\n|---|---|---|---|---|---|---|")
        print("\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
