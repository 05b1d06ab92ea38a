"""Small helpers shared by the log readers."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from detview.io.errors import InputError, Problem

__all__ = ["as_number", "decode", "json_lines", "warn"]

MAX_WARNINGS = 50


def decode(data: bytes) -> str:
    """UTF-8 text (a BOM dropped); undecodable bytes become U+FFFD, never an error."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return data.decode("utf-8", errors="replace")


def warn(problems: list[Problem], source: str, where: str, message: str) -> None:
    if len(problems) < MAX_WARNINGS:
        problems.append(Problem(source, where, message, "warning"))
    elif len(problems) == MAX_WARNINGS:
        problems.append(Problem(source, "", "more warnings not shown", "warning"))


def as_number(v: Any) -> float | None:
    """A JSON value as a float: int/float (not bool); None for anything else.
    Infinite values become NaN (a diverged loss), ints too large for a float are None."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else float("nan")


def json_lines(data: bytes, source: str,
               problems: list[Problem]) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` for each non-empty line of a JSON-lines file.

    A line that is not a JSON object raises :class:`InputError` naming the line, except
    the last one when the file does not end with a newline (a log still being written):
    that one is skipped with a warning.
    """
    text = decode(data)
    lines = text.split("\n")
    cut_short = not text.endswith("\n")
    last = len(lines)
    while last > 0 and not lines[last - 1].strip():
        last -= 1
    for no, line in enumerate(lines[:last], start=1):
        s = line.strip()
        if not s:
            continue
        try:
            obj = json.loads(s)
        except (ValueError, RecursionError) as exc:
            if no == last and cut_short:
                warn(problems, source, f"line {no}", "last line cut short (still being "
                                                     "written?); skipped")
                return
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc) or "too deep"
            raise InputError(source, f"line {no}", f"not valid JSON: {msg}") from None
        if not isinstance(obj, dict):
            raise InputError(source, f"line {no}",
                             f"expected a JSON object, got {type(obj).__name__}")
        yield no, obj
