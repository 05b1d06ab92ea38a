"""``detview runs add|list|show|compare|worst|remove``: the experiment store.

The store is one SQLite file (default ``runs.sqlite`` in the user data directory;
``--store PATH`` or ``DETVIEW_STORE`` choose another). ``best`` names the run with the
highest AP and ``latest`` the one added last, wherever a run name is asked for.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from detview.io.errors import InputError

from .common import add_dataset_options, parse_pred_args

LIST_COLUMNS = ("name", "created", "dataset", "AP", "AP50", "AP75", "AR100", "precision",
                "recall", "mean_iou", "n_images", "step")


def register(sub: argparse._SubParsersAction) -> None:
    store_opt = argparse.ArgumentParser(add_help=False)
    store_opt.add_argument("--store", type=Path, default=None,
                           help="the store file (default: $DETVIEW_STORE, else runs.sqlite in "
                                "the user data directory)")
    fmt_opt = argparse.ArgumentParser(add_help=False)
    g = fmt_opt.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print JSON")
    g.add_argument("--csv", action="store_true", help="print CSV")

    p = sub.add_parser("runs", help="the experiment store: add, list, compare runs",
                       description=__doc__.splitlines()[0])
    rs = p.add_subparsers(dest="runs_command", required=True)

    a = rs.add_parser("add", parents=[store_opt], help="evaluate a prediction run and store it",
                      description="Evaluate one prediction file against the ground truth (COCO "
                                  "numbers of all predictions; per-image table at the "
                                  "thresholds) and store it with its parameters.")
    add_dataset_options(a)  # its --log: the training log whose curves and opt.yaml/hyp.yaml
    # beside it are stored (one)
    a.add_argument("--name", help="the run's name (default: NAME of --pred NAME=PATH, else "
                                  "the file's stem); NAME@STEP marks a checkpoint")
    a.add_argument("--params", type=Path, help="a parameters file (YAML or JSON)")
    a.add_argument("--score-threshold", type=float, default=0.5,
                   help="per-image table: keep predictions with score >= this (default 0.5)")
    a.add_argument("--iou-threshold", type=float, default=0.5,
                   help="per-image table: IoU needed for a match (default 0.5)")
    a.add_argument("--code-version", help="code version to record (default: the git commit "
                                          "of the repository holding the predictions, log "
                                          "or parameters, when there is one)")
    a.add_argument("--notes", help="a note kept with the run")
    a.add_argument("--replace", action="store_true", help="replace a run of the same name")
    a.set_defaults(func=run_add)

    ls = rs.add_parser("list", parents=[store_opt, fmt_opt], help="list the stored runs")
    ls.add_argument("--sort", help="sort by a metric (AP, AP50, ..., mean_iou, created, name); "
                                   "best first")
    order = ls.add_mutually_exclusive_group()
    order.add_argument("--ascending", dest="descending", action="store_false", default=None)
    order.add_argument("--descending", dest="descending", action="store_true")
    ls.add_argument("--dataset", help="only runs on this dataset (fingerprint prefix)")
    ls.set_defaults(func=run_list)

    sh = rs.add_parser("show", parents=[store_opt], help="one run: numbers, classes, "
                                                         "parameters, origin")
    sh.add_argument("name", help="run name (or best, latest)")
    sh.add_argument("--json", action="store_true", help="print JSON")
    sh.set_defaults(func=run_show)

    cp = rs.add_parser("compare", parents=[store_opt, fmt_opt],
                       help="run B against run A: metric deltas and the images that got "
                            "most worse")
    cp.add_argument("a", help="run A (the reference)")
    cp.add_argument("b", help="run B")
    cp.add_argument("--metric", default="mean_iou", help="per-image metric for 'got worse' "
                                                         "(default mean_iou)")
    cp.add_argument("-n", type=int, default=20, help="how many images (default 20)")
    cp.set_defaults(func=run_compare)

    w = rs.add_parser("worst", parents=[store_opt, fmt_opt],
                      help="the worst images of a run by a per-image metric")
    w.add_argument("--run", default="best", help="run name (default: best, the highest AP)")
    w.add_argument("--metric", default="mean_iou",
                   help="mean_iou, ap, ap50, tp, label_quality (lowest first) or fp, fn, loss "
                        "(highest first); default mean_iou")
    w.add_argument("-n", type=int, default=100, help="how many images (default 100)")
    w.add_argument("--include-deleted", action="store_true")
    w.set_defaults(func=run_worst)

    rm = rs.add_parser("remove", parents=[store_opt], help="delete a run from the store")
    rm.add_argument("name")
    rm.set_defaults(func=run_remove)


# ------------------------------------------------------------------ helpers
def _open(args: argparse.Namespace, create: bool = False) -> Any:
    from detview.io.store import Store, default_store_path

    path = args.store or default_store_path()
    return Store(path, create=create)


def _clean(v: Any) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if hasattr(v, "item"):
        return _clean(v.item())
    return v


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: _clean(v) for k, v in r.items()} for r in df.to_dict("records")]


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str, allow_nan=False) + "\n")


def _out(df: pd.DataFrame, args: argparse.Namespace, columns: list[str]) -> None:
    from detview.io.store import runs_table_text

    if getattr(args, "json", False):
        _print_json(_records(df))
    elif getattr(args, "csv", False):
        df.to_csv(sys.stdout, index=False)
    else:
        print(runs_table_text(df, [c for c in columns if c in df.columns]))


def _check_threshold(name: str, v: float) -> None:
    if not 0.0 <= v <= 1.0:
        raise InputError("(command line)", f"--{name}", f"must be between 0 and 1, got {v}")


# ------------------------------------------------------------------ commands
def run_add(args: argparse.Namespace) -> int:
    from detview.io.spec import load_spec
    from detview.io.store import make_run
    from detview.io.trainlogs import read_log, read_params_file

    from .common import log, spec_from_args

    _check_threshold("score-threshold", args.score_threshold)
    _check_threshold("iou-threshold", args.iou_threshold)
    preds = parse_pred_args(args.pred)
    if len(preds) != 1:
        raise InputError("(command line)", "--pred",
                         f"runs add takes exactly one --pred, got {len(preds)}")
    pred_name, pred_path = preds[0]
    name = args.name or pred_name or pred_path.stem
    params = read_params_file(args.params) if args.params else None
    if len(args.log) > 1:
        raise InputError("(command line)", "--log",
                         f"runs add takes one --log, got {len(args.log)}")
    train_log = read_log(args.log[0]) if args.log else None
    store = _open(args, create=True)  # a bad store fails before the evaluation
    try:
        spec = spec_from_args(args)
        result = load_spec(spec, logger=log)
        for p in result.problems:
            print(f"detview: warning: {p}", file=sys.stderr)
        if train_log is not None:
            for p in train_log.problems:
                print(f"detview: warning: {p}", file=sys.stderr)
        ds = result.dataset
        run = next(iter(ds.runs))
        rec = make_run(ds, run, name, score_threshold=args.score_threshold,
                       iou_threshold=args.iou_threshold, spec=spec, params=params,
                       params_path=args.params, log=train_log, pred_path=pred_path,
                       code_version=args.code_version)
        rec.notes = args.notes
        store.add_run(rec, replace=args.replace)
    finally:
        store.close()
    s = rec.summary
    step = f", {rec.unit} {rec.step} of {rec.training!r}" if rec.step is not None else ""
    print(f"detview: stored run {rec.name!r}: AP {s['AP']:.3f}, AP50 {s['AP50']:.3f}, "
          f"{int(s['n_images'])} images{step} -> {store.path}", file=sys.stderr)
    return 0


def run_list(args: argparse.Namespace) -> int:
    with _open(args) as store:
        df = store.list_runs(sort=args.sort, descending=args.descending,
                             fingerprint=args.dataset)
    if df.empty and not (args.json or args.csv):
        print("detview: the store has no runs (add one with: detview runs add ...)",
              file=sys.stderr)
        return 0
    _out(df, args, list(LIST_COLUMNS))
    return 0


def run_show(args: argparse.Namespace) -> int:
    from detview.core.cocoeval import STAT_NAMES

    with _open(args) as store:
        info = store.get_run(store.resolve(args.name))
        has_log = not store.scalars(info.name).empty
    if args.json:
        d = {k: _clean(v) for k, v in info.__dict__.items() if k != "per_class"}
        d["summary"] = {k: _clean(v) for k, v in info.summary.items()}
        d["per_class"] = _records(info.per_class.reset_index())
        _print_json(d)
        return 0
    lines = [f"run        {info.name}", f"added      {info.created}",
             f"dataset    {info.fingerprint[:12]}  ({info.n_images} images, "
             f"{len(info.class_names)} classes; gt {info.gt_path or '?'})",
             f"predictions {info.pred_path or '?'}  sha256 {(info.pred_hash or '?')[:12]}"
             + (f"  written {info.pred_time}" if info.pred_time else ""),
             f"code       {info.code_version or 'unknown'}   detview {info.detview_version}",
             f"per-image  score >= {info.score_threshold:g}, IoU >= {info.iou_threshold:g}"]
    if info.step is not None:
        lines.append(f"checkpoint {info.unit} {info.step} of {info.training}")
    if info.log_path:
        lines.append(f"log        {info.log_path}" + ("" if has_log else " (no curves)"))
    if info.notes:
        lines.append(f"notes      {info.notes}")
    lines.append("")
    s = info.summary
    lines.append("COCO (all predictions): " + "  ".join(f"{k} {s[k]:.3f}" for k in STAT_NAMES[:6]))
    lines.append("                        " + "  ".join(f"{k} {s[k]:.3f}" for k in STAT_NAMES[6:]))
    lines.append(f"per image: TP {s['tp']:.0f}  FP {s['fp']:.0f}  FN {s['fn']:.0f}  precision "
                 f"{s['precision']:.3f}  recall {s['recall']:.3f}  mean IoU {s['mean_iou']:.3f}")
    pc = info.per_class[info.per_class["n_gt"] > 0].sort_values("AP", kind="stable")
    if len(pc):
        from detview.io.store import runs_table_text

        lines += ["", f"per class (AP ascending; {len(pc)} with ground truth):",
                  runs_table_text(pc, ["name", "AP", "AP50", "AP75", "AR100", "n_gt", "n_det"])]
    if info.params:
        from detview.io.trainlogs import TrainLog

        flat = TrainLog("", "", "", pd.DataFrame(), info.params).flat_params()
        lines += ["", "parameters:"] + [f"  {k} = {v}" for k, v in flat]
    print("\n".join(lines))
    return 0


def run_compare(args: argparse.Namespace) -> int:
    with _open(args) as store:
        cmp = store.compare(args.a, args.b, metric=args.metric, n=args.n)
    if not cmp.same_dataset:
        print(f"detview: warning: {cmp.a!r} and {cmp.b!r} were evaluated on different ground "
              "truth (fingerprints differ); images are matched by file name", file=sys.stderr)
    m = args.metric
    cols = ["file_name", f"{m}_a", f"{m}_b", f"d_{m}"] + [
        c for c in ("d_ap", "d_tp", "d_fp", "d_fn", "d_label_quality")
        if c in cmp.worse.columns and c != f"d_{m}"]
    if args.json:
        _print_json({"a": cmp.a, "b": cmp.b, "same_dataset": cmp.same_dataset,
                     "metric": m, "deltas": _records(cmp.deltas),
                     "most_worse": _records(cmp.worse[cols])})
        return 0
    if args.csv:
        cmp.worse[cols].to_csv(sys.stdout, index=False)
        return 0
    from detview.io.store import runs_table_text

    print(f"A = {cmp.a}   B = {cmp.b}   (delta = B - A; 'better' names the better run)")
    print(runs_table_text(cmp.deltas, ["metric", "a", "b", "delta", "better"]))
    print()
    if cmp.worse.empty:
        print(f"no image got worse by {m} from A to B")
    else:
        print(f"{len(cmp.worse)} images that got most worse by {m}:")
        print(runs_table_text(cmp.worse, cols))
    return 0


def run_worst(args: argparse.Namespace) -> int:
    with _open(args) as store:
        name = store.resolve(args.run)
        df = store.worst(name, args.metric, args.n, args.include_deleted).reset_index()
    if not (args.json or args.csv):
        print(f"detview: run {name!r}: {len(df)} worst images by {args.metric}",
              file=sys.stderr)
    cols = ["image", "file_name", args.metric] + [
        c for c in ("n_gt", "n_pred", "tp", "fp", "fn", "mean_iou", "ap", "label_quality")
        if c != args.metric and df[c].notna().any()]
    _out(df, args, cols)
    return 0


def run_remove(args: argparse.Namespace) -> int:
    with _open(args) as store:
        store.remove_run(args.name)
    print(f"detview: removed run {args.name!r}", file=sys.stderr)
    return 0
