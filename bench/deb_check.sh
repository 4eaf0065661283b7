#!/usr/bin/env bash
# The desktop package as an operator gets it: build the .deb, install it with apt (which brings its
# Depends), run the installed campool-gui --screenshot (offscreen) and campool-worker count on the
# shared highway video, then purge it and check nothing is left under /opt/campool.
# Prints the time of each step; exits non-zero on the first thing that is wrong.
#
#   bash bench/deb_check.sh [OUT_DIR]          (root; default OUT_DIR: build/desktop)
#   DEB=path/to/campool.deb bash bench/deb_check.sh    an already built package
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="${1:-build/desktop}"
DATA="${CAMPOOL_SHARED_DATA:-$ROOT/../shared/data}"
VIDEO="$DATA/videos/highway.mp4"
MODEL="$DATA/models/yolox_nano.onnx"
[ "$(id -u)" = 0 ] || { echo "deb_check: needs root (apt-get install)" >&2; exit 2; }
[ -f "$VIDEO" ] && [ -f "$MODEL" ] || { echo "deb_check: $VIDEO or $MODEL missing" >&2; exit 2; }
t0=$SECONDS
step() { echo "== $1 ($((SECONDS - t0)) s so far)"; }

if [ -z "${DEB:-}" ]; then
    step build
    bash installers/build-desktop.sh "$OUT"
    DEB="$OUT/campool.deb"
fi
DEB="$(readlink -f "$DEB")"
t_built=$SECONDS

step "install $DEB"
dpkg -s campool >/dev/null 2>&1 && apt-get purge -y -q campool >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$DEB" >/dev/null
test -x /opt/campool/campool-gui && test -x /usr/bin/campool-gui && test -x /usr/bin/campool-worker
test -f /usr/share/applications/campool-gui.desktop && test -f /usr/share/icons/hicolor/256x256/apps/campool.png
t_installed=$SECONDS

step "installed campool-gui --screenshot"
SHOTS="$(mktemp -d)"
trap 'rm -rf "$SHOTS"' EXIT
# from / and with no PYTHONPATH: only the installed package can answer
(cd / && env -u PYTHONPATH QT_QPA_PLATFORM=offscreen timeout 300 /usr/bin/campool-gui --screenshot "$SHOTS" \
    --no-zeroconf --lang vi) > "$SHOTS/list.txt"
for view in overview workers cameras live alerts history settings; do
    [ -s "$SHOTS/$view.png" ] || { echo "deb_check: no $view.png from the installed campool-gui" >&2; exit 1; }
done

step "installed campool-worker count"
RESULT="$(cd / && env -u PYTHONPATH timeout 300 /usr/bin/campool-worker count "$VIDEO" --model "$MODEL" \
    --line near:0,500,1280,500 --classes car,truck,bus,motorcycle --detect-fps 10 --json | tail -n 1)"
IN="$(printf '%s' "$RESULT" | python3 -c 'import json,sys; print(json.load(sys.stdin)["lines"]["near"]["in"])')"
[ "$IN" = 24 ] || { echo "deb_check: the installed worker counted $IN in on highway.mp4, expected 24: $RESULT" >&2; exit 1; }
t_ran=$SECONDS

step "purge"
apt-get purge -y -q campool >/dev/null
if dpkg -s campool >/dev/null 2>&1 || [ -e /opt/campool ] || [ -e /usr/bin/campool-gui ] \
        || [ -e /usr/share/applications/campool-gui.desktop ]; then
    echo "deb_check: campool is not gone after apt-get purge" >&2; exit 1
fi
echo "deb_check: ok; build $((t_built - t0)) s, install $((t_installed - t_built)) s, run $((t_ran - t_installed)) s," \
     "purge $((SECONDS - t_ran)) s, total $((SECONDS - t0)) s"
