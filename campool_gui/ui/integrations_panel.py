"""Settings → Integrations: the MQTT broker (Home Assistant discovery) and the Prometheus endpoint.

Widgets only. Apply checks the fields through the integrations' settings model, then saves the
file and swaps the parts on the bridge's intent pool (never on the UI thread: restarting a client
or binding a port is I/O); each part's state comes back through the hub's status listener, posted
to the UI thread, and is shown under its fields in the operator's words.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from campool_gui.integrations.hub import Integrations, IntegrationStatus
from campool_gui.integrations.settings import (
    IntegrationConfigError,
    IntegrationSettings,
    parse_metrics,
    parse_mqtt,
    save_file,
)
from campool_gui.ui import theme
from campool_gui.ui.bridge import PoolBridge
from campool_gui.ui.common import button, card, label
from campool_gui.ui.display import state_word, translate_message


class IntegrationsPanel(QWidget):
    def __init__(self, bridge: PoolBridge, integrations: Integrations, settings_file: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.integrations = integrations
        self.settings_file = settings_file
        box = card(self)
        box.setMaximumWidth(760)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(box)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(20, 16, 20, 16)
        lay.setSpacing(10)
        lay.addWidget(label(self.tr("Integrations"), "sectionTitle"))
        form = QFormLayout()
        form.setHorizontalSpacing(18)
        form.setVerticalSpacing(8)

        self.mqtt_on = QCheckBox(self.tr("Publish counts to an MQTT broker"))
        form.addRow(label("MQTT", "metricLabel"), self.mqtt_on)
        self.host = QLineEdit()
        self.host.setPlaceholderText("127.0.0.1")
        self.port = QSpinBox()
        self.port.setRange(1, 65535)
        hp = QHBoxLayout()
        hp.addWidget(self.host, 1)
        hp.addWidget(label(self.tr("port")))
        hp.addWidget(self.port)
        form.addRow(self.tr("Broker"), hp)
        self.username = QLineEdit()
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        up = QHBoxLayout()
        up.addWidget(self.username, 1)
        up.addWidget(label(self.tr("password")))
        up.addWidget(self.password, 1)
        form.addRow(self.tr("User name"), up)
        self.tls_ca = QLineEdit()
        self.tls_ca.setPlaceholderText(self.tr("CA certificate file (PEM) for TLS; empty: no TLS"))
        browse = button(self.tr("Browse…"))
        browse.clicked.connect(self._browse_ca)
        tr = QHBoxLayout()
        tr.addWidget(self.tls_ca, 1)
        tr.addWidget(browse)
        form.addRow(self.tr("TLS CA"), tr)
        self.prefix = QLineEdit()
        self.prefix.setPlaceholderText("campool/<site>")
        form.addRow(self.tr("Topic prefix"), self.prefix)
        self.discovery = QCheckBox(self.tr("Home Assistant MQTT discovery (a device per camera and worker)"))
        form.addRow("", self.discovery)
        self.mqtt_status = label("", "muted", wrap=True)
        form.addRow("", self.mqtt_status)

        self.metrics_on = QCheckBox(self.tr("Serve Prometheus metrics (/metrics)"))
        form.addRow(label(self.tr("Metrics"), "metricLabel"), self.metrics_on)
        self.bind = QLineEdit()
        self.bind.setPlaceholderText("127.0.0.1")
        self.metrics_port = QSpinBox()
        self.metrics_port.setRange(1, 65535)
        bp = QHBoxLayout()
        bp.addWidget(self.bind, 1)
        bp.addWidget(label(self.tr("port")))
        bp.addWidget(self.metrics_port)
        form.addRow(self.tr("Listen on"), bp)
        self.metrics_status = label("", "muted", wrap=True)
        form.addRow("", self.metrics_status)
        lay.addLayout(form)

        row = QHBoxLayout()
        self.error = label("", wrap=True)
        self.error.setStyleSheet(f"color: {theme.current().crit};")
        row.addWidget(self.error, 1)
        self.apply_btn = button(self.tr("Apply"), primary=True)
        self.apply_btn.clicked.connect(self.apply)
        row.addWidget(self.apply_btn)
        lay.addLayout(row)

        self._fill(integrations.settings)
        self._show(integrations.status())
        remove = integrations.add_listener(lambda st: self.bridge.post(self._show, st))
        self.destroyed.connect(lambda *_: remove())   # the hub outlives the window

    # ------------------------------------------------------------------ fields <-> settings

    def _fill(self, s: IntegrationSettings) -> None:
        m = s.mqtt
        self.mqtt_on.setChecked(m is not None)
        self.host.setText(m.host if m else "127.0.0.1")
        self.port.setValue(m.port if m else 1883)
        self.username.setText((m.username or "") if m else "")
        self.password.setText((m.password or "") if m else "")
        self.tls_ca.setText((m.tls_ca or "") if m else "")
        self.prefix.setText(m.prefix if m else "")
        self.discovery.setChecked(m.discovery if m else True)
        x = s.metrics
        self.metrics_on.setChecked(x is not None)
        self.bind.setText(x.bind if x else "127.0.0.1")
        self.metrics_port.setValue(x.port if x else 9464)

    def settings_from_fields(self) -> IntegrationSettings:
        """The fields as settings; IntegrationConfigError says which field is wrong."""
        mqtt: dict[str, Any] = {"host": self.host.text().strip() or "127.0.0.1", "port": self.port.value(),
                                "prefix": self.prefix.text().strip(), "discovery": self.discovery.isChecked(),
                                "username": self.username.text().strip(), "password": self.password.text(),
                                "tls_ca": self.tls_ca.text().strip()}
        metrics = {"bind": self.bind.text().strip() or "127.0.0.1", "port": self.metrics_port.value()}
        return IntegrationSettings(
            mqtt=parse_mqtt(mqtt, "MQTT") if self.mqtt_on.isChecked() else None,
            metrics=parse_metrics(metrics, "Metrics") if self.metrics_on.isChecked() else None)

    # ------------------------------------------------------------------ actions

    def apply(self) -> None:
        try:
            new = self.settings_from_fields()
        except IntegrationConfigError as exc:
            self.error.setText(str(exc))
            return
        self.error.setText("")
        self.apply_btn.setEnabled(False)
        path = self.settings_file

        def run() -> IntegrationStatus:
            save_file(path, new)
            return self.integrations.reconfigure(new)

        self.bridge.call(self.tr("applying the integration settings"), run, on_done=self._applied, on_result=self._show)

    def _applied(self, error: str | None) -> None:
        self.apply_btn.setEnabled(True)
        if error:
            self.error.setText(error)

    def _browse_ca(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, self.tr("The broker's CA certificate"), "",
                                              self.tr("Certificates (*.pem *.crt);;All files (*)"))
        if path:
            self.tls_ca.setText(path)

    def _show(self, st: IntegrationStatus) -> None:
        t = theme.current()
        for lab, part, off in ((self.mqtt_status, st.mqtt, self.tr("MQTT is off.")),
                               (self.metrics_status, st.metrics, self.tr("The metrics endpoint is off."))):
            lab.setText(_line(part, off))
            failing = part is not None and part.state == "failing"
            lab.setStyleSheet(f"color: {t.crit};" if failing else f"color: {t.muted};")


def _line(part: Any, off: str) -> str:
    if part is None:
        return off
    text = f"{state_word(part.state)}: {translate_message(part.message)}"
    queued = getattr(part, "queued", 0)
    dropped = getattr(part, "dropped", 0)
    if queued:
        text += QCoreApplication.translate("IntegrationsPanel", " · {n} alert event(s) waiting for the broker").format(
            n=queued)
    if dropped:
        text += QCoreApplication.translate("IntegrationsPanel", " · {n} dropped (queue full)").format(n=dropped)
    return text
