"""Work off the GUI thread: the session's task runner delivering on the Qt event loop,
and the image decoder cache."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QRunnable, Qt, QThreadPool, Signal, Slot

from detview.session.tasks import TaskRunner

__all__ = ["ImageLoader", "decode_image", "qt_runner"]


class _Poster(QObject):
    """Runs callables posted from worker threads on the thread it lives in (the GUI's)."""

    posted = Signal(object)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.posted.connect(self._run, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _run(self, fn: Callable[[], None]) -> None:
        fn()


def qt_runner(parent: QObject) -> TaskRunner:
    """A :class:`~detview.session.tasks.TaskRunner` whose outcomes arrive on the Qt
    event loop of ``parent``'s thread: the GUI thread never waits on a worker."""
    poster = _Poster(parent)

    def post(fn: Callable[[], None]) -> None:
        try:
            poster.posted.emit(fn)
        except RuntimeError:  # the window is gone: nobody is left to tell
            pass

    return TaskRunner(post=post)


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
        """The window is closing: drop the decodes not started, let a running one (one
        image, milliseconds) end before the pool goes away."""
        self.pool.clear()
        self.pool.waitForDone(2000)
