"""``detview coco-eval``: the 12 COCO bbox numbers, identical to pycocotools."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from detview.io.errors import InputError

from .common import add_dataset_options, load_from_args
from .progress import add_quiet_option, with_progress

SUMMARY_FIELDS = ("AP", "AP50", "AP75", "APs", "APm", "APl",
                  "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("coco-eval", help="the 12 COCO bbox numbers (pycocotools-identical)",
                       description="Print the familiar 12-line COCO summary, or with --json "
                                   "one object with the 12 named numbers and per_class.")
    add_dataset_options(p)
    p.add_argument("--run", help="which prediction run (default: the first)")
    p.add_argument("--json", action="store_true", help="print JSON instead of the text block")
    add_quiet_option(p)
    p.set_defaults(func=run)


def _num(v: float) -> float | None:
    return None if isinstance(v, float) and math.isnan(v) else float(v)


def result_to_json(result: Any, class_names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {f: float(getattr(result, f)) for f in SUMMARY_FIELDS}
    per_class: dict[str, Any] = {}
    df = result.per_class
    for _, row in df.iterrows():
        name = str(row["name"]) if "name" in df.columns else class_names[int(row["class"])]
        per_class[name] = {k: _num(row[k]) for k in ("AP", "AP50", "AR100") if k in df.columns}
    out["per_class"] = per_class
    return out


class _MatchThenAccumulate:
    """The evaluation reports progress per class while it accumulates; until its first
    call it is matching."""

    def __init__(self, bar: Any) -> None:
        self.bar, self.started = bar, False

    def __call__(self, done: int, total: int) -> bool:
        if not self.started:
            self.started = True
            self.bar.phase("accumulate")
        return bool(self.bar(done, total))


def run(args: argparse.Namespace) -> int:
    return with_progress(args, _run, args)


def _run(args: argparse.Namespace, bar: Any) -> int:
    from detview.core.cocoeval import evaluate

    result, _spec = load_from_args(args, quiet=args.json, progress=bar)
    ds = result.dataset
    if not ds.runs:
        raise InputError("(command line)", "--pred", "coco-eval needs a prediction file")
    name = args.run or next(iter(ds.runs))
    if name not in ds.runs:
        raise InputError("(command line)", "--run", f"no run {name!r}; runs: {', '.join(ds.runs)}")
    if bar is not None:
        bar.phase("match")
    # as COCOEvaluator.from_dataset: deleted images out, ties in COCO image-id order
    res = evaluate(ds.gt, ds.runs[name], len(ds.classes), image_mask=~ds.images.deleted,
                   image_ids=ds.images.ids, class_names=ds.classes.names,
                   progress=None if bar is None else _MatchThenAccumulate(bar))
    if bar is not None:
        bar.close()
    if args.json:
        json.dump(result_to_json(res, ds.classes.names), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(res.summary_text())
    return 0
