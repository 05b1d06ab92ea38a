"""``detview check`` on a generated image set: wall time and peak memory of the command.

    .venv/bin/python benchmarks/bench_health.py [--images 10000] [--workers N] [--keep DIR]

Writes N photo-like 640x480 JPEGs (seeded, ~7 ground-truth boxes each) and a COCO file
into a temporary folder (or ``--keep DIR``, reused when it already holds them), plants
a truncated file, an exact and a near duplicate, then runs ``detview check --json`` as
its own process, as a user or CI would, and reports images/s, peak RSS and what it found.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def write_set(folder: Path, n: int, seed: int = 0) -> Path:
    gt = folder / "annotations.json"
    if gt.is_file() and len(json.loads(gt.read_text())["images"]) == n:
        return gt
    imgs_dir = folder / "images"
    imgs_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(n):
        small = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
        im = Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC)
        arr = np.asarray(im).astype(np.int16) + rng.integers(-12, 13, (480, 640, 3))
        Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(
            imgs_dir / f"{i:06d}.jpg", "JPEG", quality=85)
        images.append({"id": i + 1, "file_name": f"{i:06d}.jpg", "width": 640, "height": 480})
        for _ in range(int(rng.poisson(7))):
            x, y = rng.uniform(0, 560), rng.uniform(0, 400)
            w, h = rng.uniform(4, 640 - x), rng.uniform(4, 480 - y)
            anns.append({"id": len(anns) + 1, "image_id": i + 1,
                         "category_id": int(rng.integers(1, 81)), "bbox": [x, y, w, h],
                         "area": w * h, "iscrowd": 0})
    # planted: a truncated file, an exact copy, a resized copy
    data = (imgs_dir / "000000.jpg").read_bytes()
    (imgs_dir / "000001.jpg").write_bytes(data[: len(data) // 2])
    (imgs_dir / "000003.jpg").write_bytes((imgs_dir / "000002.jpg").read_bytes())
    Image.open(imgs_dir / "000004.jpg").resize((480, 360)).save(imgs_dir / "000005.jpg",
                                                                quality=80)
    images[5].update(width=480, height=360)
    gt.write_text(json.dumps({"images": images, "annotations": anns,
                              "categories": [{"id": k, "name": f"c{k}"} for k in range(1, 81)]}))
    return gt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--keep", type=Path, help="folder to write the set to (and reuse)")
    a = ap.parse_args()
    tmp = None
    if a.keep is None:
        tmp = tempfile.TemporaryDirectory(prefix="detview-health-")
        folder = Path(tmp.name)
    else:
        folder = a.keep
        folder.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    gt = write_set(folder, a.images)
    print(f"{a.images:,} images ready in {time.perf_counter() - t0:.1f} s under {folder}")
    cmd = [sys.executable, "-m", "detview", "check", "--images", str(folder / "images"),
           "--gt", str(gt), "--json"]
    if a.workers:
        cmd += ["--workers", str(a.workers)]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - t0
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if p.returncode not in (0, 1):
        sys.exit(p.stderr)
    data = json.loads(p.stdout)
    found = {k: v for k, v in data["counts"].items() if v}
    print(f"detview check: {wall:.1f} s wall ({data['seconds']:.1f} s checking, "
          f"{a.images / data['seconds']:.0f} images/s) on {os.cpu_count()} CPUs, "
          f"peak RSS {rss:.0f} MB")
    print(f"found: {found}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
