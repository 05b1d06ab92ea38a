"""The guard against PySide6 6.12's stolen references to True and None."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

import detview.gui  # noqa: F401 - applies the guard
from detview.gui._pyside_fix import guard_singleton_refcounts, leaks


class _Probe(QObject):
    ping = Signal()


def test_singletons_survive_many_calls() -> None:
    applied = guard_singleton_refcounts()
    leaking = leaks(64)
    p = _Probe()
    t0, n0 = sys.getrefcount(True), sys.getrefcount(None)
    for _ in range(20_000):  # each would steal a reference without the guard
        p.ping.emit()
        p.setObjectName("x")
    t1, n1 = sys.getrefcount(True), sys.getrefcount(None)
    if applied:
        # the stolen references come out of the guard's reserve, far from zero
        assert leaking["True"] or leaking["None"]
        assert t1 > 1 << 39 and n1 > 1 << 39
    else:
        # no guard: then nothing may be stolen here (a fixed PySide, or immortal
        # singletons on CPython 3.12+), else CPython would abort later
        assert not (leaking["True"] or leaking["None"]) or sys.version_info >= (3, 12)
        assert t0 - t1 < 1000 and n0 - n1 < 1000
