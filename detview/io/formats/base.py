"""What a format module provides: one :class:`Format` record named ``FORMAT``.

A format module (``detview/io/formats/<name>.py``) parses and writes one annotation
format and documents its coordinate convention. The registry
(:mod:`detview.io.formats`) finds every module of this package that defines
``FORMAT``; nothing else has to change to add a format.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._common import Progress

if TYPE_CHECKING:
    from detview.core.dataset import Dataset

    from ..model import GtResult, PredData
    from ..output import Output

__all__ = ["Format", "Layout", "ReadRequest"]


@dataclass
class Layout:
    """What :func:`detview.io.detect_layout` found in a folder."""

    root: Path
    images: Path | None
    gt: Path | None
    format: str | None
    description: str
    labels: Path | None = None  # YOLO label folder


@dataclass
class ReadRequest:
    """Everything a ground-truth reader gets."""

    gt: Path
    images: Path | None = None
    class_names: Sequence[str] | None = None
    clip: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    logger: logging.Logger | None = None
    progress: Progress = None


@dataclass(frozen=True)
class Format:
    """One annotation format.

    * ``read_gt(request) -> GtResult``: ground truth from a file or folder;
    * ``read_preds(path, options, logger, progress) -> PredData``: predictions;
    * ``write(dataset, output)``: the cleaned ground truth through an
      :class:`~detview.io.output.Output` (which keeps every path inside the output
      folder); ``write_preds(dataset, run, output)``: one prediction run;
    * ``sniff(path, head) -> int``: 0..100, how sure it is that a file (whose first
      bytes are ``head``) or a folder (``head`` empty) holds this format;
    * ``layout(folder) -> Layout | None``: a whole dataset folder in this format;
      tried in ``layout_order`` (lower first);
    * ``single_file``: suffixes of a one-file output (``.json``); ``default_name`` is
      that file's name inside an output folder.
    """

    name: str
    title: str
    convention: str
    read_gt: Callable[[ReadRequest], GtResult] | None = None
    read_preds: Callable[..., PredData] | None = None
    write: Callable[[Dataset, Output], None] | None = None
    write_preds: Callable[[Dataset, str, Output], None] | None = None
    sniff: Callable[[Path, bytes], int] | None = None
    layout: Callable[[Path], Layout | None] | None = None
    layout_order: int = 50
    single_file: tuple[str, ...] = ()
    default_name: str = ""
    per_image: bool = False
    aliases: tuple[str, ...] = ()
