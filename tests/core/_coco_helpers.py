"""Test helpers: COCO dicts -> Boxes, pycocotools oracle, seeded synthetic data."""

from __future__ import annotations

import contextlib
import io
from typing import Any

import numpy as np

from detview.core.tables import Boxes

STATS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def tables_from_coco(
    gt: dict[str, Any], dets: list[dict[str, Any]], det_area: bool = False
) -> tuple[Boxes, Boxes, int, np.ndarray, list[int]]:
    """(gt Boxes, det Boxes, n_classes, image ids, category ids) from COCO dicts."""
    img_ids = np.array([im["id"] for im in gt["images"]], dtype=np.int64)
    img_index = {int(i): k for k, i in enumerate(img_ids.tolist())}
    cat_ids = sorted(c["id"] for c in gt["categories"])
    cat_index = {c: k for k, c in enumerate(cat_ids)}
    n = len(img_ids)

    def cols(anns: list[dict[str, Any]], is_gt: bool) -> Boxes:
        anns = [a for a in anns if a["category_id"] in cat_index]
        bb = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        xyxy = bb.copy()
        xyxy[:, 2:] = bb[:, :2] + bb[:, 2:]
        img = [img_index[a["image_id"]] for a in anns]
        cls = [cat_index[a["category_id"]] for a in anns]
        if is_gt:
            area = [a.get("area", np.nan) for a in anns]
            crowd = [bool(a.get("iscrowd", 0)) for a in anns]
            return Boxes.build(n, img, cls, xyxy, iscrowd=crowd, area=area, wh=bb[:, 2:])
        area = bb[:, 2] * bb[:, 3] if det_area else None
        return Boxes.build(n, img, cls, xyxy, score=[a["score"] for a in anns], area=area,
                           wh=bb[:, 2:])

    return cols(gt["annotations"], True), cols(dets, False), len(cat_ids), img_ids, cat_ids


