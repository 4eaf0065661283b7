"""Trim the PyInstaller bundle of the control center for the .deb, and say what it needs of the system.

    python3 installers/trim_bundle.py BUNDLE_DIR --depends-out FILE [--json]

What goes (the bundle carries it, nothing of ours uses it, or the system provides it):

* Qt's own translations (we ship campool_vi.qm; Qt has no Vietnamese of its own), Qt plugins for
  embedded displays (eglfs, linuxfb, vnc, evdev/tslib input) and the GTK platform theme (it alone
  pulls GTK, cairo, pango, atk into the folder), with the EGLFS libraries only they load;
* onnxruntime's GPU execution providers, should a GPU wheel have been bundled (the .deb is the
  CPU build);
* packages' test folders;
* libraries PyInstaller copied from the build machine's own /usr/lib (byte-identical to the
  system's file): on the target they come from their Debian packages, which become `Depends:`.
  Libraries shipped inside wheels (Qt, ICU, ffmpeg of OpenCV, OpenBLAS of numpy) stay.

Then every ELF file left is run through `ldd` with the bundle's own folders first: each library it
resolves outside the bundle names a Debian package (dpkg -S) for `Depends:`; one it cannot resolve
is an error (the bundle would not start there either).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SYSTEM_LIB_DIRS = ("/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib", "/lib")
QT_PLUGINS_UNUSED = (
    "egldeviceintegrations", "generic",                        # embedded displays and input devices
    "platforms/libqeglfs.so", "platforms/libqlinuxfb.so", "platforms/libqvnc.so",
    "platforms/libqminimalegl.so", "platforms/libqvkkhrdisplay.so",
    "platformthemes/libqgtk3.so",                              # the GTK theme: GTK, cairo, pango, atk
)
QT_LIBS_UNUSED = ("libQt6EglFSDeviceIntegration.so*", "libQt6EglFsKmsSupport.so*")
# Libraries Qt's xcb platform plugin links with that a machine without them cannot name by dpkg -S:
# their Debian packages (the same names on Debian 12 and Ubuntu 24.04).
KNOWN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xkb.so.1": "libxcb-xkb1", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-util.so.1": "libxcb-util1", "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1",
}
GPU_PROVIDERS = ("libonnxruntime_providers_cuda.so", "libonnxruntime_providers_tensorrt.so",
                 "libonnxruntime_providers_rocm.so", "libonnxruntime_providers_migraphx.so")


def size_mb(path: Path) -> float:
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())
    return round(total / 1e6, 1)


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def remove(path: Path, removed: list[str], root: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    else:
        return
    removed.append(str(path.relative_to(root)))


def system_copy(lib: Path) -> Path | None:
    """The system's file this bundled library was copied from, if it is one (same name, same bytes)."""
    for d in SYSTEM_LIB_DIRS:
        cand = Path(d) / lib.name
        if cand.is_file() and cand.stat().st_size == lib.stat().st_size and cand.read_bytes() == lib.read_bytes():
            return cand
    return None


def package_of(path: str) -> str | None:
    """The Debian package that owns a library file (merged /usr: the database may name either path)."""
    real = os.path.realpath(path)
    cands = {path, real}
    for p in list(cands):
        if p.startswith("/usr/lib/"):
            cands.add(p[len("/usr"):])
        elif p.startswith("/lib/"):
            cands.add("/usr" + p)
    for c in sorted(cands):
        r = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout:
            return r.stdout.split(":", 1)[0].strip()
    return None


def trim(bundle: Path) -> dict[str, object]:
    internal = bundle / "_internal"
    if not internal.is_dir():
        raise SystemExit(f"{bundle} is not a PyInstaller one-folder bundle (no _internal/)")
    before = size_mb(bundle)
    removed: list[str] = []
    qt = internal / "PySide6" / "Qt"
    remove(qt / "translations", removed, bundle)
    for rel in QT_PLUGINS_UNUSED:
        remove(qt / "plugins" / rel, removed, bundle)
    for pattern in QT_LIBS_UNUSED:
        for p in [*internal.glob(pattern), *(qt / "lib").glob(pattern)]:
            remove(p, removed, bundle)
    for name in GPU_PROVIDERS:
        for p in internal.rglob(name):
            remove(p, removed, bundle)
    for p in sorted(internal.rglob("tests"), key=lambda p: -len(p.parts)):
        if p.is_dir():
            remove(p, removed, bundle)
    from_system: dict[str, str] = {}
    for lib in sorted(internal.glob("*.so*")):
        if lib.is_file() and not lib.is_symlink() and "cpython" not in lib.name and "abi3" not in lib.name:
            src = system_copy(lib)
            if src is not None:
                from_system[lib.name] = str(src)
                remove(lib, removed, bundle)
    depends, missing = system_needs(bundle)
    return {"before_mb": before, "after_mb": size_mb(bundle), "removed": removed,
            "system_libraries_unbundled": sorted(from_system), "depends": depends, "missing": missing}


def system_needs(bundle: Path) -> tuple[list[str], list[str]]:
    """(Debian packages the bundle's ELF files load from the system, libraries found nowhere)."""
    elfs = [p for p in bundle.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p)]
    lib_dirs = sorted({str(p.parent) for p in elfs if ".so" in p.name})
    env = {**os.environ, "LD_LIBRARY_PATH": ":".join(lib_dirs)}
    outside: set[str] = set()
    missing: set[str] = set()
    known: set[str] = set()
    for p in elfs:
        r = subprocess.run(["ldd", str(p)], capture_output=True, text=True, env=env)
        for line in r.stdout.splitlines():
            m = re.match(r"\s*(\S+) => (\S+)", line)
            if not m:
                continue
            name, where = m.groups()
            if where == "not":
                if name in KNOWN_PACKAGES:   # not on this build machine; apt brings it with the .deb
                    known.add(KNOWN_PACKAGES[name])
                else:
                    missing.add(f"{name} (for {p.relative_to(bundle)})")
            elif not where.startswith(str(bundle)):
                outside.add(where)
    packages: set[str] = set(known)
    for where in sorted(outside):
        pkg = package_of(where)
        if pkg is None:
            missing.add(f"{where} (no Debian package owns it)")
        else:
            packages.add(pkg.split(",")[0].strip())
    return sorted(packages), sorted(missing)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path)
    ap.add_argument("--depends-out", type=Path, required=True, help="write the Depends: packages here, one a line")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args(argv)
    report = trim(args.bundle)
    args.depends_out.write_text("".join(f"{p}\n" for p in report["depends"]))  # type: ignore[union-attr]
    if args.json:
        print(json.dumps(report))
    else:
        print(f"bundle {args.bundle}: {report['before_mb']} MB -> {report['after_mb']} MB; "
              f"{len(report['removed'])} paths removed; Depends: {', '.join(report['depends'])}")  # type: ignore[arg-type]
    if report["missing"]:
        print("libraries the bundle needs and this machine does not have:\n  "
              + "\n  ".join(report["missing"]), file=sys.stderr)  # type: ignore[arg-type]
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
