"""``detview export`` and ``detview apply``: the cleaned dataset and its corrections log.

``apply --corrections LOG --out DIR`` replays a corrections log (written by the GUI or
by ``export``) on the original files named in its header and writes the same export
the GUI wrote, byte for byte. ``export`` does the same from explicit dataset options,
with or without a log.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detview.core.dataset import Dataset
from detview.core.edits import Edit
from detview.io.errors import InputError
from detview.io.spec import DatasetSpec, load_spec

from .common import add_dataset_options, log, spec_from_args

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


def _common_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corrections", type=Path, help="a corrections log (JSON lines) to replay")
    p.add_argument("--out", type=Path, required=True, help="output folder (must not be an "
                                                          "input folder)")
    p.add_argument("--format", help="output format (default: the format it came in)")
    p.add_argument("--copy-images", dest="images_mode", action="store_const", const="copy",
                   default="none", help="copy the images of the kept samples")
    p.add_argument("--link-images", dest="images_mode", action="store_const", const="link",
                   help="hard-link (or symlink) the images of the kept samples")


def export_dataset(original: Dataset, edits: list[Edit], spec: DatasetSpec, out: Path,
                   fmt: str | None, images_mode: str = "none",
                   meta: list[dict] | None = None) -> tuple[list[Path], dict[str, int]]:
    """Apply ``edits`` to a copy of ``original`` and write the export and its log (the
    GUI's export runs the same :func:`detview.session.pipeline.export_edits`)."""
    from detview.session.pipeline import export_edits

    result = export_edits(original, edits, spec, Path(out), fmt, images_mode, meta=meta,
                          logger=log)
    return result.files, result.summary


def _run(args: argparse.Namespace, spec: DatasetSpec) -> int:
    from detview.io.corrections import read_corrections_full

    edits: list[Edit] = []
    meta: list[dict] | None = None
    if args.corrections is not None:
        _, edits, meta = read_corrections_full(args.corrections)
    result = load_spec(spec, logger=log)
    for p in result.problems:
        print(f"detview: warning: {p}", file=sys.stderr)
    written, summary = export_dataset(result.dataset, edits, spec, args.out, args.format,
                                      args.images_mode, meta)
    parts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary.items() if v)
    print(f"detview: replayed {len(edits)} edits ({parts or 'no changes'}); wrote "
          + ", ".join(str(w) for w in written), file=sys.stderr)
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
        spec = DatasetSpec.from_json(header["source"])
    return _run(args, spec)
