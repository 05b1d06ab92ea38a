"""Writing the cleaned dataset in any supported format, and the export with its log.

Boxes with ``alive == False`` and images with ``images.deleted`` are left out;
everything else is written as it came in (ids, order, passthrough fields; a per-image
file whose boxes did not change is written back byte for byte). How files reach the
disk (a temporary folder renamed into place, the completion marker, refusing a
folder that is not ours, file modes, numbered backups) is :mod:`detview.io.output`.

Output paths per format (``out``):

* ``coco``: a ``.json`` file (a folder gets ``annotations.json``); images to ``images/``
* ``cvat``: an ``.xml`` file (a folder gets ``annotations.xml``)
* ``csv``: a ``.csv`` file (a folder gets ``annotations.csv``)
* ``yolo``: a folder: ``images/<split>/``, ``labels/<split>/<stem>.txt`` (empty for
  images without boxes) and ``data.yaml`` listing every split
* ``voc``: a folder: ``Annotations/<stem>.xml``, ``JPEGImages/``, ``labelmap.txt``,
  ``ImageSets/Main/<split>.txt`` (Datumaro reads it as is)
* ``labelme``: a folder: ``<stem>.json`` beside the images (copied there when asked)

:func:`export_dataset` is the one export: the GUI and ``detview export``/``apply``
call it, so both write the same bytes (dataset files and ``corrections.jsonl``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from detview.core.dataset import Dataset
from detview.core.edits import Edit

from . import formats
from ._common import Progress, get_logger
from .errors import InputError
from .output import MARKER, Output, check_export

__all__ = ["CORRECTIONS_NAME", "FORMATS", "MARKER", "check_export", "export_dataset",
           "write_dataset", "write_predictions"]

FORMATS = formats.write_formats()
CORRECTIONS_NAME = "corrections.jsonl"


def write_dataset(
    dataset: Dataset,
    out: Path,
    format: str | None = None,
    *,
    images_mode: str = "none",
    images_root: Path | None = None,
    overwrite: bool = False,
    options: dict[str, Any] | None = None,
    logger: logging.Logger | None = None,
    progress: Progress = None,
    extra_files: Mapping[str, bytes] | None = None,
) -> list[Path]:
    """Write the cleaned dataset; returns the files written (images included).

    ``format`` None = the format it came in (``dataset.meta["format"]``).
    ``options``: ``voc_one_based`` (default: as read, else True); ``yolo_path``
    (``"absolute"`` writes ``path:`` into data.yaml, for YOLOv5; default: no ``path``,
    which Ultralytics resolves against the yaml's folder).
    ``extra_files``: more files for the output folder ({relative name: bytes}), written
    inside the export before it is complete (the corrections log).
    """
    log = get_logger(logger)
    fmt_name = (format or dataset.meta.get("format") or "").lower()
    if fmt_name not in FORMATS:
        try:
            fmt_name = formats.get(fmt_name).name
        except InputError:
            raise ValueError(f"unknown output format {fmt_name!r}; one of {FORMATS}") from None
    fmt = formats.get(fmt_name)
    if fmt.write is None:
        raise ValueError(f"{fmt.title} cannot be written")
    root = Path(images_root) if images_root is not None else (
        Path(dataset.meta["images_root"]) if dataset.meta.get("images_root") else None)
    with Output(dataset, Path(out), fmt.name, single_file=fmt.single_file,
                default_name=fmt.default_name, overwrite=overwrite, images_mode=images_mode,
                images_root=root, options=options, logger=log, progress=progress) as o:
        fmt.write(dataset, o)
        for name, data in (extra_files or {}).items():
            o.write(name, data, listed=False)
    log.info("wrote %d files (%s) to %s", len(o.files), fmt.name, out)
    return o.written


def write_predictions(
    dataset: Dataset,
    run: str,
    out: Path,
    format: str = "coco",
    *,
    overwrite: bool = False,
    logger: logging.Logger | None = None,
) -> list[Path]:
    """Write one prediction run: ``coco`` (results list json), ``csv`` (with a score
    column) or ``yolo`` (a folder of ``cls cx cy w h conf`` txt files)."""
    if run not in dataset.runs:
        raise KeyError(f"no prediction run {run!r}")
    try:
        fmt = formats.get(format)
    except InputError:
        fmt = None
    if fmt is None or fmt.write_preds is None:
        names = [f.name for f in formats.all_formats() if f.write_preds is not None]
        raise ValueError(f"predictions can be written as {', '.join(names)}, not {format!r}")
    log = get_logger(logger)
    with Output(dataset, Path(out), fmt.name, single_file=fmt.single_file,
                default_name="", overwrite=overwrite, logger=log) as o:
        fmt.write_preds(dataset, run, o)
    log.info("wrote run %s (%s): %d files", run, fmt.name, len(o.files))
    return o.written


def export_dataset(
    original: Dataset,
    edits: Sequence[Edit],
    out: Path,
    format: str | None = None,
    *,
    source: dict[str, Any] | None = None,
    meta: Sequence[dict[str, Any]] | None = None,
    images_mode: str = "none",
    images_root: Path | None = None,
    overwrite: bool = False,
    options: dict[str, Any] | None = None,
    logger: logging.Logger | None = None,
    progress: Progress = None,
) -> tuple[list[Path], dict[str, int]]:
    """The export: ``edits`` applied to a copy of ``original``, the cleaned dataset and
    its corrections log (``corrections.jsonl``) written together into ``out`` (renamed
    into place when complete). Returns the files written and the summary of changes.

    The GUI and ``detview export``/``apply`` both call this, so they write the same
    bytes. ``meta[k]`` is the time and user of ``edits[k]``; ``source`` the dataset
    spec recorded in the log's header.
    """
    from .corrections import corrections_text, validate_edits

    validate_edits(original, list(edits), "(edits)")
    edited = original.copy()
    for e in edits:
        edited.apply(e)
    text, summary = corrections_text(original, list(edits), source=source, meta=meta)
    written = write_dataset(edited, Path(out), format, images_mode=images_mode,
                            images_root=images_root, overwrite=overwrite, options=options,
                            logger=logger, progress=progress,
                            extra_files={CORRECTIONS_NAME: text.encode("utf-8")})
    return written, summary
