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
