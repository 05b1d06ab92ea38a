"""Start-up: the command line imports only what the command it runs needs."""

import argparse
import subprocess
import sys

import pytest

from detview.cli.main import COMMANDS, build_parser
from tests.conftest import REPO

HEAVY = ("numpy", "pandas", "orjson", "msgspec", "detview.io.loader", "detview.session",
         "detview.core")

PROBE = """\
import sys
sys.argv = ["detview", *{argv!r}]
from detview.launcher import main
try:
    main()
except SystemExit:
    pass
print(",".join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


def _loaded(*argv: str) -> tuple[set[str], str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=list(argv), heavy=HEAVY)],
                         capture_output=True, text=True, cwd=REPO, check=True)
    last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ""
    return {m for m in last.split(",") if m}, out.stdout


@pytest.mark.parametrize("argv", [("coco-eval", "--help"), ("eval", "--help"), ("--help",),
                                  ("export", "--help"), ("runs", "--help"), ("logs", "--help")])
def test_help_imports_no_numerical_library(argv):
    loaded, text = _loaded(*argv)
    assert loaded == set(), loaded
    assert "usage: detview" in text


def test_top_level_help_lists_every_command_without_importing_them():
    loaded, _ = _loaded("coco-eval", "--help")
    assert loaded == set()
    p = build_parser("coco-eval")
    sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices) == list(COMMANDS)


def test_the_command_table_says_what_each_module_registers():
    """The help listed without importing a module is the help the module gives."""
    full = build_parser()
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in sub._choices_actions}
    assert set(helps) == set(COMMANDS)
    for name, (_module, text) in COMMANDS.items():
        assert " ".join(helps[name].split()) == text, name


def test_a_command_runs_through_the_lazy_parser(tmp_path):
    """Only the named command's module is imported, and it parses its own options."""
    p = build_parser("eval")
    args = p.parse_args(["eval", "--gt", "g.json", "--out", "-"])
    assert args.func.__module__ == "detview.cli.eval_cmd"
    with pytest.raises(SystemExit):
        build_parser("eval").parse_args(["eval", "--no-such-option"])
