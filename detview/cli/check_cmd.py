"""``detview check``: the dataset health check.

Decodes every image (in parallel) and checks the annotations: unreadable, truncated or
missing images, sizes that disagree with the file (EXIF rotation included), exact and
near duplicates, images without labels, boxes outside the image, degenerate and tiny
boxes, rare classes. Prints a report grouped by kind (or ``--json``); exits 1 when a
finding of a ``--fail-on`` kind is found, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from detview.core.health import KINDS, HealthOptions, HealthReport
from detview.io.errors import InputError

from .common import add_dataset_options, load_from_args

_GROUPS = {
    "any": tuple(KINDS),
    "errors": tuple(k for k, v in KINDS.items() if v.severity == "error"),
    "warnings": tuple(k for k, v in KINDS.items() if v.severity in ("error", "warning")),
}


def register(sub: argparse._SubParsersAction) -> None:
    kinds = ", ".join(KINDS)
    p = sub.add_parser("check", help="dataset health check (corrupt images, duplicates, bad "
                                     "boxes, ...)",
                       description=__doc__.splitlines()[2].strip() + " Kinds: " + kinds + ".",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_dataset_options(p, preds=False)
    p.add_argument("--json", action="store_true", help="print the report as JSON (for CI)")
    p.add_argument("--fail-on", metavar="KIND[,KIND]", default="",
                   help="exit 1 when a finding of these kinds is found; also 'errors' (every "
                        "error kind), 'warnings' (errors and warnings) or 'any'")
    p.add_argument("--only", metavar="KIND[,KIND]", default="",
                   help="run only these checks")
    p.add_argument("--skip", metavar="KIND[,KIND]", default="", help="leave these checks out")
    p.add_argument("--tiny", type=float, default=HealthOptions.tiny_px, metavar="PX",
                   help="a box with a side shorter than this is tiny (default %(default)s)")
    p.add_argument("--min-boxes", type=int, default=HealthOptions.min_boxes, metavar="N",
                   help="a class with fewer boxes is rare (default %(default)s)")
    p.add_argument("--near-distance", type=int, default=HealthOptions.near_distance,
                   metavar="BITS", help="perceptual-hash bits (of 64) two near duplicates "
                                        "may differ in (default %(default)s)")
    p.add_argument("--outside-tolerance", type=float, default=0.0, metavar="PX",
                   help="pixels a box may extend beyond the image (default 0)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="decoding threads (default: the CPU count, at most 8)")
    p.add_argument("--limit", type=int, default=20, metavar="N",
                   help="findings listed per kind in the text report (0: all; default 20)")
    p.add_argument("--out", type=Path, help="also write the JSON report to this file")
    p.set_defaults(func=run)


def parse_kinds(value: str, option: str, groups: bool = False) -> tuple[str, ...]:
    out: list[str] = []
    for part in (v.strip() for v in value.split(",")):
        if not part:
            continue
        if groups and part in _GROUPS:
            out.extend(_GROUPS[part])
        elif part in KINDS:
            out.append(part)
        else:
            extra = ", any, errors, warnings" if groups else ""
            raise InputError("(command line)", option,
                             f"unknown kind {part!r}; choose from {', '.join(KINDS)}{extra}")
    return tuple(dict.fromkeys(out))


def _options(args: argparse.Namespace) -> HealthOptions:
    only = parse_kinds(args.only, "--only")
    skip = set(parse_kinds(args.skip, "--skip"))
    kinds = frozenset(k for k in (only or tuple(KINDS)) if k not in skip)
    if args.tiny < 0 or args.min_boxes < 0 or args.near_distance < 0 or args.near_distance > 64:
        raise InputError("(command line)", "", "--tiny and --min-boxes must be >= 0, "
                         "--near-distance between 0 and 64")
    return HealthOptions(tiny_px=args.tiny, min_boxes=args.min_boxes,
                         near_distance=args.near_distance,
                         outside_tolerance=args.outside_tolerance, kinds=kinds)


class _Progress:
    """``checking images 1200/5000`` on one stderr line, when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.last = 0.0

    def __call__(self, done: int, total: int) -> bool:
        now = time.monotonic()
        if self.enabled and (now - self.last > 0.2 or done == total):
            self.last = now
            sys.stderr.write(f"\rdetview: checking images {done}/{total}")
            if done == total:
                sys.stderr.write("\n")
            sys.stderr.flush()
        return True


def format_report(report: HealthReport, limit: int = 20, seconds: float | None = None,
                  skipped: frozenset[str] = frozenset()) -> str:
    """The text report: a summary line, then each kind with findings, listed.
    ``skipped``: kinds the user left out (others that did not run lacked the images)."""
    lines = [f"Checked {report.n_images} images and {report.n_boxes} boxes"
             + (f" in {seconds:.1f} s" if seconds is not None else "") + "."]
    counts = report.counts()
    not_run = [k for k in KINDS if k not in report.checked and k not in skipped]
    total = sum(counts.values())
    for kind, info in KINDS.items():
        n = counts.get(kind, 0)
        if not n:
            continue
        lines.append("")
        lines.append(f"{info.title}: {n} [{kind}, {info.severity}]")
        found = report.of_kind(kind)
        shown = found if limit <= 0 else found[:limit]
        for f in shown:
            lines.append(f"  {f}")
        if len(found) > len(shown):
            lines.append(f"  ... and {len(found) - len(shown)} more (--limit 0 lists all)")
    lines.append("")
    if total:
        parts = [f"{counts[k]} {k}" for k in KINDS if counts.get(k)]
        lines.append(f"{total} finding{'s' if total != 1 else ''}: " + ", ".join(parts) + ".")
    else:
        lines.append("No problems found.")
    if not_run:
        lines.append("Not checked (no image folder; give --images): " + ", ".join(not_run)
                     + ".")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from detview.io.health import check_dataset

    fail_on = parse_kinds(args.fail_on, "--fail-on", groups=True)
    options = _options(args)
    result, _spec = load_from_args(args, quiet=args.json)
    ds = result.dataset
    t0 = time.perf_counter()
    report = check_dataset(ds, None, options, workers=args.workers,
                           progress=_Progress(sys.stderr.isatty() and not args.json))
    seconds = time.perf_counter() - t0
    data: dict[str, Any] = report.to_json()
    data["seconds"] = round(seconds, 3)
    data["fail_on"] = list(fail_on)
    failed = sorted({f.kind for f in report.findings if f.kind in fail_on})
    data["failed"] = failed
    if args.out is not None:
        from detview.io.atomic import atomic_write_text

        atomic_write_text(args.out, json.dumps(data, indent=2) + "\n")
    if args.json:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(format_report(report, args.limit, seconds,
                            frozenset(KINDS) - options.kinds))
    if failed:
        print(f"detview: check failed: {', '.join(failed)} (--fail-on)", file=sys.stderr)
        return 1
    return 0
