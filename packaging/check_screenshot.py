"""Is a ``detview ... --screenshot`` PNG a real render of the main window?

    .venv/bin/python packaging/check_screenshot.py shot.png [--like reference.png]

Exit 0 and one line of figures when it is; exit 1 and the reason when it is not: the
wrong size, (nearly) one colour, no photo in it (too few colours), or, with ``--like``,
more than 2% of its pixels visibly unlike the reference render. Used by
``packaging/smoke_bundle.sh`` on the bundle's screenshot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = (1600, 1000)  # detview.gui.app.SCREENSHOT_SIZE
MIN_COLOURS = 2000  # the demo's photos alone have tens of thousands
MAX_ONE_COLOUR = 0.6  # share of the most common colour
MIN_STD = 20.0  # grey-level standard deviation
MAX_UNLIKE = 0.02  # share of pixels differing by more than TOLERANCE from the reference
TOLERANCE = 24


def problems(path: Path, like: Path | None = None) -> tuple[list[str], str]:
    """(what is wrong, figures) for the PNG at ``path``."""
    try:
        with Image.open(path) as im:
            fmt = im.format
            rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        return [f"{path}: cannot read the image: {exc}"], ""
    out = []
    if fmt != "PNG":
        out.append(f"{path}: is {fmt}, not PNG")
    h, w = rgb.shape[:2]
    if (w, h) != SIZE:
        out.append(f"{path}: {w}x{h}, expected {SIZE[0]}x{SIZE[1]}")
    flat = rgb.reshape(-1, 3).astype(np.uint32)
    packed = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    top = counts.max() / packed.size
    std = float(rgb.mean(axis=2).std())
    if len(values) < MIN_COLOURS:
        out.append(f"{path}: only {len(values)} colours (a render with photos has > {MIN_COLOURS})")
    if top > MAX_ONE_COLOUR:
        out.append(f"{path}: {top:.0%} of the pixels are one colour (blank?)")
    if std < MIN_STD:
        out.append(f"{path}: grey-level std {std:.1f} < {MIN_STD} (blank?)")
    figures = f"{w}x{h}, {len(values)} colours, top colour {top:.1%}, std {std:.1f}"
    if like is not None:
        with Image.open(like) as ref_im:
            ref = np.asarray(ref_im.convert("RGB"))
        if ref.shape != rgb.shape:
            out.append(f"{path}: {w}x{h} but the reference {like} is {ref.shape[1]}x{ref.shape[0]}")
        else:
            diff = np.abs(rgb.astype(np.int16) - ref.astype(np.int16)).max(axis=2)
            unlike = float((diff > TOLERANCE).mean())
            figures += f", {unlike:.2%} of pixels unlike {like.name}"
            if unlike > MAX_UNLIKE:
                out.append(f"{path}: {unlike:.1%} of the pixels differ from {like} "
                           f"(more than {MAX_UNLIKE:.0%})")
    return out, figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("png", type=Path)
    ap.add_argument("--like", type=Path, help="a reference render it must resemble")
    args = ap.parse_args(argv)
    found, figures = problems(args.png, args.like)
    for p in found:
        print(f"check_screenshot: {p}", file=sys.stderr)
    if not found:
        print(f"check_screenshot: {args.png}: a real render ({figures})")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
