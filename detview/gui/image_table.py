"""The image list: a table model over the session's per-image columns.

Rows are an index array into the image table (``order``); sorting is one numpy
``argsort`` followed by ``layoutChanged`` (never ``QSortFilterProxyModel.sort``, which
calls Python per comparison). Filtering is a boolean mask over file name, tags and
status, also in numpy (``numpy.strings.find`` over the file names); the sorted order of
every image is kept until the sort column or the numbers change, so a keystroke in the
filter box only selects from it. ``set_mask`` adds a mask of the caller's (the query
bar) to the filter box's.
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

_DISPLAY = Qt.ItemDataRole.DisplayRole
_ALIGN = Qt.ItemDataRole.TextAlignmentRole
_FOREGROUND = Qt.ItemDataRole.ForegroundRole
_FONT = Qt.ItemDataRole.FontRole
_TIP = Qt.ItemDataRole.ToolTipRole
_USER = Qt.ItemDataRole.UserRole
_ROLES = frozenset({_DISPLAY, _ALIGN, _FOREGROUND, _FONT, _TIP, _USER})
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
_RED = QBrush(QColor(200, 40, 40))
_ORANGE = QBrush(QColor(200, 110, 0))
_GREY = QBrush(QColor(150, 150, 150))
_GREEN = QBrush(QColor(30, 130, 60))
_DELETED_STATUS = QBrush(QColor(200, 40, 40))


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
        self._names_cache: np.ndarray | None = None
        self._name_order: np.ndarray | None = None
        self._tags_cache: tuple[int, dict[str, np.ndarray]] | None = None
        self._sorted: tuple[Any, np.ndarray] | None = None
        self._cols: dict[str, np.ndarray] = {}
        self._mask_cache: tuple[list[str], np.ndarray, int] | None = None
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
        # the view asks for ~10 roles of every visible cell on each repaint: the roles
        # not drawn return at once, the values come from cached column arrays
        if role not in _ROLES or not index.isValid():
            return None
        i = int(self.order[index.row()])
        col = self.columns[index.column()]
        key = col.key
        if role == _DISPLAY:
            if key == "file_name":
                return self.session.dataset.images.file_names[i]
            if key == "status":
                return self.status_text(i, compact=True)
            v = float(self._values(key)[i])
            if col.fmt == "d":
                return str(int(v))
            if v == 0 and key.startswith("d_"):
                return "0"
            if v != v:  # NaN: nothing to score (mean IoU), or not computed yet
                return "—" if key == "mean_iou" else ""
            return format(v, col.fmt)
        if role == _ALIGN:
            return _RIGHT if col.fmt != "s" else None
        if role == _FOREGROUND:
            if self.session.dataset.images.deleted[i]:
                return _DELETED_STATUS if key == "status" else _GREY
            if key == "fn" and self._values("fn")[i] > 0:
                return _RED
            if key == "fp" and self._values("fp")[i] > 0:
                return _ORANGE
            if key.startswith("d_"):
                v = float(self._values(key)[i])
                if v != 0 and v == v:
                    worse = (v > 0) == (key in _DIFF_WORSE_WHEN_UP)
                    return _RED if worse else _GREEN
            return None
        images = self.session.dataset.images
        if role == _FONT:
            if key == "file_name" and images.deleted[i]:
                f = QFont()
                f.setStrikeOut(True)
                return f
            return None
        if role == _TIP and key in ("file_name", "status"):
            return f"{images.file_names[i]}\n{self.status_text(i) or 'not reviewed'}"
        if role == _TIP and self.cell_tip is not None:
            return self.cell_tip(key, i) or None
        if role == _USER:
            return i
        return None

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        if not 0 <= column < len(self.columns):
            return
        self.sort_key = (column, order)
        self._apply_order()

    # ------------------------------------------------------------------ values
    def value(self, key: str, i: int) -> float:
        """The number shown (NaN: nothing to score, or not computed yet)."""
        return float(self._values(key)[i])

    def _values(self, key: str) -> np.ndarray:
        """:meth:`column_values`, kept until the next edit, setting or derived value."""
        v = self._cols.get(key)
        if v is None:
            v = self._cols[key] = self.column_values(key)
        return v

    def forget_values(self) -> None:
        self._cols.clear()

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
        if key == "status":
            im = ds.images
            return (im.deleted.astype(np.int64) * 4 + im.reviewed.astype(np.int64) * 2
                    + np.fromiter((len(t) > 0 for t in im.tags), bool, len(im)))
        return self.column_values(key)

    def column_values(self, key: str) -> np.ndarray:
        """The column as shown: ``mean_iou`` is NaN (shown "—", sorted last) for an
        image with nothing to score (no ground truth, no kept prediction)."""
        v = np.asarray(self.session.column(key), dtype=np.float64)
        if key == "mean_iou":
            s = self.session
            empty = (s.column("n_gt") == 0) & (s.column("n_pred") == 0)
            if empty.any():
                v = np.where(empty, np.nan, v)
        return v

    # ------------------------------------------------------------------ order/filter
    def _names(self) -> np.ndarray:
        """File names, lower case, as one numpy string array (made once: image file
        names never change)."""
        if self._names_cache is None:
            names = self.session.dataset.images.file_names
            self._names_cache = np.strings.lower(np.asarray(names, dtype=str)) if names else (
                np.zeros(0, dtype="<U1"))
        return self._names_cache

    def _tag_masks(self) -> dict[str, np.ndarray]:
        """Lower-case tag -> images carrying it (made again after a tag edit)."""
        im = self.session.dataset.images
        rev = self.session.dataset.revision
        if self._tags_cache is None or self._tags_cache[0] != rev:
            out: dict[str, list[int]] = {}
            for i, tags in enumerate(im.tags):
                for t in tags:
                    out.setdefault(t.lower(), []).append(i)
            n = len(im)
            masks = {}
            for t, idx in out.items():
                m = np.zeros(n, dtype=bool)
                m[idx] = True
                masks[t] = m
            self._tags_cache = (rev, masks)
        return self._tags_cache[1]

    def warm_up(self) -> None:
        """Make the arrays the first keystroke or file-name sort would make (lower-case
        file names, tags, file-name order), so that one is as quick as the next."""
        try:
            self._names()
            self._tag_masks()
            self._file_order()
        except RuntimeError:  # the model went away meanwhile
            pass

    def _file_order(self) -> np.ndarray:
        if self._name_order is None:
            names = self.session.dataset.images.file_names
            self._name_order = np.argsort(np.asarray(names, dtype=str), kind="stable") if (
                names) else np.zeros(0, np.int64)
        return self._name_order

    def text_mask(self, text: str) -> np.ndarray:
        """Images the filter box's text selects: every word must match; a word matches
        a part of the file name, a tag (``#tag`` or ``tag``), or a status word
        (``deleted``, ``alive``, ``reviewed``, ``✓``, ``unreviewed``);
        ``class:NAME`` selects images with a ground-truth box of that class."""
        n = self.session.dataset.n_images
        mask = np.ones(n, dtype=bool)
        words = text.strip().lower().split()
        if not words:
            return mask
        everything = np.arange(n)
        for word in words:
            if word.startswith("class:"):
                mask &= self.class_mask(word[len("class:"):])
            else:
                mask &= self._word_mask(word, everything)
        return mask

    def _text_mask_cached(self, text: str) -> np.ndarray:
        """:meth:`text_mask`; while the user types on, the last word only grows and an
        image that did not match before cannot match now: only the images that matched
        are searched again."""
        words = text.strip().lower().split()
        last = self._mask_cache
        rev = self.session.dataset.revision
        if (last is not None and last[2] == rev and words and last[0]
                and words[:-1] == last[0][:-1] and words[-1] != last[0][-1]
                and words[-1].startswith(last[0][-1])
                and not words[-1].startswith("class:")):
            idx = np.flatnonzero(last[1])
            keep = self._word_mask(words[-1], idx)
            mask = np.zeros_like(last[1])
            mask[idx[keep]] = True
        elif last is not None and last[2] == rev and words == last[0]:
            mask = last[1]
        else:
            mask = self.text_mask(text)
        self._mask_cache = (words, mask, rev)
        return mask

    def _word_mask(self, word: str, idx: np.ndarray) -> np.ndarray:
        """Which of the images ``idx`` one plain (not ``class:``) word matches."""
        im = self.session.dataset.images
        full = idx.shape[0] == len(im)  # every image: no copies

        def sub(a: np.ndarray) -> np.ndarray:
            return a if full else a[idx]

        m = np.strings.find(sub(self._names()), word) >= 0
        status = {"deleted": im.deleted, "alive": ~im.deleted, "reviewed": im.reviewed,
                  "✓": im.reviewed, "unreviewed": ~im.reviewed}
        for name, sm in status.items():
            if word in name:
                m |= sub(sm)
        for tag, tm in self._tag_masks().items():
            if word in f"#{tag}" or word in tag:
                m |= sub(tm)
        return m

    def _visible_mask(self) -> np.ndarray:
        mask = self._text_mask_cached(self.filter_text)
        if self.mask is not None:
            mask = mask & self.mask  # never in place: the text's mask is kept
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
        self._cols.clear()
        if resort and self.sort_key is not None:
            self._sorted = None
            self._apply_order()
        if not self.rowCount():
            return
        self.dataChanged.emit(self.index(0, 0),
                              self.index(self.rowCount() - 1, len(self.columns) - 1))

    def _sorted_order(self) -> np.ndarray:
        """Every image in the order of the sort column (cached until the sort or the
        numbers change): NaN last in both directions, ties by most errors (FP + FN)
        first, then by image index."""
        n = self.session.dataset.n_images
        if self.sort_key is None:
            return np.arange(n, dtype=np.int64)
        column, order = self.sort_key
        key = self.columns[column].key
        cache_key = (column, order, self.session.dataset.revision, id(self.session.metrics),
                     self.session.run)
        if self._sorted is not None and self._sorted[0] == cache_key:
            return self._sorted[1]
        desc = order == Qt.SortOrder.DescendingOrder
        if key == "file_name":
            o = self._file_order()[::-1] if desc else self._file_order()
        else:
            vals = self._sort_values(key)
            nan = np.isnan(vals)
            v = np.where(nan, 0.0, vals)
            if desc:
                v = -v
            if np.array_equal(v, np.round(v)) and (not v.size or np.abs(v).max() < 2**31):
                rank = (v - v.min(initial=0)).astype(np.int64)  # counts: their own rank
            else:
                _, rank = np.unique(v, return_inverse=True)
                rank = rank.astype(np.int64).reshape(-1)
            rank[nan] = int(rank.max(initial=0)) + 1  # after every number
            errors = (self.session.column("fp") + self.session.column("fn"))
            errors = np.nan_to_num(np.asarray(errors, dtype=np.float64)).astype(np.int64)
            err = errors.max(initial=0) - errors  # most errors first
            span = int(err.max(initial=0)) + 1
            if (int(rank.max(initial=0)) + 1) * span * max(n, 1) >= 2**62:  # dense ranks
                rank = np.unique(rank, return_inverse=True)[1].astype(np.int64).reshape(-1)
                _, err = np.unique(err, return_inverse=True)
                err = err.astype(np.int64).reshape(-1)
                span = int(err.max(initial=0)) + 1
            # one argsort of unique keys: (value rank, most errors, image index)
            o = np.argsort((rank * span + err) * max(n, 1) + np.arange(n, dtype=np.int64))
        o = np.asarray(o, dtype=np.int64)
        self._sorted = (cache_key, o)
        return o

    def _apply_order(self) -> None:
        self.layoutAboutToBeChanged.emit()
        old_persistent = self.persistentIndexList()
        old_images = [int(self.order[p.row()]) if p.isValid() else -1 for p in old_persistent]
        visible = self._visible_mask()
        o = self._sorted_order()
        idx = o[visible[o]]
        if self.sort_key is None and self.rank is not None:  # most first, stable
            idx = idx[np.argsort(-self.rank[idx], kind="stable")]
        if self.sort_key is not None:
            # deleted images are out of the ranking: after the others, unless the
            # filter shows only deleted ones
            d = self.session.dataset.images.deleted[idx]
            if d.any() and not d.all():
                idx = np.concatenate((idx[~d], idx[d]))
        self.order = idx
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
        self._cols.clear()
        # rows keep their place after an edit (no jumping under the cursor)
        rows = [self.row_of(i) for i in touched]
        rows = [r for r in rows if r >= 0]
        if rows:
            self.dataChanged.emit(self.index(min(rows), 0),
                                  self.index(max(rows), len(self.columns) - 1))

    def _on_derived(self, name: str) -> None:
        """New per-image numbers (metrics at new thresholds, AP, error counts): redraw;
        re-sort when the sort column is one of them."""
        self._cols.clear()
        if name == "metrics":
            self._on_metrics_reset()
        else:
            sorted_by = self.columns[self.sort_key[0]].key if self.sort_key else ""
            self.refresh_columns(resort=name == "diff" and sorted_by.startswith("d_"))

    def _on_metrics_reset(self) -> None:
        self._cols.clear()
        self._sorted = None
        self._apply_order()
        if self.rowCount():
            self.dataChanged.emit(self.index(0, 0),
                                  self.index(self.rowCount() - 1, len(self.columns) - 1))
