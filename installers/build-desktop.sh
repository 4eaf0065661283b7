#!/usr/bin/env bash
# The desktop package: the PyInstaller one-folder bundle of the control center (campool-gui and
# campool-worker), trimmed, and a .deb of it for the Debian / Ubuntu it is built on.
#
#   bash installers/build-desktop.sh [OUT_DIR]        (default: build/desktop)
#
# OUT_DIR/dist/campool-gui/   the bundle (runs from where it is)
# OUT_DIR/campool_<version>_amd64.deb, and OUT_DIR/campool.deb linked to it
# OUT_DIR/trim.json           the bundle's size before and after trimming, what went, the Depends
#
# The .deb puts the bundle under /opt/campool, launchers in /usr/bin (campool-gui, campool-worker),
# the desktop entry and icons under /usr/share; `Depends:` are the Debian packages of the system
# libraries the bundle loads (installers/trim_bundle.py finds them with ldd and dpkg -S), so
# `apt-get install ./campool.deb` brings Qt's xcb libraries (libxcb-cursor0 ...) with it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
OUT="$(mkdir -p "${1:-build/desktop}" && cd "${1:-build/desktop}" && pwd)"
PY="$(python3 installers/run.py --python)"
# The checkout's own code, whatever is installed (an editable install may point elsewhere).
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if ! "$PY" -c 'import PyInstaller' 2>/dev/null; then
    "$PY" -m pip install --quiet 'pyinstaller>=6.5'     # the [package] extra of pyproject.toml
fi
for tool in dpkg-deb dpkg ldd; do
    command -v "$tool" >/dev/null || { echo "build-desktop: $tool is needed (a Debian or Ubuntu machine)" >&2; exit 2; }
done
VERSION="$("$PY" -c 'import campool_gui; print(campool_gui.__version__)')"
ARCH="$(dpkg --print-architecture)"

echo "== bundle (PyInstaller)"
"$PY" -m PyInstaller --noconfirm --log-level WARN --distpath "$OUT/dist" --workpath "$OUT/work" \
    installers/campool-gui.spec
BUNDLE="$OUT/dist/campool-gui"

echo "== trim"
"$PY" installers/trim_bundle.py "$BUNDLE" --depends-out "$OUT/depends.txt" --json > "$OUT/trim.json"
"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); print("bundle: %s MB before trimming, %s MB after; %d paths removed" % (r["before_mb"], r["after_mb"], len(r["removed"])))' "$OUT/trim.json"

echo "== .deb"
PKG="$OUT/pkg"
rm -rf "$PKG"
mkdir -p "$PKG/DEBIAN" "$PKG/opt" "$PKG/usr/bin" "$PKG/usr/share/applications" \
    "$PKG/usr/share/icons/hicolor/64x64/apps" "$PKG/usr/share/icons/hicolor/256x256/apps" \
    "$PKG/usr/share/icons/hicolor/scalable/apps" "$PKG/usr/share/doc/campool"
cp -a "$BUNDLE" "$PKG/opt/campool"
for cmd in campool-gui campool-worker; do
    # A script, not a symlink: the bundle finds its _internal/ beside the real executable.
    printf '#!/bin/sh\nexec /opt/campool/%s "$@"\n' "$cmd" > "$PKG/usr/bin/$cmd"
    chmod 0755 "$PKG/usr/bin/$cmd"
done
install -m 0644 resources/campool-gui.desktop "$PKG/usr/share/applications/campool-gui.desktop"
install -m 0644 resources/icons/campool-64.png "$PKG/usr/share/icons/hicolor/64x64/apps/campool.png"
install -m 0644 resources/icons/campool-256.png "$PKG/usr/share/icons/hicolor/256x256/apps/campool.png"
install -m 0644 resources/icons/campool.svg "$PKG/usr/share/icons/hicolor/scalable/apps/campool.svg"
printf 'CamPool %s\nSource and licence: Apache-2.0, see the project repository.\n' "$VERSION" \
    > "$PKG/usr/share/doc/campool/copyright"
DEPENDS="$(paste -sd, "$OUT/depends.txt" | sed 's/,/, /g')"
SIZE_KB="$(du -sk "$PKG" | cut -f1)"
cat > "$PKG/DEBIAN/control" <<CONTROL
Package: campool
Version: $VERSION
Section: video
Priority: optional
Architecture: $ARCH
Maintainer: CamPool <campool@localhost>
Installed-Size: $SIZE_KB
Depends: $DEPENDS
Description: AI camera counting across a pool of machines on a LAN
 The control center (campool-gui: the pool, its cameras, live counts, history,
 alerts) and the worker daemon (campool-worker), as one self-contained folder
 under /opt/campool with its own Python, Qt and ONNX Runtime (CPU).
CONTROL
# The menus and icon caches learn of the new entry (both tools are optional on a desktop).
cat > "$PKG/DEBIAN/postinst" <<'HOOK'
#!/bin/sh
set -e
command -v update-desktop-database >/dev/null && update-desktop-database -q /usr/share/applications || true
command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t /usr/share/icons/hicolor || true
HOOK
cp "$PKG/DEBIAN/postinst" "$PKG/DEBIAN/postrm"
chmod 0755 "$PKG/DEBIAN/postinst" "$PKG/DEBIAN/postrm"
DEB="$OUT/campool_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zzstd -z3 --build "$PKG" "$DEB" >/dev/null
ln -sf "$(basename "$DEB")" "$OUT/campool.deb"
rm -rf "$PKG"
echo "built $DEB ($(du -m "$DEB" | cut -f1) MB)"
