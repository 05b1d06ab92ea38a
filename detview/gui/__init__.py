"""detview's desktop GUI (PySide6 + pyqtgraph). Entry point: :func:`detview.gui.app.main`."""

from ._pyside_fix import guard_singleton_refcounts

guard_singleton_refcounts()
