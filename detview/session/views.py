"""The query bar's side of a session: the table a query runs over, and saved views.

:func:`query_table` builds the :class:`~detview.core.query.QueryTable` of the image
list as the session shows it now (every per-image column of the current run, the
derived ones that are computed, flags, tags, per-class counts at the current
thresholds): the same language and the same rules as ``detview eval --where``.

:class:`SavedViews` is the user's named views, plain data
(:class:`~detview.core.query.SavedView`); whoever persists settings stores
:meth:`SavedViews.to_json` and gives it back with :meth:`SavedViews.load`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from detview.core.query import (
    BUILTIN_VIEWS,
    ClassCounts,
    QueryTable,
    SavedView,
    views_from_json,
    views_to_json,
)

if TYPE_CHECKING:
    from .session import Session

__all__ = ["SavedViews", "query_table"]


def query_table(s: Session) -> QueryTable:
    """The per-image table of ``s`` for a query: metrics of the current run at its
    thresholds, every derived column computed so far (the others are named as not
    available yet), ``file_name``, ``reviewed``, ``deleted``, tags, and per-class
    ``gt``/``pred``/``tp``/``fp``/``fn`` counts.

    Kept on the session until the data, the settings or a derived value change (a
    query typed key by key, and its completion, read the same table: 118k rows)."""
    ds = s.dataset
    d = s.derived
    # every change of the data (tags and review marks included) is an edit: a revision
    key = (id(ds), ds.revision, s.run, s.params,
           tuple((n, d.is_current(n), d.key_of_latest(n)) for n in d.names))
    cached = getattr(s, "_query_table", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    table = _query_table(s)
    s._query_table = (key, table)  # type: ignore[attr-defined]
    return table


def _query_table(s: Session) -> QueryTable:
    ds = s.dataset
    cols: dict[str, Any] = {"file_name": ds.images.file_names}
    unavailable: dict[str, str] = {}
    cur = s.current
    for name in ("n_gt", "n_pred", "tp", "fp", "fn", "mean_iou"):
        cols[name] = cur.column(name)
    for name in ds.meta.get("image_values", {}):
        cols[name] = s.column(name)
    for name in s.derived.column_names():
        if name in cols:
            continue
        values = s.derived.column(name)
        if values is None:
            unavailable[name] = ("needs a prediction run" if s.run is None
                                 else "not computed yet (shown in the list once it is)")
        else:
            cols[name] = values
    errors = s.errors() if s.run is not None else None
    if errors is not None and "confusion" in errors.images:
        cols["confusion"] = errors.images["confusion"].to_numpy()
    cols["reviewed"] = ds.images.reviewed
    cols["deleted"] = ds.images.deleted
    preds = cur.preds
    counts: ClassCounts
    live = s.derived.get("matches") if "matches" in s.derived.names else None
    if preds is not None and live is not None and s.derived.is_current("matches"):
        rec = live.records
        thr = s.params.score_threshold
        gt = ds.gt
        counts = ClassCounts.from_boxes(
            gt, len(ds.classes), preds, score_threshold=thr,
            outcomes=lambda: rec.pred_outcomes(preds.box_id, gt.box_id, thr))
    else:
        counts = ClassCounts.from_metrics(cur)
    return QueryTable(cols, class_names=ds.classes.names, counts=counts, tags=ds.images.tags,
                      unavailable=unavailable)


class SavedViews:
    """Named views (query + sort), unique names, in the order they were added. Starts
    with :data:`~detview.core.query.BUILTIN_VIEWS` unless given others."""

    def __init__(self, views: Iterable[SavedView] | None = None) -> None:
        self._views: list[SavedView] = list(BUILTIN_VIEWS if views is None else views)
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, fn: Callable[[], None]) -> None:
        self._listeners.append(fn)

    def unsubscribe(self, fn: Callable[[], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _changed(self) -> None:
        for fn in list(self._listeners):
            fn()

    @property
    def views(self) -> list[SavedView]:
        return list(self._views)

    def names(self) -> list[str]:
        return [v.name for v in self._views]

    def get(self, name: str) -> SavedView | None:
        return next((v for v in self._views if v.name == name), None)

    def save(self, view: SavedView) -> None:
        """Add ``view``, replacing the one of the same name (in its place)."""
        for k, v in enumerate(self._views):
            if v.name == view.name:
                self._views[k] = view
                break
        else:
            self._views.append(view)
        self._changed()

    def remove(self, name: str) -> bool:
        n = len(self._views)
        self._views = [v for v in self._views if v.name != name]
        if len(self._views) != n:
            self._changed()
            return True
        return False

    def to_json(self) -> list[dict[str, Any]]:
        return views_to_json(self._views)

    def load(self, obj: Any) -> None:
        """Replace the views with :meth:`to_json` output; ValueError (naming what is
        wrong) leaves them as they were."""
        views = views_from_json(obj)
        self._views = views
        self._changed()

    def applicable(self, table: QueryTable) -> list[tuple[SavedView, str]]:
        """Each view and "" when it fits ``table``, else why not (a column missing)."""
        out: list[tuple[SavedView, str]] = []
        for v in self._views:
            try:
                v.check(table)
                out.append((v, ""))
            except ValueError as exc:  # QueryError is a ValueError
                out.append((v, str(exc)))
        return out
