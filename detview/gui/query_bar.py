"""The query bar over the image list: one line for plain text and queries.

The image list's filter box becomes this bar's line edit (same widget, same Ctrl+F,
same keys). What is typed is read as

* a **query** (``mean_iou < 0.5 and fp >= 2``, ``class == "person"``, ``fp[dog] > 3``)
  when it has an operator, a bracket, a quote or a keyword (``and``, ``or``, ``not``,
  ``in``): the language of ``detview eval --where`` (:mod:`detview.core.query`), with
  completion of column, class and tag names (Ctrl+Space, or as you type) and an inline
  error that points at the bad part; the list shows what matches;
* **plain text** otherwise (file name, ``#tag``, ``class:NAME``, ``reviewed``...), the
  filter the list always had.

The chip on the left says which. A plot's drill-down (a confusion cell, an error bar, a
histogram bin) adds a second filter shown as a chip under the line ("true dog →
predicted cat · 12 images ✕"), ordering the list most first. The Views button applies
and saves named views (:class:`~detview.session.views.SavedViews`, plain data the
window's settings persist).

The list follows through :meth:`ImageTableModel.set_mask` (a row mask and a ranking)
and :meth:`ImageTableModel.set_filter` (the plain text).
"""

from __future__ import annotations

import html
import re
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeyEvent, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QCompleter,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from detview.core.drilldown import Hits
from detview.core.query import SYNTAX_HELP, QueryError, SavedView, compile_query, complete
from detview.core.query import sort_rows as query_sort_rows
from detview.session.views import SavedViews, query_table

from .image_list import ImageListPane
from .session import QtSession

__all__ = ["QueryBar", "looks_like_query"]

_QUERY_RE = re.compile(r"[<>=!~\[\]()\"']|(?:^|\s)(?:and|or|not|in)(?:\s|$)", re.IGNORECASE)
_DEBOUNCE_MS = 150
_CHIP = ("QLabel {{ border-radius: 8px; padding: 1px 7px; color: white; "
         "background: {bg}; font-size: 11px; }}")


def looks_like_query(text: str) -> bool:
    """Whether the bar reads ``text`` as a query rather than plain filter words."""
    return bool(_QUERY_RE.search(text))


