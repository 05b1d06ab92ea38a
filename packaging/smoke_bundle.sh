#!/usr/bin/env bash
# Build the one-folder bundle and check that it works like the installed package.
#
#   bash packaging/smoke_bundle.sh             # build (2-4 minutes on 2 cores), then check
#   bash packaging/smoke_bundle.sh --no-build  # check dist/detview as it is
#   bash packaging/install.sh bundle           # the same as the first line
#
# The bundle is copied to a temporary folder and run from there (it must not need this
# checkout), then:
#   1. `detview --version` runs;
#   2. `coco-eval --json`, `eval --more` and `convert` on resources/demo print and write
#      exactly what the installed package (.venv) does;
#   3. `demo --screenshot` with no display renders offscreen a PNG that is a real render
#      (packaging/check_screenshot.py: size, colours, not blank) and matches the installed
#      package's render of the same window; under Xvfb (when xvfb-run is installed) the
#      same on the xcb platform, the one desktop users get;
#   4. the bundle holds the demo and the icon, none of the left-out modules (tests,
#      matplotlib, tkinter, Qt QML/Quick/PDF, Qt translations), and is under
#      DETVIEW_BUNDLE_MAX_MB (default 250) MB.
# The screenshots are kept in dist/smoke/ to be looked at. Exit status 0 only when all hold.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
say() { printf '\033[1mdetview smoke:\033[0m %s\n' "$*"; }
fail() { printf '\033[1;31mdetview smoke: FAIL:\033[0m %s\n' "$*" >&2; exit 1; }

[[ ${1:-} == --no-build ]] || bash packaging/build_bundle.sh
[[ -x .venv/bin/detview ]] || bash packaging/install.sh install  # the reference
[[ -x dist/detview/detview ]] || fail "no bundle at dist/detview: run bash packaging/build_bundle.sh"

V="$REPO/.venv/bin/detview"
PY="$REPO/.venv/bin/python"
D="$REPO/resources/demo"
P="$D/predictions/yolov5s.json"
shots="$REPO/dist/smoke"
rm -rf "$shots" && mkdir -p "$shots"
work=$(mktemp -d "${TMPDIR:-/tmp}/detview-smoke.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -a dist/detview "$work/detview"
B="$work/detview/detview"
cd "$work"

say "1. version"
"$B" --version | grep -q '^detview ' || fail "'detview --version' from the bundle"

say "2. headless commands give the installed package's output"
"$B" coco-eval "$D" --pred "$P" --json >bundle.json 2>bundle.err || fail "coco-eval: $(cat bundle.err)"
"$V" coco-eval "$D" --pred "$P" --json >venv.json 2>/dev/null
cmp -s bundle.json venv.json || fail "coco-eval --json differs from .venv's (see diff bundle.json venv.json)"
"$B" eval "$D" --pred "$P" --more --out bundle.csv 2>bundle.err || fail "eval: $(cat bundle.err)"
"$V" eval "$D" --pred "$P" --more --out venv.csv 2>/dev/null
cmp -s bundle.csv venv.csv || fail "eval --more CSV differs from .venv's"
[[ $(wc -l <bundle.csv) -eq 41 ]] || fail "eval wrote $(wc -l <bundle.csv) lines, expected 41"
conv=(convert --from yolo --to coco --gt "$D/labels" --images "$D/images" --names "$D/data.yaml")
"$B" "${conv[@]}" --out bundle-gt.json >/dev/null 2>bundle.err || fail "convert: $(cat bundle.err)"
"$V" "${conv[@]}" --out venv-gt.json >/dev/null 2>&1
cmp -s bundle-gt.json venv-gt.json || fail "convert output differs from .venv's"
AP=$("$PY" -c "import json,sys; print(json.load(open('bundle.json'))['AP'])")
say "   coco-eval AP $AP, eval 40 rows, convert: identical to the installed package"

say "3. demo --screenshot (offscreen, no display)"
env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM "$B" demo --screenshot "$shots/bundle-offscreen.png" \
  >/dev/null 2>bundle.err || fail "demo --screenshot from the bundle: $(tail -5 bundle.err)"
env -u DISPLAY -u WAYLAND_DISPLAY -u QT_QPA_PLATFORM "$V" demo --screenshot "$shots/venv-offscreen.png" \
  >/dev/null 2>&1 || fail "demo --screenshot from .venv"
"$PY" "$REPO/packaging/check_screenshot.py" "$shots/bundle-offscreen.png" \
  --like "$shots/venv-offscreen.png" || fail "the bundle's screenshot is not a real render"
if command -v xvfb-run >/dev/null 2>&1; then
  say "   and on the xcb platform under Xvfb"
  QT_QPA_PLATFORM=xcb xvfb-run -a -s "-screen 0 1920x1200x24" "$B" demo --screenshot \
    "$shots/bundle-xcb.png" >/dev/null 2>bundle.err || fail "demo on xcb: $(tail -5 bundle.err)"
  "$PY" "$REPO/packaging/check_screenshot.py" "$shots/bundle-xcb.png" \
    --like "$shots/venv-offscreen.png" || fail "the bundle's xcb screenshot is not a real render"
else
  say "   (xvfb-run not installed: xcb platform not checked)"
fi

say "4. contents and size"
I="$work/detview/_internal"
for f in resources/demo/data.yaml resources/demo/predictions/yolov5s.json resources/icons/detview.svg \
         PySide6/Qt/plugins/platforms/libqxcb.so PySide6/Qt/plugins/iconengines/libqsvgicon.so; do
  [[ -e $I/$f ]] || fail "missing from the bundle: $f"
done
for f in tests pytest _pytest matplotlib tkinter pycocotools PySide6/Qt/translations \
         PySide6/Qt/lib/libQt6Qml.so.6 PySide6/Qt/lib/libQt6Quick.so.6 PySide6/Qt/lib/libQt6Pdf.so.6 \
         PySide6/QtNetwork.abi3.so pyqtgraph/opengl; do
  [[ ! -e $I/$f ]] || fail "left-out module found in the bundle: $f"
done
mb=$(du -sm "$work/detview" | cut -f1)
max=${DETVIEW_BUNDLE_MAX_MB:-250}
((mb <= max)) || fail "the bundle is $mb MB, over $max MB"
say "   $mb MB (limit $max); largest parts:"
(cd "$I" && du -sm -- * | sort -rn | head -8 | sed 's/^/      /')
say "OK: the bundle works. Screenshots to look at: $shots/"
