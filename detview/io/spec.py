"""What a dataset is loaded from: one spec type and one set of command-line options.

:class:`DatasetSpec` is a small JSON-able record of the sources and loading options.
Every command that loads a dataset — ``detview eval``, ``coco-eval``, ``export``,
``apply`` and the GUI's ``detview open`` — declares its options with
:func:`add_dataset_options` and turns them into a spec with :func:`spec_from_args`, so
they accept the same options with the same meaning. The GUI's open dialog builds the
same spec. The journal and the corrections log store the spec, so a session can be
restored and a log replayed on the same original files.

``--log PATH`` (repeatable) names training logs shown beside the dataset (the GUI's
Graphs view; ``eval`` checks they read). They are not a data source: :meth:`DatasetSpec.to_json`
leaves them out unless asked, so a journal, a corrections log or a stored run is keyed
by the data alone.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CLASS_MAPS",
    "DatasetSpec",
    "add_dataset_options",
    "load_spec",
    "parse_class_names",
    "parse_pred_args",
    "resolve_folder",
    "spec_from_args",
]

#: how prediction class ids map to the ground truth's (``auto`` reports its choice)
CLASS_MAPS: dict[str, str] = {
    "auto": "decide from the ids and names found (the choice is reported)",
    "ids": "the same ids as the ground truth (COCO category ids, YOLO indices)",
    "index": "0-based indices into the ground-truth classes sorted by id (YOLO indices "
             "beside COCO's sparse ids)",
    "names": "by name, through the prediction file's own categories",
}


def _abs(p: str | Path | None) -> str | None:
    return None if p is None else str(Path(p).expanduser().resolve())


@dataclass(frozen=True)
class DatasetSpec:
    """Sources (absolute paths) and loading options of one dataset."""

    images: str | None = None
    gt: str | None = None
    gt_format: str | None = None
    preds: tuple[tuple[str | None, str], ...] = ()
    pred_format: str | None = None
    class_map: str | None = None  # None = auto
    class_names: tuple[str, ...] | str | None = None  # a list, or a names file path
    loss: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    logs: tuple[str, ...] = ()  # training logs shown with the dataset (not a data source)

    @staticmethod
    def make(images: str | Path | None = None, gt: str | Path | None = None,
             preds: Any = (), loss: str | Path | None = None, **kw: Any) -> DatasetSpec:
        """Paths made absolute; ``class_names`` a path or a list of names; ``logs`` paths
        of training logs."""
        logs = tuple(str(_abs(p)) for p in kw.pop("logs", None) or ())
        names = kw.pop("class_names", None)
        if isinstance(names, Path):
            names = _abs(names)
        elif names is not None and not isinstance(names, str):
            names = tuple(str(n) for n in names)
        class_map = kw.pop("class_map", None)
        return DatasetSpec(
            images=_abs(images), gt=_abs(gt),
            preds=tuple((n, str(_abs(p))) for n, p in preds),
            loss=_abs(loss), class_names=names,
            class_map=None if class_map in (None, "", "auto") else str(class_map), logs=logs,
            **kw,
        )

    def to_json(self, with_logs: bool = False) -> dict[str, Any]:
        """The spec as JSON; the training logs only ``with_logs`` (they are not data:
        journals and corrections logs are keyed by the data alone)."""
        d = asdict(self)
        d["preds"] = [list(p) for p in self.preds]
        if isinstance(self.class_names, tuple):
            d["class_names"] = list(self.class_names)
        d.pop("logs")
        if with_logs and self.logs:
            d["logs"] = list(self.logs)
        return d

    @staticmethod
    def from_json(d: dict[str, Any]) -> DatasetSpec:
        d = dict(d)
        d["preds"] = tuple((p[0], p[1]) for p in d.get("preds", ()))
        if isinstance(d.get("class_names"), list):
            d["class_names"] = tuple(d["class_names"])
        d["logs"] = tuple(str(x) for x in d.get("logs") or ())
        known = set(DatasetSpec.__dataclass_fields__)
        return DatasetSpec(**{k: v for k, v in d.items() if k in known})

    @property
    def empty(self) -> bool:
        return not (self.images or self.gt)

    def root(self) -> Path | None:
        """The folder the dataset lives in (for the journal)."""
        for p in (self.images, self.gt):
            if p:
                return Path(p).parent
        return None

    def describe(self) -> str:
        """What a progress bar or a title says about it."""
        return str(self.gt or self.images or "(nothing)")

    def name(self) -> str:
        """A short name: the dataset folder's."""
        root = self.root()
        if root is not None and self.images and Path(self.images).name in ("images", "JPEGImages"):
            return root.name
        p = self.images or self.gt
        return Path(p).name if p else "dataset"


