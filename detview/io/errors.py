"""Errors and warnings about input files, always naming the file and the place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Cancelled", "InputError", "Problem", "format_error"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file.

    ``where`` is the place in the file a user can find: ``"line 12"``,
    ``"line 3, column 7"``, ``"annotation #41 (id 1234)"``, ``"object 2"``.
    """

    path: str
    where: str
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        loc = f"{self.path}: {self.where}: " if self.where else f"{self.path}: "
        return f"{loc}{self.message}"


class InputError(Exception):
    """A file that cannot be used. ``problems`` lists every error found in it."""

    def __init__(self, path: str | Path, where: str, message: str,
                 problems: list[Problem] | None = None) -> None:
        self.problem = Problem(str(path), where, message)
        self.problems = problems or [self.problem]
        super().__init__(str(self.problem))


def format_error(exc: BaseException) -> str:
    """One line (or one line per problem) for a user, no traceback."""
    if isinstance(exc, InputError):
        return "\n".join(str(p) for p in exc.problems)
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename}: file not found"
    if isinstance(exc, PermissionError):
        return f"{exc.filename}: permission denied"
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename}: is a folder, expected a file"
    return f"{type(exc).__name__}: {exc}"


class Cancelled(Exception):
    """A long operation stopped because its ``progress`` callback returned False."""
