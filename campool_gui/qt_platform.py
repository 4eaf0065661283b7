"""The first start on a machine without Qt's system libraries: one line that says what to do.

PySide6's wheels carry Qt itself, but its X11 platform plugin (xcb) loads the system's libxcb
family, which a stock Debian or Ubuntu desktop lacks in part (libxcb-cursor0, libxcb-icccm4...).
Without them Qt prints several lines that name one package among the missing ones and aborts
the process. `platform_guard` wraps the creation of the QApplication: when Qt cannot load any
platform plugin, it prints instead one line naming the packages to install (found by loading
each library the plugin needs), and the ways to run without a window, and exits with status 2.

No Qt import at module level: the window-less modes of campool-gui never load Qt.
"""
from __future__ import annotations

import ctypes
import logging
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import NoReturn

log = logging.getLogger(__name__)

EXIT_NO_PLATFORM = 2

#: What Qt's xcb and wayland platform plugins load from the system (objdump -p of PySide6's
#: libqxcb.so, libQt6XcbQpa.so.6, libqwayland.so and libQt6Gui.so.6), and the Debian and Ubuntu
#: package of each. The .deb's Depends (installers/build-desktop.sh) lists the same packages.
SYSTEM_LIBRARIES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
}

WINDOWLESS = ("or run it without a window: QT_QPA_PLATFORM=offscreen campool-gui --screenshot DIR, "
              "or campool-gui --headless --config pool.toml")


def missing_libraries(names: Mapping[str, str] = SYSTEM_LIBRARIES) -> list[str]:
    """The libraries of ``names`` this process cannot load (as the dynamic loader would find them)."""
    missing = []
    for soname in names:
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return missing


def first_start_line(environ: Mapping[str, str] | None = None, missing: list[str] | None = None,
                     qt_said: str = "") -> str:
    """The one line for a Qt that could not load a platform plugin: what to install, or where to run."""
    env = os.environ if environ is None else environ
    if missing is None:
        missing = missing_libraries() if sys.platform.startswith("linux") else []
    if missing:
        packages = " ".join(SYSTEM_LIBRARIES.get(m, m) for m in missing)
        if shutil.which("apt-get") or os.path.exists("/etc/debian_version"):
            how = f"install them with: sudo apt install {packages}"
        else:
            how = f"install your distribution's packages that provide {', '.join(missing)}"
        return (f"campool-gui: cannot open a window: Qt's platform plugin needs system libraries that are "
                f"missing; {how} ({WINDOWLESS})")
    if not env.get("DISPLAY") and not env.get("WAYLAND_DISPLAY"):
        return ("campool-gui: cannot open a window: no display (DISPLAY and WAYLAND_DISPLAY are not set); "
                f"start it from a desktop session ({WINDOWLESS})")
    detail = f" (Qt said: {qt_said})" if qt_said else ""
    return (f"campool-gui: cannot open a window: Qt could not load a platform plugin for display "
            f"{env.get('WAYLAND_DISPLAY') or env.get('DISPLAY')}{detail}; check the display is reachable, "
            f"or set QT_QPA_PLATFORM=xcb or wayland ({WINDOWLESS})")


@contextmanager
def platform_guard() -> Iterator[None]:
    """Around the QApplication's creation: Qt's platform-plugin abort becomes one line and exit 2.

    Qt reports the failure through its message handler (warnings of category qt.qpa.plugin, then
    a fatal message, after which it aborts); the handler holds those back and, on the fatal one,
    prints the line and ends the process before Qt's abort. Anything else passes through."""
    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    held: list[str] = []

    def handler(mode: QtMsgType, context: object, message: str) -> None:
        category = getattr(context, "category", "") or ""
        if mode == QtMsgType.QtFatalMsg:
            _give_up(held[-1] if held else message.splitlines()[0] if message else "")
        if category.startswith("qt.qpa"):
            held.append(message)
            return
        sys.stderr.write(f"{message}\n")

    qInstallMessageHandler(handler)
    try:
        yield
    finally:
        qInstallMessageHandler(None)
        for message in held:
            log.debug("Qt at start: %s", message)


def _give_up(qt_said: str) -> NoReturn:
    sys.stderr.write(first_start_line(qt_said=qt_said) + "\n")
    sys.stderr.flush()
    os._exit(EXIT_NO_PLATFORM)  # Qt aborts when the handler returns: no unwinding past this point


__all__ = ["SYSTEM_LIBRARIES", "first_start_line", "missing_libraries", "platform_guard"]
