"""Seeded COCO-style benchmark data: ground truth with polygon segmentations, results.

``write_coco(folder, n_images, seed)`` writes ``gt_<n>_<seed>.json`` and
``dets_<n>_<seed>.json`` (streamed in chunks: a 118k-image set never exists as Python
objects at once) and returns their paths; existing files are reused.

COCO-val statistics, roughly: 80 classes with a skewed frequency (the first has about a
fifth of the boxes), sparse category ids 1..90, ~7.2 boxes per image, box sizes spread
over the small/medium/large ranges, 1.8 % crowd regions (uncompressed RLE masks), every
other box a 12-vertex polygon inside it with ``area`` its polygon area. Detections sit
around the boxes (jittered, duplicated, some with the wrong class) plus background
ones, at most 100 per image. Coordinates have two decimals and scores four, as result
files usually do, so IoUs land exactly on thresholds and scores tie: the cases where
an evaluator that is not bit-exact drifts from pycocotools.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

VERSION = 2  # bump when the data changes (cached files are keyed by it)
CAT_IDS = [c for c in range(1, 91) if c not in {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}]
_CHUNK = 200_000


def paths(folder: Path, n_images: int, seed: int) -> tuple[Path, Path]:
    tag = f"{n_images}_{seed}_v{VERSION}"
    return folder / f"gt_{tag}.json", folder / f"dets_{tag}.json"


def write_coco(folder: Path, n_images: int, seed: int = 0) -> tuple[Path, Path]:
    import orjson

    gt_p, dt_p = paths(folder, n_images, seed)
    if gt_p.exists() and dt_p.exists():
        return gt_p, dt_p
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    k = len(CAT_IDS)
    cat_ids = np.array(CAT_IDS)
    wk = 1.0 / (np.arange(k) + 1.0)
    wk /= wk.sum()
    img_ids = rng.choice(np.arange(1, 12 * n_images + 1), n_images, replace=False)
    widths = rng.choice([640, 500, 480, 427], n_images)
    heights = rng.choice([480, 375, 640, 333], n_images)
    n_gt = np.minimum(rng.poisson(7.2, n_images), 60)
    g_img = np.repeat(np.arange(n_images), n_gt)
    n_g = g_img.shape[0]

    def boxes(img: np.ndarray, side: np.ndarray) -> np.ndarray:
        ar = np.exp(rng.normal(0, 0.5, img.shape[0]))
        w = np.minimum(side * np.sqrt(ar), widths[img] - 1)
        h = np.minimum(side / np.sqrt(ar), heights[img] - 1)
        x = rng.uniform(0, 1, img.shape[0]) * (widths[img] - w)
        y = rng.uniform(0, 1, img.shape[0]) * (heights[img] - h)
        return np.round(np.stack([x, y, np.maximum(w, 1), np.maximum(h, 1)], 1), 2)

    g_box = boxes(g_img, np.exp(rng.normal(np.log(45), 1.0, n_g)))
    g_cls = rng.choice(k, n_g, p=wk)
    g_crowd = rng.random(n_g) < 0.018
    # a 12-vertex star-shaped polygon inside each box; area = its area
    ang = np.sort(rng.uniform(0, 2 * np.pi, (n_g, 12)), axis=1)
    rad = rng.uniform(0.55, 1.0, (n_g, 12))
    cx = g_box[:, 0:1] + g_box[:, 2:3] / 2
    cy = g_box[:, 1:2] + g_box[:, 3:4] / 2
    px = np.round(cx + np.cos(ang) * rad * g_box[:, 2:3] / 2, 2)
    py = np.round(cy + np.sin(ang) * rad * g_box[:, 3:4] / 2, 2)
    poly_area = 0.5 * np.abs((px * np.roll(py, -1, 1) - np.roll(px, -1, 1) * py).sum(1))
    g_area = np.round(np.where(g_crowd, g_box[:, 2] * g_box[:, 3] * 0.7, poly_area), 2)
    poly = np.stack([px, py], 2).reshape(n_g, 24)

    per = rng.choice(5, n_g, p=[0.15, 0.35, 0.25, 0.15, 0.10])
    src = np.repeat(np.arange(n_g), per)
    jit = rng.normal(0, 1, (src.shape[0], 4)) * rng.choice([0.04, 0.1, 0.25], src.shape[0])[:, None]
    b = g_box[src]
    tb = np.stack([b[:, 0] + jit[:, 0] * b[:, 2], b[:, 1] + jit[:, 1] * b[:, 3],
                   b[:, 2] * np.exp(jit[:, 2]), b[:, 3] * np.exp(jit[:, 3])], 1)  # fmt: skip
    tcls = np.where(rng.random(src.shape[0]) < 0.1, rng.choice(k, src.shape[0], p=wk), g_cls[src])
    tscore = rng.beta(4, 2, src.shape[0])
    n_bg = rng.poisson(44, n_images)
    bimg = np.repeat(np.arange(n_images), n_bg)
    bb = boxes(bimg, np.exp(rng.normal(np.log(40), 1.0, bimg.shape[0])))
    bcls = rng.choice(k, bimg.shape[0], p=wk)
    bscore = rng.beta(1, 5, bimg.shape[0])
    d_img = np.concatenate([g_img[src], bimg])
    d_box = np.round(np.concatenate([tb, bb]), 2)
    d_box[:, 2:] = np.maximum(d_box[:, 2:], 1.0)
    d_cls = np.concatenate([tcls, bcls])
    d_score = np.round(np.maximum(np.concatenate([tscore, bscore]), 1e-4), 4)
    order = np.lexsort((-d_score, d_img))
    d_img, d_box, d_cls, d_score = d_img[order], d_box[order], d_cls[order], d_score[order]
    first = np.searchsorted(d_img, np.arange(n_images))
    keep = np.arange(d_img.shape[0]) - first[d_img] < 100
    d_img, d_box, d_cls, d_score = d_img[keep], d_box[keep], d_cls[keep], d_score[keep]
    shuffle = rng.permutation(d_img.shape[0])  # results not grouped by image
    d_img, d_box, d_cls, d_score = d_img[shuffle], d_box[shuffle], d_cls[shuffle], d_score[shuffle]

    images = [{"id": int(img_ids[i]), "width": int(widths[i]), "height": int(heights[i]),
               "file_name": f"{int(img_ids[i]):012d}.jpg", "license": 1}
              for i in rng.permutation(n_images).tolist()]  # fmt: skip
    cats = [{"id": int(c), "name": f"class{c}", "supercategory": "thing"} for c in CAT_IDS]
    tmp = gt_p.with_suffix(".part")
    with tmp.open("wb") as f:
        f.write(b'{"info":{"description":"detview benchmark","version":"%d"},"licenses":[],'
                % VERSION)
        f.write(b'"images":' + orjson.dumps(images) + b',"categories":' + orjson.dumps(cats))
        f.write(b',"annotations":[')
        for lo in range(0, n_g, _CHUNK):
            hi = min(lo + _CHUNK, n_g)
            part: list[dict[str, Any]] = []
            gb, ga = g_box[lo:hi].tolist(), g_area[lo:hi].tolist()
            gi, gc = img_ids[g_img[lo:hi]].tolist(), cat_ids[g_cls[lo:hi]].tolist()
            cr, pl = g_crowd[lo:hi].tolist(), poly[lo:hi].tolist()
            hh = heights[g_img[lo:hi]].tolist()
            ww = widths[g_img[lo:hi]].tolist()
            for j in range(hi - lo):
                if cr[j]:
                    seg: Any = {"counts": [int(hh[j] * 3), 40, int(ww[j] * hh[j] - hh[j] * 3 - 40)],
                                "size": [hh[j], ww[j]]}
                else:
                    seg = [pl[j]]
                part.append({"id": lo + j + 1, "image_id": gi[j], "category_id": gc[j],
                             "segmentation": seg, "area": ga[j], "bbox": gb[j],
                             "iscrowd": int(cr[j])})  # fmt: skip
            f.write((b"," if lo else b"") + orjson.dumps(part)[1:-1])
        f.write(b"]}")
    tmp.replace(gt_p)
    tmp = dt_p.with_suffix(".part")
    n_d = d_img.shape[0]
    with tmp.open("wb") as f:
        f.write(b"[")
        for lo in range(0, n_d, _CHUNK):
            hi = min(lo + _CHUNK, n_d)
            di, dc = img_ids[d_img[lo:hi]].tolist(), cat_ids[d_cls[lo:hi]].tolist()
            db, ds = d_box[lo:hi].tolist(), d_score[lo:hi].tolist()
            part = [{"image_id": di[j], "category_id": dc[j], "bbox": db[j], "score": ds[j]}
                    for j in range(hi - lo)]
            f.write((b"," if lo else b"") + orjson.dumps(part)[1:-1])
        f.write(b"]")
    tmp.replace(dt_p)
    return gt_p, dt_p
