"""Shared helpers for the format modules: text decoding, JSON/XML with locations,
problem collection, atomic writes, image-name matching.

Nothing here prints; everything reports through :class:`Problems`.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import stat
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import orjson

from .atomic import atomic_write_bytes
from .errors import InputError, Problem

__all__ = [
    "IMAGE_EXTENSIONS",
    "INT64_MAX",
    "MAX_IMAGE_SIDE",
    "Problems",
    "Progress",
    "as_int",
    "atomic_write_bytes",
    "decode_text",
    "float_token",
    "image_stem",
    "int_token",
    "is_finite_number",
    "parse_json",
    "parse_xml",
]

INT64_MAX = (1 << 63) - 1
INT64_MIN = -(1 << 63)
#: the largest image side accepted from a file (pixels); bigger is taken as a typo
MAX_IMAGE_SIDE = 1_000_000

Progress = Callable[[int, int], bool] | None

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".jfif", ".pgm", ".ppm"}
)


class Problems:
    """Collects problems; ``raise_if_errors`` turns errors into one InputError."""

    def __init__(self, limit: int = 10_000) -> None:
        self.items: list[Problem] = []
        self.limit = limit
        self.dropped = 0

    def add(self, path: str | Path, where: str, message: str, severity: str = "error") -> None:
        if len(self.items) >= self.limit:
            self.dropped += 1
            return
        self.items.append(Problem(str(path), where, message, severity))

    def warn(self, path: str | Path, where: str, message: str) -> None:
        self.add(path, where, message, "warning")

    def extend(self, problems: Iterable[Problem]) -> None:
        for p in problems:
            self.add(p.path, p.where, p.message, p.severity)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity != "error"]

    def raise_if_errors(self) -> None:
        errs = self.errors
        if errs:
            first = errs[0]
            if self.dropped:
                errs = errs + [Problem(first.path, "", f"... and {self.dropped} more problems")]
            raise InputError(first.path, first.where, first.message, errs)


def decode_text(data: bytes | str, source: str | Path) -> str:
    """Bytes to text: UTF-8 (BOM removed), UTF-16 with BOM; CRLF/CR become LF."""
    if isinstance(data, str):
        text = data
    else:
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            text = data.decode("utf-16")
        else:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = data[: exc.start].count(b"\n") + 1
                raise InputError(
                    source, f"line {line}", "not UTF-8 text (is this a binary file?)"
                ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def parse_json(data: bytes | str, source: str | Path) -> Any:
    """Parse JSON fast (orjson); on failure report line and column (stdlib json)."""
    if isinstance(data, bytes) and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if isinstance(data, str) and data.startswith("\ufeff"):
        data = data[1:]
    if not (data.strip() if isinstance(data, (bytes, str)) else data):
        raise InputError(source, "", "the file is empty")
    # Millions of small dicts trigger the cyclic GC over and over; parsing creates
    # no cycles, so pausing it is safe and roughly halves the time on large files.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    finally:
        if was_enabled:
            gc.enable()
    text = decode_text(data, source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            source, f"line {exc.lineno}, column {exc.colno}", f"malformed JSON: {exc.msg}"
        ) from None
    except RecursionError:
        raise InputError(source, "", "JSON nested too deeply (more than ~1000 levels of "
                         "[ ] or { }); not an annotation file") from None
    except ValueError as exc:  # e.g. an integer with more than 4300 digits
        raise InputError(source, "", f"malformed JSON: {exc}") from None


def parse_xml(data: bytes | str, source: str | Path) -> ET.Element:
    """Parse XML; errors name line and column."""
    if isinstance(data, bytes):
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if not data.strip():
            raise InputError(source, "", "the file is empty")
    elif not data.strip():
        raise InputError(source, "", "the file is empty")
    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        line, col = exc.position
        msg = str(exc).split(":")[0]
        raise InputError(source, f"line {line}, column {col + 1}",
                         f"malformed XML: {msg}") from None
    except LookupError as exc:  # <?xml encoding="utf-1"?>
        raise InputError(source, "line 1", f"unknown XML encoding: {exc}") from None
    except (ValueError, RecursionError) as exc:
        raise InputError(source, "", f"unusable XML: {exc}") from None


def as_int(v: Any, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int | None:
    """``v`` as an int in ``lo..hi`` when it is an integer (or an integral finite
    float, as JSON writers produce ``3.0``); None otherwise. Booleans are not numbers."""
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v if lo <= v <= hi else None
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        iv = int(v)
        return iv if lo <= iv <= hi else None
    return None


def float_token(t: Any) -> float | None:
    """A text token as a float (``inf``/``nan`` included, the caller checks), or None."""
    if t is None:
        return None
    try:
        return float(t)
    except (TypeError, ValueError, OverflowError):
        return None


def int_token(t: Any, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int | None:
    """A text token (``"3"``, ``"3.0"``) as an int in ``lo..hi``, or None."""
    if t is None:
        return None
    s = str(t).strip()
    try:
        v = int(s)
    except ValueError:
        f = float_token(s)
        return None if f is None else as_int(f, lo, hi)
    return v if lo <= v <= hi else None


def is_finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def image_stem(name: str) -> str:
    """File stem of a (possibly relative, possibly Windows) image path."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base.rsplit(".", 1)[0] if "." in base else base


