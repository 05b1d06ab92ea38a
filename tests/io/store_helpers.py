"""Synthetic runs for the store tests and the store benchmark."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from detview.core.cocoeval import STAT_NAMES
from detview.io.store import DatasetInfo, RunRecord


def synthetic_dataset(n_images: int, n_classes: int = 80, seed: int = 0) -> DatasetInfo:
    names = [f"class{k}" for k in range(n_classes)]
    files = [f"images/{i:07d}.jpg" for i in range(n_images)]
    fp = hashlib.sha256(f"synthetic-{n_images}-{seed}".encode()).hexdigest()
    return DatasetInfo(fp, n_images, 7 * n_images, names, files, "/data/gt.json", "/data/images")


def synthetic_run(name: str, ds: DatasetInfo, seed: int, created: str | None = None
                  ) -> RunRecord:
    rng = np.random.default_rng(seed)
    n = ds.n_images
    n_gt = rng.poisson(7, n)
    tp = np.minimum(n_gt, rng.poisson(4, n))
    fp = rng.poisson(2, n)
    images = pd.DataFrame({
        "n_gt": n_gt, "n_pred": tp + fp, "tp": tp, "fp": fp, "fn": n_gt - tp,
        "mean_iou": np.round(rng.uniform(0, 1, n), 6),
        "ap": np.where(n_gt > 0, rng.uniform(0, 1, n), np.nan),
        "ap50": np.where(n_gt > 0, rng.uniform(0, 1, n), np.nan),
        "label_quality": rng.uniform(0, 1, n),
        "deleted": rng.random(n) < 0.01,
    }, index=pd.RangeIndex(n, name="image"))
    stats = np.sort(rng.uniform(0.1, 0.7, 12))[::-1]
    summary = {k: float(v) for k, v in zip(STAT_NAMES, stats, strict=True)}
    summary["APs"] = -1.0 if seed % 7 == 0 else summary["APs"]
    summary.update(n_images=float(n), n_pred=float(images["n_pred"].sum()),
                   tp=float(tp.sum()), fp=float(fp.sum()), fn=float((n_gt - tp).sum()),
                   precision=0.5, recall=0.5, mean_iou=float(images["mean_iou"].mean()))
    k = len(ds.class_names)
    per_class = pd.DataFrame({"name": ds.class_names, "AP": rng.uniform(0, 1, k),
                              "AP50": rng.uniform(0, 1, k), "AP75": rng.uniform(0, 1, k),
                              "AR100": rng.uniform(0, 1, k), "n_gt": rng.integers(0, 99, k),
                              "n_det": rng.integers(0, 999, k)})
    per_class.index.name = "cls"
    rec = RunRecord(name=name, dataset=ds, summary=summary, per_class=per_class,
                    images=images, pred_path=f"/preds/{name}.json", pred_hash="0" * 64,
                    params={"lr0": 0.01 * (seed + 1), "hyp": {"mosaic": 1.0}})
    if created is not None:
        rec.created = created
    return rec