class QueryBar(QWidget):
    """The bar; ``attach`` puts it over an :class:`ImageListPane`."""

    applied = Signal()  # the list was filtered again
    drillCleared = Signal()  # noqa: N815
    drillToGrid = Signal()  # "Objects grid" on the drill-down chip  # noqa: N815

    def __init__(self, views: SavedViews | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.views = views if views is not None else SavedViews()
        self.pane: ImageListPane | None = None
        self.qs: QtSession | None = None
        self.edit = QLineEdit()
        self.mode = "text"
        self.error: QueryError | None = None
        self.drill: Hits | None = None
        self._query_mask: np.ndarray | None = None
        self._sort_rank: np.ndarray | None = None
        self._view_name = ""
        self._rank_fresh = False
        self._typing = False
        self.mode_chip = QLabel("text")
        self.mode_chip.setToolTip("Plain text: file name, #tag, class:NAME, reviewed, "
                                  "deleted.\nType an operator (<, ==, ~, [ ], and, or, not) "
                                  "and it becomes a query:\n\n" + SYNTAX_HELP)
        self.views_button = QToolButton()
        self.views_button.setText("Views")
        self.views_button.setToolTip("Saved views: a query and a sort, by name")
        self.views_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.views_menu = QMenu(self)
        self.views_menu.aboutToShow.connect(self._fill_views_menu)
        self.views_button.setMenu(self.views_menu)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.RichText)
        self.error_label.setStyleSheet("color: #b00020")
        self.error_label.setVisible(False)
        self.drill_label = QLabel()
        self.drill_label.setStyleSheet("color: #1a5fb4")
        self.drill_clear = QToolButton()
        self.drill_clear.setText("✕")
        self.drill_clear.setAutoRaise(True)
        self.drill_clear.setToolTip("Show every image again (Esc in the list keeps it)")
        self.drill_clear.clicked.connect(self.clear_drill)
        self.drill_grid = QToolButton()
        self.drill_grid.setText("Show in Objects grid")
        self.drill_grid.setAutoRaise(True)
        self.drill_grid.setToolTip("Show exactly these boxes as crops in the Objects grid")
        self.drill_grid.clicked.connect(self.drillToGrid)
        self._drill_row = QWidget()
        dr = QHBoxLayout(self._drill_row)
        dr.setContentsMargins(2, 0, 0, 0)
        dr.addWidget(self.drill_label, 1)
        dr.addWidget(self.drill_grid)
        dr.addWidget(self.drill_clear)
        self._drill_row.setVisible(False)
        self.completer = QCompleter(self)
        self.completer.setWidget(self.edit)
        self.completer.setCompletionMode(QCompleter.CompletionMode.UnfilteredPopupCompletion)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setMaxVisibleItems(12)
        self._cmodel = QStandardItemModel(self)
        self.completer.setModel(self._cmodel)
        self.completer.activated[QModelIndex].connect(  # type: ignore[index]
            lambda idx: self.insert_completion(str(idx.data(Qt.ItemDataRole.UserRole))))
        self._span = (0, 0)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(_DEBOUNCE_MS)
        self._timer.timeout.connect(self.apply)
        self._stale = QTimer(self)  # data changed: filter again once it settles
        self._stale.setSingleShot(True)
        self._stale.setInterval(300)
        self._stale.timeout.connect(lambda: self.apply(keep_current=True))
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(4)
        top.addWidget(self.mode_chip)
        top.addWidget(self.edit, 1)
        top.addWidget(self.views_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        lay.addLayout(top)
        lay.addWidget(self.error_label)
        lay.addWidget(self._drill_row)
        self._set_mode("text")

    # ================================================================== wiring
    def attach(self, pane: ImageListPane) -> None:
        """Take over ``pane``'s filter box: it becomes this bar's line edit."""
        self.pane = pane
        old = pane.filter_edit
        lay = pane.layout()
        lay.replaceWidget(old, self)
        top = self.layout().itemAt(0).layout()  # type: ignore[union-attr]
        top.replaceWidget(self.edit, old)
        self.edit.hide()  # out of the layout; still ours (Qt deletes it with the bar)
        self.edit.deleteLater()
        self.edit = old
        self.completer.setWidget(old)
        try:
            old.textChanged.disconnect(pane._on_filter)
        except (RuntimeError, TypeError):  # pragma: no cover - already not connected
            pass
        old.setPlaceholderText("Filter: text (file, #tag, class:NAME) or a query "
                               "(fp >= 2 and mean_iou < 0.5) · Ctrl+F")
        old.textChanged.connect(self._on_text)
        old.textEdited.connect(lambda _t: self._complete(auto=True))
        old.installEventFilter(self)

    def set_session(self, qs: QtSession | None) -> None:
        """Follow ``qs`` (the image list's model must already be the new one)."""
        old = self.qs
        if old is not None:
            for sig in (old.settingsChanged, old.derivedChanged):
                try:
                    sig.disconnect(self._data_changed)
                except (RuntimeError, TypeError):
                    pass
        self.qs = qs
        self.drill = None
        self._query_mask = None
        self._sort_rank = None
        self._drill_row.setVisible(False)
        if qs is not None:
            qs.settingsChanged.connect(self._data_changed)
            qs.derivedChanged.connect(self._data_changed)
            if self.edit.text():
                self.apply()

    def _data_changed(self, *_a: Any) -> None:
        if self.mode == "query" and self.edit.text().strip():
            self._stale.start()

    @property
    def model(self) -> Any:
        return self.pane.model if self.pane is not None else None

    # ================================================================== text
    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self.mode_chip.setText("query" if mode == "query" else "text")
        bg = {"query": "#1a73e8", "text": "#8a8a8a", "error": "#c62828"}[
            "error" if self.error is not None and not self._typing else mode]
        self.mode_chip.setStyleSheet(_CHIP.format(bg=bg))

    def _on_text(self, text: str) -> None:
        query = looks_like_query(text)
        if not query:
            self._timer.stop()
            self.apply()
        else:
            self._set_mode("query")
            self._timer.start()

    def apply(self, keep_current: bool = False) -> None:
        """Filter the list by the bar's text and the drill-down now."""
        self._timer.stop()
        m = self.model
        if m is None or self.qs is None:
            return
        text = self.edit.text()
        n = m.session.dataset.n_images
        drill = self.drill.per_image(n) if self.drill is not None else None
        self._show_error(None, text)
        if looks_like_query(text):
            self._set_mode("query")
            try:
                table = query_table(self.qs.session)
                q = compile_query(text, table)
                mask = q.mask(table)
            except QueryError as exc:
                self._show_error(exc, text)
                return  # the list stays as it was while the expression is broken
            self._query_mask = mask
            plain = ""
        else:
            self._set_mode("text")
            self._query_mask = None
            plain = text
        mask = self._query_mask
        if drill is not None:
            mask = (drill > 0) if mask is None else (mask & (drill > 0))
        if keep_current and mask is not None and self.pane is not None:
            cur = self.pane.current_image
            if 0 <= cur < n and not mask[cur]:  # the image being worked on stays
                mask = mask.copy()
                mask[cur] = True
        rank = drill if drill is not None else self._sort_rank
        if rank is not None and (self._rank_fresh or m.sort_key is None):
            if self.pane is not None:  # the ranking replaces a header sort
                self.pane.table.horizontalHeader().setSortIndicator(
                    -1, Qt.SortOrder.AscendingOrder)
        else:
            rank = None
        self._rank_fresh = False
        m.filter_text = plain  # the text filter and the mask in one reorder
        m.set_mask(mask, rank)
        self._after_filter()
        self.applied.emit()

    def _after_filter(self) -> None:
        pane, m = self.pane, self.model
        if pane is None or m is None:
            return
        pane.update_count()
        r = m.row_of(pane.current_image)
        if r < 0 and m.rowCount():
            pane.select_row(0)
        elif r >= 0:
            pane.table.scrollTo(m.index(r, 0))

    def _show_error(self, exc: QueryError | None, text: str) -> None:
        self.error = exc
        if exc is None:
            self._typing = False
            self.edit.setStyleSheet("")
            self.error_label.setVisible(False)
            self.error_label.clear()
            self._set_mode(self.mode)
            return
        a, b = exc.start, max(exc.end, exc.start + 1)
        # an error at the very end while typing is probably an unfinished word: grey
        typing = self.edit.hasFocus() and b >= len(text.rstrip())
        self._typing = typing
        self.error_label.setStyleSheet("color: #707070" if typing else "color: #b00020")
        self.edit.setStyleSheet("" if typing else "QLineEdit { border: 1px solid #c62828; }")
        shown = (html.escape(text[:a]) + "<span style='background:#ffcdd2; color:#b00020;"
                 " font-weight:bold'>" + (html.escape(text[a:b]) or "&nbsp;") + "</span>"
                 + html.escape(text[b:]))
        msg = html.escape(exc.message)
        if exc.suggestion:
            msg += f" — did you mean <b>{html.escape(exc.suggestion)}</b>?"
        where = f"character {a + 1}" if b - a <= 1 else f"characters {a + 1}–{b}"
        self.error_label.setText(f"<tt>{shown}</tt><br>{msg} ({where})")
        self.error_label.setToolTip(str(exc) + "\n\n" + SYNTAX_HELP)
        self.error_label.setVisible(True)
        self._set_mode("query")

    def error_text(self) -> str:
        return "" if self.error is None else str(self.error)

    # ================================================================== completion
    def _complete(self, auto: bool) -> None:
        if self.qs is None:
            return
        text, cur = self.edit.text(), self.edit.cursorPosition()
        try:
            c = complete(text, cur, query_table(self.qs.session), limit=60)
        except Exception:  # noqa: BLE001 - no completion is better than a crash
            self.completer.popup().hide()
            return
        prefix = text[c.start:cur]
        cands = list(c.candidates)
        if auto:  # as you type: names being typed, values after == or [; no operators
            low = prefix.lower()
            words = [x for x in cands if x.kind not in ("operator", "keyword")]
            starting = [x for x in words if x.text.lower().lstrip('"').startswith(low)]
            if prefix:
                show = bool(starting) and not (len(starting) == 1
                                               and starting[0].text == prefix)
                show = show and (looks_like_query(text) or any(
                    x.kind in ("column", "count") for x in starting))
            else:
                show = bool(words) and all(x.kind in ("class", "tag", "value") for x in words)
            if not show:
                self.completer.popup().hide()
                return
        self._span = (c.start, c.end)
        self._cmodel.clear()
        for x in cands:
            it = QStandardItem(f"{x.text}    — {x.help}" if x.help and x.help != x.kind
                               else x.text)
            it.setData(x.text, Qt.ItemDataRole.UserRole)
            it.setToolTip(x.help)
            self._cmodel.appendRow(it)
        if not cands:
            self.completer.popup().hide()
            return
        rect = self.edit.cursorRect()
        rect.setWidth(min(460, max(260, self.completer.popup().sizeHintForColumn(0) + 30)))
        self.completer.complete(rect)

    def completions(self) -> list[str]:
        """The candidates the popup offers now (what each inserts; for tests)."""
        return [str(self._cmodel.item(r).data(Qt.ItemDataRole.UserRole))
                for r in range(self._cmodel.rowCount())]

    def insert_completion(self, text: str) -> None:
        a, b = self._span
        t = self.edit.text()
        add = "" if text.endswith(("[", "(")) else " "
        new = t[:a] + text + add + t[b:].lstrip()
        self.edit.setText(new)
        self.edit.setCursorPosition(a + len(text) + len(add))
        self.completer.popup().hide()

    def eventFilter(self, obj: QObject, ev: QEvent) -> bool:  # noqa: N802
        if obj is self.edit and isinstance(ev, QKeyEvent) and ev.type() == QEvent.Type.KeyPress:
            ctrl = ev.modifiers() & Qt.KeyboardModifier.ControlModifier
            if ev.key() == Qt.Key.Key_Space and ctrl:
                self._complete(auto=False)
                return True
        return super().eventFilter(obj, ev)

    # ================================================================== drill-down
    def set_drill(self, hits: Hits | None) -> None:
        """List only the images of ``hits`` (most entries first); None: all again."""
        self.drill = hits
        self._rank_fresh = hits is not None
        if hits is None:
            self._drill_row.setVisible(False)
        else:
            n = len(hits.images())
            self.drill_label.setText(f"▸ {hits.label} · {n} image{'s' if n != 1 else ''}, "
                                     "most first")
            self.drill_label.setToolTip(f"{len(hits)} box(es) in {n} image(s). ✕ shows "
                                        "every image again.")
            self._drill_row.setVisible(True)
        self.apply()

    def clear_drill(self) -> None:
        if self.drill is not None:
            self.set_drill(None)
            self.drillCleared.emit()

    def clear_all(self) -> None:
        """No text, no drill-down: every image."""
        self.drill = None
        self._drill_row.setVisible(False)
        self._sort_rank = None
        if self.edit.text():
            self.edit.clear()
        else:
            self.apply()

    # ================================================================== views
    def _fill_views_menu(self) -> None:
        menu = self.views_menu
        menu.clear()
        table = query_table(self.qs.session) if self.qs is not None else None
        for v, why in (self.views.applicable(table) if table is not None else
                       [(v, "open a dataset") for v in self.views.views]):
            a = menu.addAction(v.name)
            a.setToolTip(v.expression + (f"\n{why}" if why else ""))
            a.setEnabled(not why)
            a.triggered.connect(lambda _c=False, name=v.name: self.apply_view(name))
        menu.addSeparator()
        save = menu.addAction("Save current view…")
        save.setEnabled(self.qs is not None and self.mode == "query" and self.error is None)
        save.triggered.connect(self._ask_save)
        if self.views.views:
            rm = menu.addMenu("Delete view")
            for v in self.views.views:
                a = rm.addAction(v.name)
                a.triggered.connect(lambda _c=False, name=v.name: self.views.remove(name))
        menu.setToolTipsVisible(True)

    def apply_view(self, name: str) -> bool:
        """Show saved view ``name``: its query in the bar, the list in its order."""
        v = self.views.get(name)
        m = self.model
        if v is None or m is None or self.qs is None:
            return False
        self._view_name = name
        table = query_table(self.qs.session)
        rank = None
        if v.sort:
            try:
                order = query_sort_rows(table, None, v.sort)
            except QueryError as exc:
                self._show_error(exc, v.sort[0][0])
                return False
            rank = np.empty(len(order), dtype=np.float64)
            rank[order] = -np.arange(len(order), dtype=np.float64)
        self._sort_rank = rank
        self._rank_fresh = rank is not None
        m.sort_key = None
        if self.pane is not None:
            self.pane.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        self.edit.blockSignals(True)
        self.edit.setText(v.expression)
        self.edit.blockSignals(False)
        self.apply()
        return self.error is None

    def _ask_save(self) -> None:
        name, ok = QInputDialog.getText(self, "Save view", "Name of this view:",
                                        text=self._view_name)
        if ok and name.strip():
            self.save_view(name.strip())

    def save_view(self, name: str) -> SavedView | None:
        """Save the bar's query and the list's sort (a header sort) as ``name``."""
        m = self.model
        if self.mode != "query" or self.error is not None:
            return None
        sort: tuple[tuple[str, bool], ...] = ()
        if m is not None and m.sort_key is not None:
            col, order = m.sort_key
            key = m.columns[col].key
            if key not in ("status",):
                sort = (("file_name" if key == "file_name" else key,
                         order == Qt.SortOrder.AscendingOrder),)
        view = SavedView(name, self.edit.text().strip(), sort)
        self.views.save(view)
        self._view_name = name
        return view
