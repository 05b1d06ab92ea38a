"""Add detview to the desktop's application menu (freedesktop.org), for this user only.

    python packaging/install_desktop.py                 # the .venv of this checkout
    python packaging/install_desktop.py --exec PATH     # another detview command (the bundle's,
                                                        # a pip-installed one)
    python packaging/install_desktop.py --uninstall

Writes ``$XDG_DATA_HOME/applications/detview.desktop`` (``~/.local/share`` by default) from
``packaging/detview.desktop`` with ``Exec`` set to the absolute path of the command, and the
icon into ``$XDG_DATA_HOME/icons/hicolor/{48x48,128x128,256x256,scalable}/apps``. Nothing
else is touched and nothing runs as root. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "packaging" / "detview.desktop"
ICONS = REPO / "resources" / "icons"
SIZES = (48, 128, 256)
APP_ID = "detview"


def data_home() -> Path:
    env = os.environ.get("XDG_DATA_HOME", "")
    return Path(env) if os.path.isabs(env) else Path.home() / ".local" / "share"


def targets(data: Path) -> dict[str, Path]:
    """Every file the install writes, by a short name."""
    out = {"desktop": data / "applications" / f"{APP_ID}.desktop",
           "svg": data / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"}
    for n in SIZES:
        out[f"png{n}"] = data / "icons" / "hicolor" / f"{n}x{n}" / "apps" / f"{APP_ID}.png"
    return out


def exec_quote(arg: str) -> str:
    """One argument of an ``Exec`` key (Desktop Entry Specification, "The Exec key")."""
    if arg and not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`%'):
        return arg
    escaped = "".join("\\" + c if c in '"`$\\' else c for c in arg).replace("%", "%%")
    # the whole value is a string, where a backslash is itself escaped once more
    return '"' + escaped.replace("\\", "\\\\") + '"'


def default_exec() -> Path | None:
    venv = REPO / ".venv" / "bin" / "detview"
    if venv.is_file():
        return venv
    found = shutil.which("detview")
    return Path(found) if found else None


def desktop_text(command: Path) -> str:
    q = exec_quote(str(command))
    lines = []
    for line in TEMPLATE.read_text(encoding="utf-8").splitlines():
        if line.startswith("Exec="):
            line = "Exec=" + q + line[len("Exec=detview"):]
        elif line.startswith("TryExec="):
            line = "TryExec=" + str(command)
        lines.append(line)
    return "\n".join(lines) + "\n"


def install(command: Path, data: Path) -> dict[str, Path]:
    command = command.expanduser().absolute()
    if not (command.is_file() and os.access(command, os.X_OK)):
        raise FileNotFoundError(f"{command}: no such executable (build or install detview first)")
    t = targets(data)
    for p in t.values():
        p.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ICONS / "detview.svg", t["svg"])
    for n in SIZES:
        shutil.copyfile(ICONS / f"detview-{n}.png", t[f"png{n}"])
    tmp = t["desktop"].with_suffix(".desktop.tmp")
    tmp.write_text(desktop_text(command), encoding="utf-8")
    tmp.chmod(0o755)  # some desktops want launchers executable
    os.replace(tmp, t["desktop"])
    return t


def uninstall(data: Path) -> list[Path]:
    removed = []
    for p in targets(data).values():
        if p.is_file():
            p.unlink()
            removed.append(p)
    return removed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="install_desktop.py", description=__doc__.split("\n")[0])
    ap.add_argument("--exec", dest="command", type=Path, help="the detview command to launch "
                    "(default: .venv/bin/detview of this checkout, else detview on PATH)")
    ap.add_argument("--uninstall", action="store_true", help="remove what an install wrote")
    args = ap.parse_args(argv)
    data = data_home()
    if args.uninstall:
        removed = uninstall(data)
        for p in removed:
            print(f"removed {p}")
        if not removed:
            print(f"nothing to remove under {data}")
        return 0
    command = args.command or default_exec()
    if command is None:
        print("install_desktop: no detview command found: run 'bash packaging/install.sh' first "
              "or pass --exec PATH", file=sys.stderr)
        return 2
    try:
        t = install(command, data)
    except OSError as exc:
        print(f"install_desktop: {exc}", file=sys.stderr)
        return 2
    print(f"installed {t['desktop']} (launches {command.expanduser().absolute()})")
    print(f"installed the icon under {data / 'icons' / 'hicolor'}")
    if shutil.which("desktop-file-validate"):
        v = subprocess.run(["desktop-file-validate", str(t["desktop"])], capture_output=True,
                           text=True)
        if v.returncode != 0:
            print(f"install_desktop: desktop-file-validate: {v.stdout}{v.stderr}", file=sys.stderr)
            return 1
    print("detview is in the application menu (log out and in if it does not show yet); "
          "remove it with: bash packaging/install.sh desktop --uninstall")
    return 0


if __name__ == "__main__":
    sys.exit(main())
