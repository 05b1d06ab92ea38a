"""The error-analysis panels wired into the main window: plots that lead to images, the
query bar, the object grid and the Health panel.

``install_panels(window)`` is the main window's one call; everything else lives here:

* the Analysis dock's ``hitsChosen`` (a confusion cell, an error bar, a histogram bin),
  the Health panel's kinds: the image list shows those images, most first (the query
  bar's drill-down chip), the first is opened and, on every image opened while the
  drill-down holds, its boxes are selected in the viewer;
* ``thresholdChosen`` (a PR point, the F1 plot): the score threshold becomes it;
* the object grid's ``openBox`` and the Health panel's findings: that image, the box
  selected and zoomed to;
* docks "Objects" and "Health" beside the Analysis dock, their toggles in the View
  menu; :attr:`Panels.views` holds the saved views for the window's settings to
  persist (``views.to_json()`` / ``views.load(obj)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer
from PySide6.QtWidgets import QDockWidget

from detview.core.drilldown import Hits
from detview.core.metrics import MetricParams
from detview.session.views import SavedViews

from .health_panel import HealthPanel
from .object_grid import ObjectGrid
from .query_bar import QueryBar
from .thumbnails import ThumbnailService

__all__ = ["Panels", "install_panels"]


class Panels(QObject):
    """What :func:`install_panels` adds to a window."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.w = window
        self.views = SavedViews()
        self.hits: Hits | None = None
        self._select: tuple[int, list[int], list[int]] | None = None
        self.query = QueryBar(self.views)
        self.query.attach(window.images)
        self.query.drillCleared.connect(self._drill_cleared)
        self.query.drillToGrid.connect(self.show_hits_in_grid)
        self.thumbs = ThumbnailService(parent=self)
        self.grid = ObjectGrid(self.thumbs)
        self.health = HealthPanel()
        self.grid_dock = self._dock("Objects", "objects_dock", self.grid)
        self.health_dock = self._dock("Health", "health_dock", self.health)
        window.tabifyDockWidget(window.analysis_dock, self.grid_dock)
        window.tabifyDockWidget(window.analysis_dock, self.health_dock)
        window.analysis_dock.raise_()
        self._add_to_view_menu()
        a = window.analysis
        a.hitsChosen.connect(self.show_hits)
        a.thresholdChosen.connect(self.set_threshold)
        self.grid.openBox.connect(self.open_box)
        self.grid.openImage.connect(lambda i: self.open_box(i, [], []))
        self.grid.modeChanged.connect(lambda _m: self._list_order_changed())
        self.grid_dock.visibilityChanged.connect(self._grid_shown)
        self.health.openFinding.connect(
            lambda i, b: self.open_box(i, [b] if b >= 0 else [], []))
        self.health.hitsChosen.connect(self.show_hits)
        window.sessionChanged.connect(self._session_changed)
        window.imageShown.connect(self._image_shown)
        self._order_timer = QTimer(self)
        self._order_timer.setSingleShot(True)
        self._order_timer.setInterval(50)
        self._order_timer.timeout.connect(self._push_order)

    def _dock(self, title: str, name: str, widget: Any) -> QDockWidget:
        d = QDockWidget(title, self.w)
        d.setObjectName(name)
        d.setWidget(widget)
        self.w.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, d)
        return d

    def _add_to_view_menu(self) -> None:
        if hasattr(self.w, "panels_menu"):  # View > Panels lists every dock already
            return
        for act in self.w.menuBar().actions():
            if act.text().replace("&", "") == "View" and act.menu() is not None:
                menu = act.menu()
                for d in (self.grid_dock, self.health_dock):
                    menu.addAction(d.toggleViewAction())
                return

    # ================================================================== session
    def _session_changed(self) -> None:
        qs = self.w.qs
        self.hits = None
        self._select = None
        self.query.set_session(qs)
        self.grid.set_session(qs)
        self.health.set_session(qs)
        m = self.w.images.model
        if m is not None:
            m.layoutChanged.connect(self._list_order_changed)
            m.modelReset.connect(self._list_order_changed)
        self._list_order_changed()

    def _list_order_changed(self) -> None:
        if self.grid.mode == "images":
            self._order_timer.start()

    def _push_order(self) -> None:
        m = self.w.images.model
        if self.grid.mode == "images" and m is not None:
            self.grid.set_images(np.asarray(m.order).copy())

    def _grid_shown(self, visible: bool) -> None:
        if visible and self.grid.mode == "objects":
            self.grid.refresh()

    # ================================================================== drill-down
    def show_hits(self, hits: Hits) -> None:
        """List the images of ``hits`` (most first), open the first, select its boxes."""
        if self.w.session is None:
            return
        self.hits = hits if len(hits) else None
        self.query.set_drill(hits)
        n = len(hits.images())
        self.w.flash(f"{hits.label}: {len(hits):,} box(es) in {n:,} image(s)"
                     if len(hits) else f"{hits.label}: none", 5000)
        m = self.w.images.model
        if m is not None and m.rowCount():
            first = m.image_at(0)
            if first == self.w.current_image:
                self._image_shown(first)
            else:
                self.w.images.select_row(0)

    def show_hits_in_grid(self) -> None:
        """The drill-down's boxes (every ground-truth box and prediction it selects) as
        the Objects grid's filter; the grid's dock is shown."""
        if self.hits is None or self.w.session is None:
            return
        self.grid_dock.show()
        self.grid_dock.raise_()
        self.grid.show_hits(self.hits)

    def _drill_cleared(self) -> None:
        self.hits = None

    def _image_shown(self, i: int) -> None:
        sel = self._select
        if sel is not None and sel[0] == i:
            self._select = None
            g, p = sel[1], sel[2]
        elif self.hits is not None:
            g, p = self.hits.in_image(i)
        else:
            return
        v = self.w.viewer
        v.gt_pane.set_selected(g, emit=True)
        v.pred_pane.set_selected(p, emit=True)
        if v.gt_pane.selected or v.pred_pane.selected:
            self.w.zoom_to_selection()  # F fits the whole image again

    def open_box(self, image: int, gt_ids: list[int], pred_ids: list[int]) -> None:
        """Show ``image`` with these boxes selected (and zoomed to)."""
        s, m = self.w.session, self.w.images.model
        if s is None or m is None or not 0 <= image < s.dataset.n_images:
            return
        if m.row_of(image) < 0:  # filtered out: show every image again
            self.hits = None
            self.query.clear_all()
        self._select = (image, list(gt_ids), list(pred_ids))
        if image == self.w.current_image:
            self._image_shown(image)
        else:
            self.w.select_image(image)

    def set_threshold(self, t: float) -> None:
        s = self.w.session
        if s is None:
            return
        p = MetricParams(round(float(t), 4), s.params.iou_threshold)
        self.w.toolbar.set_params(p)
        s.set_params(p)
        self.w.flash(f"Score threshold set to {t:.2f}", 3000)


def install_panels(window: Any) -> Panels:
    """Add the panels to ``window`` (a :class:`~detview.gui.main_window.MainWindow`)."""
    return Panels(window)
