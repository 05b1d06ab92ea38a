"""Headless command line: ``detview eval|coco-eval|convert|export|apply|runs|logs``.

Each sub-command module has ``register(subparsers)`` which adds its parser and sets
``func`` (``func(args) -> int``). Errors on bad input are one line each, no traceback
unless ``--debug``.

Start-up is lazy: :func:`main` imports the module of the command it runs and nothing
else (``detview coco-eval --help`` loads neither numpy nor pandas); the other commands
are listed from :data:`COMMANDS` without importing them. The command modules import
their heavy libraries inside ``run``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

#: command -> (module under detview.cli, one-line help shown in ``detview --help``)
COMMANDS: dict[str, tuple[str, str]] = {
    "eval": ("eval_cmd", "per-image metrics table (CSV)"),
    "coco-eval": ("coco_eval_cmd", "the 12 COCO bbox numbers (pycocotools-identical)"),
    "convert": ("convert_cmd", "convert ground truth between annotation formats"),
    "export": ("export_cmd", "write the cleaned dataset (optionally replaying a log)"),
    "apply": ("export_cmd", "replay a corrections log on the original dataset"),
    "check-export": ("export_cmd", "verify that an export folder is complete"),
    "runs": ("runs_cmd", "the experiment store: add, list, compare runs"),
    "logs": ("logs_cmd", "read training logs: a summary per metric, or the curves as CSV/JSON"),
    "check": ("check_cmd", "dataset health check (corrupt images, duplicates, bad boxes, ...)"),
}
#: the modules, in the order their commands are listed
COMMAND_MODULES = tuple(dict.fromkeys(m for m, _ in COMMANDS.values()))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser. ``command``: register that command's module only (the others are
    listed, not imported); None registers every command."""
    import importlib

    p = argparse.ArgumentParser(prog="detview", description=__doc__.splitlines()[0])
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)
    wanted = set(COMMAND_MODULES) if command not in COMMANDS else {COMMANDS[command][0]}
    for name, (module, text) in COMMANDS.items():
        if name in sub.choices:
            continue
        if module in wanted:
            importlib.import_module(f"detview.cli.{module}").register(sub)
        else:  # listed in --help, never parsed: it is not the command being run
            sub.add_parser(name, help=text, add_help=False)
    return p


def _command_of(argv: Sequence[str]) -> str | None:
    """The sub-command named on the command line (after the global options)."""
    for a in argv:
        if a == "--debug":
            continue
        return a if a in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv))
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
