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

from ._common import IMAGE_EXTENSIONS, MAX_IMAGE_SIDE, Problems, Progress
from .errors import Cancelled, InputError
from .paths import _CONTROL, MAX_NAME_BYTES, Root, is_safe_name, regular_file

__all__ = ["image_size", "list_images", "read_sizes"]


def list_images(root: Path, recursive: bool = True, *, limit: int = 50_000_000) -> list[str]:
    """Image files under ``root`` as sorted POSIX paths relative to ``root``.

    Hidden files and folders are skipped; a linked file is listed only when its target
    is inside ``root``, and linked folders are not entered (their target, when inside
    the root, is listed where it is; see :mod:`detview.io.paths`); names that could not be
    written back safely (control characters, over-long) are skipped.
    """
    root = Path(root)
    guard = Root(root)
    out: list[str] = []
    stack: list[tuple[str, str]] = [(os.fspath(root), "")]
    seen_dirs: set[tuple[int, int]] = set()
    while stack:
        folder, rel = stack.pop()
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                continue
            seen_dirs.add(key)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        subdirs: list[tuple[str, str]] = []
        for e in entries:
            if e.name.startswith("."):
                continue
            name = f"{rel}/{e.name}" if rel else e.name
            try:
                link = e.is_symlink()
                if link and not guard.inside(e.path):
                    continue
                if e.is_dir():
                    if link:  # its target inside the root is listed where it is
                        continue
                    if recursive:
                        subdirs.append((e.path, name))
                    continue
                if os.path.splitext(e.name)[1].lower() not in IMAGE_EXTENSIONS:
                    continue
                if not e.is_file():
                    continue
            except OSError:
                continue
            # names from the disk: only control characters and over-long paths are unsafe
            if not _CONTROL.search(e.name) and len(name) <= MAX_NAME_BYTES // 4 or \
                    is_safe_name(name):
                out.append(name)
                if len(out) >= limit:
                    break
        stack.extend(reversed(subdirs))
    out.sort()
    return out


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) from the header; raises OSError/UnidentifiedImageError."""
    with Image.open(path) as im:
        w, h = int(im.size[0]), int(im.size[1])
    if not (0 < w <= MAX_IMAGE_SIDE and 0 < h <= MAX_IMAGE_SIDE):
        raise ValueError(f"image size {w} x {h} is out of range")
    return w, h


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
    guard = Root(root)
    for i, f in enumerate(file_names):
        try:
            p = guard.file(f, root, f"image {f}")
        except InputError as exc:
            problems.warn(exc.problem.path, exc.problem.where, exc.problem.message)
            continue
        try:
            if not regular_file(p):
                raise FileNotFoundError(p)
            w[i], h[i] = image_size(p)
            ok[i] = True
        except FileNotFoundError:
            problems.warn(p, "", "image file not found")
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            problems.warn(p, "", f"cannot read the image header (corrupt file?): {exc}")
        except Exception as exc:  # noqa: BLE001 - a decoder bug in PIL on a crafted header
            problems.warn(p, "", f"cannot read the image header: {type(exc).__name__}: {exc}")
        if progress is not None and i % 256 == 0 and progress(i, n) is False:
            raise Cancelled("cancelled")
    if logger is not None:
        logger.debug("read %d image headers under %s", n, root)
    return w, h, ok
