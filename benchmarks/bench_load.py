"""Loading speed: detview.io.load_dataset vs pycocotools COCO() + loadRes.

Generates a seeded COCO-val-sized ground truth (5,000 images, ~36,000 boxes, 80
sparse category ids) and ~500,000 predictions as json files in a temp folder, then
times, in the same run, best of ``--repeat``:

* detview: ``load_dataset(None, gt, [(None, preds)])`` (parse, validate, match
  images and classes, build the columnar tables);
* pycocotools: ``COCO(gt)`` + ``coco.loadRes(preds)`` (json.load included in both).

Usage: ``.venv/bin/python benchmarks/bench_load.py [--images 5000] [--preds 500000]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np

COCO_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
            25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49,
            50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74,
            75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90]


def generate(folder: Path, n_images: int, n_preds: int, seed: int = 0) -> tuple[Path, Path]:
    rng = np.random.default_rng(seed)
    w = rng.integers(320, 641, n_images)
    h = rng.integers(240, 481, n_images)
    ids = np.sort(rng.choice(600_000, n_images, replace=False)) + 1
    images = [{"id": int(i), "file_name": f"{int(i):012d}.jpg", "width": int(a), "height": int(b),
               "license": 1} for i, a, b in zip(ids, w, h, strict=True)]
    per = rng.poisson(7.3, n_images)
    img = np.repeat(np.arange(n_images), per)
    n = img.shape[0]
    bw = rng.uniform(0.02, 0.5, n) * w[img] + 1
    bh = rng.uniform(0.02, 0.5, n) * h[img] + 1
    x = rng.uniform(0, 1, n) * (w[img] - bw)
    y = rng.uniform(0, 1, n) * (h[img] - bh)
    cats = rng.choice(COCO_IDS, n)
    anns = [{"id": k + 1, "image_id": int(ids[i]), "category_id": int(c),
             "bbox": [round(float(a), 2), round(float(b), 2), round(float(c2), 2),
                      round(float(d), 2)],
             "area": round(float(c2 * d), 2), "iscrowd": 0, "segmentation": []}
            for k, (i, c, a, b, c2, d) in enumerate(zip(img, cats, x, y, bw, bh, strict=True))]
    gt = {"info": {"description": "bench"}, "licenses": [{"id": 1, "name": "x"}],
          "images": images, "annotations": anns,
          "categories": [{"id": c, "name": f"class{c}", "supercategory": "s"} for c in COCO_IDS]}
    pimg = rng.integers(0, n_images, n_preds)
    pw = rng.uniform(2, 200, n_preds)
    ph = rng.uniform(2, 200, n_preds)
    px = rng.uniform(0, 1, n_preds) * np.maximum(w[pimg] - pw, 1)
    py = rng.uniform(0, 1, n_preds) * np.maximum(h[pimg] - ph, 1)
    pc = rng.choice(COCO_IDS, n_preds)
    ps = rng.uniform(0.001, 1, n_preds)
    preds = [{"image_id": int(ids[i]), "category_id": int(c),
              "bbox": [round(float(a), 3), round(float(b), 3), round(float(c2), 3),
                       round(float(d), 3)], "score": round(float(s), 5)}
             for i, c, a, b, c2, d, s in zip(pimg, pc, px, py, pw, ph, ps, strict=True)]
    gp, pp = folder / "instances_bench.json", folder / "bench_preds.json"
    gp.write_text(json.dumps(gt))
    pp.write_text(json.dumps(preds))
    return gp, pp


def time_detview(gt: Path, preds: Path) -> tuple[float, int, int]:
    from detview.io import load_dataset

    t = time.perf_counter()
    r = load_dataset(None, gt, [(None, preds)])
    dt = time.perf_counter() - t
    return dt, len(r.dataset.gt), len(r.dataset.runs[preds.stem])


def time_pycocotools(gt: Path, preds: Path) -> tuple[float, int, int]:
    from pycocotools.coco import COCO

    t = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gt))
        dt_ = coco.loadRes(str(preds))
    dt = time.perf_counter() - t
    return dt, len(coco.anns), len(dt_.anns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--preds", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        gt, preds = generate(Path(d), a.images, a.preds, a.seed)
        print(f"generated {a.images} images, GT and {a.preds} predictions in "
              f"{time.perf_counter() - t0:.1f} s ({gt.stat().st_size / 1e6:.1f} MB + "
              f"{preds.stat().st_size / 1e6:.1f} MB json)")
        best_d = best_p = float("inf")
        for _ in range(a.repeat):
            td, ngt, npred = time_detview(gt, preds)
            tp, ngt2, npred2 = time_pycocotools(gt, preds)
            best_d, best_p = min(best_d, td), min(best_p, tp)
        assert ngt == ngt2 and npred == npred2, (ngt, ngt2, npred, npred2)
        print(f"boxes: {ngt} ground truth, {npred} predictions")
        print(f"detview load_dataset        : {best_d:7.3f} s")
        print(f"pycocotools COCO + loadRes  : {best_p:7.3f} s")
        print(f"ratio pycocotools / detview : {best_p / best_d:7.2f}x")


if __name__ == "__main__":
    main()
