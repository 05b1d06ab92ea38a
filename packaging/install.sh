#!/usr/bin/env bash
# detview set-up on a fresh Debian 12 / Ubuntu machine with Python 3.10+.
#
#   bash packaging/install.sh demo   # install everything, then open the demo dataset
#   bash packaging/install.sh test   # install everything, then lint, types and the test suite
#   bash packaging/install.sh bench  # install the peers too, then run the benchmarks
#                                     # (--large: 50k images, --xl: 118k)
#   bash packaging/install.sh desktop [--exec PATH | --uninstall]
#                                    # add detview (icon, menu entry) to this user's
#                                    # application menu (~/.local/share); never done otherwise
#   bash packaging/install.sh bundle # build the PyInstaller one-folder bundle and smoke-test
#                                    # it (minutes; not part of 'test')
#   bash packaging/install.sh screenshot  # README's screenshot (resources/screenshots/main.png,
#                                    # the demo under Xvfb, else offscreen) and shortcut table
#   bash packaging/install.sh        # install only
#
# It installs the system libraries Qt needs (apt, when missing and when root or sudo
# is available), makes a virtual environment in .venv and installs detview into it
# (the GUI is in detview's default dependencies).
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-install}"
case "$what" in
  demo|test|bench|desktop|bundle|screenshot|install) ;;
  *) echo "usage: bash packaging/install.sh [demo|test|bench|desktop|bundle|screenshot|install]" >&2; exit 2 ;;
esac

say() { printf '\033[1mdetview setup:\033[0m %s\n' "$*"; }

# -------------------------------------------------------------- system libraries
# Offscreen rendering (tests, --screenshot) and a real X display (xcb) need these.
APT_PKGS=(libgl1 libegl1 libglib2.0-0 libfontconfig1 fontconfig-config libfreetype6
  libdbus-1-3 libxkbcommon0 libx11-6 fonts-dejavu-core
  libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1
  libxcb-randr0 libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-shm0 libxcb-sync1
  libxcb-util1 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0 xvfb xauth)
# PyInstaller needs objdump; desktop-file-validate checks the menu entry (in the tests too).
[[ $what == bundle ]] && APT_PKGS+=(binutils)
[[ $what == desktop || $what == test ]] && APT_PKGS+=(desktop-file-utils)
if command -v dpkg-query >/dev/null 2>&1; then
  missing=()
  for p in "${APT_PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]})); then
    sudo=""
    [[ $(id -u) -ne 0 ]] && command -v sudo >/dev/null 2>&1 && sudo="sudo"
    if [[ $(id -u) -eq 0 || -n $sudo ]]; then
      say "installing system libraries for Qt: ${missing[*]}"
      $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
      say "warning: missing system packages (need root to install): ${missing[*]}"
    fi
  fi
fi

# -------------------------------------------------------------- python environment
PY="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
  say "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.detview-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  say "installing detview and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v -i warning || true
  .venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v -i -E "warning|location" || true
  .venv/bin/python -c "import detview, PySide6, pyqtgraph, pytestqt" && touch "$stamp"
fi

case "$what" in
  demo)
    if [[ -n "${DISPLAY:-}" || -n "${WAYLAND_DISPLAY:-}" ]]; then
      say "opening the demo dataset"
      exec .venv/bin/detview demo
    fi
    out="$PWD/detview-demo.png"
    say "no display found: rendering the demo window offscreen to $out"
    QT_QPA_PLATFORM=offscreen .venv/bin/detview demo --screenshot "$out"
    say "done. Open $out to see it; for the interactive app run 'xvfb-run -a .venv/bin/detview demo' or use a desktop session."
    ;;
  test)
    # Ultralytics' own dataset check is the referee of the YOLO export test; it only reads
    # YAML and paths, so it is installed without its (multi-GB) torch dependencies.
    .venv/bin/python -m pip show -q ultralytics >/dev/null 2>&1 ||
      .venv/bin/python -m pip install -q --no-deps ultralytics 2>&1 | grep -v -i -E "warning|location" || true
    say "lint (ruff), layering contracts (import-linter), types (mypy), tests (pytest)"
    .venv/bin/ruff check detview tests benchmarks packaging
    .venv/bin/lint-imports
    .venv/bin/mypy  # detview/core, detview/io, detview/session (pyproject [tool.mypy])
    QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q -p no:cacheprovider "${@:2}"
    ;;
  bench)
    say "installing the peers (pycocotools, faster-coco-eval, tidecv)"
    .venv/bin/python -m pip install -q -e ".[test,bench]" 2>&1 | grep -v -i -E "warning|location" || true
    # --large adds 50,000 images (pycocotools needs ~14 GB and ~6 min there), --xl adds
    # 118,287 images (COCO train2017 size; detview only: the peers do not fit in memory)
    say "benchmarks: detview coco-eval / eval as processes vs pycocotools and faster-coco-eval"
    .venv/bin/python benchmarks/bench_coco_eval.py "${@:2}"
    say "benchmarks: live COCO numbers after a one-image edit"
    .venv/bin/python benchmarks/bench_live_coco.py "${@:2}"
    say "benchmarks: loading"
    .venv/bin/python benchmarks/bench_load.py
    .venv/bin/python benchmarks/bench_label_quality.py  # vs cleanlab: ~3 min at 5,120 images
    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/bench_image_list.py
    ;;
  desktop)
    .venv/bin/python packaging/install_desktop.py "${@:2}"
    ;;
  bundle)
    say "building and smoke-testing the one-folder bundle (a few minutes)"
    bash packaging/smoke_bundle.sh "${@:2}"
    ;;
  screenshot)
    say "README assets: resources/screenshots/main.png (the demo, Xvfb or offscreen) and the shortcut table"
    .venv/bin/python packaging/readme_assets.py "${@:2}"
    ;;
  install) say "installed. Run: .venv/bin/detview demo" ;;
  *) echo "usage: bash packaging/install.sh [demo|test|bench|desktop|bundle|screenshot|install]" >&2; exit 2 ;;
esac
