"""Cameras → Add → Scan: the ONVIF cameras that answer on the LAN, their credentials, their streams.

The scan (WS-Discovery) and the stream reading (SOAP) run on threads (`OnvifTasks`) and come back
through queued signals; the dialog only shows what they found and what the operator picks. Its
result, `chosen`, goes back into the camera dialog: the stream URI with the user name, the
password in the password field (then kept in the OS keyring like any camera's), and the camera's
name, so "Test connection" and "Add camera" work on it as on a typed camera.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from campool_gui.onvif.discovery import OnvifDevice, probe
from campool_gui.onvif.media import OnvifCamera, OnvifError, OnvifStream, with_user
from campool_gui.ui import theme
from campool_gui.ui.common import button, label

Scan = Callable[[], list[OnvifDevice]]


@dataclass(frozen=True)
class ChosenStream:
    device: OnvifDevice
    stream: OnvifStream
    user: str
    password: str

    @property
    def source(self) -> str:
        """The stream URI with the user name (``rtsp://admin@10.0.0.7/...``); the password stays apart."""
        return with_user(self.stream.uri, self.user)


class OnvifTasks(QObject):
    """The scan and the stream reading, each on a thread of its own; results as queued signals."""

    scanned = Signal(object)          # list[OnvifDevice], or str: what went wrong
    streams_read = Signal(object)     # list[OnvifStream], or str

    def __init__(self, scan: Scan, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._scan = scan

    def scan(self) -> threading.Thread:
        return self._start(self._run_scan, "campool-onvif-scan")

    def read_streams(self, device_url: str, user: str, password: str) -> threading.Thread:
        return self._start(lambda: self._run_streams(device_url, user, password), "campool-onvif-streams")

    def _start(self, fn: Callable[[], None], name: str) -> threading.Thread:
        th = threading.Thread(target=fn, name=name, daemon=True)
        th.start()
        return th

    def _run_scan(self) -> None:
        try:
            result: object = self._scan()
        except OSError as exc:  # no network to send the probe on
            result = f"the scan could not send its probe ({exc}); check this computer's network"
        self._emit(self.scanned.emit, result)

    def _run_streams(self, device_url: str, user: str, password: str) -> None:
        try:
            result: object = OnvifCamera(device_url, user, password).streams()
        except OnvifError as exc:
            result = str(exc)
        self._emit(self.streams_read.emit, result)

    @staticmethod
    def _emit(emit: Callable[[object], None], result: object) -> None:
        try:
            emit(result)
        except RuntimeError:  # the dialog was closed meanwhile
            pass


class OnvifScanDialog(QDialog):
    def __init__(self, scan: Scan | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(self.tr("Scan the LAN for ONVIF cameras"))
        self.setMinimumWidth(560)
        self.chosen: ChosenStream | None = None
        self._devices: list[OnvifDevice] = []
        self._streams: list[OnvifStream] = []
        self.tasks = OnvifTasks(scan or probe, self)
        self.tasks.scanned.connect(self._on_scanned)
        self.tasks.streams_read.connect(self._on_streams)

        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 16)
        lay.setSpacing(10)
        lay.addWidget(label(self.tr("ONVIF cameras on this network"), "sectionTitle"))
        self.device_list = QListWidget()
        self.device_list.currentRowChanged.connect(self._device_selected)
        lay.addWidget(self.device_list, 1)
        self.scan_button = button(self.tr("Scan again"), "refresh",
                                  tooltip=self.tr("Ask the LAN again (WS-Discovery, 3 s)"))
        self.scan_button.clicked.connect(self.scan)
        lay.addWidget(self.scan_button, 0, Qt.AlignmentFlag.AlignLeft)

        form = QFormLayout()
        self.user_edit = QLineEdit("admin")
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText(self.tr("the camera's password (kept in the OS keyring once added)"))
        self.read_button = button(self.tr("Read its streams"), "test",
                                  tooltip=self.tr("Log in and list the camera's streams"))
        self.read_button.clicked.connect(self.read_streams)
        self.stream_combo = QComboBox()
        form.addRow(self.tr("User"), self.user_edit)
        form.addRow(self.tr("Password"), self.password_edit)
        form.addRow("", self.read_button)
        form.addRow(self.tr("Stream"), self.stream_combo)
        lay.addLayout(form)
        self.status = label("", "muted", wrap=True)
        lay.addWidget(self.status)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.use_button = self.buttons.addButton(self.tr("Use this stream"), QDialogButtonBox.ButtonRole.AcceptRole)
        self.use_button.setProperty("primary", True)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)
        self._update_buttons()

    # ------------------------------------------------------------------ scan
    def scan(self) -> threading.Thread:
        self.scan_button.setEnabled(False)
        self._say(self.tr("Scanning…"), error=False)
        return self.tasks.scan()

    def _on_scanned(self, result: object) -> None:
        self.scan_button.setEnabled(True)
        if isinstance(result, str):
            self._say(result, error=True)
            return
        assert isinstance(result, list)
        self._devices = result
        self.device_list.clear()
        for d in self._devices:
            item = QListWidgetItem(f"{d.name or self.tr('ONVIF camera')}  ·  {d.model or self.tr('model not given')}"
                                   f"  ·  {d.address}")
            item.setToolTip(d.xaddrs[0])
            self.device_list.addItem(item)
        if self._devices:
            self.device_list.setCurrentRow(0)
            self._say(self.tr("{n} camera(s) answered. Give the credentials and read the streams.").format(
                n=len(self._devices)), error=False)
        else:
            self._say(self.tr("No ONVIF camera answered. Check that ONVIF is on in the camera (some ship with it "
                              "off), that it is on this network segment, or type its RTSP address instead."),
                      error=True)
        self._update_buttons()

    def _device_selected(self, _row: int) -> None:
        self._streams = []
        self.stream_combo.clear()
        self._update_buttons()

    # ------------------------------------------------------------------ streams
    def read_streams(self) -> threading.Thread | None:
        device = self._device()
        if device is None:
            return None
        self.read_button.setEnabled(False)
        self._say(self.tr("Reading the streams of {camera}…").format(camera=device.name or device.address), error=False)
        return self.tasks.read_streams(device.xaddrs[0], self.user_edit.text().strip(), self.password_edit.text())

    def _on_streams(self, result: object) -> None:
        if isinstance(result, str):
            self._say(result, error=True)
        else:
            assert isinstance(result, list)
            self._streams = result
            self.stream_combo.clear()
            for s in self._streams:
                size = f"{s.width}x{s.height}" if s.width else self.tr("size not given")
                self.stream_combo.addItem(f"{s.name} · {s.encoding or '?'} · {size}")
            self._say(self.tr("{n} stream(s). The first is usually the main one.").format(n=len(self._streams)),
                      error=False)
        self._update_buttons()

    def _device(self) -> OnvifDevice | None:
        row = self.device_list.currentRow()
        return self._devices[row] if 0 <= row < len(self._devices) else None

    def _accept(self) -> None:
        device, row = self._device(), self.stream_combo.currentIndex()
        if device is None or not 0 <= row < len(self._streams):
            return
        self.chosen = ChosenStream(device, self._streams[row], self.user_edit.text().strip(),
                                   self.password_edit.text())
        self.accept()

    def _update_buttons(self) -> None:
        self.read_button.setEnabled(self._device() is not None)
        self.use_button.setEnabled(self._device() is not None and bool(self._streams))

    def _say(self, text: str, *, error: bool) -> None:
        t = theme.current()
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {t.crit if error else t.muted};")
