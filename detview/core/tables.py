"""Columnar tables: images, classes and boxes.

Boxes are stored one row per box in numpy columns, grouped by image with an
``offsets`` array, so one image's boxes are the slice ``offsets[i]:offsets[i+1]``.
Ground truth and every prediction run share the same schema.

Coordinate convention inside the engine: ``xyxy`` float64, absolute pixels,
0-based, continuous (a box covering pixel columns 0..9 is ``x1=0, x2=10``).
Formats convert to and from this at the io edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

__all__ = ["Boxes", "Classes", "Images"]


_SCAN_MAX = 8  # rows_of: up to this many ids without an index, a linear scan


def _i64(a: Any, n: int | None = None) -> np.ndarray:
    out = np.asarray(a, dtype=np.int64)
    if n is not None and out.shape != (n,):
        raise ValueError(f"expected shape ({n},), got {out.shape}")
    return out


@dataclass(frozen=True, eq=False)
class Classes:
    """One class vocabulary per dataset.

    ``names[k]`` is the name of class index ``k``; ``source_ids[k]`` is the id the
    source format used for it (COCO's sparse category id, YOLO's index, ...).
    ``extras[k]`` holds fields passed through untouched (COCO ``supercategory``).
    """

    names: tuple[str, ...]
    source_ids: np.ndarray  # int64[K]
    extras: tuple[dict[str, Any], ...] = ()

    @staticmethod
    def from_names(names: Sequence[str], source_ids: Sequence[int] | None = None) -> Classes:
        ids = np.arange(len(names), dtype=np.int64) if source_ids is None else _i64(source_ids)
        return Classes(tuple(str(n) for n in names), ids, tuple({} for _ in names))

    def __len__(self) -> int:
        return len(self.names)

    def index_of_name(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    def index_of_source_id(self) -> dict[int, int]:
        return {int(s): i for i, s in enumerate(self.source_ids)}

    def with_class(self, name: str, source_id: int | None = None) -> Classes:
        sid = (int(self.source_ids.max()) + 1 if source_id is None and len(self)
               else (source_id or 0))
        return Classes(
            self.names + (name,),
            np.append(self.source_ids, np.int64(sid)),
            tuple(self.extras) + ({},),
        )


@dataclass(eq=False)
class Images:
    """Image table. ``file_name`` is relative to the dataset's image root."""

    ids: np.ndarray  # int64[N]: source image id (COCO id; else 0..N-1)
    file_names: list[str]
    widths: np.ndarray  # int64[N], 0 = unknown
    heights: np.ndarray  # int64[N], 0 = unknown
    deleted: np.ndarray = field(default=None)  # type: ignore[arg-type]  # bool[N]
    reviewed: np.ndarray = field(default=None)  # type: ignore[arg-type]  # bool[N]
    tags: list[frozenset[str]] = field(default=None)  # type: ignore[arg-type]
    extras: list[dict[str, Any]] = field(default=None)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        n = len(self.file_names)
        self.ids = _i64(self.ids, n)
        self.widths = _i64(self.widths, n)
        self.heights = _i64(self.heights, n)
        if self.deleted is None:
            self.deleted = np.zeros(n, dtype=bool)
        if self.reviewed is None:
            self.reviewed = np.zeros(n, dtype=bool)
        if self.tags is None:
            self.tags = [frozenset() for _ in range(n)]
        if self.extras is None:
            self.extras = [{} for _ in range(n)]

    def __len__(self) -> int:
        return len(self.file_names)

    def copy(self) -> Images:
        return Images(
            self.ids.copy(),
            list(self.file_names),
            self.widths.copy(),
            self.heights.copy(),
            self.deleted.copy(),
            self.reviewed.copy(),
            list(self.tags),
            [dict(e) for e in self.extras],
        )


_BOX_COLUMNS = ("box_id", "image", "cls", "xyxy", "score", "iscrowd", "area", "alive", "wh")