def parse_pred_args(values: Sequence[str]) -> list[tuple[str | None, Path]]:
    """``[NAME=]PATH`` values (a path that exists with a ``=`` in it stays a path)."""
    out: list[tuple[str | None, Path]] = []
    for v in values:
        name, sep, path = v.partition("=")
        if sep and name and not Path(v).exists():
            out.append((name, Path(path).expanduser()))
        else:
            out.append((None, Path(v).expanduser()))
    return out


def parse_class_names(value: str | None) -> Path | list[str] | None:
    """A names file (data.yaml, classes.txt) when it exists, else a comma list."""
    if value is None or not value.strip():
        return None
    if Path(value).expanduser().exists():
        return Path(value).expanduser()
    return [n.strip() for n in value.split(",") if n.strip()]


def add_dataset_options(p: argparse.ArgumentParser, preds: bool = True) -> None:
    """The options of every command that loads a dataset."""
    g = p.add_argument_group("dataset")
    g.add_argument("dataset", nargs="?", type=Path,
                   help="a dataset folder to auto-detect (COCO json + images, Ultralytics "
                        "images/ + labels/ + data.yaml, VOC JPEGImages/ + Annotations/)")
    g.add_argument("--images", type=Path, help="folder of images")
    g.add_argument("--gt", type=Path, help="ground truth: COCO json, YOLO labels folder, VOC "
                                           "Annotations folder, LabelMe/CVAT/CSV")
    g.add_argument("--gt-format", help="force the ground-truth format (coco, yolo, voc, "
                                       "labelme, cvat, csv)")
    g.add_argument("--names", help="class names for YOLO: a data.yaml/classes.txt path or "
                                   "a comma-separated list")
    if preds:
        g.add_argument("--pred", action="append", default=[], metavar="[NAME=]PATH",
                       help="a prediction file or folder; repeat for several runs")
        g.add_argument("--pred-format", help="force the prediction format (coco, yolo, csv, "
                                             "labelme)")
        g.add_argument("--class-map", default=None, choices=list(CLASS_MAPS),
                       help="how prediction class ids map to the ground truth's: "
                            + "; ".join(f"{k}: {v}" for k, v in CLASS_MAPS.items()))
        g.add_argument("--loss", type=Path, help="per-image loss CSV with file_name,loss")
        g.add_argument("--log", action="append", default=[], type=Path, metavar="PATH",
                       help="a training log (torchvision log, Ultralytics results.csv, "
                            "TensorBoard event file, detectron2 metrics.json, MMDetection "
                            "log.json) or a folder of them; repeat for several runs")


def resolve_folder(folder: Path, report: Callable[[str], None] | None = None
                   ) -> tuple[Path | None, Path | None, str | None]:
    """(images, gt, gt format) a dataset folder holds (auto-detected)."""
    from .errors import InputError
    from .loader import detect_layout

    if not Path(folder).exists():
        raise InputError(folder, "", "no such file or folder")
    layout = detect_layout(Path(folder))
    if report is not None:
        report(layout.description)
    return layout.images, layout.gt, layout.format


def spec_from_args(args: argparse.Namespace,
                   report: Callable[[str], None] | None = None) -> DatasetSpec:
    """The dataset the options of :func:`add_dataset_options` name; a folder is
    auto-detected and ``report`` told what was found."""
    from .errors import InputError

    images, gt, gt_format = args.images, args.gt, args.gt_format
    if getattr(args, "dataset", None) is not None:
        found = resolve_folder(args.dataset, report)
        images, gt, gt_format = images or found[0], gt or found[1], gt_format or found[2]
    if gt is None and images is None:
        raise InputError("(command line)", "", "name a dataset folder, or --images and --gt")
    return DatasetSpec.make(
        images=images, gt=gt, preds=parse_pred_args(getattr(args, "pred", None) or []),
        loss=getattr(args, "loss", None), gt_format=gt_format,
        pred_format=getattr(args, "pred_format", None),
        class_map=getattr(args, "class_map", None),
        class_names=parse_class_names(getattr(args, "names", None)),
        logs=getattr(args, "log", None) or (),
    )


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
