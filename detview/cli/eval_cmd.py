"""``detview eval``: the per-image metrics table as CSV.

The table is :func:`detview.session.pipeline.image_table` of a headless session: the
numbers the GUI's image list shows, computed by the same code.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from detview.io.errors import InputError

from .common import add_dataset_options, load_from_args
from .progress import add_quiet_option, with_progress
from .where import add_where_option, apply_where, warn_bad_images

ASCENDING_BY_DEFAULT = {"mean_iou", "tp", "file_name", "n_pred", "n_gt", "ap", "ap50",
                        "label_quality"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="per-image metrics table (CSV)",
                       description="Write one row per image: file_name,n_gt,n_pred,tp,fp,fn,"
                                   "mean_iou (and loss when given).")
    add_dataset_options(p)
    p.add_argument("--run", help="which prediction run (default: the first)")
    p.add_argument("--score-threshold", type=float, default=0.5,
                   help="keep predictions with score >= this (default 0.5)")
    p.add_argument("--iou-threshold", type=float, default=0.5,
                   help="IoU needed for a match (default 0.5)")
    p.add_argument("--sort", help="sort by this column (mean_iou and tp ascending, the others "
                                  "descending, unless --ascending/--descending)")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--ascending", dest="ascending", action="store_true", default=None)
    order.add_argument("--descending", dest="ascending", action="store_false")
    p.add_argument("--more", action="store_true",
                   help="add per-image columns: ap, ap50 (COCO AP of the image from all "
                        "predictions, as pycocotools), err_cls, err_loc, err_both, err_dupe, "
                        "err_bkg, err_miss (TIDE error types of the predictions >= the score "
                        "threshold) and confusion ('dog→cat ×2': true → predicted class)")
    p.add_argument("--label-quality", action="store_true",
                   help="add label_quality (ObjectLab/cleanlab score of the image's labels: 0 "
                        "= likely mislabeled, 1 = clean; from all predictions of the run, "
                        "which must come from a model not trained on these images), "
                        "n_overlooked, n_swap, n_badloc (suspected missing, wrong-class and "
                        "badly placed boxes)")
    p.add_argument("--include-deleted", action="store_true",
                   help="keep images deleted by a corrections log")
    add_where_option(p)
    p.add_argument("--out", type=Path, required=True, help="output CSV ('-' for stdout)")
    add_quiet_option(p)
    p.set_defaults(func=run)


def sort_table(df, column: str, ascending: bool | None):  # type: ignore[no-untyped-def]
    import numpy as np

    if column not in df.columns:
        raise InputError("(command line)", "--sort",
                         f"unknown column {column!r}; choose from {', '.join(df.columns)}")
    if ascending is None:
        ascending = column in ASCENDING_BY_DEFAULT
    values = df[column].to_numpy()
    if values.dtype == object:
        order = np.argsort(values.astype(str), kind="stable")
    else:
        key = values.astype(np.float64)
        # NaN last in both directions; stable so ties keep file order
        key = np.where(np.isnan(key), np.inf, key if ascending else -key)
        order = np.argsort(key, kind="stable")
    if ascending is False and values.dtype == object:
        order = order[::-1]
    return df.iloc[order]


def run(args: argparse.Namespace) -> int:
    return with_progress(args, _run, args)


def _run(args: argparse.Namespace, bar: Any) -> int:
    from detview.core.metrics import MetricParams
    from detview.core.progress import phase
    from detview.session import Session, image_table
    from detview.session.derived import build_metrics

    for name in ("score_threshold", "iou_threshold"):
        v = getattr(args, name)
        if not 0.0 <= v <= 1.0:
            raise InputError("(command line)", f"--{name.replace('_', '-')}",
                             f"must be between 0 and 1, got {v}")
    quiet = bool(args.quiet)
    result, spec = load_from_args(args, progress=bar)
    ds = result.dataset
    warn_bad_images(ds, result.problems, quiet=quiet)
    run_name = args.run
    if run_name is None:
        run_name = next(iter(ds.runs), None)
        if len(ds.runs) > 1 and not quiet:
            print(f"detview: {len(ds.runs)} runs given; evaluating {run_name!r} (use --run)",
                  file=sys.stderr)
    elif run_name not in ds.runs:
        raise InputError("(command line)", "--run",
                         f"no run {run_name!r}; runs: {', '.join(ds.runs) or 'none'}")
    if spec.logs and not quiet:  # shown by the GUI; here only checked, one line each
        from detview.session.training import read_logs

        logs, problems = read_logs(spec.logs)
        for lg in logs:
            print(f"detview: training log {lg.path}: {lg.format}, {len(lg.tags())} metrics",
                  file=sys.stderr)
        for text in problems:
            print(f"detview: warning: {text}", file=sys.stderr)
    params = MetricParams(args.score_threshold, args.iou_threshold)
    phase(bar, "match")
    session = Session(ds, spec=spec, params=params, metrics=build_metrics(ds, params, bar))
    # AP as pycocotools gives it: from every prediction, whatever the score threshold
    session.update_settings(run=run_name, all_predictions=True)
    if args.more and run_name is None and not quiet:
        print("detview: --more needs a prediction run (--pred); no columns added",
              file=sys.stderr)
    if args.more:
        phase(bar, "analyse")
    df = image_table(session, more=args.more)
    if args.label_quality and run_name is not None:
        from detview.core.label_quality import LQ_COLUMNS, dataset_label_quality

        lq = dataset_label_quality(ds, run_name).image_table()
        for c in LQ_COLUMNS:
            df[c] = lq[c].to_numpy()[df.index]
    elif args.label_quality:
        print("detview: --label-quality needs a prediction run (--pred)", file=sys.stderr)
    df = apply_where(df, args.where, ds, session.current)
    if not args.include_deleted:
        df = df[~df["deleted"]]
    df = df.drop(columns="deleted")
    if args.sort:
        df = sort_table(df, args.sort, args.ascending)
    phase(bar, "write")
    if str(args.out) == "-":
        df.to_csv(sys.stdout, index=False)
    else:
        from detview.io.atomic import atomic_write_text

        atomic_write_text(args.out, df.to_csv(index=False))
        if not quiet:
            print(f"detview: wrote {len(df)} rows to {args.out}", file=sys.stderr)
    return 0