def basename(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


class NameIndex:
    """Find an image index from a file name, a relative path, a basename or a stem."""

    def __init__(self, file_names: Sequence[str]) -> None:
        self.exact: dict[str, int] = {}
        self.base: dict[str, int] = {}
        self.stem: dict[str, int] = {}
        dup_base: set[str] = set()
        dup_stem: set[str] = set()
        for i, f in enumerate(file_names):
            norm = str(PurePosixPath(f.replace("\\", "/")))
            self.exact.setdefault(norm, i)
            b = basename(norm)
            if b in self.base:
                dup_base.add(b)
            self.base.setdefault(b, i)
            s = image_stem(norm)
            if s in self.stem:
                dup_stem.add(s)
            self.stem.setdefault(s, i)
        for b in dup_base:
            self.base.pop(b, None)
        for s in dup_stem:
            self.stem.pop(s, None)

    def find(self, name: str) -> int:
        """Index or -1."""
        norm = str(PurePosixPath(name.replace("\\", "/")))
        i = self.exact.get(norm)
        if i is not None:
            return i
        i = self.base.get(basename(norm))
        if i is not None:
            return i
        i = self.stem.get(image_stem(norm))
        return -1 if i is None else i

    def find_many(self, names: Sequence[str]) -> np.ndarray:
        cache: dict[str, int] = {}
        out = np.empty(len(names), dtype=np.int64)
        for k, n in enumerate(names):
            v = cache.get(n)
            if v is None:
                v = cache[n] = self.find(n)
            out[k] = v
        return out


def read_bytes(path: Path) -> bytes:
    """The bytes of a regular file; every failure is an InputError naming it."""
    path = Path(path)
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise InputError(path, "", "is a folder, expected a file")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(path, "", "not a regular file (a device, pipe or socket)")
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(path, "", "file not found") from None
    except IsADirectoryError:
        raise InputError(path, "", "is a folder, expected a file") from None
    except PermissionError:
        raise InputError(path, "", "permission denied") from None
    except ValueError:  # NUL in the path
        raise InputError(path, "", "the path contains a NUL character") from None
    except OSError as exc:  # file name too long, I/O error, ...
        raise InputError(path, "", f"cannot read: {exc.strerror or exc}") from None




#: extras keys that belong to one format's own round trip (raw XML, layouts, ...);
#: writers of other formats leave them out, as they do keys starting with "_".
PRIVATE_KEYS = frozenset({"voc", "voc_xml", "cvat", "labelme"})


def public_extras(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in PRIVATE_KEYS and not k.startswith("_")}


def get_logger(logger: logging.Logger | None) -> logging.Logger:
    return logger if logger is not None else logging.getLogger("detview.io")


def fmt_num(v: float) -> str:
    """Shortest repr of a float; integers without '.0'."""
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))
