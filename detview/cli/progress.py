"""Progress bars on a terminal: one bar per phase (load, match, accumulate, write).

:func:`progress_from_args` gives the commands a :class:`TerminalProgress` when stderr is
a terminal and ``--quiet`` was not given, else None (no output at all: a pipe, a log
file, a test). The bar is tqdm's, imported only when a bar is drawn. The callback is the
program's one progress protocol (:mod:`detview.core.progress`): library code calls it
with ``(done, total)`` and names phases through :func:`detview.core.progress.phase`.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Callable
from typing import IO, Any

__all__ = ["TerminalProgress", "add_quiet_option", "progress_from_args", "with_progress"]


def add_quiet_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bars, notes or warnings on stderr (errors only); "
                        "bars are drawn only when stderr is a terminal")


class TerminalProgress:
    """``progress(done, total)`` drawing a tqdm bar per phase on ``stream``.

    A phase whose size is not known yet shows its elapsed time (redrawn twice a
    second); the first call with a total turns it into a bar on the same line. Naming
    the phase that runs again (a reader giving the unit the loader did not know)
    changes nothing but the unit."""

    TICK = 0.5  # seconds between redraws of a bar that gets no calls

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self._bar: Any = None
        self._name = ""
        self._lock = threading.Lock()
        self._ticker: threading.Thread | None = None
        self._closed = threading.Event()
        self.phases: list[str] = []  # the phases started, in order

    # ------------------------------------------------------------------ phases
    def phase(self, name: str, unit: str = "") -> None:
        with self._lock:
            bar = self._bar
            if bar is not None and name == self._name and bar.n == 0:
                self._set_unit(bar, unit)
                return
            self._close_bar()
            self._name = name
            self.phases.append(name)
            self._bar = self._new_bar(unit)
        self._start_ticker()

    def _new_bar(self, unit: str) -> Any:
        from tqdm import tqdm

        bar = tqdm(total=None, desc=f"{self._name:<12}", file=self.stream, leave=True,
                   ncols=self._width(), nrows=24, mininterval=0.1, unit=unit or " it",
                   unit_scale=unit == "B", unit_divisor=1024 if unit == "B" else 1000,
                   bar_format="{desc}: {n_fmt}{unit} [{elapsed}]")
        return bar

    @staticmethod
    def _set_unit(bar: Any, unit: str) -> None:
        bar.unit = unit or " it"
        bar.unit_scale = unit == "B"
        bar.unit_divisor = 1024 if unit == "B" else 1000

    def _width(self) -> int:
        try:
            cols = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, ValueError, OSError):
            cols = 0
        return min(cols, 120) if cols > 20 else 80  # a pty without a size says 0x0

    # ------------------------------------------------------------------ calls
    def __call__(self, done: int, total: int) -> bool:
        if self._bar is None:
            self.phase("working")
        with self._lock:
            bar = self._bar
            if bar is None:
                return True
            if total and bar.total != total:
                bar.total = total
                bar.bar_format = None  # a real bar from now on
                bar.refresh()
            step = int(done) - bar.n
            if step > 0:
                bar.update(step)
        return True

    def _start_ticker(self) -> None:
        if self._ticker is not None:
            return

        def tick() -> None:
            while not self._closed.wait(self.TICK):
                with self._lock:
                    if self._bar is not None:
                        self._bar.refresh()

        self._ticker = threading.Thread(target=tick, name="detview-progress", daemon=True)
        self._ticker.start()

    # ------------------------------------------------------------------ end
    def _close_bar(self) -> None:
        bar = self._bar
        if bar is not None:
            if bar.total and bar.n < bar.total:
                bar.update(bar.total - bar.n)
            bar.close()
            self._bar = None

    def close(self) -> None:
        """End the bar shown (complete); a later phase opens a new one."""
        with self._lock:
            self._close_bar()

    def finish(self) -> None:
        """End the bar shown and the redraws."""
        self.close()
        self._closed.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None

    def __enter__(self) -> TerminalProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty()) and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def with_progress(args: argparse.Namespace, body: Callable[..., int], *before: Any) -> int:
    """``body(*before, bar)`` with the terminal bar ``args`` asks for (or None), the bar
    finished however the body ends."""
    bar = progress_from_args(args)
    try:
        return body(*before, bar)
    finally:
        if bar is not None:
            bar.finish()


def progress_from_args(args: argparse.Namespace,
                       stream: IO[str] | None = None) -> TerminalProgress | None:
    """A bar on stderr when it is a terminal and ``--quiet`` is not set; else None."""
    stream = stream if stream is not None else sys.stderr
    if getattr(args, "quiet", False) or not _is_terminal(stream):
        return None
    return TerminalProgress(stream)
