"""Light and dark themes. ``system`` follows the desktop's colour scheme (and its
changes while detview runs); ``light`` and ``dark`` force one. Both are Fusion palettes,
so every widget (tables, docks, dialogs) follows; the image panes keep their dark
background in both."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["THEMES", "apply_theme", "is_dark", "system_is_dark"]

THEMES = {"system": "Follow the system", "light": "Light", "dark": "Dark"}

_state = {"theme": "system", "connected": False}


def system_is_dark() -> bool:
    """The desktop asks for a dark scheme (Qt 6.5+ reads it from the platform)."""
    hints = QGuiApplication.styleHints()
    scheme = getattr(hints, "colorScheme", None)
    if scheme is None:  # pragma: no cover - Qt < 6.5
        return False
    return bool(scheme() == Qt.ColorScheme.Dark)


def _dark_palette() -> QPalette:
    p = QPalette()
    base, window, text = QColor(30, 31, 34), QColor(43, 45, 48), QColor(223, 225, 229)
    disabled = QColor(120, 122, 126)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: QColor(38, 40, 43),
        QPalette.ColorRole.ToolTipBase: QColor(55, 57, 61),
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor(140, 142, 146),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: QColor(52, 54, 58),
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Light: QColor(70, 72, 76),
        QPalette.ColorRole.Midlight: QColor(60, 62, 66),
        QPalette.ColorRole.Mid: QColor(48, 50, 54),
        QPalette.ColorRole.Dark: QColor(25, 26, 28),
        QPalette.ColorRole.Shadow: QColor(10, 10, 10),
        QPalette.ColorRole.Highlight: QColor(53, 116, 200),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(110, 165, 240),
        QPalette.ColorRole.LinkVisited: QColor(170, 140, 230),
    }
    for role, color in roles.items():
        p.setColor(role, color)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText,
                 QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return p


def _light_palette() -> QPalette:
    app = QApplication.instance()
    style = app.style() if isinstance(app, QApplication) else None
    return style.standardPalette() if style is not None else QPalette()


def is_dark(theme: str | None = None) -> bool:
    t = _state["theme"] if theme is None else theme
    return t == "dark" or (t == "system" and system_is_dark())


def apply_theme(theme: str) -> bool:
    """Set the application's palette for ``theme``; True when it is dark."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return False
    _state["theme"] = theme if theme in THEMES else "system"
    dark = is_dark()
    app.setPalette(_dark_palette() if dark else _light_palette())
    hints = QGuiApplication.styleHints()
    if not _state["connected"] and hasattr(hints, "colorSchemeChanged"):
        hints.colorSchemeChanged.connect(_on_system_changed)
        _state["connected"] = True
    return dark


def _on_system_changed(*_args: object) -> None:
    if _state["theme"] == "system":
        apply_theme("system")
