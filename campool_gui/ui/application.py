"""The desktop application's life cycle: QApplication, Master, bridge, window, and the demo pool.

`open_desktop` builds one run of it (a `Desktop`), `run_gui` shows it until it is closed;
`--screenshot` (campool_gui.harness.screenshots) builds the same and renders it instead.
"""
from __future__ import annotations

import gc
import logging
import logging.handlers
import os
import signal
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QCoreApplication, QSettings, QTimer
from PySide6.QtWidgets import QApplication

from campool_gui.demo import DemoSession, shared_data_dir
from campool_gui.ui import i18n, theme

if TYPE_CHECKING:
    from campool_gui.integrations.hub import Integrations
    from campool_gui.pool.master import Master
    from campool_gui.ui.bridge import PoolBridge
    from campool_gui.ui.main_window import MainWindow

log = logging.getLogger(__name__)

FREEZE_AFTER_MS = 5000  # the window is built and has its first pool state by then


def resolve_data_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg).expanduser()
    if os.environ.get("CAMPOOL_DATA_DIR"):
        return Path(os.environ["CAMPOOL_DATA_DIR"]).expanduser()
    import platformdirs
    return Path(platformdirs.user_data_dir("campool", "CamPool"))


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating log whose every file (the first and each one after a rollover) is 0600."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


def setup_file_logging(log_dir: Path) -> Path | None:
    """A rotating log file beside the data (the GUI has no console to read): the folder 0700, the
    files 0600, like the rest of the data folder (the records are redacted: log_redaction.py)."""
    try:
        log_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = log_dir / "campool-gui.log"
        if os.name == "posix":
            os.chmod(log_dir, 0o700)
            for old in log_dir.glob("campool-gui.log*"):
                os.chmod(old, 0o600)
        handler = _PrivateRotatingFileHandler(path, maxBytes=5_000_000, backupCount=3, encoding="utf-8")
    except OSError as exc:
        log.warning("no log file (%s); logging to stderr only", exc)
        return None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(handler)
    return path


def freeze_heap() -> None:
    """Move everything alive now (modules, Qt wrappers, the window's widgets) out of the
    garbage collector's reach. A full collection walks every tracked object while holding
    the GIL: with a built window that took 150-250 ms, a visible freeze, every few seconds
    under load. After this it walks only what is new (a few ms). Called once the window is
    up and has its first state."""
    gc.collect()
    gc.freeze()
    log.debug("garbage collector: %d startup objects frozen", gc.get_freeze_count())


def _quit_on_signals(app: QApplication) -> None:
    """Ctrl-C / SIGTERM close the window cleanly (workers of a demo stopped, state saved).
    Python runs signal handlers only between bytecodes, so a slow timer wakes it up."""
    def quit_app(signum: int, _frame: object) -> None:
        log.info("signal %d: closing", signum)
        app.quit()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, quit_app)
    waker = QTimer(app)
    waker.timeout.connect(lambda: None)
    waker.start(250)


def make_app() -> QApplication:
    from campool_gui.qt_platform import platform_guard
    existing = QApplication.instance()
    if existing is None:
        with platform_guard():  # no platform plugin (Qt's libraries missing, no display): one line, exit 2
            existing = QApplication(sys.argv[:1])
    app = cast(QApplication, existing)
    QCoreApplication.setOrganizationName("CamPool")
    QCoreApplication.setApplicationName("campool-gui")
    app.setApplicationDisplayName("CamPool")
    app.setDesktopFileName("campool-gui")
    app.setWindowIcon(theme.app_icon())
    return app


def open_master(data_dir: Path, *, zeroconf: bool, policy: str | None = None,
                interfaces: list[str] | None = None) -> Master:
    from campool_gui.pool.master import Master, MasterSettings
    master = Master(MasterSettings(data_dir=data_dir, zeroconf=zeroconf, zeroconf_interfaces=interfaces))
    master.start()
    if policy:
        master.set_policy(policy)
    return master


@dataclass
class Desktop:
    """One run of the desktop application: its Qt app, master, bridge, window and demo pool."""

    app: QApplication
    master: Master
    bridge: PoolBridge
    window: MainWindow
    data_dir: Path
    logfile: Path | None
    integrations: Integrations | None = None
    demo: DemoSession | None = None
    tmp: tempfile.TemporaryDirectory[str] | None = None

    def add_demo(self, *, zeroconf: bool) -> DemoSession:
        """This run's demo pool: two local workers for the master to adopt, one left for the
        operator, and the demo cameras. Not started yet; `close` stops it."""
        self.demo = DemoSession(self.master, leave_unadopted=1, zeroconf=zeroconf)
        return self.demo

    def close(self) -> None:
        self.window.close()
        self.bridge.close()
        if self.integrations is not None:
            self.integrations.stop()
        self.master.stop()
        if self.demo is not None:
            self.demo.stop()
        if self.tmp is not None:
            self.tmp.cleanup()


