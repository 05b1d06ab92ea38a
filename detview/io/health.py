"""Dataset health check, file side: decode every image once (in parallel), hash it, read
its EXIF orientation, then run the pure checks of :mod:`detview.core.health`.

One pass per image reads the bytes, takes a content digest (BLAKE2b), decodes the image
at reduced size (Pillow's JPEG draft mode: the decoder still walks the whole stream,
so a truncated file is caught) and makes the 32x32 grayscale thumbnail of its
perceptual hash. Sizes are the stored pixels (see :mod:`detview.io.images`), the EXIF
orientation is read separately.

:func:`quick_problems` is the cheap variant ``detview eval`` runs: per file a header
and tail look (no decode), which catches files that are not images and truncated
JPEG/PNG/GIF files.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import posixpath
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from detview.core.dataset import Dataset
from detview.core.health import (
    KINDS,
    Finding,
    HealthOptions,
    HealthReport,
    annotation_findings,
    build_report,
    dhash_bits,
    duplicate_findings,
    file_findings,
    near_duplicate_findings,
    phash_bits,
)

from .errors import Cancelled, Problem

__all__ = ["ImageScan", "check_dataset", "quick_check_file", "quick_problems",
           "resolve_paths", "scan_image", "scan_images"]

Progress = Callable[[int, int], "bool | None"] | None

_FILE_KINDS = frozenset({"missing", "unreadable", "truncated", "size_mismatch", "exif_rotated",
                         "exif_orientation", "duplicate", "near_duplicate"})
_THUMB = 32
_ORIENTATION_TAG = 0x0112
_PNG_SIG = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"IEND\xaeB`\x82"
_TAIL = 1 << 16


@dataclass(frozen=True)
class ImageScan:
    """What one image file holds. ``status``: ``"ok"``, ``"missing"``, ``"unreadable"``
    or ``"truncated"`` (``message`` says why). ``width``/``height``: stored pixels (0
    when unknown); ``orientation``: EXIF orientation (1 when none); ``digest``: content
    hash ("" when unread); ``phash``/``dhash``: 64-bit perceptual and difference hashes,
    valid when ``hashed``."""

    status: str
    message: str = ""
    width: int = 0
    height: int = 0
    orientation: int = 1
    digest: str = ""
    phash: int = 0
    hashed: bool = False
    dhash: int = 0


def _orientation(im: Image.Image) -> int:
    try:
        o = int(im.getexif().get(_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block is not a broken image
        return 1
    return o if 1 <= o <= 8 else 1


def _magic(head: bytes) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith(_PNG_SIG):
        return "PNG"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if head.startswith(b"BM"):
        return "BMP"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if len(head) >= 2 and head[0:1] == b"P" and head[1:2] in b"1234567":
        return "PPM"
    return None


def _tail_problem(fmt: str, data_tail: bytes, whole: bool) -> str | None:
    """A missing end marker, from the last bytes of the file (``whole``: all of it)."""
    if fmt == "JPEG":
        if whole:
            sos = data_tail.rfind(b"\xff\xda")
            ok = sos >= 0 and data_tail.find(b"\xff\xd9", sos) >= 0
        else:
            # in entropy-coded data 0xFF is always stuffed, so FF D9 is the real marker
            ok = b"\xff\xd9" in data_tail
        return None if ok else "truncated: no JPEG end-of-image marker"
    if fmt == "PNG":
        return None if _PNG_IEND in data_tail else "truncated: no PNG IEND chunk"
    if fmt == "GIF":
        return None if data_tail.rstrip(b"\x00").endswith(b";") else "truncated: no GIF trailer"
    return None


def _safe_rel(name: str) -> str | None:
    """``name`` as a normalised relative path, or None when it would leave its folder
    (absolute, a drive, or ``..`` at the top): file names are untrusted."""
    rel = name.replace("\\", "/")
    if not rel or rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
        return None
    norm = posixpath.normpath(rel)
    if norm == ".." or norm.startswith("../"):
        return None
    return norm


def resolve_paths(root: Path | str | None, names: Sequence[str]) -> list[str | None]:
    """The file of each image name under ``root`` (None: it would leave ``root``). Names
    not found as given are looked up by base name, as the loader accepts them."""
    if root is None:
        return [None] * len(names)
    base = os.fspath(root)
    out: list[str | None] = []
    missing: list[int] = []
    for k, n in enumerate(names):
        rel = _safe_rel(n)
        if rel is None:
            out.append(None)
            continue
        p = os.path.join(base, rel)
        out.append(p)
        if not os.path.isfile(p):
            missing.append(k)
    if missing and os.path.isdir(base):
        from .images import list_images

        by_base: dict[str, str] = {}
        for rel in list_images(Path(base)):
            by_base.setdefault(rel.rsplit("/", 1)[-1], rel)
        for k in missing:
            if out[k] is None:
                continue
            hit = by_base.get(names[k].replace("\\", "/").rsplit("/", 1)[-1])
            if hit is not None:
                out[k] = os.path.join(base, hit)
    return out


def scan_image(path: Path | str | None, *, want_hash: bool = True) -> ImageScan:
    """Read, hash and decode one image file (never raises for a bad file)."""
    if path is None:
        return ImageScan("missing", "the file name leaves the image folder; not read")
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return ImageScan("missing", "image file not found")
    except IsADirectoryError:
        return ImageScan("unreadable", "is a folder, not an image file")
    except OSError as exc:
        return ImageScan("unreadable", f"cannot read the file: {exc.strerror or exc}")
    if not data:
        return ImageScan("unreadable", "empty file (0 bytes)")
    digest = hashlib.blake2b(data, digest_size=16).hexdigest()
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = int(im.size[0]), int(im.size[1])
            fmt = str(im.format or "")
            orient = _orientation(im)
            if not want_hash:
                im.draft("L", (_THUMB, _THUMB))
                im.load()
                gray = None
            else:
                im.draft("L", (_THUMB * 2, _THUMB * 2))
                im.load()
                small = im.convert("L")
                gray = small.resize((_THUMB, _THUMB), Image.Resampling.BOX)
                grad = small.resize((9, 8), Image.Resampling.BOX)
    except Image.DecompressionBombError as exc:
        return ImageScan("unreadable", f"refused: {exc}", digest=digest)
    except UnidentifiedImageError:
        fmt_guess = _magic(data[:16])
        what = (f"cannot decode the {fmt_guess} data" if fmt_guess
                else "not an image file (unknown format)")
        return ImageScan("unreadable", what, digest=digest)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types for bad files
        text = str(exc) or type(exc).__name__
        if "truncated" in text.lower():
            return ImageScan("truncated", "truncated: the image data ends early",
                             digest=digest)
        fmt_guess = _magic(data[:16]) or "image"
        return ImageScan("unreadable", f"cannot decode the {fmt_guess} data: {text}",
                         digest=digest)
    tail = _tail_problem(fmt, data[-_TAIL:], whole=len(data) <= _TAIL)
    if tail is not None:
        return ImageScan("truncated", tail, w, h, orient, digest)
    if gray is None:
        return ImageScan("ok", "", w, h, orient, digest)
    return ImageScan("ok", "", w, h, orient, digest, phash_bits(np.asarray(gray, np.float64)),
                     True, dhash_bits(np.asarray(grad, np.float64)))


def scan_images(root: Path | None, file_names: Sequence[str], *, want_hash: bool = True,
                workers: int | None = None, progress: Progress = None,
                skip: np.ndarray | None = None) -> list[ImageScan]:
    """:func:`scan_image` for every name (relative to ``root``), on ``workers`` threads
    (default: the CPU count, at most 8; Pillow and hashlib release the GIL).

    ``progress(done, total)`` is called from this thread now and then; returning
    False cancels (:class:`~detview.io.errors.Cancelled`). ``skip`` rows get an
    ``"ok"`` scan without reading (deleted images)."""
    n = len(file_names)
    paths = resolve_paths(root, file_names)
    out: list[ImageScan | None] = [None] * n
    todo = [i for i in range(n) if skip is None or not skip[i]]
    for i in range(n):
        if out[i] is None and skip is not None and skip[i]:
            out[i] = ImageScan("ok")
    total = len(todo)
    workers = max(1, min(8, os.cpu_count() or 1) if workers is None else workers)
    stop = threading.Event()

    def one(i: int) -> None:
        if not stop.is_set():
            out[i] = scan_image(paths[i], want_hash=want_hash)

    def tick(done: int) -> None:
        if progress is not None and progress(done, total) is False:
            stop.set()
            raise Cancelled("cancelled")

    if workers == 1 or total < 16:
        for k, i in enumerate(todo):
            if k % 64 == 0:
                tick(k)
            one(i)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="detview-health") as ex:
            pending: set[Future[None]] = set()
            it = iter(todo)
            done = 0
            try:
                for i in it:  # keep a bounded queue so cancelling is quick
                    pending.add(ex.submit(one, i))
                    if len(pending) >= workers * 4:
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for f in finished:
                            f.result()
                        done += len(finished)
                        tick(done)
                for f in pending:
                    f.result()
            except BaseException:
                stop.set()
                for f in pending:
                    f.cancel()
                raise
    tick(total)
    return [s if s is not None else ImageScan("missing", "not scanned") for s in out]


def check_dataset(ds: Dataset, images_root: Path | None = None,
                  options: HealthOptions | None = None, *, workers: int | None = None,
                  progress: Progress = None,
                  logger: logging.Logger | None = None) -> HealthReport:
    """Every check :data:`~detview.core.health.KINDS` names that ``options.kinds``
    selects. ``images_root`` defaults to ``ds.meta["images_root"]``; without one, only
    the annotation checks run. Deleted images and boxes are left out."""
    options = options or HealthOptions()
    kinds = set(options.kinds)
    unknown = kinds - set(KINDS)
    if unknown:
        raise ValueError(f"unknown check kinds {sorted(unknown)}")
    root = images_root if images_root is not None else (
        Path(ds.meta["images_root"]) if ds.meta.get("images_root") else None)
    images = ds.images
    n = len(images)
    findings: list[Finding] = []
    checked = set(kinds)
    file_w = images.widths.astype(np.float64)
    file_h = images.heights.astype(np.float64)
    bad_file: np.ndarray | None = None
    if root is not None and kinds & _FILE_KINDS:
        want_hash = "near_duplicate" in kinds
        scans = scan_images(root, images.file_names, want_hash=want_hash, workers=workers,
                            progress=progress, skip=images.deleted)
        status = [s.status for s in scans]
        bad_file = np.array([s != "ok" for s in status], dtype=bool)
        fw = np.array([s.width for s in scans], dtype=np.int64)
        fh = np.array([s.height for s in scans], dtype=np.int64)
        orient = np.array([s.orientation for s in scans], dtype=np.int64)
        findings += file_findings(images, status, [s.message for s in scans], fw, fh, orient,
                                  options)
        digests = [s.digest if s.status == "ok" else "" for s in scans]
        if "duplicate" in kinds:
            findings += duplicate_findings(images, digests)
        if "near_duplicate" in kinds:
            hashes = np.array([s.phash for s in scans], dtype=np.uint64)
            valid = np.array([s.hashed for s in scans], dtype=bool)
            second = np.array([s.dhash for s in scans], dtype=np.uint64)
            findings += near_duplicate_findings(images, hashes, valid, digests, options,
                                                second)
        # boxes are checked against the file where the annotations give no size
        ok = np.array([s == "ok" for s in status]) & ((file_w <= 0) | (file_h <= 0))
        file_w[ok] = fw[ok]
        file_h[ok] = fh[ok]
        if logger is not None:
            logger.debug("health: scanned %d images under %s", n, root)
    else:
        checked -= _FILE_KINDS
    findings += annotation_findings(images, ds.gt, ds.classes.names, options, file_w, file_h,
                                    not_unlabeled=bad_file)
    return build_report(images, ds.gt, ds.classes.names, findings, sorted(checked))


# =========================================================================== quick check
def quick_check_file(path: Path | str) -> str | None:
    """A problem with the file found from its first and last bytes, or None."""
    try:
        with open(path, "rb", buffering=0) as f:  # two small reads, no 8 KB buffer fills
            head = f.read(16)
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                return "empty file (0 bytes)"
            fmt = _magic(head)
            if fmt is None:
                return None if _pillow_knows(path) else "not an image file (unknown format)"
            if size > 64:  # the usual case first: the end marker is the last thing
                f.seek(size - 16)
                last = f.read().rstrip(b"\x00\r\n ")
                if (fmt == "JPEG" and last.endswith(b"\xff\xd9")) or (
                        fmt == "PNG" and last.endswith(_PNG_IEND)) or fmt not in (
                        "JPEG", "PNG", "GIF"):
                    return None
            whole = size <= _TAIL
            f.seek(0 if whole else size - _TAIL)
            tail = f.read()
    except FileNotFoundError:
        return None  # the loader reports missing files
    except OSError as exc:
        return f"cannot read the file: {exc.strerror or exc}"
    return _tail_problem(fmt, tail, whole)


def _pillow_knows(path: Path | str) -> bool:
    try:
        with Image.open(path) as im:
            return bool(im.size)
    except Exception:  # noqa: BLE001 - any failure means "cannot be read"
        return False


def quick_problems(ds: Dataset, images_root: Path | None = None, *,
                   progress: Progress = None) -> list[Problem]:
    """Warnings for image files that are not images or end early (no decoding: a
    header and tail read per file). Missing files are the loader's to report."""
    root = images_root if images_root is not None else (
        Path(ds.meta["images_root"]) if ds.meta.get("images_root") else None)
    if root is None or not Path(root).is_dir():
        return []
    names = ds.images.file_names
    paths = resolve_paths(root, names)
    out: list[Problem] = []
    for i, p in enumerate(paths):
        if ds.images.deleted[i] or p is None:
            continue
        msg = quick_check_file(p)
        if msg is not None:
            out.append(Problem(str(p), "", msg + "; 'detview check' examines every image",
                               "warning"))
        if progress is not None and i % 512 == 0 and progress(i, len(names)) is False:
            raise Cancelled("cancelled")
    return out
