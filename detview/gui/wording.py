"""Words the GUI shows: counts with the right plural, and failures a user can act on
(never a raw ``OSError`` repr)."""

from __future__ import annotations

import errno
from pathlib import Path

from detview.io.errors import InputError, format_error

__all__ = ["count", "error_for_user", "os_error_text"]


def count(n: int, word: str, plural: str | None = None) -> str:
    """``1 box``, ``2 boxes``, ``0 images``."""
    if n == 1:
        return f"1 {word}"
    if plural is None:
        plural = word + ("es" if word.endswith(("s", "x", "ch", "sh")) else "s")
    return f"{n} {plural}"


_OS_TEXT = {
    errno.ENOSPC: "the disk is full: free some space or choose another drive",
    errno.EDQUOT: "your disk quota is used up: free some space or choose another drive",
    errno.EACCES: "permission denied: choose a folder you can write to",
    errno.EPERM: "the operation is not permitted here: choose a folder you can write to",
    errno.EROFS: "the drive is read-only: choose a folder on a writable drive",
    errno.ENOENT: "it does not exist (was the folder moved, renamed or unmounted?)",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder where a file was expected",
    errno.EEXIST: "it exists already",
    errno.ENAMETOOLONG: "the path is too long: choose a shorter one",
    errno.EIO: "the drive reported an input/output error (is it failing or disconnected?)",
    errno.EMFILE: "too many files are open: close some programs and try again",
}


def os_error_text(exc: OSError) -> str:
    """``PATH: what went wrong, and what to do`` for an OSError."""
    what = _OS_TEXT.get(exc.errno or -1) or (exc.strerror or "").strip() or "cannot be written"
    where = exc.filename if exc.filename is not None else ""
    if exc.filename2 is not None:
        where = f"{where} → {exc.filename2}"
    return f"{where}: {what}" if where else what[:1].upper() + what[1:]


def error_for_user(exc: BaseException, action: str = "", target: Path | str | None = None
                   ) -> str:
    """A sentence or two for a dialog: ``Cannot export to OUT: PATH: the disk is full``."""
    if isinstance(exc, InputError):
        text = format_error(exc)
    elif isinstance(exc, OSError):
        text = os_error_text(exc)
    else:
        text = format_error(exc)
    head = f"Cannot {action}" + (f" to {target}" if target is not None else "") if action else ""
    return f"{head}:\n{text}" if head else text
