"""The format registry: one module per format, each exporting ``FORMAT``.

>>> from detview.io import formats
>>> formats.get("coco").convention  # doctest: +ELLIPSIS
'0-based float [x, y, w, h]...'

Adding a format is adding a module ``detview/io/formats/<name>.py`` that defines
``FORMAT = Format(...)`` (see :mod:`detview.io.formats.base`); it is found here,
offered by ``load_dataset``, ``write_dataset``, ``detect_format`` and the CLI.
"""

from __future__ import annotations

import importlib
import pkgutil

from ..errors import InputError
from .base import Format, Layout, ReadRequest

__all__ = ["Format", "Layout", "ReadRequest", "all_formats", "get", "gt_formats",
           "pred_formats", "write_formats"]

#: the order formats are listed in messages and menus
_PREFERRED = ("coco", "yolo", "voc", "labelme", "cvat", "csv")
_REGISTRY: dict[str, Format] | None = None


def _load() -> dict[str, Format]:
    global _REGISTRY
    if _REGISTRY is None:
        found: dict[str, Format] = {}
        for info in pkgutil.iter_modules(__path__):
            if info.name in ("base",) or info.name.startswith("_"):
                continue
            mod = importlib.import_module(f"{__name__}.{info.name}")
            fmt = getattr(mod, "FORMAT", None)
            if isinstance(fmt, Format):
                found[fmt.name] = fmt
        order = [n for n in _PREFERRED if n in found] + sorted(set(found) - set(_PREFERRED))
        _REGISTRY = {n: found[n] for n in order}
    return _REGISTRY


def all_formats() -> list[Format]:
    return list(_load().values())


def get(name: str, source: object = "(format)") -> Format:
    """The format called ``name`` (or one of its aliases); InputError when unknown."""
    key = str(name).lower().strip()
    reg = _load()
    if key in reg:
        return reg[key]
    for f in reg.values():
        if key in f.aliases:
            return f
    raise InputError(str(source), "", f"unknown format {name!r}; one of {', '.join(reg)}")


def gt_formats() -> tuple[str, ...]:
    return tuple(f.name for f in all_formats() if f.read_gt is not None)


def pred_formats() -> tuple[str, ...]:
    return tuple(f.name for f in all_formats() if f.read_preds is not None)


def write_formats() -> tuple[str, ...]:
    return tuple(f.name for f in all_formats() if f.write is not None)
