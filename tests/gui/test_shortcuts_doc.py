"""README's keyboard table, Help > Keyboard shortcuts and the window's actions all come
from one table (detview/gui/shortcuts.py)."""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtGui import QKeySequence

from detview.gui.shortcuts import SHORTCUTS, markdown_table, rows
from tests.gui.conftest import REPO


def _readme_table() -> list[tuple[str, str, str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    m = re.search(r"^## Keyboard shortcuts\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert m, "README has no '## Keyboard shortcuts' section"
    out = []
    for line in m.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] not in ("group", "---"):
            out.append((cells[0], cells[1].strip("`"), cells[2]))
    return out


def test_readme_lists_exactly_the_shortcut_table() -> None:
    readme = _readme_table()
    assert readme == rows()  # every README row exists in the table and vice versa
    assert markdown_table() in (REPO / "README.md").read_text(encoding="utf-8")


def test_help_dialog_and_actions_use_the_same_table(window: Any) -> None:
    window.show_shortcuts()
    t = window._shortcuts_dialog.table
    shown = [tuple(t.item(r, c).text() for c in range(3)) for r in range(t.rowCount())]
    window._shortcuts_dialog.close()
    assert shown == rows()
    for s in SHORTCUTS:
        a = window.actions_by_name[s.name]
        assert [k.toString() for k in a.shortcuts()] == [
            QKeySequence(k).toString() for k in s.keys]
    # no key bound twice
    keys = [QKeySequence(k).toString() for s in SHORTCUTS for k in s.keys]
    assert len(keys) == len(set(keys))


def test_the_object_grid_keys_are_rows_of_the_table() -> None:
    """Every key the Objects grid acts on itself (object_grid_view._ACT_KEYS, and
    select-all) is listed, under "Objects grid", in the table README and Help show."""
    from PySide6.QtCore import Qt

    from detview.gui.object_grid_view import _ACT_KEYS

    grid = [(k, t) for g, k, t in rows() if g == "Objects grid"]
    listed = {part.strip() for k, _t in grid for part in k.split("/")}
    names = {Qt.Key.Key_Delete: "Del", Qt.Key.Key_Backspace: "Backspace",
             Qt.Key.Key_Return: "Return", Qt.Key.Key_Enter: "Enter"}
    for key in _ACT_KEYS:
        name = names.get(key) or QKeySequence(int(key)).toString()
        assert name in listed, f"the grid's key {name} is not in the shortcut table"
    assert "Ctrl+A" in listed
    readme = _readme_table()
    assert all(("Objects grid", k, t) in readme for k, t in grid)
