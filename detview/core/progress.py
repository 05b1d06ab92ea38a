"""Progress reporting: one callback type for the whole program, with named phases.

Long work takes ``progress(done, total) -> bool`` (False: stop, the caller raises
:class:`~detview.io.errors.Cancelled` or returns early). A callback may also name the
phase that starts (``load``, ``match``, ``accumulate``, ``write``): it has a ``phase``
method, and :func:`phase` calls it when it is there; a plain function is left alone.
The command line draws one bar per phase on a terminal; the GUI's task runner feeds
its progress bar from the same calls.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["PhasedProgress", "Progress", "phase", "report"]

Progress = Callable[[int, int], bool]


@runtime_checkable
class PhasedProgress(Protocol):
    """A progress callback that is told when a phase starts; ``unit`` is what
    ``done`` and ``total`` count ("B" for bytes, "" for items)."""

    def __call__(self, done: int, total: int) -> bool: ...

    def phase(self, name: str, unit: str = "") -> None: ...


def phase(progress: Progress | None, name: str, unit: str = "") -> None:
    """Tell ``progress`` that the phase ``name`` starts (nothing when it does not
    take phases)."""
    fn = getattr(progress, "phase", None)
    if fn is not None:
        fn(name, unit)


def report(progress: Progress | None, done: int, total: int) -> bool:
    """``progress(done, total)``; True (go on) when there is no callback."""
    return True if progress is None else progress(done, total) is not False
