"""``detview export``, ``detview apply`` and ``detview check-export``.

``apply --corrections LOG --out DIR`` replays a corrections log (written by the GUI or
by ``export``) on the original files named in its header and writes the same export
the GUI wrote, byte for byte. ``export`` does the same from explicit dataset options,
with or without a log. Both write through :func:`detview.io.export_dataset`: the
folder appears under its name only when complete (``.detview-export.json`` inside);
``check-export DIR`` verifies a finished export file by file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from detview.io.errors import InputError
from detview.io.spec import DatasetSpec, load_spec

from .common import add_dataset_options, log, spec_from_args
from .progress import add_quiet_option, with_progress

if TYPE_CHECKING:
    from detview.core.dataset import Dataset
    from detview.core.edits import Edit

CORRECTIONS_NAME = "corrections.jsonl"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write the cleaned dataset (optionally replaying a log)",
                       description=__doc__.splitlines()[0])
    add_dataset_options(p, preds=False)
    _common_options(p)
    p.set_defaults(func=run_export)

    a = sub.add_parser("apply", help="replay a corrections log on the original dataset",
                       description="Replay a corrections log on the original files named in "
                                   "its header (or given as options) and export the result.")
    add_dataset_options(a, preds=False)
    _common_options(a)
    a.set_defaults(func=run_apply)

    c = sub.add_parser("check-export", help="verify that an export folder is complete",
                       description="Check every file listed in an export's "
                                   ".detview-export.json (size and SHA-256); exit 0 when "
                                   "complete and intact, 1 otherwise.")
    c.add_argument("folder", type=Path, help="the export folder")
    c.set_defaults(func=run_check)


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corrections", type=Path, help="a corrections log (JSON lines) to replay")
    p.add_argument("--out", type=Path, required=True,
                   help="output folder: new, empty, or a previous detview export (replaced)")
    p.add_argument("--format", help="output format (default: the format it came in)")
    p.add_argument("--copy-images", dest="images_mode", action="store_const", const="copy",
                   default="none", help="copy the images of the kept samples")
    p.add_argument("--link-images", dest="images_mode", action="store_const", const="link",
                   help="hard-link (or symlink) the images of the kept samples")
    p.add_argument("--overwrite", action="store_true",
                   help="allow writing into a non-empty folder that is not a detview export "
                        "(files are moved in one by one; input files written over are kept as "
                        "numbered .bak files)")
    add_quiet_option(p)


def export_dataset(original: Dataset, edits: list[Edit], spec: DatasetSpec, out: Path,
                   fmt: str | None, images_mode: str = "none",
                   meta: list[dict[str, Any]] | None = None, overwrite: bool = False,
                   progress: Any = None) -> tuple[list[Path], dict[str, int]]:
    """Apply ``edits`` to a copy of ``original`` and write the export and its log (the
    GUI's export runs the same :func:`detview.session.pipeline.export_edits`, which
    writes through :func:`detview.io.export_dataset`)."""
    from detview.session.pipeline import export_edits

    result = export_edits(original, edits, spec, Path(out), fmt, images_mode, meta=meta,
                          logger=log, overwrite=overwrite, progress=progress)
    return result.files, result.summary


def _run(args: argparse.Namespace, spec: DatasetSpec) -> int:
    return with_progress(args, _export, args, spec)


def _export(args: argparse.Namespace, spec: DatasetSpec, bar: Any) -> int:
    from detview.core.progress import phase
    from detview.io.corrections import read_corrections_lines, validate_edits

    edits: list[Edit] = []
    meta: list[dict[str, Any]] | None = None
    wheres: list[str] = []
    if args.corrections is not None:
        _, edits, meta, wheres = read_corrections_lines(args.corrections)
    quiet = bool(getattr(args, "quiet", False))
    result = load_spec(spec, logger=log, progress=bar,
                       cache=not getattr(args, "no_cache", False))
    for p in result.problems if not quiet else ():
        print(f"detview: warning: {p}", file=sys.stderr)
    # every record is checked against the data before anything is applied or written
    validate_edits(result.dataset, edits, args.corrections or "(edits)", wheres)
    phase(bar, "write")
    written, summary = export_dataset(result.dataset, edits, spec, args.out, args.format,
                                      args.images_mode, meta, args.overwrite, progress=bar)
    if quiet:
        return 0
    parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items() if v)
    print(f"detview: replayed {len(edits)} edits ({parts or 'no changes'}); wrote "
          f"{len(written)} files to {args.out}", file=sys.stderr)
    return 0


def run_export(args: argparse.Namespace) -> int:
    if args.dataset is None and args.gt is None and args.images is None and args.corrections:
        return run_apply(args)
    return _run(args, spec_from_args(args))


def run_apply(args: argparse.Namespace) -> int:
    if args.corrections is None:
        raise InputError("(command line)", "--corrections", "apply needs a corrections log")
    if args.dataset is not None or args.gt is not None or args.images is not None:
        spec = spec_from_args(args)
    else:
        from detview.io.corrections import read_corrections

        header, _ = read_corrections(args.corrections)
        if not header.get("source"):
            raise InputError(args.corrections, "line 1", "the log names no source dataset; "
                             "give --gt/--images")
        try:
            spec = DatasetSpec.from_json(header["source"])
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise InputError(args.corrections, "line 1",
                             f"the log's 'source' is not a dataset spec: {exc}") from None
    return _run(args, spec)


def run_check(args: argparse.Namespace) -> int:
    from detview.io import check_export

    problems = check_export(args.folder)
    for p in problems:
        print(f"detview: {p}", file=sys.stderr)
    if not problems:
        print(f"detview: {args.folder}: complete", file=sys.stderr)
    return 0 if not problems else 1