def pycocotools_eval(gt: dict[str, Any], dets: list[dict[str, Any]]) -> dict[str, Any]:
    """The 12 stats, per-category AP/AP50/AR100 and arrays from pycocotools."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()) as out:
        cg = COCO()
        cg.dataset = gt
        cg.createIndex()
        cd = cg.loadRes(dets) if dets else COCO()
        if not dets:
            cd.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            cd.createIndex()
        ev = COCOeval(cg, cd, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    prec = ev.eval["precision"]
    rec = ev.eval["recall"]

    def mean_valid(s: np.ndarray) -> float:
        v = s[s > -1]
        return -1.0 if v.size == 0 else float(np.mean(v))

    per = {
        k: (
            mean_valid(prec[:, :, k, 0, -1]),
            mean_valid(prec[0, :, k, 0, -1]),
            mean_valid(rec[:, k, 0, -1]),
        )
        for k in range(prec.shape[2])
    }
    return {
        "stats": dict(zip(STATS, ev.stats.tolist(), strict=True)),
        "per_class": per,
        "precision": prec,
        "recall": rec,
        "text": out.getvalue(),
    }


def synthetic_coco(
    seed: int,
    n_images: int = 60,
    cat_ids: tuple[int, ...] = (1, 3, 7, 20, 90),
    crowd_frac: float = 0.05,
    max_gt: int = 12,
    dets_per_image: tuple[int, int] = (0, 40),
    many_dets_images: int = 3,
    integer_coords: bool = False,
    score_levels: int | None = None,
    empty_images: int = 4,
    with_area: bool = True,
    decimals: int | None = None,
    score_decimals: int | None = None,
    skew: bool = False,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Seeded COCO gt dict and results list with every awkward case in it.

    Small/medium/large boxes, crowd regions (with mask-like ``area`` smaller than the
    box), images with no gt, images with no predictions, images with >100 predictions
    of one class, sparse category ids, a category with no gt, shuffled image ids,
    optional integer coordinates and a few score levels (ties). ``decimals`` rounds
    boxes as COCO files do (two decimals: IoUs then land exactly on thresholds),
    ``score_decimals`` rounds scores (ties across images), ``skew`` makes one class
    hold most boxes.
    """
    rng = np.random.default_rng(seed)
    ids = rng.permutation(np.arange(1, 10 * n_images))[:n_images]
    images = [{"id": int(i), "width": 640, "height": 480, "file_name": f"{i}.jpg"} for i in ids]
    cats = [{"id": int(c), "name": f"c{c}"} for c in cat_ids]
    gt_cats = cat_ids[:-1]  # the last category never has ground truth
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    aid = 1

    def rnd_box() -> list[float]:
        scale = rng.choice([12.0, 50.0, 180.0])
        w = float(rng.uniform(0.4, 1.6) * scale)
        h = float(rng.uniform(0.4, 1.6) * scale)
        x = float(rng.uniform(0, 640 - w))
        y = float(rng.uniform(0, 480 - h))
        if integer_coords:
            x, y, w, h = (float(round(v)) for v in (x, y, w, h))
            w, h = max(w, 1.0), max(h, 1.0)
        return rnd([x, y, w, h])

    def rnd(b: list[float]) -> list[float]:
        if decimals is None:
            return b
        return [round(float(v), decimals) for v in b[:2]] + [
            max(round(float(v), decimals), 1.0) for v in b[2:]]

    def score() -> float:
        if score_levels:
            return float(rng.integers(1, score_levels + 1)) / score_levels
        v = float(rng.uniform(0.001, 1.0))
        return round(v, score_decimals) if score_decimals else v

    cat_p = None
    if skew:
        cat_p = np.array([8.0] + [1.0] * (len(gt_cats) - 1))
        cat_p /= cat_p.sum()

    for k, im in enumerate(images):
        iid = im["id"]
        n_gt = 0 if k < empty_images else int(rng.integers(0, max_gt + 1))
        boxes = []
        for _ in range(n_gt):
            b = rnd_box()
            c = int(rng.choice(gt_cats, p=cat_p))
            crowd = bool(rng.random() < crowd_frac)
            ann = {"id": aid, "image_id": iid, "category_id": c, "bbox": b, "iscrowd": int(crowd)}
            if with_area:
                ann["area"] = b[2] * b[3] * (float(rng.uniform(0.5, 1.0)) if crowd else 1.0)
            anns.append(ann)
            aid += 1
            boxes.append((b, c))
        if k % 7 == 5:
            continue  # no predictions on this image
        n_det = int(rng.integers(*dets_per_image))
        for _ in range(n_det):
            if boxes and rng.random() < 0.7:
                b, c = boxes[int(rng.integers(len(boxes)))]
                j = rng.normal(0, 0.08, 4) * np.array([b[2], b[3], b[2], b[3]])
                nb = [b[0] + j[0], b[1] + j[1], max(b[2] + j[2], 1.0), max(b[3] + j[3], 1.0)]
                if integer_coords:
                    nb = [float(round(v)) for v in nb]
                nb = rnd(nb)
                if rng.random() < 0.1:
                    c = int(rng.choice(cat_ids))
            else:
                nb, c = rnd_box(), int(rng.choice(cat_ids))
            dets.append({"image_id": iid, "category_id": c, "bbox": nb, "score": score()})
        if k < empty_images + many_dets_images and boxes:
            b, c = boxes[0]
            for _ in range(130):
                j = rng.normal(0, 0.1, 4) * np.array([b[2], b[3], b[2], b[3]])
                nb = [b[0] + j[0], b[1] + j[1], max(b[2] + j[2], 1.0), max(b[3] + j[3], 1.0)]
                if integer_coords:
                    nb = [float(round(v)) for v in nb]
                nb = rnd(nb)
                dets.append({"image_id": iid, "category_id": c, "bbox": nb, "score": score()})
    perm = rng.permutation(len(dets))
    dets = [dets[i] for i in perm]  # file order is not image order
    gt = {"images": images, "categories": cats, "annotations": anns}
    return gt, dets
