"""Options and loading shared by the headless commands.

The dataset options themselves are :func:`detview.io.spec.add_dataset_options`: the
GUI's ``detview open`` declares the same ones, so every command that loads a dataset
accepts the same options with the same meaning.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from detview.io.spec import (
    DatasetSpec,
    add_dataset_options,
    load_spec,
    parse_pred_args,
)
from detview.io.spec import spec_from_args as _spec_from_args

__all__ = ["add_dataset_options", "load_from_args", "log", "parse_pred_args", "spec_from_args"]

log = logging.getLogger("detview")


def _report(text: str) -> None:
    print(f"detview: {text}", file=sys.stderr)


def spec_from_args(args: argparse.Namespace, quiet: bool = False) -> DatasetSpec:
    """The dataset the options name (a folder is auto-detected and reported)."""
    return _spec_from_args(args, None if quiet else _report)


def load_from_args(args: argparse.Namespace, quiet: bool = False,
                   progress: Any = None) -> tuple[Any, DatasetSpec]:
    """Load the dataset the options name; warnings go to stderr, one line each;
    ``progress``: a callback (:mod:`detview.cli.progress`) told of each load phase.

    Returns the :class:`detview.io.LoadResult` and the spec it was loaded from.
    """
    quiet = quiet or bool(getattr(args, "quiet", False))
    spec = spec_from_args(args, quiet)
    result = load_spec(spec, logger=log, progress=progress,
                       cache=not getattr(args, "no_cache", False))
    if not quiet:
        for p in result.problems:
            print(f"detview: warning: {p}", file=sys.stderr)
    return result, spec
