"""detview: error analysis and label cleaning for object-detection predictions."""

__version__ = "0.1.0"
