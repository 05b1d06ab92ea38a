"""Pass-through fields read only when someone asks for them.

A COCO ground truth of 860k annotations carries ~1 GB of segmentation polygons as
Python objects that evaluation never looks at; only an export writes them back. The
reader therefore gives :class:`LazyExtras` (box id -> extra fields) and
:class:`LazyRows` (image index -> extra fields) whose ``load`` function reads them from
the source when first needed (the io layer checks that the file did not change).
Copies share what was read and keep their own changes, so ``Dataset.copy`` (the
session's original for the corrections log) costs nothing until an export.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, MutableMapping, Sequence
from typing import Any, overload

__all__ = ["LazyExtras", "LazyRows", "copy_extras", "copy_rows"]

Extras = dict[str, Any]


class _Once:
    """``load()`` called at most once (thread-safe); its value shared by the copies."""

    def __init__(self, load: Callable[[], Any]) -> None:
        self._load: Callable[[], Any] | None = load
        self._value: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._load is None

    def get(self) -> Any:
        if self._load is not None:
            with self._lock:
                if self._load is not None:
                    self._value = self._load()
                    self._load = None
        return self._value


_MISSING = object()


class LazyExtras(MutableMapping[int, Extras]):
    """``box id -> extra fields``, read from the source by ``load()`` on first use.

    Setting or removing a key never reads the source (edits add and remove boxes);
    looking up, iterating or counting does."""

    def __init__(self, load: Callable[[], dict[int, Extras]] | _Once) -> None:
        self._src = load if isinstance(load, _Once) else _Once(load)
        self._over: dict[int, Extras] = {}
        self._gone: set[int] = set()
        self._keep: frozenset[int] | None = None

    @property
    def loaded(self) -> bool:
        return self._src.loaded

    def _base(self) -> dict[int, Extras]:
        base: dict[int, Extras] = self._src.get()
        return base

    def _in_base(self, k: int) -> bool:
        return (k not in self._gone and (self._keep is None or k in self._keep)
                and k in self._base())

    def __getitem__(self, k: int) -> Extras:
        if k in self._over:
            return self._over[k]
        if self._in_base(k):
            return self._base()[k]
        raise KeyError(k)

    def __setitem__(self, k: int, v: Extras) -> None:
        self._over[k] = v

    def __delitem__(self, k: int) -> None:
        if k in self._over:
            del self._over[k]
            self._gone.add(k)
        elif self._in_base(k):
            self._gone.add(k)
        else:
            raise KeyError(k)

    def pop(self, k: int, default: Any = _MISSING) -> Any:
        """As ``dict.pop``; a key that was never set here is removed without reading the
        source (its value is then the default): edits remove boxes they added."""
        if k in self._over:
            self._gone.add(k)
            return self._over.pop(k)
        if not self._src.loaded and default is not _MISSING:
            self._gone.add(k)
            return default
        if self._in_base(k):
            self._gone.add(k)
            return self._base()[k]
        if default is _MISSING:
            raise KeyError(k)
        return default

    def __iter__(self) -> Iterator[int]:
        yield from self._over
        for k in self._base():
            if k not in self._over and self._in_base(k):
                yield k

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "not read yet"
        return f"<LazyExtras {state}, {len(self._over)} set, {len(self._gone)} removed>"

    def lazy_copy(self) -> LazyExtras:
        """A copy sharing the source: its own changes, the values copied as
        ``Boxes.copy`` copies a plain dict's."""
        out = LazyExtras(self._src)
        out._over = {k: dict(v) for k, v in self._over.items()}
        out._gone = set(self._gone)
        out._keep = self._keep
        return out

    def restrict(self, ids: Iterable[int]) -> LazyExtras:
        """The entries of ``ids`` only (``Boxes.select``), without reading the source."""
        keep = frozenset(int(b) for b in ids)
        out = LazyExtras(self._src)
        out._over = {k: v for k, v in self._over.items() if k in keep}
        out._gone = set(self._gone)
        out._keep = keep if self._keep is None else (keep & self._keep)
        return out


class LazyRows(Sequence[Extras]):
    """One dict of extra fields per row (image), read by ``load()`` on first use; the
    length is known without reading. Read-only (no edit changes image extras)."""

    def __init__(self, n: int, load: Callable[[], Sequence[Extras]] | _Once) -> None:
        self._n = int(n)
        self._src = load if isinstance(load, _Once) else _Once(load)

    @property
    def loaded(self) -> bool:
        return self._src.loaded

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> Extras: ...

    @overload
    def __getitem__(self, i: slice) -> Sequence[Extras]: ...

    def __getitem__(self, i: int | slice) -> Extras | Sequence[Extras]:
        rows: Sequence[Extras] = self._src.get()
        return rows[i]

    def __repr__(self) -> str:
        return f"<LazyRows {self._n} rows, {'loaded' if self.loaded else 'not read yet'}>"

    def lazy_copy(self) -> LazyRows:
        return self


def copy_extras(extras: MutableMapping[int, Extras]) -> MutableMapping[int, Extras]:
    """``Boxes.copy``'s copy of the extras: a lazy mapping stays lazy."""
    if isinstance(extras, LazyExtras):
        return extras.lazy_copy()
    return {k: dict(v) for k, v in extras.items()}


def copy_rows(rows: Sequence[Extras]) -> Any:
    """``Images.copy``'s copy of the image extras: lazy rows stay lazy."""
    if isinstance(rows, LazyRows):
        return rows.lazy_copy()
    return [dict(e) for e in rows]
