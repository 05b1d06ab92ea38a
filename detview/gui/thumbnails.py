"""Thumbnails of whole images and of box crops: decoded in a worker pool, cached in
memory and on disk.

* Decoding uses Pillow's draft mode for JPEG (the decoder scales by 1/2, 1/4 or 1/8
  while it decodes, so a crop of a 4000 px photo costs a fraction of a full decode)
  and keeps the last few decoded images, since neighbouring crops often share one.
* The disk cache lives under the user cache directory (``$XDG_CACHE_HOME/detview/
  thumbnails`` or Qt's cache location), one small JPEG per thumbnail, keyed by the file's
  path, modification time and size, the box and the thumbnail size: an edited image
  file or a moved box makes a new key, never a stale picture.
  Its size is capped (``cache_limit``, default :data:`DEFAULT_CACHE_MB` MB, the
  setting ``cache/thumbnails_mb``): least recently used first (a thumbnail read from
  the cache gets a new modification time), the oldest files are removed down to 80 %
  of the cap, on a background thread, when the service starts and after each
  tenth of the cap written.
* Requests are served last-in first-out (what was just scrolled to comes first) and
  :meth:`ThumbnailService.retain` drops the queued ones no longer on screen, so a fast
  scroll over 50,000 crops decodes only what stops on screen.

``ready(key)`` is emitted on the GUI thread when a thumbnail arrives.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QStandardPaths, Signal
from PySide6.QtGui import QImage

__all__ = ["DEFAULT_CACHE_MB", "Thumb", "ThumbnailService", "default_cache_dir",
           "make_thumbnail", "prune_cache"]

#: the disk cache's default cap, in MB (the setting ``cache/thumbnails_mb``)
DEFAULT_CACHE_MB = 500

XYXY = tuple[float, float, float, float]


@dataclass(frozen=True)
class Thumb:
    """What to draw: the image file, the box (None: the whole image), the size."""

    path: str
    box: XYXY | None
    size: int

    @property
    def key(self) -> tuple[str, XYXY | None, int]:
        return (self.path, self.box, self.size)


def default_cache_dir() -> Path:
    """``$DETVIEW_CACHE_DIR`` or ``$XDG_CACHE_HOME/detview/thumbnails`` or Qt's cache
    location for the application."""
    env = os.environ.get("DETVIEW_CACHE_DIR")
    if env:
        return Path(env) / "thumbnails"
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg) / "detview" / "thumbnails"
    loc = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.GenericCacheLocation)
    return Path(loc or Path.home() / ".cache") / "detview" / "thumbnails"


def prune_cache(cache_dir: Path, max_bytes: int, keep: float = 0.8) -> tuple[int, int]:
    """Remove the least recently used thumbnails (oldest modification time first) of
    ``cache_dir`` until it holds at most ``keep * max_bytes``, when it holds more than
    ``max_bytes``; returns (files removed, bytes freed). Files that vanish or cannot
    be removed meanwhile are skipped (another process may share the cache)."""
    files: list[tuple[int, str, int]] = []
    total = 0
    try:
        subdirs = list(os.scandir(cache_dir))
    except OSError:
        return 0, 0
    for sub in subdirs:
        if not sub.is_dir(follow_symlinks=False):
            continue
        try:
            entries = list(os.scandir(sub.path))
        except OSError:
            continue
        for e in entries:
            if not e.name.endswith(".jpg"):
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            files.append((st.st_mtime_ns, e.path, st.st_size))
            total += st.st_size
    if total <= max_bytes:
        return 0, 0
    files.sort()
    goal = int(max_bytes * keep)
    removed = freed = 0
    for _t, path, size in files:
        if total - freed <= goal:
            break
        try:
            os.remove(path)
        except OSError:
            continue
        removed += 1
        freed += size
    return removed, freed


def _setting_limit() -> int:
    """The setting ``cache/thumbnails_mb`` in bytes (DEFAULT_CACHE_MB when unset)."""
    try:
        from .settings import AppSettings

        return AppSettings().thumbnail_cache_mb() * 1024 * 1024
    except Exception:  # noqa: BLE001 - no settings store: the default
        return DEFAULT_CACHE_MB * 1024 * 1024


_PAD = 0.15  # context around a box, as a share of its size


def make_thumbnail(path: str, box: XYXY | None, size: int, decoded: _Decoded | None = None
                   ) -> QImage:
    """Decode (draft mode where the format allows) and cut ``box`` with some context
    around it, fitted in ``size`` x ``size``. Raises OSError/ValueError on a bad file."""
    from PIL import Image

    def open_scaled() -> tuple[Image.Image, float]:
        im = Image.open(path)
        full_w, full_h = im.size
        if box is None:
            want = size / max(full_w, full_h, 1)
        else:
            bw = max(box[2] - box[0], 1.0) * (1 + 2 * _PAD)
            bh = max(box[3] - box[1], 1.0) * (1 + 2 * _PAD)
            want = size / max(bw, bh)
        if want < 1 and im.format == "JPEG":
            im.draft("RGB", (max(1, int(full_w * want)), max(1, int(full_h * want))))
        im = im.convert("RGB")
        return im, full_w / max(im.size[0], 1)

    if decoded is not None:
        im, f = decoded.get(path, box, size, open_scaled)
    else:
        im, f = open_scaled()
    if box is not None:
        a, b, c, d = (v / f for v in box)
        # any box: corners in order, NaN as 0 (a degenerate or outside box still shows
        # where it is, cut at the image border)
        a, b, c, d = (0.0 if v != v else v for v in (a, b, c, d))
        x1, x2, y1, y2 = min(a, c), max(a, c), min(b, d), max(b, d)
        bw, bh = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        side = max(bw, bh) * (1 + 2 * _PAD)
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        w, h = im.size
        left = int(max(0, min(cx - side / 2, w - 1)))
        top = int(max(0, min(cy - side / 2, h - 1)))
        right = int(min(w, max(cx + side / 2, left + 1)))
        bottom = int(min(h, max(cy + side / 2, top + 1)))
        im = im.crop((left, top, right, bottom))
        # fitted in size x size, small boxes enlarged too, the box outlined
        scale = size / max(im.size)
        im = im.resize((max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale))),
                       Image.Resampling.BILINEAR if scale > 1 else Image.Resampling.LANCZOS)
        from PIL import ImageDraw

        draw = ImageDraw.Draw(im)
        rx1, ry1 = (x1 - left) * scale, (y1 - top) * scale
        r = [rx1, ry1, max(rx1, (x2 - left) * scale - 1), max(ry1, (y2 - top) * scale - 1)]
        draw.rectangle([r[0] - 1, r[1] - 1, r[2] + 1, r[3] + 1], outline=(0, 0, 0))
        draw.rectangle(r, outline=(255, 230, 0))
    else:
        im.thumbnail((size, size))
    data = im.tobytes("raw", "RGB")
    q = QImage(data, im.size[0], im.size[1], 3 * im.size[0], QImage.Format.Format_RGB888)
    # the painter's own format: drawn without a conversion on every repaint
    return q.convertToFormat(QImage.Format.Format_RGB32)


class _Decoded:
    """The last few decoded images (shared by the workers)."""

    def __init__(self, n: int = 6) -> None:
        self.n = n
        self.lock = threading.Lock()
        self.items: OrderedDict[tuple[str, float], tuple[object, float]] = OrderedDict()

    def get(self, path: str, box: XYXY | None, size: int, load):  # type: ignore[no-untyped-def]
        with self.lock:
            for (p, _s), (im, f) in reversed(self.items.items()):
                if p == path and self._enough(im, f, box, size):
                    return im, f
        im, f = load()
        with self.lock:
            self.items[(path, f)] = (im, f)
            while len(self.items) > self.n:
                self.items.popitem(last=False)
        return im, f

    @staticmethod
    def _enough(im: object, f: float, box: XYXY | None, size: int) -> bool:
        if box is None:
            return True
        side = max(box[2] - box[0], box[3] - box[1], 1.0) * (1 + 2 * _PAD) / f
        return side >= size * 0.95 or f <= 1.0


class ThumbnailService(QObject):
    """Thumbnails on request. :meth:`get` returns one from memory or None (and queues
    it); ``ready(key)`` says when it arrived."""

    ready = Signal(object)
    failed = Signal(object, str)
    _arrived = Signal(object, object, str)

    def __init__(self, cache_dir: Path | None = None, workers: int | None = None,
                 memory: int = 2500, parent: QObject | None = None,
                 cache_limit: int | None = None) -> None:
        super().__init__(parent)
        self.cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        #: the disk cache's cap in bytes (None: the setting, else DEFAULT_CACHE_MB)
        self.cache_limit = cache_limit if cache_limit is not None else _setting_limit()
        self._written = 0  # bytes written since the last pruning (workers, under _cv)
        self._pruner: threading.Thread | None = None
        #: (files removed, bytes freed) of every pruning so far (tests)
        self.pruned: list[tuple[int, int]] = []
        self.memory = memory
        self._mem: OrderedDict[tuple[str, XYXY | None, int], QImage] = OrderedDict()
        self._bad: dict[tuple[str, XYXY | None, int], str] = {}
        # waiting requests: keys on a stack (last asked, first made; a key asked again
        # is pushed again, its older place skipped), the thumbs by key; in the works
        self._stack: list[tuple[str, XYXY | None, int]] = []
        self._queued: dict[tuple[str, XYXY | None, int], Thumb] = {}
        self._inflight: set[tuple[str, XYXY | None, int]] = set()
        self._cv = threading.Condition()
        self._stop = False
        self._decoded = _Decoded()
        #: counters (tests, benchmark): decoded from the file, read from the disk cache
        self.decoded = 0
        self.from_disk = 0
        self._arrived.connect(self._deliver)  # queued: workers emit, the GUI receives
        # one core stays with the GUI thread (scrolling); Pillow decodes without the GIL
        self._n_workers = max(1, workers if workers is not None
                              else min(4, (os.cpu_count() or 2) - 1))
        self._threads: list[threading.Thread] = []  # started on the first request

    # ------------------------------------------------------------------ GUI thread
    def get(self, thumb: Thumb) -> QImage | None:
        key = thumb.key
        img = self._mem.get(key)
        if img is not None:
            self._mem.move_to_end(key)
            return img
        if key in self._bad:
            return None
        with self._cv:
            if key in self._inflight:
                return None
            if key in self._queued:  # waiting: to the front (it is on screen again)
                if self._stack and self._stack[-1] != key:
                    self._stack.append(key)
                    if len(self._stack) > 4 * len(self._queued) + 256:
                        self._compact()
                return None
            self._queued[key] = thumb
            self._stack.append(key)
            self._cv.notify()
        if not self._threads:
            self._threads = [threading.Thread(target=self._work, daemon=True,
                                              name=f"detview-thumbs-{k}")
                             for k in range(self._n_workers)]
            for t in self._threads:
                t.start()
            self._prune()  # what earlier sessions left
        return None

    def error(self, thumb: Thumb) -> str:
        return self._bad.get(thumb.key, "")

    def retain(self, thumbs: Iterable[Thumb]) -> int:
        """Drop queued requests not in ``thumbs`` (what is on screen); returns how many
        were dropped."""
        keep = {t.key for t in thumbs}
        with self._cv:
            old = len(self._queued)
            self._queued = {k: t for k, t in self._queued.items() if k in keep}
            self._compact()
            return old - len(self._queued)

    def _compact(self) -> None:
        """The stack without dropped keys and older duplicates (lock held)."""
        seen: set[tuple[str, XYXY | None, int]] = set()
        out = []
        for k in reversed(self._stack):
            if k in self._queued and k not in seen:
                seen.add(k)
                out.append(k)
        out.reverse()
        self._stack = out

    def pending(self) -> int:
        """Requests waiting or being made."""
        with self._cv:
            return len(self._queued) + len(self._inflight)

    def clear_memory(self) -> None:
        self._mem.clear()
        self._bad.clear()

    def _prune(self) -> None:
        """Prune the disk cache on a background thread (one at a time)."""
        with self._cv:
            if self._pruner is not None and self._pruner.is_alive():
                return
            self._written = 0
            t = threading.Thread(target=self._run_prune, daemon=True,
                                 name="detview-thumbs-prune")
            self._pruner = t
        t.start()

    def _run_prune(self) -> None:
        self.pruned.append(prune_cache(self.cache_dir, self.cache_limit))

    def wait_pruned(self, timeout: float = 10.0) -> None:
        """Wait for a pruning in progress (tests, shutdown)."""
        t = self._pruner
        if t is not None:
            t.join(timeout)

    def shutdown(self) -> None:
        with self._cv:
            self._stop = True
            self._stack.clear()
            self._queued.clear()
            self._cv.notify_all()
        for t in self._threads:
            t.join(2.0)

    def _deliver(self, thumb: Thumb, img: QImage | None, err: str) -> None:
        key = thumb.key
        with self._cv:
            self._inflight.discard(key)
        if img is None:
            self._bad[key] = err
            self.failed.emit(key, err)
            return
        self._mem[key] = img
        while len(self._mem) > self.memory:
            self._mem.popitem(last=False)
        self.ready.emit(key)

    # ------------------------------------------------------------------ workers
    def _disk_path(self, thumb: Thumb) -> Path | None:
        try:
            st = os.stat(thumb.path)
        except OSError:
            return None
        box = "" if thumb.box is None else ",".join(f"{v:.2f}" for v in thumb.box)
        raw = f"{os.path.abspath(thumb.path)}|{st.st_mtime_ns}|{st.st_size}|{box}|{thumb.size}"
        h = hashlib.blake2b(raw.encode("utf-8", "surrogateescape"), digest_size=16).hexdigest()
        return self.cache_dir / h[:2] / f"{h}.jpg"

    def _work(self) -> None:
        while True:
            with self._cv:
                thumb = None
                while thumb is None:
                    while not self._stack and not self._stop:
                        self._cv.wait()
                    if self._stop:
                        return
                    key = self._stack.pop()
                    thumb = self._queued.pop(key, None)  # None: dropped or made already
                self._inflight.add(thumb.key)
            img, err = self._make(thumb)
            if self._stop:
                return
            self._post(thumb, img, err)

    def _post(self, thumb: Thumb, img: QImage | None, err: str) -> None:
        # delivered on the GUI thread (the signal crosses threads queued)
        try:
            self._arrived.emit(thumb, img, err)
        except RuntimeError:  # the service is gone
            pass

    def _make(self, thumb: Thumb) -> tuple[QImage | None, str]:
        disk = self._disk_path(thumb)
        if disk is not None and disk.is_file():
            img = QImage(str(disk))
            if not img.isNull():
                self.from_disk += 1
                try:  # used now: the last one pruning removes
                    os.utime(disk)
                except OSError:
                    pass
                if img.format() != QImage.Format.Format_RGB32:
                    img = img.convertToFormat(QImage.Format.Format_RGB32)
                return img, ""
        try:
            img = make_thumbnail(thumb.path, thumb.box, thumb.size, self._decoded)
        except Exception as exc:  # noqa: BLE001 - shown on the crop, never fatal
            return None, f"{type(exc).__name__}: {exc}"
        self.decoded += 1
        if disk is not None:
            try:
                disk.parent.mkdir(parents=True, exist_ok=True)
                tmp = disk.with_suffix(f".{threading.get_ident()}.tmp")
                if img.save(str(tmp), "JPG", 88):
                    os.replace(tmp, disk)
                    with self._cv:
                        self._written += disk.stat().st_size
                        due = self._written > self.cache_limit // 10
                    if due:
                        self._prune()
            except OSError:  # a read-only cache: thumbnails are made again next time
                pass
        return img, ""
