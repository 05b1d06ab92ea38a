"""A dataset with planted label problems for the label-quality tests (no Qt)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from detview.core.dataset import Dataset
from detview.core.tables import Boxes, Classes, Images

W = H = 220
SWAP, BAD = 0, 1  # GT ids in image 0
SWAP_XY, BAD_XY = [20, 20, 80, 80], [100, 20, 160, 80]
BAD_PRED_XY = [145, 20, 205, 80]  # same class, IoU 0.14: badly placed GT
GHOST_XY = [120, 120, 180, 180]  # a confident cat nobody labeled


def lq_dataset(root: Path, n: int = 30) -> Dataset:
    """Image 0 holds the three planted problems; images 1.. are clean (a perfect
    prediction on every box), so each class has a high AP."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    names = []
    for i in range(n):
        Image.fromarray(np.full((H, W, 3), 60 + i, np.uint8)).save(root / f"{i}.png")
        names.append(f"{i}.png")
    gi, gc, gx = [0, 0], [0, 1], [SWAP_XY, BAD_XY]  # SWAP is labeled cat, is a dog
    pi, pc, px, ps = [0, 0, 0], [1, 1, 0], [SWAP_XY, BAD_PRED_XY, GHOST_XY], [0.99, 0.99, 0.99]
    for i in range(1, n):
        for _ in range(2):
            x, y = rng.uniform(0, 150, 2)
            b = [x, y, x + rng.uniform(30, 60), y + rng.uniform(30, 60)]
            c = int(rng.integers(0, 2))
            gi.append(i), gc.append(c), gx.append(b)
            pi.append(i), pc.append(c), px.append(b), ps.append(0.98)
    gt = Boxes.build(n, gi, gc, gx, box_id=list(range(len(gi))))
    preds = Boxes.build(n, pi, pc, px, score=ps, box_id=[1000 + k for k in range(len(pi))])
    return Dataset(Images(np.arange(n), names, [W] * n, [H] * n),
                   Classes.from_names(["cat", "dog"]), gt, {"model": preds},
                   meta={"images_root": str(root)})
