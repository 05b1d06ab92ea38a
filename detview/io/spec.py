"""What a dataset was loaded from: the sources and options, as a small JSON-able record.

The GUI and the CLI both load through :func:`load_spec`; the journal and the
corrections log store the spec so a session can be restored and a log replayed on
the same original files.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DatasetSpec", "load_spec"]


def _abs(p: str | Path | None) -> str | None:
    return None if p is None else str(Path(p).expanduser().resolve())


@dataclass(frozen=True)
class DatasetSpec:
    images: str | None = None
    gt: str | None = None
    gt_format: str | None = None
    preds: tuple[tuple[str | None, str], ...] = ()
    pred_format: str | None = None
    class_map: str | None = None
    class_names: tuple[str, ...] | str | None = None
    loss: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def make(images: str | Path | None = None, gt: str | Path | None = None,
             preds: Any = (), loss: str | Path | None = None, **kw: Any) -> DatasetSpec:
        names = kw.pop("class_names", None)
        if isinstance(names, Path):
            names = _abs(names)
        elif names is not None and not isinstance(names, str):
            names = tuple(names)
        return DatasetSpec(
            images=_abs(images), gt=_abs(gt),
            preds=tuple((n, str(_abs(p))) for n, p in preds),
            loss=_abs(loss), class_names=names, **kw,
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["preds"] = [list(p) for p in self.preds]
        if isinstance(self.class_names, tuple):
            d["class_names"] = list(self.class_names)
        return d

    @staticmethod
    def from_json(d: dict[str, Any]) -> DatasetSpec:
        d = dict(d)
        d["preds"] = tuple((p[0], p[1]) for p in d.get("preds", ()))
        if isinstance(d.get("class_names"), list):
            d["class_names"] = tuple(d["class_names"])
        known = set(DatasetSpec.__dataclass_fields__)
        return DatasetSpec(**{k: v for k, v in d.items() if k in known})

    def root(self) -> Path | None:
        """The folder the dataset lives in (for the journal)."""
        for p in (self.images, self.gt):
            if p:
                q = Path(p)
                return q.parent if q.is_file() or q.suffix else q.parent
        return None


def load_spec(spec: DatasetSpec, logger: Any = None, progress: Any = None) -> Any:
    """Load a dataset as the spec says; returns :class:`detview.io.LoadResult`."""
    from detview.io import load_dataset

    kw: dict[str, Any] = {"options": dict(spec.options)} if spec.options else {}
    if spec.gt_format:
        kw["gt_format"] = spec.gt_format
    if spec.pred_format:
        kw["pred_format"] = spec.pred_format
    if spec.class_map:
        kw["pred_class_map"] = spec.class_map
    if spec.class_names is not None:
        names = spec.class_names
        kw["class_names"] = Path(names) if isinstance(names, str) else list(names)
    return load_dataset(
        Path(spec.images) if spec.images else None,
        Path(spec.gt) if spec.gt else None,
        [(n, Path(p)) for n, p in spec.preds],
        Path(spec.loss) if spec.loss else None,
        logger=logger, progress=progress, **kw,
    )
