#!/usr/bin/env bash
# A one-folder desktop bundle of detview (PyInstaller): dist/detview/detview.
#   bash packaging/build_bundle.sh
# Needs binutils (objdump). The bundle runs on a system with libgl1, libegl1,
# fontconfig-config and fonts-dejavu-core (see packaging/install.sh for the full list).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -x .venv/bin/python ]] || bash packaging/install.sh install
.venv/bin/python -m pip install -q "pyinstaller>=6" 2>&1 | grep -v -i -E "warning|location" || true
.venv/bin/pyinstaller --noconfirm --clean --log-level WARN \
  --name detview --paths . \
  --add-data "resources:resources" \
  --exclude-module pyqtgraph.opengl --exclude-module tkinter \
  --collect-submodules detview \
  packaging/entry.py
echo "bundle: dist/detview/detview  (try: dist/detview/detview demo --screenshot shot.png)"
