"""``detview logs FILE|FOLDER...``: read training logs, summarise or export their curves."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from detview.io.errors import InputError

if TYPE_CHECKING:  # imported where used: ``detview logs --help`` stays light
    import pandas as pd


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "logs", help="read training logs: a summary per metric, or the curves as CSV/JSON",
        description="Read training logs (torchvision detection-reference logs, Ultralytics "
                    "results.csv, TensorBoard event files, detectron2 metrics.json, "
                    "MMDetection log.json/scalars.json; detected automatically). A folder is "
                    "searched for logs. Without --csv/--json/--out: one line per metric with "
                    "its last and best value and what it means.")
    p.add_argument("paths", nargs="+", type=Path, help="log files or folders")
    p.add_argument("--format", help="force the format (torchvision, ultralytics, tensorboard, "
                                    "detectron2, mmdet)")
    p.add_argument("--run", help="the run name (default: the log's folder)")
    p.add_argument("--tags", help="only tags matching this regular expression")
    p.add_argument("--split", choices=("train", "val"), help="only this split")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--csv", action="store_true", help="print the curves as CSV (long table: "
                                                       "run,source,split,step,epoch,tag,value,"
                                                       "wall_time)")
    g.add_argument("--json", action="store_true", help="print the curves and parameters as "
                                                        "JSON")
    g.add_argument("--params", action="store_true", help="print the parameters found")
    p.add_argument("--out", type=Path, help="write the curves to this .csv or .json file")
    p.set_defaults(func=run)


def _read(args: argparse.Namespace) -> list:
    from detview.io.trainlogs import find_logs, read_log

    files: list[Path] = []
    for path in args.paths:
        if not path.exists():
            raise InputError(path, "", "no such file or folder")
        found = find_logs(path)
        if path.is_dir() and not found:
            raise InputError(path, "", "no training logs found in this folder")
        files += found
    logs = [read_log(f, format=args.format, run=args.run) for f in files]
    for lg in logs:
        for prob in lg.problems:
            print(f"detview: warning: {prob}", file=sys.stderr)
    return logs


def _filtered(df: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    if args.tags:
        try:
            rx = re.compile(args.tags)
        except re.error as exc:
            raise InputError("(command line)", "--tags", f"bad regular expression: {exc}"
                             ) from None
        df = df[df["tag"].map(lambda t: bool(rx.search(t)))]
    if args.split:
        df = df[df["split"] == args.split]
    return df


def _clean(v: object) -> object:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def summary_rows(log, df: pd.DataFrame) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    import numpy as np

    from detview.io.trainlogs import better, explain

    rows = []
    for (split, tag), g in df.groupby(["split", "tag"], sort=False):
        g = g.drop_duplicates("step", keep="last").sort_values("step", kind="stable")
        v = g["value"].to_numpy(dtype=np.float64)
        ok = ~np.isnan(v) & (v != -1)
        b = better(tag)
        best = step_best = None
        if ok.any() and b is not None:
            k = int(np.flatnonzero(ok)[np.argmax(v[ok]) if b == "higher" else np.argmin(v[ok])])
            best, step_best = float(v[k]), int(g["step"].iloc[k])
        rows.append({"split": split, "tag": tag, "points": len(g),
                     "steps": f"{int(g['step'].iloc[0])}..{int(g['step'].iloc[-1])}",
                     "last": float(v[-1]), "best": best, "at step": step_best,
                     "meaning": explain(tag)})
    return rows


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from detview.io.atomic import atomic_write_text
    from detview.io.trainlogs import combine

    logs = _read(args)
    df = _filtered(combine(logs), args)
    if args.out is not None:
        suffix = args.out.suffix.lower()
        if suffix == ".json":
            text = json.dumps(_json_obj(logs, df), indent=1, default=str, allow_nan=False)
        elif suffix == ".csv":
            text = df.to_csv(index=False)
        else:
            raise InputError(args.out, "", "--out must end in .csv or .json")
        atomic_write_text(args.out, text)
        print(f"detview: wrote {len(df)} values of {df['tag'].nunique()} tags to {args.out}",
              file=sys.stderr)
        return 0
    if args.csv:
        df.to_csv(sys.stdout, index=False)
        return 0
    if args.json:
        sys.stdout.write(json.dumps(_json_obj(logs, df), indent=1, default=str,
                                    allow_nan=False) + "\n")
        return 0
    if args.params:
        for lg in logs:
            print(f"{lg.path} ({lg.format}, run {lg.run}):")
            flat = lg.flat_params()
            print("\n".join(f"  {k} = {v}" for k, v in flat) if flat else "  (none found)")
        return 0
    from detview.io.store import runs_table_text

    for lg in logs:
        part = df[df["source"] == lg.path]
        print(f"{lg.path}: {lg.format}, run {lg.run!r}, {len(part)} values, "
              f"{part['tag'].nunique()} tags"
              + (f", parameters from {', '.join(lg.params)}" if lg.params else ""))
        if part.empty:
            continue
        rows = pd.DataFrame(summary_rows(lg, part))
        rows["meaning"] = rows["meaning"].map(lambda s: s if len(s) <= 70 else s[:67] + "...")
        print(runs_table_text(rows, ["split", "tag", "points", "steps", "last", "best",
                                     "at step", "meaning"]))
        print()
    return 0


def _json_obj(logs: list, df: pd.DataFrame) -> dict[str, object]:
    return {
        "logs": [{"path": lg.path, "format": lg.format, "run": lg.run,
                  "params": lg.params} for lg in logs],
        "scalars": [{k: _clean(v) for k, v in r.items()} for r in df.to_dict("records")],
    }
