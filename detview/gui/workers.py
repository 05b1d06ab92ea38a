"""Work off the GUI thread: a cancellable task runner and the image decoder cache."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal, Slot

__all__ = ["Task", "ImageLoader", "decode_image", "Cancelled"]

Progress = Callable[[int, int], bool]


class Cancelled(Exception):
    """The user pressed Cancel."""


class _TaskThread(QThread):
    progressed = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(object)

    def __init__(self, fn: Callable[[Progress], Any], cancel: threading.Event) -> None:
        super().__init__()
        self.fn = fn
        self.cancel = cancel

    def run(self) -> None:
        def progress(done: int, total: int) -> bool:
            self.progressed.emit(int(done), int(total))
            return not self.cancel.is_set()

        try:
            result = self.fn(progress)
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI thread
            if self.cancel.is_set() or isinstance(exc, InterruptedError):
                exc = Cancelled()
            self.failed.emit(exc)
            return
        if self.cancel.is_set():
            self.failed.emit(Cancelled())
        else:
            self.succeeded.emit(result)


class Task(QObject):
    """Run ``fn(progress)`` in a thread. ``progress(done, total)`` returns False once
    :meth:`cancel` was called; ``fn`` should then stop (raise or return).

    Signals are delivered on the GUI thread: ``progressed(done, total)``,
    ``succeeded(result)``, ``failed(exception)`` (a :class:`Cancelled` when cancelled),
    and ``finished()`` after either.
    """

    progressed = Signal(int, int)
    succeeded = Signal(object)
    failed = Signal(object)
    finished = Signal()

    def __init__(self, fn: Callable[[Progress], Any], label: str = "",
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self._cancel = threading.Event()
        self._thread = _TaskThread(fn, self._cancel)
        self._thread.progressed.connect(self.progressed)
        self._thread.succeeded.connect(self._ok)
        self._thread.failed.connect(self._fail)
        self.done = False

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def wait(self, ms: int = -1) -> bool:
        return self._thread.wait(ms) if ms >= 0 else self._thread.wait()

    def _ok(self, result: Any) -> None:
        self._thread.wait()  # run() has returned (the signal was its last act)
        self.done = True
        self.succeeded.emit(result)
        self.finished.emit()

    def _fail(self, exc: Any) -> None:
        self._thread.wait()
        self.done = True
        self.failed.emit(exc)
        self.finished.emit()


def decode_image(path: Path) -> np.ndarray:
    """Decode an image file to a row-major uint8 array (H, W, 3) or (H, W)."""
    from PIL import Image

    with Image.open(path) as im:
        if im.mode not in ("RGB", "L"):
            im = im.convert("RGB")
        else:
            im.load()
        return np.asarray(im)


class _DecodeJob(QRunnable):
    def __init__(self, loader: ImageLoader, key: int, path: Path) -> None:
        super().__init__()
        self.loader, self.key, self.path = loader, key, path

    def run(self) -> None:
        try:
            arr: Any = decode_image(self.path)
        except Exception as exc:  # noqa: BLE001 - shown in the viewer
            arr = exc
        self.loader._done.emit(self.key, str(self.path), arr)


class ImageLoader(QObject):
    """Decodes images in a thread pool, keeps the last ``size`` decoded in memory.

    ``loaded(image_index, array)`` and ``failed(image_index, message)`` are emitted
    on the GUI thread.
    """

    loaded = Signal(int, object)
    failed = Signal(int, str)
    _done = Signal(int, str, object)

    def __init__(self, size: int = 24, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.size = size
        self.cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.pending: set[str] = set()
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(2)
        self._done.connect(self._on_done)

    def cached(self, path: Path) -> np.ndarray | None:
        arr = self.cache.get(str(path))
        if arr is not None:
            self.cache.move_to_end(str(path))
        return arr

    def request(self, key: int, path: Path) -> np.ndarray | None:
        """The array when cached; else start decoding and return None."""
        arr = self.cached(path)
        if arr is not None:
            return arr
        if str(path) not in self.pending:
            self.pending.add(str(path))
            self.pool.start(_DecodeJob(self, key, path))
        return None

    def load_now(self, key: int, path: Path) -> np.ndarray:
        """Decode on the calling thread (screenshots); raises on failure."""
        arr = self.cached(path)
        if arr is None:
            arr = decode_image(path)
            self._store(str(path), arr)
        return arr

    def _store(self, path: str, arr: np.ndarray) -> None:
        self.cache[path] = arr
        self.cache.move_to_end(path)
        while len(self.cache) > self.size:
            self.cache.popitem(last=False)

    @Slot(int, str, object)
    def _on_done(self, key: int, path: str, arr: object) -> None:
        self.pending.discard(path)
        if isinstance(arr, np.ndarray):
            self._store(path, arr)
            self.loaded.emit(key, arr)
        else:
            self.failed.emit(key, f"{path}: {arr}")

    def shutdown(self) -> None:
        self.pool.clear()
        self.pool.waitForDone(2000)
