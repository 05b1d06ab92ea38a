"""Datasets the session tests build themselves (no ../shared, no Qt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
from PIL import Image

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

CLASSES = ["cat", "dog", "person", "car"]
SIZES = [(120, 90), (100, 80), (80, 60)]
FILES = ["a.png", "b.png", "c.png"]


def make_dataset(root: Path) -> Dataset:
    """Three small images written with Pillow, 5 GT boxes, runs "model" and "other".

    At score 0.5 / IoU 0.5 (run "model"): image 0 has a TP, an FP and a missed dog;
    image 1 a perfect TP; image 2 a cat over a car (FP, the car missed) and a TP.
    """
    root.mkdir(parents=True, exist_ok=True)
    for k, (name, (w, h)) in enumerate(zip(FILES, SIZES, strict=True)):
        yy, xx = np.mgrid[0:h, 0:w]
        arr = np.stack([(xx * 2 + k * 40) % 256, (yy * 3) % 256,
                        np.full_like(xx, 90 + 50 * k)], axis=-1).astype(np.uint8)
        Image.fromarray(arr).save(root / name)
    images = Images(np.arange(3), list(FILES), [s[0] for s in SIZES], [s[1] for s in SIZES])
    gt = Boxes.build(
        3,
        image=[0, 0, 1, 2, 2],
        cls=[0, 1, 2, 3, 3],
        xyxy=[[10, 10, 50, 50], [60, 20, 110, 80], [20, 20, 60, 70],
              [5, 5, 40, 40], [45, 10, 75, 50]],
    )
    model = Boxes.build(
        3,
        image=[0, 0, 1, 2, 2, 2],
        cls=[0, 1, 2, 0, 3, 3],
        xyxy=[[12, 12, 50, 50], [0, 0, 20, 20], [20, 20, 60, 70],
              [6, 6, 41, 41], [45, 10, 75, 50], [0, 0, 10, 10]],
        score=[0.9, 0.8, 0.95, 0.7, 0.6, 0.3],
        box_id=[100, 101, 102, 103, 104, 105],
    )
    other = Boxes.build(3, image=[0, 1], cls=[0, 2], xyxy=[[10, 10, 50, 50], [0, 0, 30, 30]],
                        score=[0.99, 0.9], box_id=[200, 201])
    return Dataset(images, Classes.from_names(CLASSES), gt, {"model": model, "other": other},
                   meta={"images_root": str(root)})


def synthetic_coco(n_images: int, seed: int = 0, n_classes: int = 5,
                   max_gt: int = 4) -> tuple[dict[str, Any], list[dict[str, Any]],
                                              list[dict[str, Any]]]:
    """A COCO ground truth and two result lists (a good and a noisy model), vectorised
    so 20,000 images take well under a second."""
    rng = np.random.default_rng(seed)
    w, h = 640, 480
    n_gt = rng.integers(0, max_gt + 1, n_images)
    img = np.repeat(np.arange(n_images), n_gt)
    m = img.shape[0]
    xy = rng.uniform(0, [w - 60, h - 60], (m, 2)).round(1)
    wh = rng.uniform(8, 60, (m, 2)).round(1)
    cls = rng.integers(1, n_classes + 1, m)
    images = [{"id": int(i) + 1, "file_name": f"img_{i:06d}.jpg", "width": w, "height": h}
              for i in range(n_images)]
    anns = [{"id": k + 1, "image_id": int(img[k]) + 1, "category_id": int(cls[k]),
             "bbox": [float(xy[k, 0]), float(xy[k, 1]), float(wh[k, 0]), float(wh[k, 1])],
             "area": float(wh[k, 0] * wh[k, 1]), "iscrowd": 0} for k in range(m)]
    gt = {"images": images, "annotations": anns,
          "categories": [{"id": c, "name": f"class{c}"} for c in range(1, n_classes + 1)]}

    def run(noise: float, flip: float, extra: int) -> list[dict[str, Any]]:
        keep = rng.random(m) < 0.85
        jitter = rng.normal(0, noise, (m, 2))
        c = np.where(rng.random(m) < flip, rng.integers(1, n_classes + 1, m), cls)
        score = rng.uniform(0.05, 1.0, m).round(4)
        out = [{"image_id": int(img[k]) + 1, "category_id": int(c[k]),
                "bbox": [float(xy[k, 0] + jitter[k, 0]), float(xy[k, 1] + jitter[k, 1]),
                         float(wh[k, 0]), float(wh[k, 1])], "score": float(score[k])}
               for k in np.flatnonzero(keep)]
        fp_img = rng.integers(0, n_images, extra)
        fp_xy = rng.uniform(0, [w - 60, h - 60], (extra, 2)).round(1)
        out += [{"image_id": int(fp_img[k]) + 1, "category_id": int(rng.integers(1, n_classes)),
                 "bbox": [float(fp_xy[k, 0]), float(fp_xy[k, 1]), 30.0, 30.0],
                 "score": float(rng.uniform(0.05, 0.9))} for k in range(extra)]
        return out

    return gt, run(2.0, 0.05, n_images // 4), run(8.0, 0.2, n_images // 2)


def write_coco_dataset(root: Path, n_images: int, seed: int = 0) -> dict[str, Path]:
    """``root/annotations.json`` and two prediction files; no image files (COCO gives
    the sizes)."""
    gt, good, noisy = synthetic_coco(n_images, seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "images").mkdir(exist_ok=True)
    paths = {"gt": root / "annotations.json", "good": root / "good.json",
             "noisy": root / "noisy.json", "images": root / "images"}
    for key, obj in (("gt", gt), ("good", good), ("noisy", noisy)):
        paths[key].write_bytes(orjson.dumps(obj))
    return paths


def as_coco(ds: Dataset, run: str, thr: float | None) -> tuple[dict[str, Any], list[dict]]:
    """The edited dataset as pycocotools/tidecv input (a plain conversion)."""
    keep_img = ~ds.images.deleted
    images = [{"id": int(ds.images.ids[i]), "width": int(ds.images.widths[i]) or 640,
               "height": int(ds.images.heights[i]) or 480} for i in np.flatnonzero(keep_img)]
    gt = ds.gt
    area = gt.box_area()
    anns = []
    for r in range(len(gt)):
        if not gt.alive[r] or not keep_img[gt.image[r]]:
            continue
        x1, y1, x2, y2 = (float(v) for v in gt.xyxy[r])
        anns.append({"id": r + 1, "image_id": int(ds.images.ids[gt.image[r]]),
                     "category_id": int(gt.cls[r]) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                     "area": float(area[r]), "iscrowd": int(gt.iscrowd[r])})
    d = ds.runs[run]
    dets = []
    for r in range(len(d)):
        if not keep_img[d.image[r]] or (thr is not None and d.score[r] < thr):
            continue
        x1, y1, x2, y2 = (float(v) for v in d.xyxy[r])
        dets.append({"image_id": int(ds.images.ids[d.image[r]]),
                     "category_id": int(d.cls[r]) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1],
                     "score": float(d.score[r])})
    cats = [{"id": k + 1, "name": n} for k, n in enumerate(ds.classes.names)]
    return {"images": images, "annotations": anns, "categories": cats}, dets
