"""The one place where a name from an annotation file becomes a path.

Every file name read from an annotation (COCO ``file_name``, LabelMe ``imagePath``,
VOC ``<filename>``, CVAT ``name``, a CSV cell, a YOLO list file, a data.yaml split) is
untrusted. :func:`safe_name` turns it into a normalised, relative POSIX path that
stays inside its root, or refuses it with an :class:`InputError` naming the file and
the record. :class:`Root` joins such names onto a folder and checks that what is
reached (after symbolic links) is still inside that folder; every reader, every
writer and image copying go through it.

Rules for a name:

* backslashes are folder separators (Windows exports), ``.`` and empty parts vanish,
  ``a/../b`` is ``b``; a name that climbs above its root (``../x``) is refused;
* absolute names (``/etc/x``, ``\\\\server\\share``) and drive letters (``C:x``,
  ``C:\\x``) are refused;
* NUL and other control characters are refused;
* a part longer than 255 bytes or a name longer than 1024 bytes is refused (the
  system would fail with "file name too long").

Rule for the filesystem: a symbolic link inside a root may point anywhere inside
that root; a link that leads outside is not followed (the file is treated as
missing, with a message), so an annotation cannot make detview read, copy or write
outside the folders it was given.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from pathlib import Path

from .errors import InputError

__all__ = ["MAX_NAME_BYTES", "MAX_PART_BYTES", "Root", "is_safe_name", "safe_name",
           "unsafe_reason"]

MAX_PART_BYTES = 255
MAX_NAME_BYTES = 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


#: the common case, checked at once: plain relative names without ``.`` parts
_SIMPLE = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_\-. ]*(?:/[A-Za-z0-9_\-][A-Za-z0-9_\-. ]*)*")


def _simple(name: str) -> bool:
    return len(name) <= MAX_PART_BYTES and _SIMPLE.fullmatch(name) is not None


def unsafe_reason(name: object, base: str = "") -> str | None:
    """Why ``name`` (joined to the relative folder ``base``) is not a usable relative
    path, or None when it is."""
    if not base and isinstance(name, str) and _simple(name):
        return None
    if not isinstance(name, str):
        return f"a file name must be text, got {type(name).__name__}"
    if not name.strip():
        return "empty file name"
    if _CONTROL.search(name):
        return "the file name contains a control character (NUL, newline, ...)"
    s = name.replace("\\", "/")
    if s.startswith("/"):
        return "absolute file names are not allowed (the name must be relative to its folder)"
    if _DRIVE.match(s):
        return "file names with a drive letter are not allowed (the name must be relative)"
    try:
        raw = s.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid Unicode"
    if len(raw) > MAX_NAME_BYTES:
        return f"file name too long ({len(raw)} bytes; at most {MAX_NAME_BYTES})"
    if any(len(p.encode("utf-8")) > MAX_PART_BYTES for p in s.split("/")):
        return f"a part of the file name is longer than {MAX_PART_BYTES} bytes"
    joined = posixpath.normpath(posixpath.join(base, s)) if base else posixpath.normpath(s)
    if joined == ".." or joined.startswith("../"):
        return "the file name leads outside its folder ('..')"
    if joined in (".", ""):
        return "the file name names the folder itself"
    return None


def safe_name(name: object, source: str | Path = "", where: str = "", base: str = "") -> str:
    """``name`` as a normalised relative POSIX path inside its root (``base`` is a
    relative folder it is relative to, as LabelMe's ``imagePath`` is to its json).

    Raises :class:`InputError` naming ``source`` and ``where`` when it is unsafe.
    """
    if not base and isinstance(name, str) and _simple(name):
        return name
    why = unsafe_reason(name, base)
    if why is not None:
        shown = repr(name)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        raise InputError(source, where, f"{why}: {shown}")
    s = str(name).replace("\\", "/")
    return posixpath.normpath(posixpath.join(base, s)) if base else posixpath.normpath(s)


def is_safe_name(name: object) -> bool:
    return unsafe_reason(name) is None


class Root:
    """A folder that names are joined onto; nothing reached through it leaves it.

    ``join`` checks the name (see :func:`safe_name`); ``inside`` checks, after
    symbolic links, that a path is inside the folder (link targets are resolved once
    per folder, so checking a million files costs one ``lstat`` each).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.real = os.path.realpath(self.path)
        self._dirs: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"Root({str(self.path)!r})"

    def join(self, name: object, source: str | Path = "", where: str = "") -> Path:
        return self.path / safe_name(name, source, where)

    def _dir_inside(self, d: str) -> bool:
        ok = self._dirs.get(d)
        if ok is None:
            real = os.path.realpath(d)
            ok = real == self.real or real.startswith(self.real.rstrip(os.sep) + os.sep)
            self._dirs[d] = ok
        return ok

    def inside(self, p: str | Path) -> bool:
        """True when ``p`` (under this root) stays inside it after symbolic links."""
        s = os.fspath(p)
        if not self._dir_inside(os.path.dirname(s) or "."):
            return False
        try:
            if stat.S_ISLNK(os.lstat(s).st_mode):
                real = os.path.realpath(s)
                return real.startswith(self.real.rstrip(os.sep) + os.sep)
        except OSError:
            return True  # missing: the caller reports it as missing
        return True

    def file(self, name: object, source: str | Path = "", where: str = "") -> Path:
        """The path of ``name`` under this root, refused when it leaves the root
        (by its name or through a symbolic link)."""
        p = self.join(name, source, where)
        if not self.inside(p):
            raise InputError(source or p, where, f"{name!r} leads outside {self.path} through "
                             "a symbolic link; not followed")
        return p


def regular_file(p: Path) -> bool:
    """True for a regular file (after links): never a FIFO, device or folder."""
    try:
        return stat.S_ISREG(os.stat(p).st_mode)
    except (OSError, ValueError):
        return False
