"""The image list: a table model over the session's per-image columns.

Rows are an index array into the image table (``order``); sorting is one numpy
``argsort`` followed by ``layoutChanged`` (never ``QSortFilterProxyModel.sort``, which
calls Python per comparison). Filtering is a boolean mask over file name, tags and
status, also in numpy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtGui import QBrush, QColor, QFont

from detview.core.image_columns import ERROR_HELP
from detview.session import Session

from .session import QtSession

__all__ = ["ImageTableModel", "Column", "ANALYSIS_COLUMNS", "WORST_FIRST_DESCENDING"]

Index = QModelIndex | QPersistentModelIndex


class Column:
    def __init__(self, key: str, title: str, tip: str, fmt: str = "d") -> None:
        self.key, self.title, self.tip, self.fmt = key, title, tip, fmt


STATUS_COLUMN = Column(
    "status", "status",
    "✗ = deleted from the dataset (Ctrl+Delete restores it)\n"
    "✓ = marked reviewed (Space)\n#tag = tags (T); hover a row for all of them", "s")

BASE_COLUMNS = [
    Column("file_name", "file", "Image file name, relative to the image folder", "s"),
    Column("n_gt", "GT", "Ground-truth boxes (crowd regions and deleted boxes not counted)"),
    Column("n_pred", "pred", "Predictions kept by the score threshold"),
    Column("tp", "TP", "True positives: predictions matched to a ground-truth box of the same "
           "class with IoU ≥ the IoU threshold"),
    Column("fp", "FP", "False positives: kept predictions matched to nothing"),
    Column("fn", "FN", "False negatives: ground-truth boxes no prediction matched (missed)"),
    Column("mean_iou", "mean IoU",
           "Per-image IoU: for each class present, the mean best IoU between the smaller and "
           "the larger side (0 when one side is empty); averaged over classes. "
           "Low = the image disagrees most with the model.", ".3f"),
]


_AFTER_THR = " Counted for the predictions ≥ the score threshold."
ANALYSIS_COLUMNS = [
    Column("ap", "AP", "COCO AP@[.50:.95] of this image alone (mean over the classes it "
           "contains; predictions as chosen in the Analysis panel). Empty: no ground truth. "
           "Low = the model does badly on this image.", ".3f"),
    Column("ap50", "AP50", "COCO AP at IoU 0.50 of this image alone. Empty: no ground truth.",
           ".3f"),
    Column("err_cls", "Cls", ERROR_HELP["Cls"] + _AFTER_THR, ".0f"),
    Column("err_loc", "Loc", ERROR_HELP["Loc"] + _AFTER_THR, ".0f"),
    Column("err_both", "Both", ERROR_HELP["Both"] + _AFTER_THR, ".0f"),
    Column("err_dupe", "Dupe", ERROR_HELP["Dupe"] + _AFTER_THR, ".0f"),
    Column("err_bkg", "Bkg", ERROR_HELP["Bkg"] + _AFTER_THR, ".0f"),
    Column("err_miss", "Miss", ERROR_HELP["Miss"] + _AFTER_THR, ".0f"),
]
_DELTA = " Run B minus run A (the runs chosen under Compare); empty until computed."
#: two runs compared (session.training.pair): shown only then (compare_strip)
DIFF_TABLE_COLUMNS = [
    Column("d_mean_iou", "ΔIoU", "Change of the image's mean IoU from A to B: negative = "
           "worse in B." + _DELTA, "+.3f"),
    Column("d_ap", "ΔAP", "Change of the image's COCO AP from A to B: negative = worse in "
           "B." + _DELTA, "+.3f"),
    Column("d_tp", "ΔTP", "Change of true positives from A to B: negative = B finds fewer "
           "objects." + _DELTA, "+.0f"),
    Column("d_fp", "ΔFP", "Change of false positives from A to B: positive = worse in B."
           + _DELTA, "+.0f"),
    Column("d_fn", "ΔFN", "Change of missed boxes from A to B: positive = worse in B."
           + _DELTA, "+.0f"),
    Column("d_label_quality", "ΔLQ", "Change of the image's label-quality score from A to "
           "B." + _DELTA, "+.3f"),
]
_DIFF_WORSE_WHEN_UP = {"d_fp", "d_fn"}
#: columns whose first click sorts descending (the most trouble first)
WORST_FIRST_DESCENDING = {"fp", "fn", "loss", "n_pred", "err_cls", "err_loc", "err_both",
                          "err_dupe", "err_bkg", "err_miss", *_DIFF_WORSE_WHEN_UP}


class ImageTableModel(QAbstractTableModel):
    """One row per image of ``session`` (deleted images included, marked)."""

    def __init__(self, qs: QtSession, parent: Any = None) -> None:
        super().__init__(parent)
        session: Session = qs.session
        self.session = session
        extra = list(session.dataset.meta.get("image_values", {}))
        self.columns = list(BASE_COLUMNS) + [
            Column(k, k, f"Per-image value '{k}' loaded from the side file", ".4g") for k in extra
        ] + [STATUS_COLUMN] + (list(ANALYSIS_COLUMNS) if session.run_names else []) + (
            [Column(c.key, c.title, c.tip, c.fmt) for c in DIFF_TABLE_COLUMNS]
            if len(session.run_names) >= 2 else [])
        #: optional ``(column key, image) -> tooltip text`` (e.g. the class confusions)
        self.cell_tip: Any = None
        n = session.dataset.n_images
        self.order = np.arange(n, dtype=np.int64)
        self._row_of = np.arange(n, dtype=np.int64)
        self.sort_key: tuple[int, Qt.SortOrder] | None = None
        self.filter_text = ""
        #: set_mask: an extra row filter (a query, a plot's drill-down) and a ranking
        self.mask: np.ndarray | None = None
        self.rank: np.ndarray | None = None
        qs.imagesChanged.connect(self._on_images_changed)
        qs.settingsChanged.connect(self._on_metrics_reset)
        qs.derivedChanged.connect(self._on_derived)

    # ------------------------------------------------------------------ Qt API
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else int(self.order.shape[0])

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        col = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return col.title
        if role == Qt.ItemDataRole.ToolTipRole:
            return col.tip
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        i = int(self.order[index.row()])
        col = self.columns[index.column()]
        images = self.session.dataset.images
        if role == Qt.ItemDataRole.DisplayRole:
            if col.key == "file_name":
                return images.file_names[i]
            if col.key == "status":
                return self.status_text(i, compact=True)
            v = self.value(col.key, i)
            if col.fmt == "d":
                return str(int(v))
            if v == 0 and col.key.startswith("d_"):
                return "0"
            return "" if np.isnan(v) else format(float(v), col.fmt)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            if col.fmt != "s":
                return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            return None
        if role == Qt.ItemDataRole.ForegroundRole:
            if images.deleted[i]:
                return QBrush(QColor(200, 40, 40) if col.key == "status" else QColor(150, 150, 150))
            if col.key == "fn" and self.value("fn", i) > 0:
                return QBrush(QColor(200, 40, 40))
            if col.key == "fp" and self.value("fp", i) > 0:
                return QBrush(QColor(200, 110, 0))
            if col.key.startswith("d_"):
                v = self.value(col.key, i)
                if v != 0 and not np.isnan(v):
                    worse = (v > 0) == (col.key in _DIFF_WORSE_WHEN_UP)
                    return QBrush(QColor(200, 40, 40) if worse else QColor(30, 130, 60))
            return None
        if role == Qt.ItemDataRole.FontRole and images.deleted[i] and col.key == "file_name":
            f = QFont()
            f.setStrikeOut(True)
            return f
        if role == Qt.ItemDataRole.ToolTipRole and col.key in ("file_name", "status"):
            return f"{images.file_names[i]}\n{self.status_text(i) or 'not reviewed'}"
        if role == Qt.ItemDataRole.ToolTipRole and self.cell_tip is not None:
            return self.cell_tip(col.key, i) or None
        if role == Qt.ItemDataRole.UserRole:
            return i
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns):
            return
        self.sort_key = (column, order)
        self._apply_order()

    # ------------------------------------------------------------------ values
    def value(self, key: str, i: int) -> float:
        return float(self.session.column(key)[i])  # NaN: not computed (yet)

    def status_text(self, i: int, compact: bool = False) -> str:
        """``deleted ✓ #tag ...``; compact: ``✗ ✓ #tag+2`` (the full text is the tooltip)."""
        im = self.session.dataset.images
        parts = []
        if im.deleted[i]:
            parts.append("✗" if compact else "deleted")
        if im.reviewed[i]:
            parts.append("✓")
        tags = sorted(im.tags[i])
        if compact and tags:
            first = tags[0] if len(tags[0]) <= 10 else tags[0][:9] + "…"
            parts.append(f"#{first}" + (f"+{len(tags) - 1}" if len(tags) > 1 else ""))
        else:
            parts.extend(f"#{t}" for t in tags)
        return " ".join(parts)

    def _sort_values(self, key: str) -> np.ndarray:
        ds = self.session.dataset
        if key == "file_name":
            return np.asarray(ds.images.file_names, dtype=object)
        if key == "status":
            im = ds.images
            return (im.deleted.astype(np.int64) * 4 + im.reviewed.astype(np.int64) * 2
                    + np.fromiter((len(t) > 0 for t in im.tags), bool, len(im)))
        return np.asarray(self.session.column(key), dtype=np.float64)

    # ------------------------------------------------------------------ order/filter
    def _visible_mask(self) -> np.ndarray:
        n = self.session.dataset.n_images
        text = self.filter_text.strip().lower()
        mask = np.ones(n, dtype=bool) if self.mask is None else self.mask.copy()
        if not text:
            return mask
        for word in text.split():
            if word.startswith("class:"):
                mask &= self.class_mask(word[len("class:"):])
                continue
            mask &= np.fromiter((word in self._search_text(i) for i in range(n)), bool, n)
        return mask

    def class_mask(self, name: str) -> np.ndarray:
        """Images with a ground-truth box of the class ``name`` (spaces written as
        ``_``; no exact match: every class whose name contains it)."""
        ds = self.session.dataset
        norm = [c.lower().replace(" ", "_") for c in ds.classes.names]
        want = name.lower()
        ks = [k for k, c in enumerate(norm) if c == want] or [
            k for k, c in enumerate(norm) if want and want in c]
        gt = ds.gt
        out = np.zeros(ds.n_images, dtype=bool)
        sel = gt.alive & np.isin(gt.cls, ks)
        out[gt.image[sel]] = True
        return out

    def refresh_columns(self, resort: bool = False) -> None:
        """Column values changed for many images (e.g. the analysis finished): redraw.
        Rows keep their place unless ``resort``."""
        if resort and self.sort_key is not None:
            self._apply_order()
        if not self.rowCount():
            return
        self.dataChanged.emit(self.index(0, 0),
                              self.index(self.rowCount() - 1, len(self.columns) - 1))

    def _search_text(self, i: int) -> str:
        im = self.session.dataset.images
        words = [im.file_names[i].lower()]
        words.append("deleted" if im.deleted[i] else "alive")
        words.append("reviewed ✓" if im.reviewed[i] else "unreviewed")
        words.extend(f"#{t.lower()} {t.lower()}" for t in im.tags[i])
        return " ".join(words)

    def _apply_order(self) -> None:
        self.layoutAboutToBeChanged.emit()
        old_persistent = self.persistentIndexList()
        old_images = [int(self.order[p.row()]) if p.isValid() else -1 for p in old_persistent]
        idx = np.flatnonzero(self._visible_mask())
        if self.sort_key is None and self.rank is not None:  # most first, stable
            idx = idx[np.argsort(-self.rank[idx], kind="stable")]
        if self.sort_key is not None:
            column, order = self.sort_key
            vals = self._sort_values(self.columns[column].key)[idx]
            if vals.dtype == object:
                o = np.argsort(vals, kind="stable")
            else:
                # NaN last in both directions; stable for equal values
                nan = np.isnan(vals)
                key = np.where(nan, 0.0, vals)
                if order == Qt.SortOrder.DescendingOrder:
                    key = -key
                # ties: the images with the most errors (FP + FN) first
                errors = -(self.session.column("fp")[idx]
                           + self.session.column("fn")[idx]).astype(np.float64)
                o = np.lexsort((errors, key, nan))
            if vals.dtype == object and order == Qt.SortOrder.DescendingOrder:
                o = o[::-1]
            idx = idx[o]
        self.order = idx.astype(np.int64)
        self._row_of = np.full(self.session.dataset.n_images, -1, dtype=np.int64)
        self._row_of[self.order] = np.arange(self.order.shape[0])
        new = []
        for p, img in zip(old_persistent, old_images, strict=True):
            r = int(self._row_of[img]) if img >= 0 else -1
            new.append(self.index(r, p.column()) if r >= 0 else QModelIndex())
        self.changePersistentIndexList(old_persistent, new)
        self.layoutChanged.emit()

    def set_mask(self, mask: np.ndarray | None, rank: np.ndarray | None = None) -> None:
        """Show only the images where ``mask`` (bool per image) is set, AND-ed with the
        text filter (None: all). ``rank`` (a number per image) orders the rows, highest
        first, until a header sort is chosen; giving one clears that sort."""
        n = self.session.dataset.n_images
        self.mask = None if mask is None else np.asarray(mask, dtype=bool).reshape(n)
        self.rank = None if rank is None else np.asarray(rank, dtype=np.float64).reshape(n)
        if self.rank is not None:
            self.sort_key = None
        self._apply_order()

    def set_filter(self, text: str) -> None:
        if text == self.filter_text:
            return
        self.filter_text = text
        self._apply_order()

    def row_of(self, image: int) -> int:
        return int(self._row_of[image]) if 0 <= image < self._row_of.shape[0] else -1

    def image_at(self, row: int) -> int:
        return int(self.order[row]) if 0 <= row < self.order.shape[0] else -1

    # ------------------------------------------------------------------ updates
    def _on_images_changed(self, touched: frozenset[int]) -> None:
        # rows keep their place after an edit (no jumping under the cursor)
        rows = [self.row_of(i) for i in touched]
        rows = [r for r in rows if r >= 0]
        if rows:
            self.dataChanged.emit(self.index(min(rows), 0),
                                  self.index(max(rows), len(self.columns) - 1))

    def _on_derived(self, name: str) -> None:
        """New per-image numbers (metrics at new thresholds, AP, error counts): redraw;
        re-sort when the sort column is one of them."""
        if name == "metrics":
            self._on_metrics_reset()
        else:
            sorted_by = self.columns[self.sort_key[0]].key if self.sort_key else ""
            self.refresh_columns(resort=name == "diff" and sorted_by.startswith("d_"))

    def _on_metrics_reset(self) -> None:
        self._apply_order()
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(self.rowCount() - 1, len(self.columns) - 1))
