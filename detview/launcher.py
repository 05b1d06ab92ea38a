"""The ``detview`` command: GUI commands go to :mod:`detview.gui`, the rest to
:mod:`detview.cli`. Neither package imports the other; only this dispatcher knows both.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

GUI_COMMANDS = ("open", "demo", "start")

USAGE = """\
usage: detview COMMAND [options]

detview alone opens the app on its start page (recent datasets, open, demo).

GUI:
  demo        open the bundled demo dataset (--screenshot PNG renders it and exits)
  open        open a dataset: detview open DIR, or --images DIR --gt PATH --pred PATH ...

Headless:
  eval        per-image metrics table (CSV) for one prediction run
  coco-eval   the 12 COCO bbox numbers (and per class with --json)
  convert     convert ground truth between formats
  export      write the cleaned dataset (optionally replaying a corrections log)
  apply       replay a corrections log on the original dataset and export
  runs        the experiment store: runs add|list|show|compare|worst|remove
  logs        read training logs (torchvision, results.csv, TensorBoard, detectron2, MMDet)

Run 'detview COMMAND --help' for the options of a command.
"""


GUI_LIBRARIES = ("PySide6", "shiboken6", "pyqtgraph")


def gui_import_error(exc: ImportError) -> str:
    """Why the GUI cannot start and what to install, in a few lines (no traceback)."""
    missing = (getattr(exc, "name", None) or "").split(".")[0]
    if missing in GUI_LIBRARIES:
        return (f"detview: the GUI cannot start: {missing} is not installed ({exc}).\n"
                "  detview is installed without its GUI libraries; install them with:\n"
                "    pip install 'PySide6-Essentials>=6.5,!=6.12.0' 'pyqtgraph>=0.13.7'\n"
                "  (a plain 'pip install detview' includes them). The headless commands\n"
                "  (eval, coco-eval, convert, ...: see 'detview --help') work without them.")
    if ".so" in str(exc) or "shared object" in str(exc):
        return (f"detview: the GUI cannot start: a system library Qt needs is missing ({exc}).\n"
                "  On Debian/Ubuntu: apt-get install libgl1 libegl1 libglib2.0-0 libfontconfig1 "
                "libxkbcommon0 libdbus-1-3 fonts-dejavu-core\n"
                "  (bash packaging/install.sh installs the full list). The headless commands\n"
                "  (eval, coco-eval, convert, ...: see 'detview --help') work without it.")
    return f"detview: the GUI cannot start: {type(exc).__name__}: {exc}"


def has_display() -> bool:
    """A window can be shown (X11/Wayland on Linux; always elsewhere)."""
    import os

    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args and has_display():
        args = ["start"]  # the app, on its start page
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE, end="")
        return 0 if args else 2
    if args[0] in ("--version", "-V"):
        from detview import __version__

        print(f"detview {__version__}")
        return 0
    if args[0] in GUI_COMMANDS:
        try:
            from detview.gui.app import main as gui_main
        except ImportError as exc:
            print(gui_import_error(exc), file=sys.stderr)
            return 2
        return int(gui_main(args) or 0)
    from detview.cli.main import main as cli_main

    return cli_main(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
