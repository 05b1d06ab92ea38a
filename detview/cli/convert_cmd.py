"""``detview convert``: ground truth from one annotation format to another.

Example: ``detview convert --from voc --to yolo --gt Annotations --images JPEGImages
--out out/``. Every box, id and passthrough field the target format can hold is kept;
warnings about the input and the output go to stderr, one line each. A folder output
is written aside and renamed into place when complete (see ``detview check-export``).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from detview.io import formats

FORMATS = formats.write_formats()


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert ground truth between annotation formats",
                       description=__doc__.splitlines()[0])
    p.add_argument("--from", dest="src_format", choices=formats.gt_formats(),
                   help="input format (default: auto-detected)")
    p.add_argument("--to", dest="dst_format", choices=FORMATS, required=True,
                   help="output format")
    p.add_argument("--gt", type=Path, required=True,
                   help="ground truth: a file, a label folder, a data.yaml or a dataset folder")
    p.add_argument("--images", type=Path, help="image folder (needed for YOLO sizes)")
    p.add_argument("--out", type=Path, required=True,
                   help="output file (coco/cvat/csv) or folder (any format)")
    p.add_argument("--names", help="class names: a data.yaml/classes.txt path or a "
                                   "comma-separated list")
    p.add_argument("--copy-images", dest="images_mode", action="store_const", const="copy",
                   default="none", help="copy the images next to the output")
    p.add_argument("--link-images", dest="images_mode", action="store_const", const="link",
                   help="hard-link (or symlink) the images next to the output")
    p.add_argument("--clip", action="store_true", help="clip boxes to the image")
    p.add_argument("--voc-zero-based", action="store_true",
                   help="VOC files hold 0-based coordinates (CVAT/Datumaro exports); "
                        "default: 1-based as in Pascal VOC")
    p.add_argument("--yolo-absolute-path", action="store_true",
                   help="write 'path:' (absolute) into data.yaml, as YOLOv5 needs; default: "
                        "no 'path', which Ultralytics resolves against the yaml's folder")
    p.add_argument("--overwrite", action="store_true",
                   help="allow writing over input files or into a non-empty folder (a "
                        "numbered .bak copy of each input file written over is kept)")
    p.add_argument("--quiet", action="store_true", help="no warnings or summary")
    p.set_defaults(func=run)


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    path = Path(value)
    if path.is_file():
        from detview.io._common import read_bytes
        from detview.io.formats.yolo import parse_names_file

        return parse_names_file(read_bytes(path), str(path))
    return [n.strip() for n in value.split(",") if n.strip()]


class _StderrWarnings(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        print(f"detview: warning: {record.getMessage()}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from detview.io import load_dataset, write_dataset

    options: dict[str, object] = {"voc_one_based": not args.voc_zero_based}
    if args.yolo_absolute_path:
        options["yolo_path"] = "absolute"
    result = load_dataset(args.images, args.gt, gt_format=args.src_format,
                          class_names=_names(args.names), clip=args.clip, options=options)
    if not args.quiet:
        for p in result.problems:
            print(f"detview: warning: {p}", file=sys.stderr)
    log = logging.getLogger("detview.convert")
    log.propagate = False
    log.setLevel(logging.WARNING)
    handler = _StderrWarnings()
    if not args.quiet:
        log.addHandler(handler)
    try:
        written = write_dataset(result.dataset, args.out, args.dst_format,
                                images_mode=args.images_mode, images_root=args.images,
                                overwrite=args.overwrite, options=options, logger=log)
    finally:
        log.removeHandler(handler)
    if not args.quiet:
        ds = result.dataset
        print(f"detview: {len(ds.images)} images, {int(ds.gt.alive.sum())} boxes, "
              f"{len(ds.classes)} classes: {result.dataset.meta.get('format')} -> "
              f"{args.dst_format}, {len(written)} files written to {args.out}",
              file=sys.stderr)
    return 0
