"""Work around reference-count bugs of PySide6 6.12.0 on CPython < 3.12.

There, ``SignalInstance.emit()`` returns ``Py_True`` and methods returning ``void``
(``QUndoStack.undo``, ``QTimer.start``, ``QWidget.setToolTip``,
``QApplication.processEvents``...) return ``Py_None`` without taking a reference:
every call steals one reference to ``True`` or ``None``. After some thousands of calls
(minutes of browsing: pyqtgraph makes many per repaint) CPython aborts with
"Fatal Python error: bool_dealloc / none_dealloc", at the latest at exit.

The guard measures the leak and, only where it is present, gives the singletons a
very large reference count (as CPython 3.12+ does by making them immortal), so the
stolen references can never bring them to zero.
"""

from __future__ import annotations

import ctypes
import sys

__all__ = ["guard_singleton_refcounts", "guard_bool_refcount", "leaks"]

_applied = False
_BIG = 1 << 40


def leaks(n: int = 16) -> dict[str, bool]:
    """Whether PySide steals references to True (emit) and None (void methods)."""
    from PySide6.QtCore import QObject, Signal

    class _Probe(QObject):
        ping = Signal()

    probe = _Probe()
    t0, n0 = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(n):
        probe.ping.emit()
    t1 = sys.getrefcount(True)
    for _ in range(n):
        probe.setObjectName("probe")
    n1 = sys.getrefcount(None)
    return {"True": t0 - t1 >= n, "None": n0 - n1 >= n}


def guard_singleton_refcounts() -> bool:
    """Apply the guard when needed; True when it was applied (now or before)."""
    global _applied
    if _applied:
        return True
    if sys.version_info >= (3, 12) or not hasattr(sys, "getrefcount"):
        return False  # the singletons are immortal there
    found = leaks()
    if not any(found.values()):
        return False
    for obj in (True, False, None):
        ctypes.c_ssize_t.from_address(id(obj)).value += _BIG
    _applied = True
    return True


guard_bool_refcount = guard_singleton_refcounts  # earlier name
