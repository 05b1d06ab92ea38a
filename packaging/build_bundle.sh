#!/usr/bin/env bash
# A one-folder desktop bundle of detview (PyInstaller): dist/detview/detview.
#
#   bash packaging/build_bundle.sh          # about 2 minutes on 2 cores
#   bash packaging/smoke_bundle.sh          # build, then check the bundle (see packaging/README.md)
#
# The bundle is built from its own virtual environment (build/bundle-venv) holding only what
# `pip install detview` installs plus PyInstaller, so nothing from the test or benchmark
# extras (pytest, pycocotools, matplotlib, ...) can slip into it. Needs binutils (objdump).
# It runs on a system with libgl1, libegl1, libfontconfig1, fontconfig-config and
# fonts-dejavu-core (packaging/install.sh installs the full list for the xcb platform).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\033[1mdetview bundle:\033[0m %s\n' "$*"; }
quiet() { grep -v -i -E "warning|location|already satisfied" || true; }

command -v objdump >/dev/null 2>&1 || { echo "build_bundle: PyInstaller needs objdump: apt-get install binutils" >&2; exit 2; }
VENV="${DETVIEW_BUNDLE_VENV:-build/bundle-venv}"
PY="${PYTHON:-python3}"
if [[ ! -x $VENV/bin/python ]]; then
  say "creating $VENV with $($PY --version)"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip 2>&1 | quiet
fi
say "installing detview (its default dependencies only) and PyInstaller into $VENV"
"$VENV/bin/python" -m pip install -q "pyinstaller>=6,<7" . 2>&1 | quiet
# the version number does not change between commits: always put this checkout's code in
"$VENV/bin/python" -m pip install -q --no-deps --force-reinstall . 2>&1 | quiet
rm -rf build/detview-lib  # pip's build tree must not be picked up

say "running PyInstaller (one folder)"
# Left out: modules detview never loads. pyqtgraph imports some only when present or on
# demand (its 3D items, the matplotlib/HDF5 exporters, Jupyter); PySide6's hooks would
# otherwise follow imports to Qt's QML/Quick/network/PDF libraries. It does load
# QtCore/Gui/Widgets/Svg/OpenGL/OpenGLWidgets/Test (pyqtgraph imports them at start).
EXCLUDES=(tkinter unittest pydoc_data lib2to3 setuptools pkg_resources pip
  pyqtgraph.opengl pyqtgraph.jupyter pyqtgraph.examples
  matplotlib scipy h5py cupy numba IPython jupyter_rfb
  PySide6.QtNetwork PySide6.QtQml PySide6.QtQuick PySide6.QtQuickWidgets PySide6.QtPdf
  PySide6.QtSql PySide6.QtDBus PySide6.QtDesigner PySide6.QtUiTools PySide6.QtConcurrent
  PySide6.QtXml PySide6.QtHelp PySide6.QtPrintSupport PySide6.QtMultimedia)
args=()
for m in "${EXCLUDES[@]}"; do args+=(--exclude-module "$m"); done
"$VENV/bin/pyinstaller" --noconfirm --clean --log-level WARN \
  --name detview --workpath build/pyinstaller --distpath dist --specpath build \
  --add-data "$PWD/resources:resources" \
  --collect-submodules detview \
  "${args[@]}" \
  packaging/entry.py
# Trimmed after the build: Qt's own translations (7 MB; detview installs no QTranslator)
# and the debug information of the Python runtime (libpython and the standard library's
# extension modules, about 35 MB; symbols stay, and nothing patched by auditwheel is touched).
rm -rf dist/detview/_internal/PySide6/Qt/translations
find dist/detview/_internal -maxdepth 1 -name 'libpython3*.so*' -type f -exec strip --strip-debug {} +
find dist/detview/_internal/python3*/lib-dynload -name '*.so' -type f -exec strip --strip-debug {} +
say "built dist/detview/detview ($(du -sh dist/detview | cut -f1)); check it with: bash packaging/smoke_bundle.sh --no-build"
