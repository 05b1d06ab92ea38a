"""Image files: listing a folder and reading sizes from file headers.

EXIF orientation rule: boxes are in the **stored pixel orientation** of the file (what
COCO, YOLO and VOC tools use); sizes are read from the header without applying the
EXIF rotation, and the viewer shows the stored pixels. A photo whose EXIF says
"rotate 90" therefore has ``width``/``height`` as stored, not as a phone displays it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ._common import IMAGE_EXTENSIONS, Problems, Progress
from .errors import Cancelled

__all__ = ["image_size", "list_images", "read_sizes"]


def list_images(root: Path, recursive: bool = True) -> list[str]:
    """Image files under ``root`` as sorted POSIX paths relative to ``root``."""
    root = Path(root)
    out: list[str] = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = os.path.relpath(dirpath, root)
            for f in filenames:
                if os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS and not f.startswith("."):
                    out.append(f if rel == "." else f"{rel}/{f}".replace(os.sep, "/"))
    else:
        out = [
            e.name
            for e in os.scandir(root)
            if e.is_file() and os.path.splitext(e.name)[1].lower() in IMAGE_EXTENSIONS
        ]
    out.sort()
    return out


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header; raises OSError/UnidentifiedImageError."""
    with Image.open(path) as im:
        return int(im.size[0]), int(im.size[1])


def read_sizes(
    root: Path,
    file_names: Sequence[str],
    problems: Problems,
    *,
    logger: logging.Logger | None = None,
    progress: Progress = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Widths, heights (0 where unreadable) and an ok mask; problems name bad files."""
    n = len(file_names)
    w = np.zeros(n, dtype=np.int64)
    h = np.zeros(n, dtype=np.int64)
    ok = np.zeros(n, dtype=bool)
    for i, f in enumerate(file_names):
        p = Path(root) / f
        try:
            w[i], h[i] = image_size(p)
            ok[i] = True
        except FileNotFoundError:
            problems.warn(p, "", "image file not found")
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            problems.warn(p, "", f"cannot read the image header (corrupt file?): {exc}")
        if progress is not None and i % 256 == 0 and progress(i, n) is False:
            raise Cancelled("cancelled")
    if logger is not None:
        logger.debug("read %d image headers under %s", n, root)
    return w, h, ok
