"""Small helpers for the io tests: synthetic images and box comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from detview.core.dataset import Dataset


def make_images(folder: Path, sizes: dict[str, tuple[int, int]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (w, h) in sizes.items():
        p = folder / name
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (w, h), (120, 80, 40)).save(p)
    return folder


def boxes_by_file(ds: Dataset, run: str | None = None, decimals: int | None = None,
                  alive_only: bool = True) -> dict[str, list[tuple]]:
    """{image base name: sorted [(class name, x1, y1, x2, y2), ...]}."""
    b = ds.gt if run is None else ds.runs[run]
    out: dict[str, list[tuple]] = {}
    for i, fn in enumerate(ds.images.file_names):
        if ds.images.deleted[i]:
            continue
        sl = b.image_slice(i)
        rows = []
        for r in range(sl.start, sl.stop):
            if alive_only and not b.alive[r]:
                continue
            xy = b.xyxy[r]
            if decimals is not None:
                xy = np.round(xy, decimals) + 0.0
            rows.append((ds.classes.names[int(b.cls[r])], *[float(v) for v in xy]))
        out[fn.rsplit("/", 1)[-1]] = sorted(rows)
    return out
