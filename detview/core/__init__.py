"""The engine: numpy and pandas only; no Qt, no file paths."""

from .dataset import Dataset
from .tables import Boxes, Classes, Images

__all__ = ["Boxes", "Classes", "Dataset", "Images"]
