"""Regenerate what README shows from the code: the keyboard shortcut table (from
detview/gui/shortcuts.py) and the main window screenshot (resources/screenshots/main.png,
rendered from the demo dataset).

    python packaging/readme_assets.py              # both
    python packaging/readme_assets.py --table      # the table only
    python packaging/readme_assets.py --screenshot # the screenshot only

The screenshot is the real window, at 1600x1000, under Xvfb when it is installed (a
real X server: fonts and window as on a desktop), else Qt's offscreen platform. Run by
``bash packaging/install.sh screenshot``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SHOT = REPO / "resources" / "screenshots" / "main.png"


def update_table(readme: Path = README) -> bool:
    """Rewrite the table under '## Keyboard shortcuts'; True when it changed."""
    sys.path.insert(0, str(REPO))
    from detview.gui.shortcuts import markdown_table

    text = readme.read_text(encoding="utf-8")
    m = re.search(r"^## Keyboard shortcuts\n(?:(?!^## ).*\n)*?(^\| group \| keys \| action \|\n"
                  r"(?:^\|[^\n]*\n)*)", text, re.M)
    if m is None:
        raise SystemExit(f"{readme}: no shortcut table under '## Keyboard shortcuts'")
    new = text[:m.start(1)] + markdown_table() + text[m.end(1):]
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


def _free_display() -> str:
    for n in range(90, 140):
        if not Path(f"/tmp/.X{n}-lock").exists():
            return f":{n}"
    raise SystemExit("no free X display number")


def render_screenshot(out: Path = SHOT) -> Path:
    """``detview demo --screenshot`` with fresh settings, under Xvfb when available."""
    exe = Path(sys.executable).with_name("detview")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "detview"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "DETVIEW_SETTINGS": str(Path(tmp) / "settings.ini"),
               "XDG_DATA_HOME": str(Path(tmp) / "data")}
        env.pop("QT_QPA_PLATFORM", None)
        xvfb = shutil.which("Xvfb")
        server = None
        if xvfb:
            display = _free_display()
            server = subprocess.Popen([xvfb, display, "-screen", "0", "1920x1200x24",
                                       "-nolisten", "tcp"], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            env["DISPLAY"] = display
            env["QT_QPA_PLATFORM"] = "xcb"
        else:
            env["QT_QPA_PLATFORM"] = "offscreen"
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            r = subprocess.run([*cmd, "demo", "--screenshot", str(out)], env=env,
                               capture_output=True, text=True, timeout=300)
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)
        if r.returncode != 0:
            raise SystemExit(f"screenshot failed:\n{r.stderr[-2000:]}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", action="store_true", help="only the shortcut table")
    p.add_argument("--screenshot", action="store_true", help="only the screenshot")
    a = p.parse_args(argv)
    both = not (a.table or a.screenshot)
    if a.table or both:
        print("README shortcut table", "updated" if update_table() else "already current")
    if a.screenshot or both:
        print("screenshot:", render_screenshot())
    return 0


if __name__ == "__main__":
    sys.exit(main())