@dataclass(eq=False)
class Boxes:
    """Boxes in columns, rows sorted (stably) by image index.

    Columns: ``box_id`` (stable, unique within the table), ``image`` (image index),
    ``cls`` (class index), ``xyxy`` (float64[n, 4], absolute pixels), ``score``
    (NaN for ground truth), ``iscrowd``, ``area`` (NaN = use the box area; COCO's
    annotation ``area`` when given), ``alive`` (False once deleted by an edit).
    ``offsets`` has length ``n_images + 1``. ``extras`` maps a box id to fields
    passed through untouched (COCO segmentation and extra keys, VOC difficult...).
    ``wh`` (float64[n, 2], NaN = none) is the width and height the source file gave
    (COCO's ``[x, y, w, h]``): the evaluation computes box areas from them, as
    pycocotools does, while they agree with ``xyxy`` (see ``geometry.box_areas``).
    """

    box_id: np.ndarray
    image: np.ndarray
    cls: np.ndarray
    xyxy: np.ndarray
    score: np.ndarray
    iscrowd: np.ndarray
    area: np.ndarray
    alive: np.ndarray
    offsets: np.ndarray
    extras: dict[int, dict[str, Any]] = field(default_factory=dict)
    wh: np.ndarray = field(default=None)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        if self.wh is None:
            self.wh = np.full((self.box_id.shape[0], 2), np.nan)

    # ------------------------------------------------------------------ build
    @staticmethod
    def build(
        n_images: int,
        image: Any,
        cls: Any,
        xyxy: Any,
        score: Any = None,
        iscrowd: Any = None,
        area: Any = None,
        box_id: Any = None,
        extras: dict[int, dict[str, Any]] | None = None,
        wh: Any = None,
    ) -> Boxes:
        """Make a table from unsorted columns; rows are stably sorted by image."""
        image = _i64(image)
        n = image.shape[0]
        cls = _i64(cls, n)
        xyxy = np.asarray(xyxy, dtype=np.float64).reshape(n, 4)
        score = np.full(n, np.nan) if score is None else np.asarray(score, dtype=np.float64)
        iscrowd = np.zeros(n, bool) if iscrowd is None else np.asarray(iscrowd, dtype=bool)
        area = np.full(n, np.nan) if area is None else np.asarray(area, dtype=np.float64)
        box_id = np.arange(n, dtype=np.int64) if box_id is None else _i64(box_id, n)
        wh = np.full((n, 2), np.nan) if wh is None else np.asarray(wh, np.float64).reshape(n, 2)
        if n and (image.min() < 0 or image.max() >= n_images):
            raise ValueError("box image index out of range")
        order = np.argsort(image, kind="stable")
        if n and np.any(order != np.arange(n)):
            image, cls, xyxy, score, iscrowd, area, box_id, wh = (
                a[order] for a in (image, cls, xyxy, score, iscrowd, area, box_id, wh)
            )
        offsets = np.zeros(n_images + 1, dtype=np.int64)
        np.cumsum(np.bincount(image, minlength=n_images), out=offsets[1:])
        return Boxes(
            box_id=box_id,
            image=image,
            cls=cls,
            xyxy=np.ascontiguousarray(xyxy),
            score=score,
            iscrowd=iscrowd,
            area=area,
            alive=np.ones(n, dtype=bool),
            offsets=offsets,
            extras=dict(extras or {}),
            wh=wh,
        )

    @staticmethod
    def empty(n_images: int) -> Boxes:
        return Boxes.build(n_images, [], [], np.zeros((0, 4)))

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return int(self.box_id.shape[0])

    @property
    def n_images(self) -> int:
        return int(self.offsets.shape[0] - 1)

    @property
    def is_prediction(self) -> bool:
        return bool(len(self)) and not bool(np.isnan(self.score).all())

    def image_slice(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def rows_of(self, box_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """Row positions of the given box ids (raises KeyError for unknown ids)."""
        ids = _i64(box_ids)
        cache = self.__dict__.get("_id_cache")
        if ids.shape[0] <= _SCAN_MAX and (cache is None or cache[0] is not self.box_id):
            # a few ids and no valid index (just after an insert or a removal): a numpy
            # scan takes microseconds where rebuilding the dict takes milliseconds
            rows = np.empty(ids.shape[0], dtype=np.int64)
            for k, b in enumerate(ids.tolist()):
                hit = np.flatnonzero(self.box_id == b)
                if not hit.size:
                    raise KeyError(b)
                rows[k] = hit[-1]
            return rows
        index = self._id_index()
        rows = np.empty(ids.shape[0], dtype=np.int64)
        for k, b in enumerate(ids.tolist()):
            rows[k] = index[b]
        return rows

    def has_ids(self, box_ids: Sequence[int]) -> bool:
        """True when any of ``box_ids`` is in the table."""
        return bool(np.isin(_i64(box_ids), self.box_id).any())

    def _id_index(self) -> dict[int, int]:
        cache = self.__dict__.get("_id_cache")
        if cache is None or cache[0] is not self.box_id:
            cache = (self.box_id, {int(b): r for r, b in enumerate(self.box_id.tolist())})
            self.__dict__["_id_cache"] = cache
        return cache[1]

    def next_box_id(self) -> int:
        return int(self.box_id.max()) + 1 if len(self) else 0

    def box_area(self) -> np.ndarray:
        """Area used for COCO area ranges: ``area`` column where given, else w*h."""
        from .geometry import box_areas

        return np.where(np.isnan(self.area), box_areas(self.xyxy, self.wh), self.area)

    def select(self, mask: np.ndarray) -> Boxes:
        """A new table with the rows where ``mask`` is true (offsets recomputed)."""
        mask = np.asarray(mask, dtype=bool)
        image = self.image[mask]
        offsets = np.zeros_like(self.offsets)
        np.cumsum(np.bincount(image, minlength=self.n_images), out=offsets[1:])
        ids = self.box_id[mask]
        extras = {int(b): self.extras[int(b)] for b in ids.tolist() if int(b) in self.extras}
        return Boxes(
            box_id=ids,
            image=image,
            cls=self.cls[mask],
            xyxy=self.xyxy[mask],
            score=self.score[mask],
            iscrowd=self.iscrowd[mask],
            area=self.area[mask],
            alive=self.alive[mask],
            offsets=offsets,
            extras=extras,
            wh=self.wh[mask],
        )

    def alive_only(self) -> Boxes:
        return self if bool(self.alive.all()) else self.select(self.alive)

    def copy(self) -> Boxes:
        return replace(
            self,
            **{c: getattr(self, c).copy() for c in _BOX_COLUMNS},
            offsets=self.offsets.copy(),
            extras={k: dict(v) for k, v in self.extras.items()},
        )

    # ------------------------------------------------------------------ mutation
    # Only ``detview.core.dataset.Dataset.apply`` calls these.
    def _insert(
        self,
        box_id: int,
        image: int,
        cls: int,
        xyxy: Sequence[float],
        score: float = float("nan"),
        iscrowd: bool = False,
        area: float = float("nan"),
        extras: dict[str, Any] | None = None,
    ) -> None:
        pos = int(self.offsets[image + 1])
        self.box_id = np.insert(self.box_id, pos, box_id)
        self.image = np.insert(self.image, pos, image)
        self.cls = np.insert(self.cls, pos, cls)
        self.xyxy = np.insert(self.xyxy, pos, np.asarray(xyxy, dtype=np.float64), axis=0)
        self.score = np.insert(self.score, pos, score)
        self.iscrowd = np.insert(self.iscrowd, pos, iscrowd)
        self.area = np.insert(self.area, pos, area)
        self.alive = np.insert(self.alive, pos, True)
        self.wh = np.insert(self.wh, pos, np.nan, axis=0)
        self.offsets[image + 1 :] += 1
        if extras:
            self.extras[box_id] = dict(extras)

    def _remove(self, box_id: int) -> None:
        """Physically remove a row (only to undo an insertion)."""
        pos = int(self.rows_of([box_id])[0])
        image = int(self.image[pos])
        for c in _BOX_COLUMNS:
            setattr(self, c, np.delete(getattr(self, c), pos, axis=0))
        self.offsets[image + 1 :] -= 1
        self.extras.pop(box_id, None)
