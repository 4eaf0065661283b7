"""Add or edit a camera: source, site, priority, model, classes, detect fps; test the connection.

A stream's password is never shown: the Source field holds the URL masked
(``rtsp://admin:•••@10.0.0.5/stream1``) and the password has its own field (dots). A URL pasted
with its password in it is split when the field is left: the password moves to its field. When
editing a camera, an empty password field keeps the password the control center holds (in the
OS keyring); typing one replaces it. Query secrets (``?pwd=…``) are masked the same way and
kept as they were typed.
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QT_TRANSLATE_NOOP, QCoreApplication, QObject, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from campool_gui.stream_probe import ProbeResult, probe_source
from campool_gui.ui import theme
from campool_gui.ui.common import button, label
from campool_gui.ui.display import priority_word
from campool_gui.ui.i18n import num
from campool_gui.ui.onvif_scan_dialog import ChosenStream, OnvifScanDialog, Scan
from campool_worker.camera import DEFAULT_DETECT_BUDGET, DEFAULT_DETECT_FLOOR, PRIORITIES, CameraConfig, ConfigError
from campool_worker.pipeline.detectors import ModelError, read_labels
from campool_worker.url_secrets import MASK, PASSWORD_KEY, join_url, mask_url, masked_keys, secret_spans, split_url

log = logging.getLogger(__name__)

MOTION = QT_TRANSLATE_NOOP("CameraDialog", "Motion (built-in, no model)")  # shown translated: see _motion
CLASS_PRESETS = {"vehicles": "car,truck,bus,motorcycle", "people": "person", "all classes": ""}
PRESET_NAMES = {"vehicles": QT_TRANSLATE_NOOP("CameraDialog", "vehicles"),
                "people": QT_TRANSLATE_NOOP("CameraDialog", "people"),
                "all classes": QT_TRANSLATE_NOOP("CameraDialog", "all classes")}


class ConnectionTester(QObject):
    """Runs `probe_source` on a thread and reports on the UI thread (queued signal)."""

    finished = Signal(object)  # ProbeResult

    def start(self, url: str) -> threading.Thread:
        th = threading.Thread(target=self._run, args=(url,), name="campool-probe", daemon=True)
        th.start()
        return th

    def _run(self, url: str) -> None:
        result = probe_source(url)
        try:
            self.finished.emit(result)
        except RuntimeError:  # dialog closed meanwhile
            pass


AUTO_STANDBY = "auto"
STANDBY_CHOICES = ((QT_TRANSLATE_NOOP("CameraDialog", "Auto (hot when critical)"), AUTO_STANDBY),
                   (QT_TRANSLATE_NOOP("CameraDialog", "None"), "none"),
                   (QT_TRANSLATE_NOOP("CameraDialog", "Warm"), "warm"),
                   (QT_TRANSLATE_NOOP("CameraDialog", "Hot"), "hot"))


def slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.\-]+", "-", text.strip().lower()).strip("-.")
    return s[:64] or "camera"


class CameraDialog(QDialog):
    """Edits everything of a CameraConfig except lines and zones (the line editor does those)."""

    def __init__(self, config: CameraConfig | None = None, *, existing_ids: Iterable[str] = frozenset(),
                 models: list[str] | None = None, resolve_source: Callable[[str, str], str] | None = None,
                 onvif_scan: Scan | None = None, parent: QWidget | None = None) -> None:
        """resolve_source(camera_id, masked URL) -> the full URL (the master's kept credentials), so
        "Test connection" can open an edited camera whose password was not retyped. onvif_scan: how
        **Scan…** finds cameras (default: a WS-Discovery probe of the LAN)."""
        super().__init__(parent)
        self.onvif_scan = onvif_scan
        self.scan_dialog: OnvifScanDialog | None = None
        self.resolve_source = resolve_source
        self._typed_secrets: dict[str, str] = {}  # query secrets taken out of a typed URL
        self.editing = config is not None
        self.original = config
        self.existing_ids = set(existing_ids)
        self.result_config: CameraConfig | None = None
        self.snapshot: np.ndarray | None = None  # last frame from "Test connection", for the line editor
        self._motion = self.tr(MOTION)
        self.setWindowTitle(self.tr("Edit camera") if self.editing else self.tr("Add camera"))
        self.setMinimumWidth(820)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(20, 18, 20, 16)
        lay.setSpacing(12)
        lay.addWidget(label(self.tr("Edit camera") if self.editing else self.tr("Add a camera"), "sectionTitle"))
        body = QHBoxLayout()
        body.setSpacing(18)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setHorizontalSpacing(12)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText(self.tr("e.g. Gate 2 north"))
        self.id_edit = QLineEdit()
        self.id_edit.setPlaceholderText(self.tr("derived from the name"))
        self.source_edit = QLineEdit()
        self.source_edit.setPlaceholderText(self.tr("rtsp://user:pass@10.0.0.5/stream1, a video file, usb:0 ..."))
        src_row, self.source_browse = self._with_file_button(self.source_edit, self.tr("Choose a video file"),
                                         self.tr("Videos (*.mp4 *.avi *.mkv *.mov *.ts);;All files (*)"),
                                         self.source_edit.setText)
        self.source_edit.editingFinished.connect(self.take_secrets_from_source)
        self.scan_button = button(self.tr("Scan…"), "refresh", tooltip=self.tr(
            "Find the ONVIF cameras on this network and pick one of their streams"))
        self.scan_button.clicked.connect(self.scan_lan)
        self.scan_button.setVisible(not self.editing)  # adding a camera; an edited one keeps its stream
        src_row.addWidget(self.scan_button)
        self.password_edit = QLineEdit()
        self.password_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.password_edit.setPlaceholderText(
            self.tr("the stream's password, if it has one (the URL holds the user name)"))
        self.password_edit.setToolTip(self.tr("Kept in the OS keyring of this computer (or, without one, in a file "
                                              "only you can read) and sent to a worker only inside the encrypted "
                                              "assignment; shown nowhere."))
        self.site_edit = QLineEdit()
        self.site_edit.setPlaceholderText(self.tr("site or group, e.g. north-yard"))
        self.priority_combo = QComboBox()
        for p in PRIORITIES:
            self.priority_combo.addItem(priority_word(p), p)
        self.priority_combo.setCurrentIndex(self.priority_combo.findData("normal"))
        # issue #12: a second worker ready to take over a live camera; "auto" = hot for a critical one
        self.standby_combo = QComboBox()
        for text, value in STANDBY_CHOICES:
            self.standby_combo.addItem(self.tr(text), value)
        self.standby_combo.setToolTip(self.tr("A second worker watching a live stream, ready to take over with no "
                                              "crossing lost: hot runs the whole pipeline (costs a camera's worth), "
                                              "warm keeps the stream and its last seconds of frames (about a quarter). "
                                              "Auto: hot for a critical camera when a second worker can run it. Files "
                                              "need none: they fail over exactly by seeking back."))
        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        self.model_combo.addItem(self._motion)
        for m in models or []:
            self.model_combo.addItem(m)
        self.model_combo.setToolTip(self.tr("An ONNX detector file on this computer: the control center copies it "
                                            "to the workers that run the camera."))
        model_row, self.model_browse = self._with_file_button(self.model_combo, self.tr("Choose a detector model"),
                                           self.tr("ONNX models (*.onnx);;All files (*)"),
                                           self.model_combo.setCurrentText)
        self.labels_edit = QLineEdit()
        self.labels_edit.setPlaceholderText(self.tr("COCO names (built in); a custom model: its class names, in order"))
        labels_row, self.labels_browse = self._with_file_button(
            self.labels_edit, self.tr("Choose the model's labels file"),
            self.tr("Labels (*.txt *.names *.labels);;All files (*)"), self.use_labels_file)
        self.classes_edit = QLineEdit()
        self.classes_edit.setPlaceholderText(self.tr("all classes (or e.g. car,truck,bus)"))
        self.preset_combo = QComboBox()
        self.preset_combo.addItem(self.tr("presets…"))
        for key in CLASS_PRESETS:
            self.preset_combo.addItem(self.tr(PRESET_NAMES[key]), key)
        self.preset_combo.activated.connect(self._apply_preset)
        cls_row = QHBoxLayout()
        cls_row.addWidget(self.classes_edit, 1)
        cls_row.addWidget(self.preset_combo)
        self.fps_spin = QDoubleSpinBox()
        self.fps_spin.setRange(0, 240)
        self.fps_spin.setDecimals(1)
        self.fps_spin.setSpecialValueText(self.tr("off: detection below decides"))
        self.fps_spin.setSuffix(" fps")
        self.fps_spin.setToolTip(self.tr("A fixed detector rate; off lets the detection mode below decide"))
        # Adaptive detection (issue #15): runs when counting needs it, within a budget and above a floor.
        self.detect_combo = QComboBox()
        self.detect_combo.addItem(self.tr("adaptive: when counting needs it"), "adaptive")
        self.detect_combo.addItem(self.tr("every frame"), "every")
        self.budget_spin = QDoubleSpinBox()
        self.budget_spin.setRange(0.1, 240)
        self.budget_spin.setDecimals(1)
        self.budget_spin.setValue(DEFAULT_DETECT_BUDGET)
        self.budget_spin.setSuffix(self.tr(" runs/s at most"))
        self.floor_spin = QDoubleSpinBox()
        self.floor_spin.setRange(0.1, 240)
        self.floor_spin.setDecimals(1)
        self.floor_spin.setValue(DEFAULT_DETECT_FLOOR)
        self.floor_spin.setSuffix(self.tr(" runs/s when idle"))
        self.conf_spin = QDoubleSpinBox()
        self.conf_spin.setRange(0.05, 0.95)
        self.conf_spin.setSingleStep(0.05)
        self.conf_spin.setValue(0.3)
        self.loop_check = QCheckBox(self.tr("Loop a video file (demos, soak tests)"))
        form.addRow(self.tr("Name"), self.name_edit)
        form.addRow(self.tr("Camera id"), self.id_edit)
        form.addRow(self.tr("Source"), src_row)
        form.addRow(self.tr("Password"), self.password_edit)
        form.addRow(self.tr("Site"), self.site_edit)
        form.addRow(self.tr("Priority"), self.priority_combo)
        form.addRow(self.tr("Standby"), self.standby_combo)
        form.addRow(self.tr("Model"), model_row)
        form.addRow(self.tr("Labels"), labels_row)
        form.addRow(self.tr("Classes"), cls_row)
        form.addRow(self.tr("Detect rate"), self.fps_spin)
        form.addRow(self.tr("Detection"), self.detect_combo)
        form.addRow(self.tr("Detect budget"), self.budget_spin)
        form.addRow(self.tr("Detect floor"), self.floor_spin)
        form.addRow(self.tr("Confidence"), self.conf_spin)
        form.addRow("", self.loop_check)
        body.addLayout(form, 1)

        side = QVBoxLayout()
        side.setSpacing(8)
        self.preview = QLabel(self.tr("Test the connection to see a frame"))
        self.preview.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.preview.setFixedSize(272, 153)
        self.preview.setObjectName("card")
        self.preview.setWordWrap(True)
        self.test_button = button(
            self.tr("Test connection"), "test",
            tooltip=self.tr("Open the source from this PC and read one frame (in the background)"))
        self.test_button.clicked.connect(self.test_connection)
        self.test_status = label("", "muted", wrap=True)
        self.test_status.setMaximumWidth(272)
        side.addWidget(self.preview)
        side.addWidget(self.test_button)
        side.addWidget(self.test_status)
        side.addStretch(1)
        body.addLayout(side, 0)
        lay.addLayout(body)

        self.error_label = label("", wrap=True)
        self.error_label.setStyleSheet(f"color: {theme.current().crit};")
        self.error_label.hide()
        lay.addWidget(self.error_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.ok_button = self.buttons.addButton(self.tr("Save") if self.editing else self.tr("Add camera"),
                                                QDialogButtonBox.ButtonRole.AcceptRole)
        self.ok_button.setProperty("primary", True)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.buttons)

        self.tester = ConnectionTester(self)
        self.tester.finished.connect(self._on_probe)
        self.name_edit.textChanged.connect(self._sync_id)
        self._id_touched = False
        self.id_edit.textEdited.connect(lambda _t: setattr(self, "_id_touched", True))
        if config is not None:
            self._load(config)

    # ------------------------------------------------------------------ fields
    def _load(self, c: CameraConfig) -> None:
        self.name_edit.setText(c.name)
        self.id_edit.setText(c.camera_id)
        self.id_edit.setReadOnly(True)  # the id keys history and epochs: it never changes
        self.source_edit.setText(mask_url(c.source))
        self.source_edit.setCursorPosition(0)  # the scheme and host first; the URL's end is a click away
        if PASSWORD_KEY in masked_keys(c.source):
            self.password_edit.setPlaceholderText(self.tr("unchanged (kept on this computer, never shown); "
                                                          "type a new one to replace it"))
        self.site_edit.setText(c.site)
        self.priority_combo.setCurrentIndex(max(0, self.priority_combo.findData(c.priority)))
        self.standby_combo.setCurrentIndex(max(0, self.standby_combo.findData(c.standby or AUTO_STANDBY)))
        self.model_combo.setCurrentText(c.model or self._motion)
        self.classes_edit.setText(",".join(c.classes or []))
        self.labels_edit.setText(",".join(c.labels or []))
        self.fps_spin.setValue(float(c.detect_fps or 0))
        self.detect_combo.setCurrentIndex(max(0, self.detect_combo.findData(c.detect)))
        self.budget_spin.setValue(float(c.detect_budget))
        self.floor_spin.setValue(float(c.detect_floor))
        self.conf_spin.setValue(float(c.confidence))
        self.loop_check.setChecked(c.loop)

    def _sync_id(self, name: str) -> None:
        if not self.editing and not self._id_touched:
            self.id_edit.setText(slug(name) if name else "")

    def _apply_preset(self, index: int) -> None:
        if index > 0:
            self.classes_edit.setText(CLASS_PRESETS[self.preset_combo.itemData(index)])
            self.preset_combo.setCurrentIndex(0)

    def _with_file_button(self, field: QWidget, title: str, filters: str,
                          on_pick: Callable[[str], None]) -> tuple[QHBoxLayout, QPushButton]:
        """The field with a "File…" button beside it that hands the chosen path to on_pick."""
        browse = button(self.tr("File…"), "folder")

        def pick() -> None:
            path, _ = QFileDialog.getOpenFileName(self, title, "", filters)
            if path:
                on_pick(path)
        browse.clicked.connect(pick)
        row = QHBoxLayout()
        row.addWidget(field, 1)
        row.addWidget(browse)
        return row, browse

    def use_labels_file(self, path: str) -> None:
        try:
            names = read_labels(path)
        except ModelError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        self.labels_edit.setText(",".join(names))

    def scan_lan(self) -> OnvifScanDialog:
        """Cameras → Add → Scan: the scan dialog, scanning at once; its stream fills the fields."""
        dlg = OnvifScanDialog(self.onvif_scan, self)
        dlg.accepted.connect(lambda: self.use_scanned(dlg.chosen))
        self.scan_dialog = dlg
        dlg.open()
        dlg.scan()
        return dlg

    def use_scanned(self, chosen: ChosenStream | None) -> None:
        """The stream picked in the scan: its URI with the user name in Source, the password in its
        field (kept in the keyring when the camera is added), the camera's name when none is typed."""
        if chosen is None:
            return
        self.source_edit.setText(chosen.source)
        self.password_edit.setText(chosen.password)
        if not self.name_edit.text().strip() and chosen.device.name:
            self.name_edit.setText(chosen.device.name)
        self._set_test_status(self.tr("From the scan: {stream} of {camera}; test the connection to see a frame").format(
            stream=chosen.stream.name, camera=chosen.device.name or chosen.device.address), error=False)

    def take_secrets_from_source(self) -> None:
        """A URL typed or pasted with its password: the password moves to its field, query
        secrets to memory, and the field shows the URL masked."""
        masked, secrets = split_url(self.source_edit.text().strip())
        if not secrets:
            return
        password = secrets.pop(PASSWORD_KEY, None)
        if password is not None:
            self.password_edit.setText(password)
        self._typed_secrets.update(secrets)
        self.source_edit.setText(masked)

    def source_url(self) -> str:
        """The URL the fields describe: the Source field with the typed password and query secrets
        put back; a secret neither typed nor changed stays ``•••`` (the master keeps its own)."""
        url = self.source_edit.text().strip()
        masked, given = split_url(url)
        secrets = {**self._typed_secrets, **given}
        password = self.password_edit.text()
        if password:
            if not any(sp.key == PASSWORD_KEY for sp in secret_spans(masked)):
                masked = _with_password_slot(masked)
            secrets[PASSWORD_KEY] = password
        return join_url(masked, secrets, partial=True)

    def build_config(self) -> CameraConfig:
        """The config the fields describe; raises ConfigError with a message for the operator."""
        name = self.name_edit.text().strip()
        cid = self.id_edit.text().strip() or slug(name)
        if not self.editing and cid in self.existing_ids:
            raise ConfigError(self.tr("a camera with id {id} already exists; choose another name or id").format(
                id=repr(cid)))
        model = self.model_combo.currentText().strip()
        classes = [c.strip() for c in self.classes_edit.text().split(",") if c.strip()] or None
        labels = [n.strip() for n in self.labels_edit.text().split(",") if n.strip()] or None
        fps = self.fps_spin.value() or None
        source = self.source_url()
        base = self.original or CameraConfig(camera_id=cid, source=source or "?")
        return replace(
            base, camera_id=cid, name=name, source=source, site=self.site_edit.text().strip(),
            priority=str(self.priority_combo.currentData()),
            model=None if model in ("", self._motion, MOTION) else model,
            classes=classes, labels=labels, detect_fps=fps, confidence=round(self.conf_spin.value(), 3),
            detect=str(self.detect_combo.currentData()), detect_budget=round(self.budget_spin.value(), 1),
            detect_floor=round(self.floor_spin.value(), 1),
            loop=self.loop_check.isChecked(), standby=self.standby_mode(),
        )

    def standby_mode(self) -> str | None:
        """The standby setting chosen: none | warm | hot, or None for auto."""
        value = self.standby_combo.currentData()
        return None if value == AUTO_STANDBY else str(value)

    def _accept(self) -> None:
        try:
            self.result_config = self.build_config()
        except ConfigError as exc:
            self.error_label.setText(str(exc))
            self.error_label.show()
            return
        self.accept()

    # ------------------------------------------------------------------ test connection
    def test_connection(self) -> threading.Thread | None:
        try:
            url = self.source_url()
        except ConfigError as exc:
            self._set_test_status(str(exc), error=True)
            return None
        if not url:
            self._set_test_status(self.tr("Enter a source first."), error=True)
            return None
        if masked_keys(url):
            try:
                if self.original is None or self.resolve_source is None:
                    raise ValueError(self.tr("type the password to test the connection"))
                url = self.resolve_source(self.original.camera_id, url)
            except ValueError as exc:
                self._set_test_status(str(exc), error=True)
                return None
        self.test_button.setEnabled(False)
        self._set_test_status(self.tr("Connecting to {url} …").format(url=mask_url(url)), error=False)
        self.preview.setText(self.tr("Connecting…"))
        return self.tester.start(url)

    def _on_probe(self, result: ProbeResult) -> None:
        self.test_button.setEnabled(True)
        if not result.ok or result.image is None:
            self.preview.setPixmap(QPixmap())
            self.preview.setText(self.tr("No frame"))
            self._set_test_status(result.error, error=True)
            return
        self.snapshot = result.image
        from campool_gui.ui.preview_decoder import bgr_to_qimage
        img: QImage = bgr_to_qimage(result.image)
        pm = QPixmap.fromImage(img).scaled(self.preview.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                           Qt.TransformationMode.SmoothTransformation)
        self.preview.setPixmap(pm)
        fps = f", {num(result.fps, 1)} fps" if result.fps else ""
        self._set_test_status(self.tr("Connected: {width}x{height}{fps}").format(
            width=result.width, height=result.height, fps=fps), error=False, ok=True)

    def _set_test_status(self, text: str, *, error: bool, ok: bool = False) -> None:
        t = theme.current()
        self.test_status.setText(text)
        self.test_status.setStyleSheet(f"color: {t.crit if error else (t.ok if ok else t.muted)};")


def _with_password_slot(url: str) -> str:
    """``scheme://user@host/…`` as ``scheme://user:•••@host/…`` (where a typed password goes);
    ConfigError when the URL has no user name to go with a password."""
    scheme, sep, rest = url.partition("://")
    end = min([i for i in (rest.find(c) for c in "/?#") if i >= 0] or [len(rest)])
    at = rest.rfind("@", 0, end)
    if not sep or at <= 0:
        raise ConfigError(QCoreApplication.translate(
            "CameraDialog", "a password needs a user name in the URL: write it as rtsp://USER@host/… "
                            "(or http://USER@host/…) and the password in its field"))
    return f"{scheme}://{rest[:at]}:{MASK}{rest[at:]}"


def default_models(shared_data: Path | None) -> list[str]:
    """Model files to offer in the combo: the shared YOLOX-nano when it is present."""
    out = []
    if shared_data is not None:
        p = shared_data / "models" / "yolox_nano.onnx"
        if p.is_file():
            out.append(str(p))
    return out
