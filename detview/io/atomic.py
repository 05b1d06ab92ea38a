"""Atomic writes: a temporary file in the same folder, then ``os.replace``.

* A new file gets the mode the user's umask gives (``0o666 & ~umask``), as any other
  program's output; a file written over keeps its mode.
* Input files are never modified in place: writing over one of the ``protected``
  paths needs ``overwrite=True``, and then the old file is first kept as a numbered
  backup ``<name>.bak.1`` (then ``.bak.2``, ...). A backup is never written over and
  never followed through a symbolic link (it is created exclusively).
* The target itself is replaced, never written through: a symbolic link planted where
  the output goes is replaced by the file, its target is left alone.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from .errors import InputError

__all__ = ["atomic_write_bytes", "atomic_write_text", "copy_file_atomic", "numbered_backup"]

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)


def _open_new(folder: Path, name: str, mode: int = 0o666) -> tuple[int, Path]:
    """A new, exclusively created temporary file in ``folder`` (mode through umask)."""
    for _ in range(100):
        tmp = folder / f".{name[:80]}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY,
                         mode)
        except FileExistsError:
            continue
        return fd, tmp
    raise OSError(errno.EEXIST, "cannot create a temporary file", str(folder))


def numbered_backup(path: Path) -> Path:
    """Keep the current ``path`` as ``<name>.bak.N`` (the first free N); returns it.

    The backup is a hard link when the filesystem allows it (no copy, the original
    inode and mode), else an exclusive copy; an existing name, file or link, is
    never reused or followed.
    """
    path = Path(path)
    for n in range(1, 10_000):
        bak = path.with_name(f"{path.name}.bak.{n}")
        if os.path.lexists(bak):
            continue
        try:
            os.link(path, bak, follow_symlinks=False)
            return bak
        except FileExistsError:
            continue
        except OSError:
            pass  # no hard links here: copy
        try:
            fd = os.open(bak, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY,
                         0o600)
        except FileExistsError:
            continue
        try:
            with os.fdopen(fd, "wb") as f, open(path, "rb") as src:
                shutil.copyfileobj(src, f)
            shutil.copymode(path, bak)
        except BaseException:
            try:
                os.unlink(bak)
            except OSError:
                pass
            raise
        return bak
    raise InputError(path, "", "too many backups (.bak.1 ... .bak.9999); remove some")


def _is_protected(path: Path, protected: Iterable[Path]) -> bool:
    try:
        rp = path.resolve()
    except OSError:
        return False
    for p in protected:
        try:
            if rp == Path(p).resolve():
                return True
        except OSError:
            continue
    return False


def atomic_write_bytes(path: str | Path, data: bytes, *, protected: Iterable[Path] = (),
                       overwrite: bool = False, fsync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically; see the module docstring for the rules."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode: int | None = None
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise InputError(path, "", "is a folder; cannot write a file there")
        if stat.S_ISREG(st.st_mode):
            mode = stat.S_IMODE(st.st_mode)
        if _is_protected(path, protected):
            if not overwrite:
                raise InputError(path, "", "refusing to write over an input file "
                                 "(use overwrite=True / --overwrite; a numbered .bak is kept)")
            numbered_backup(path)
    fd, tmp = _open_new(path.parent, path.name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if mode is not None:
                os.fchmod(f.fileno(), mode)
            if fsync:
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


def copy_file_atomic(src: Path, dst: Path) -> Path:
    """Copy the bytes of ``src`` to ``dst`` through a temporary file (mode through the
    umask); ``dst`` is replaced, never written through."""
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _open_new(dst.parent, dst.name)
    try:
        with os.fdopen(fd, "wb") as f, open(src, "rb") as s:
            shutil.copyfileobj(s, f, 1 << 20)
        os.replace(tmp, dst)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return dst
