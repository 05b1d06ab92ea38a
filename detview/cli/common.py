"""Options and loading shared by the headless commands."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from detview.io.errors import InputError
from detview.io.spec import DatasetSpec, load_spec

log = logging.getLogger("detview")


def add_dataset_options(p: argparse.ArgumentParser, preds: bool = True) -> None:
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
        g.add_argument("--class-map", default=None,
                       help="how prediction class ids map to the ground truth's: ids, index, "
                            "names, or auto (default: auto, and the choice is reported)")
        g.add_argument("--loss", type=Path, help="per-image loss CSV with file_name,loss")


def parse_pred_args(values: list[str]) -> list[tuple[str | None, Path]]:
    out: list[tuple[str | None, Path]] = []
    for v in values:
        name, sep, path = v.partition("=")
        if sep and name and not Path(v).exists():
            out.append((name, Path(path)))
        else:
            out.append((None, Path(v)))
    return out


def _names(value: str | None) -> Any:
    if value is None:
        return None
    if Path(value).exists():
        return Path(value)
    return [n.strip() for n in value.split(",") if n.strip()]


def spec_from_args(args: argparse.Namespace, quiet: bool = False) -> DatasetSpec:
    """The dataset the options name (a folder is auto-detected and reported)."""
    import detview.io as dio

    images, gt, gt_format = args.images, args.gt, args.gt_format
    if getattr(args, "dataset", None) is not None:
        if not args.dataset.exists():
            raise InputError(args.dataset, "", "no such file or folder")
        layout = dio.detect_layout(args.dataset)
        images = images or layout.images
        gt = gt or layout.gt
        gt_format = gt_format or layout.format
        if not quiet:
            print(f"detview: {layout.description}", file=sys.stderr)
    if gt is None and images is None:
        raise InputError("(command line)", "", "name a dataset folder, or --images and --gt")
    class_map = getattr(args, "class_map", None)
    return DatasetSpec.make(
        images=images, gt=gt, preds=parse_pred_args(getattr(args, "pred", []) or []),
        loss=getattr(args, "loss", None), gt_format=gt_format,
        pred_format=getattr(args, "pred_format", None),
        class_map=None if class_map in (None, "auto") else class_map,
        class_names=_names(getattr(args, "names", None)),
    )


def load_from_args(args: argparse.Namespace, quiet: bool = False) -> Any:
    """Load the dataset the options name; warnings go to stderr, one line each.

    Returns the :class:`detview.io.LoadResult` and the spec it was loaded from.
    """
    spec = spec_from_args(args, quiet)
    result = load_spec(spec, logger=log)
    if not quiet:
        for p in result.problems:
            print(f"detview: warning: {p}", file=sys.stderr)
    return result, spec
