"""Headless command line: ``detview eval|coco-eval|convert|export|apply|runs|logs``.

Each sub-command module has ``register(subparsers)`` which adds its parser and sets
``func`` (``func(args) -> int``). Errors on bad input are one line each, no traceback
unless ``--debug``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

COMMAND_MODULES = ("eval_cmd", "coco_eval_cmd", "convert_cmd", "export_cmd", "runs_cmd",
                   "logs_cmd", "check_cmd")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    p = argparse.ArgumentParser(prog="detview", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"detview.cli.{name}").register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("detview: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clean line; the traceback only with --debug
        if args.debug:
            raise
        from detview.io.errors import format_error

        print(f"detview: error: {format_error(exc)}", file=sys.stderr)
        return 2
