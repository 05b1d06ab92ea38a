"""Per-image metrics (n_gt, n_pred, tp, fp, fn, mean_iou) engine time.

    .venv/bin/python benchmarks/bench_per_image.py [--images 5000]

Times building the per-image table on the real coco128 + YOLOv5s predictions (when
../shared/realdata is present: 128 images, 22,284 predictions, loading included and
reported apart) and on a seeded synthetic COCO-val-sized set, and the re-computation of
one image after an edit.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from detview.core import Boxes, Classes, Dataset, Images
from detview.core.edits import DeleteBoxes
from detview.core.metrics import MetricParams, PerImageMetrics

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def synthetic(n_images: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    n_gt = rng.poisson(7.3, n_images)
    n_dt = rng.integers(0, 101, n_images)
    gi = np.repeat(np.arange(n_images), n_gt)
    di = np.repeat(np.arange(n_images), n_dt)
    g = rng.uniform(0, 560, (gi.size, 2))
    gxy = np.hstack([g, g + rng.uniform(8, 200, (gi.size, 2))])
    src = rng.integers(0, max(gi.size, 1), di.size)
    jitter = rng.normal(0, 6, (di.size, 4))
    dxy = np.where((rng.random(di.size) < 0.5)[:, None], gxy[src] + jitter,
                   np.hstack([g2 := rng.uniform(0, 560, (di.size, 2)), g2 + 50]))
    dxy[:, 2:] = np.maximum(dxy[:, 2:], dxy[:, :2] + 1)
    di = np.where(rng.random(di.size) < 0.5, gi[src] if gi.size else di, di)
    images = Images(np.arange(n_images), [f"{i:06d}.jpg" for i in range(n_images)],
                    np.full(n_images, 640), np.full(n_images, 640))
    gt = Boxes.build(n_images, gi, rng.integers(0, 80, gi.size), gxy)
    dt = Boxes.build(n_images, di, np.where(rng.random(di.size) < 0.8,
                                            gt.cls[np.argsort(gt.box_id)][src] if gi.size else 0,
                                            rng.integers(0, 80, di.size)),
                     dxy, score=rng.random(di.size))
    return Dataset(images, Classes.from_names([f"c{k}" for k in range(80)]), gt, {"run": dt})


def bench(ds: Dataset, label: str, thr: float) -> None:
    t0 = time.perf_counter()
    pim = PerImageMetrics(ds, "run", MetricParams(thr, 0.5))
    t1 = time.perf_counter()
    ds.add_listener(lambda e, imgs: pim.update(imgs))
    i = int(np.argmax(np.diff(ds.gt.offsets)))
    b = int(ds.gt.box_id[ds.gt.offsets[i]])
    t2 = time.perf_counter()
    ds.apply(DeleteBoxes((b,), (i,)))
    t3 = time.perf_counter()
    print(f"{label:<46} {len(ds.images):>6} img {len(ds.gt):>7} gt {len(ds.runs['run']):>7} "
          f"pred | table {t1 - t0:7.3f} s | one-image edit {1000 * (t3 - t2):6.2f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=5000)
    a = ap.parse_args()
    if REAL.is_dir() and hasattr(__import__("detview.io").io, "load_dataset"):
        from detview.io import load_dataset

        root = REAL / "coco128"
        t0 = time.perf_counter()
        res = load_dataset(root / "images" / "train2017", root / "labels" / "train2017",
                           [("run", REAL / "coco128_yolov5s_predictions" /
                             "yolov5s_predictions.json")], class_names=root / "data.yaml")
        print(f"coco128 + YOLOv5s: loading {time.perf_counter() - t0:.3f} s (files, headers)")
        for thr in (0.5, 0.001):
            bench(res.dataset, f"coco128 + YOLOv5s, score >= {thr}", thr)
    ds = synthetic(a.images)
    for thr in (0.5, 0.001):
        bench(ds, f"synthetic, score >= {thr}", thr)
        ds = synthetic(a.images)


if __name__ == "__main__":
    main()
