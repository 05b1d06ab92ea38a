"""Data the runs/checkpoint/graphs tests write themselves: perturbed copies of a COCO
results file (checkpoints), small training logs in several formats, a store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

__all__ = ["perturb_predictions", "write_checkpoints", "write_results_csv",
           "write_torchvision_log"]


def perturb_predictions(preds: list[dict], noise: float, drop: float, seed: int) -> list[dict]:
    """A worse copy of a COCO results list: boxes jittered by ``noise`` (a fraction of
    their size), a share ``drop`` of them removed, scores scaled by U(1 - noise, 1)."""
    rng = np.random.default_rng(seed)
    out = []
    for p in preds:
        if rng.random() < drop:
            continue
        x, y, w, h = (float(v) for v in p["bbox"])
        dx, dy = rng.normal(0.0, noise, 2) * (w, h)
        sw, sh = np.exp(rng.normal(0.0, noise, 2))
        q = dict(p)
        q["bbox"] = [round(x + dx, 2), round(y + dy, 2), round(w * sw, 2), round(h * sh, 2)]
        q["score"] = round(float(p["score"]) * float(rng.uniform(1.0 - noise, 1.0)), 5)
        out.append(q)
    return out


def write_checkpoints(src: Path, dest: Path, epochs: tuple[int, int, int] = (30, 60, 100)
                      ) -> list[Path]:
    """Three checkpoints of one training: ``preds_epoch<E>.json``, the first two perturbed
    copies of ``src`` (the earlier, the worse), the last ``src`` itself."""
    dest.mkdir(parents=True, exist_ok=True)
    preds = json.loads(src.read_text())
    variants = [perturb_predictions(preds, 0.25, 0.35, 1),
                perturb_predictions(preds, 0.08, 0.1, 2), preds]
    out = []
    for e, v in zip(epochs, variants, strict=True):
        p = dest / f"preds_epoch{e}.json"
        p.write_text(json.dumps(v))
        out.append(p)
    return out


def write_results_csv(path: Path, epochs: int = 12, seed: int = 0) -> Path:
    """A YOLOv5-layout results.csv (padded names, 0-based epochs)."""
    rng = np.random.default_rng(seed)
    cols = ["epoch", "train/box_loss", "train/obj_loss", "train/cls_loss", "metrics/precision",
            "metrics/recall", "metrics/mAP_0.5", "metrics/mAP_0.5:0.95", "val/box_loss",
            "val/obj_loss", "val/cls_loss", "x/lr0", "x/lr1", "x/lr2"]
    lines = [",".join(f"{c:>20s}" for c in cols)]
    for e in range(epochs):
        t = e / max(epochs - 1, 1)
        v = [0.08 - 0.04 * t, 0.05 - 0.02 * t, 0.03 - 0.02 * t, 0.5 + 0.3 * t, 0.4 + 0.3 * t,
             0.45 + 0.3 * t, 0.25 + 0.2 * t, 0.07 - 0.03 * t, 0.04 - 0.01 * t, 0.02 - 0.01 * t,
             0.01 * (1 - t) + 1e-4, 0.01 * (1 - t) + 1e-4, 0.01 * (1 - t) + 1e-4]
        v = [x + float(rng.normal(0, 0.002)) for x in v]
        lines.append(",".join([f"{e:>20d}"] + [f"{x:>20.5g}" for x in v]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def write_torchvision_log(path: Path, epochs: int = 3, iters: int = 4) -> Path:
    """A torchvision detection-reference log with a COCO block after each epoch."""
    out = []
    for e in range(epochs):
        for i in range(iters):
            loss = 2.0 / (1 + e * iters + i)
            out.append(f"Epoch: [{e}]  [{i}/{iters}]  eta: 0:00:01  lr: 0.0{e + 1}0000  "
                       f"loss: {loss:.4f} ({loss:.4f})  loss_classifier: {loss / 2:.4f} "
                       f"({loss / 2:.4f})  loss_box_reg: {loss / 4:.4f} ({loss / 4:.4f})  "
                       f"time: 0.5000  data: 0.0100  max mem: 1000")
        out.append(f"Epoch: [{e}] Total time: 0:00:02 (0.5000 s / it)")
        out.append("IoU metric: bbox")
        ap = 0.1 + 0.1 * e
        names = [("Average Precision", "0.50:0.95", "all", 100, ap),
                 ("Average Precision", "0.50", "all", 100, ap + 0.2),
                 ("Average Precision", "0.75", "all", 100, ap),
                 ("Average Precision", "0.50:0.95", "small", 100, -1.0),
                 ("Average Precision", "0.50:0.95", "medium", 100, ap),
                 ("Average Precision", "0.50:0.95", "large", 100, ap),
                 ("Average Recall", "0.50:0.95", "all", 1, ap),
                 ("Average Recall", "0.50:0.95", "all", 10, ap),
                 ("Average Recall", "0.50:0.95", "all", 100, ap),
                 ("Average Recall", "0.50:0.95", "small", 100, -1.0),
                 ("Average Recall", "0.50:0.95", "medium", 100, ap),
                 ("Average Recall", "0.50:0.95", "large", 100, ap)]
        for kind, iou, area, md, v in names:
            short = "AP" if kind.startswith("Average Precision") else "AR"
            out.append(f" {kind}  ({short}) @[ IoU={iou:<9s} | area={area:>6s} | "
                       f"maxDets={md:>3d} ] = {v:.3f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out) + "\n")
    return path


def write_tiny_coco(root: Path, n_images: int = 8, runs: tuple[str, ...] = ("a", "b"),
                    seed: int = 0, names: dict[str, str] | None = None) -> dict[str, object]:
    """A small COCO dataset on disk: ``images/`` (Pillow), ``gt.json`` and one results
    file per run (``<run>.json``, or ``names[run]``), each run a differently noisy copy
    of the ground truth with some misses and false positives. Returns the paths."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    img_dir = root / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    cats = [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}, {"id": 3, "name": "car"}]
    aid = 1
    for i in range(n_images):
        w, h = 160, 120
        arr = np.full((h, w, 3), 40 + 20 * (i % 8), dtype=np.uint8)
        Image.fromarray(arr).save(img_dir / f"im{i:02d}.png")
        images.append({"id": i + 1, "file_name": f"im{i:02d}.png", "width": w, "height": h})
        for _ in range(int(rng.integers(1, 4))):
            x, y = float(rng.uniform(0, 100)), float(rng.uniform(0, 70))
            bw, bh = float(rng.uniform(15, 55)), float(rng.uniform(15, 45))
            anns.append({"id": aid, "image_id": i + 1, "category_id": int(rng.integers(1, 4)),
                         "bbox": [round(x, 1), round(y, 1), round(bw, 1), round(bh, 1)],
                         "area": round(bw * bh, 1), "iscrowd": 0})
            aid += 1
    gt = root / "gt.json"
    gt.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    out: dict[str, object] = {"images": img_dir, "gt": gt, "preds": {}}
    for k, run in enumerate(runs):
        r = np.random.default_rng(seed + 100 + k)
        noise = 0.04 + 0.12 * k
        res = []
        for a in anns:
            if r.random() < 0.1 + 0.1 * k:
                continue  # missed
            x, y, bw, bh = a["bbox"]
            res.append({"image_id": a["image_id"], "category_id": a["category_id"],
                        "bbox": [round(x + r.normal(0, noise) * bw, 2),
                                 round(y + r.normal(0, noise) * bh, 2),
                                 round(bw * float(np.exp(r.normal(0, noise))), 2),
                                 round(bh * float(np.exp(r.normal(0, noise))), 2)],
                        "score": round(float(r.uniform(0.3, 0.99)), 3)})
        for i in range(n_images):
            if r.random() < 0.3 + 0.2 * k:
                res.append({"image_id": i + 1, "category_id": int(r.integers(1, 4)),
                            "bbox": [float(r.uniform(0, 100)), float(r.uniform(0, 70)), 20.0,
                                     20.0], "score": round(float(r.uniform(0.2, 0.95)), 3)})
        p = root / (names or {}).get(run, f"{run}.json")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(res))
        out["preds"][run] = p  # type: ignore[index]
    return out
