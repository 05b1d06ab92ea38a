"""Intermediate results of the parsers, before images and classes are resolved."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detview.core.dataset import Dataset

from .errors import Problem

__all__ = ["GtResult", "PredData"]


@dataclass
class GtResult:
    """A parsed ground truth: the dataset (no runs yet) and the warnings found."""

    dataset: Dataset
    problems: list[Problem] = field(default_factory=list)


@dataclass
class PredData:
    """Predictions as found in a file, not yet tied to the dataset's images/classes.

    Images are keyed by ``image_ids`` (ints) or ``image_names`` (file names / stems).
    Classes by ``cls_ids`` (ints) or ``cls_names``. ``vocab`` is the file's own
    id -> name table when it has one. ``normalized``: xyxy in 0..1 (YOLO); the loader
    multiplies by the image size.
    """

    source: str
    format: str
    xyxy: np.ndarray
    score: np.ndarray
    image_ids: np.ndarray | None = None
    image_names: list[str] | None = None
    cls_ids: np.ndarray | None = None
    cls_names: list[str] | None = None
    vocab: dict[int, str] | None = None
    image_vocab: dict[int, str] | None = None  # the file's image id -> file name
    normalized: bool = False
    extras: dict[int, dict[str, Any]] = field(default_factory=dict)  # row -> fields
    where: list[str] | None = None  # row -> "line 3" for messages
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])


@dataclass(frozen=True)
class SourceFiles:
    """The per-image files a dataset was read from, and its boxes as read.

    Stored in ``Dataset.meta["source_files"]`` by the per-image readers (YOLO, VOC,
    LabelMe). A writer of the same format writes an image whose boxes did not change
    as the very bytes it was read from (:func:`detview.io.output.Output.unchanged`), so
    that a cleaned dataset differs from its input only where it was edited.
    """

    format: str
    root: str  # folder the names in ``rel`` are relative to
    rel: tuple[str | None, ...]  # per image: its file (None: it had none)
    digest: tuple[bytes | None, ...]  # blake2b-128 of the bytes read; None: not reusable
    class_names: tuple[str, ...]
    widths: np.ndarray
    heights: np.ndarray
    offsets: np.ndarray  # GT as read, per image
    box_id: np.ndarray
    cls: np.ndarray
    xyxy: np.ndarray
    line: np.ndarray | None = None  # per box: 0-based line in its file (YOLO)
    options: tuple[Any, ...] = ()  # reader options that change the text (YOLO columns)


def file_digest(data: bytes) -> bytes:
    import hashlib

    return hashlib.blake2b(data, digest_size=16).digest()
