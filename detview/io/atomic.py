"""Atomic writes: a temporary file in the same folder, then ``os.replace``.

Input files are never modified in place: writing over one of the ``protected`` paths
needs ``overwrite=True``, and then the old file is kept as ``<name>.bak``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import InputError

__all__ = ["atomic_write_bytes", "atomic_write_text"]


def atomic_write_bytes(path: str | Path, data: bytes, *, protected: Iterable[Path] = (),
                       overwrite: bool = False) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.resolve() in {Path(p).resolve() for p in protected}:
        if not overwrite:
            raise InputError(path, "", "refusing to write over an input file (use overwrite=True)")
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def atomic_write_text(path: str | Path, text: str, **kw: object) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), **kw)  # type: ignore[arg-type]