def open_desktop(args: Any, *, demo_mode: bool, tray: bool = True) -> Desktop:
    """Build the application from the command line's options: data folder (a temporary one for a
    demo), log file, theme, master, bridge and main window, not yet shown."""
    from campool_gui.ui.bridge import PoolBridge
    from campool_gui.ui.main_window import MainWindow

    app = make_app()
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if demo_mode and not args.data_dir:
        # A demo keeps its database apart from the operator's real history.
        tmp = tempfile.TemporaryDirectory(prefix="campool-demo-master-")
        data_dir = Path(tmp.name)
    else:
        data_dir = resolve_data_dir(args.data_dir)
    logfile = setup_file_logging(data_dir / "logs")
    settings = QSettings(str(data_dir / "campool-gui.ini"), QSettings.Format.IniFormat) if demo_mode else QSettings()
    theme.apply(app, theme.resolve(args.theme or str(settings.value("ui/theme", "system"))))
    # The language before any widget is built: their texts are translated as they are made.
    i18n.install(app, getattr(args, "lang", None) or str(settings.value("ui/language", "system")))
    saved_policy = None if demo_mode else settings.value("pool/policy", None)
    policy = args.policy or (str(saved_policy) if saved_policy else None)
    # A demo browses loopback only: its workers announce there, and nothing of the LAN mixes in.
    master = open_master(data_dir, zeroconf=not args.no_zeroconf, policy=policy,
                         interfaces=["127.0.0.1"] if demo_mode else None)
    integrations = open_integrations(master, data_dir)
    bridge = PoolBridge(master)
    window = MainWindow(bridge, settings, data_dir=str(data_dir), shared_data=shared_data_dir(), tray=tray,
                        integrations=integrations)
    return Desktop(app, master, bridge, window, data_dir, logfile, integrations, tmp=tmp)


def open_integrations(master: Master, data_dir: Path) -> Integrations:
    """MQTT and the metrics endpoint as the Settings view left them (data_dir/integrations.toml); off when
    the file is unreadable (said in the log, and the Settings view starts from the defaults)."""
    from campool_gui.integrations.hub import Integrations
    from campool_gui.integrations.settings import (
        SETTINGS_FILE,
        IntegrationConfigError,
        IntegrationSettings,
        load_file,
    )
    try:
        settings = load_file(data_dir / SETTINGS_FILE)
    except IntegrationConfigError as exc:
        log.warning("integrations are off: %s", exc)
        settings = IntegrationSettings()
    hub = Integrations(master, settings)
    hub.start()
    return hub


def run_gui(args: Any) -> int:
    """`campool-gui` and `campool-gui --demo`: the window until it is closed."""
    desk = open_desktop(args, demo_mode=bool(args.demo))
    window, bridge = desk.window, desk.bridge
    try:
        if args.demo:
            demo = desk.add_demo(zeroconf=not args.no_zeroconf)
            demo.spawn()  # on the main thread: the workers are tied to it (see DemoWorkers.spawn)
            window.statusBar().showMessage(
                QCoreApplication.translate("Demo", "Starting local demo workers and adopting two of them…"), 15000)

            def show(text: str, ms: int = 0) -> None:
                bridge.post(lambda _v: window.statusBar().showMessage(text, ms), None)

            def start_demo() -> None:
                try:
                    demo.start()
                    for w, code in demo.waiting:
                        show(QCoreApplication.translate(
                            "Demo", "Demo: worker {name} is waiting to be adopted — Workers > Adopt, pairing code "
                                    "{code}").format(name=w.name, code=code))
                except Exception as exc:  # shown in the status bar, logged in full
                    log.exception("the demo could not start")
                    show(QCoreApplication.translate("Demo", "Demo failed: {error}").format(error=exc), 60000)

            threading.Thread(target=start_demo, name="campool-demo", daemon=True).start()
        window.show()
        QTimer.singleShot(FREEZE_AFTER_MS, freeze_heap)
        _quit_on_signals(desk.app)
        if desk.logfile:
            log.info("campool-gui started; log file %s; data in %s", desk.logfile, desk.data_dir)
        return desk.app.exec()
    finally:
        desk.close()
