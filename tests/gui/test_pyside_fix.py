"""The guard against PySide6 6.12's stolen references to True and None."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal

import detview.gui  # noqa: F401 - applies the guard
from detview.gui._pyside_fix import guard_singleton_refcounts


class _Probe(QObject):
    ping = Signal()


def test_singletons_survive_many_calls() -> None:
    if sys.version_info < (3, 12):
        applied = guard_singleton_refcounts()
        if applied:
            assert sys.getrefcount(True) > 1 << 39
            assert sys.getrefcount(None) > 1 << 39
    p = _Probe()
    for _ in range(20_000):  # each would steal a reference without the guard
        p.ping.emit()
        p.setObjectName("x")
    assert True is not False and None is None
