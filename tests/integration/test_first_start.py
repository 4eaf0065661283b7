"""`campool-gui` started where Qt cannot open a window prints one line that says what to do
(the packages to install, or how to run without a window) and exits 2, instead of Qt's abort.

The machine without the libraries is made for real: in a private mount namespace (root) one of
the libraries Qt's xcb plugin loads is hidden under /dev/null, so the dynamic loader fails on it
exactly as on a stock desktop that lacks the package."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from campool_gui.qt_platform import SYSTEM_LIBRARIES, first_start_line
from tests.helpers.data import PROJECT_ROOT

QT_ABORT = "This application failed to start because no Qt platform plugin could be initialized"


def _library_path(soname: str) -> Path | None:
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
    for line in out.splitlines():
        name, _, rest = line.strip().partition(" (")
        if name == soname and "=>" in rest:
            path = Path(rest.rsplit("=>", 1)[1].strip())
            if path.exists():
                return path
    return None


def _gui(env: dict[str, str], *, hide: Path | None = None, tmp: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "campool_gui.app", "--data-dir", str(tmp / "data"), "--no-zeroconf"]
    if hide is not None:
        cmd = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               f'mount --bind /dev/null "{hide}" && exec "$@"', "sh", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120, check=False)


def test_without_libxcb_cursor0_the_gui_names_the_packages_in_one_line(tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("the xcb platform plugin is Linux's")
    hide = _library_path("libxcb-cursor.so.0")
    if hide is not None and (os.geteuid() != 0 or shutil.which("unshare") is None):
        pytest.skip("libxcb-cursor0 is installed, and hiding it needs root and unshare (a private mount namespace)")
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env.update(QT_QPA_PLATFORM="xcb", DISPLAY=":99")
    out = _gui(env, hide=hide, tmp=tmp_path)
    if hide is not None and "mount" in out.stderr and "campool-gui" not in out.stderr:
        pytest.skip(f"cannot make a private mount namespace here: {out.stderr.strip()}")
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1, out.stderr
    line = lines[0]
    assert QT_ABORT not in out.stderr and "qt.qpa.plugin" not in out.stderr
    assert "libxcb-cursor0" in line
    assert "sudo apt install" in line and "QT_QPA_PLATFORM=offscreen" in line and "--headless" in line


def test_without_a_display_the_gui_says_so_in_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    out = _gui(env, tmp=tmp_path)
    assert out.returncode == 2, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert QT_ABORT not in out.stderr
    # Here the libraries may be missing too: then they come first (they are needed either way).
    assert "no display" in out.stderr or "sudo apt install" in out.stderr or "distribution's packages" in out.stderr


def test_the_lines_name_packages_or_the_display():
    no_display = first_start_line({}, missing=[])
    assert "no display" in no_display and "QT_QPA_PLATFORM=offscreen" in no_display
    libs = first_start_line({"DISPLAY": ":0"}, missing=["libxcb-cursor.so.0", "libxcb-icccm.so.4"])
    assert "libxcb-cursor0 libxcb-icccm4" in libs
    other = first_start_line({"DISPLAY": ":5"}, missing=[], qt_said="could not connect to display :5")
    assert ":5" in other and "could not connect" in other
    for line in (no_display, libs, other):
        assert "\n" not in line


def test_every_library_the_xcb_plugin_loads_is_mapped_to_a_package():
    """The list is what PySide6's plugin asks for: each of its libxcb/X11 dependencies is in it."""
    import PySide6
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    qpa = Path(PySide6.__file__).parent / "Qt" / "lib" / "libQt6XcbQpa.so.6"
    objdump = shutil.which("objdump")
    if not plugin.exists() or objdump is None:
        pytest.skip("no libqxcb.so in this PySide6, or no objdump (binutils)")
    needed = set()
    for f in (plugin, qpa):
        out = subprocess.run([objdump, "-p", str(f)], capture_output=True, text=True, check=True).stdout
        needed |= {line.split()[1] for line in out.splitlines() if line.strip().startswith("NEEDED")}
    x_libs = {n for n in needed if n.startswith(("libxcb", "libX11", "libxkbcommon"))}
    assert x_libs <= set(SYSTEM_LIBRARIES), x_libs - set(SYSTEM_LIBRARIES)
