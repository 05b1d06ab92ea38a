"""Query and image-health glue for the table commands (``detview eval --where``).

Kept apart from the commands so that they change by a few lines only.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from detview.io.errors import InputError

if TYPE_CHECKING:
    import pandas as pd

#: Columns another option computes, and the option (said instead of "unknown column").
OPTION_COLUMNS = {
    **{c: "add --more" for c in ("ap", "ap50", "err_cls", "err_loc", "err_both", "err_dupe",
                                 "err_bkg", "err_miss", "confusion")},
    **{c: "add --label-quality" for c in ("label_quality", "n_overlooked", "n_swap",
                                          "n_badloc")},
    "loss": "give a per-image loss CSV with --loss",
}


def add_where_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--where", metavar="EXPR",
                   help="keep the images matching a query, e.g. 'mean_iou < 0.5 and fp >= 2', "
                        "'fp[person] > 3', 'class == \"dog\"', 'file ~ \"0000\"' (README: "
                        "Query language)")


def apply_where(df: pd.DataFrame, expr: str | None, ds: Any, pim: Any) -> pd.DataFrame:
    """The rows of the per-image table ``df`` (index = image index) matching ``expr``;
    a bad expression is an :class:`InputError` naming ``--where`` with the position."""
    if not expr:
        return df
    from detview.core.query import ClassCounts, QueryError, QueryTable, compile_query

    table = QueryTable.from_frame(
        df, images=ds.images, class_names=ds.classes.names, counts=ClassCounts.from_metrics(pim),
        unavailable={c: why for c, why in OPTION_COLUMNS.items() if c not in df.columns})
    try:
        query = compile_query(expr, table)
    except QueryError as exc:
        raise InputError("(command line)", "--where", f"{exc}\n{exc.pointer(expr)}") from None
    return df[query.mask(table)]


def warn_bad_images(ds: Any, problems: Any = (), quiet: bool = False) -> None:
    """One stderr line per image file that is not an image or ends early (a header and
    tail look, no decoding), files the loader already named left out."""
    from detview.io.health import quick_problems

    named = {str(p.path) for p in problems}
    bad = [p for p in quick_problems(ds) if p.path not in named]
    if quiet:
        return
    for p in bad[:20]:
        print(f"detview: warning: {p}", file=sys.stderr)
    if len(bad) > 20:
        print(f"detview: warning: {len(bad) - 20} more damaged image files "
              "(run 'detview check')", file=sys.stderr)
