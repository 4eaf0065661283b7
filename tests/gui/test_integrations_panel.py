"""Settings → Integrations: fields to settings, Apply off the UI thread, each part's status in words."""
from __future__ import annotations

import os
import stat

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLineEdit

from campool_gui.integrations.hub import Integrations
from campool_gui.integrations.settings import IntegrationSettings, load_file
from campool_gui.pool.master import Master, MasterSettings
from tests.helpers.servers import Mosquitto, free_port

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def hub(tmp_path):
    master = Master(MasterSettings(data_dir=tmp_path / "master", zeroconf=False, name="gui-site"))
    master.start()
    h = Integrations(master, IntegrationSettings())
    h.start()
    assert h.wait_ready()
    yield h
    h.stop()
    master.stop()


@pytest.fixture
def panel(qtbot, hub, tmp_path):
    from campool_gui.ui.bridge import PoolBridge
    from campool_gui.ui.settings_view import SettingsView
    bridge = PoolBridge(hub.master)
    view = SettingsView(bridge, QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat),
                        str(tmp_path / "master"), integrations=hub)
    qtbot.addWidget(view)
    yield view.integrations_panel
    bridge.close()


def test_applying_mqtt_and_metrics_connects_and_says_so(qtbot, panel, hub, tmp_path):
    assert panel.mqtt_status.text() == "MQTT is off."
    assert panel.password.echoMode() == QLineEdit.EchoMode.Password
    with Mosquitto(tmp_path / "broker") as broker:
        panel.mqtt_on.setChecked(True)
        panel.port.setValue(broker.port)
        panel.prefix.setText("campool/gui-site")
        panel.metrics_on.setChecked(True)
        panel.metrics_port.setValue(free_port())
        panel.apply_btn.click()
        qtbot.waitUntil(lambda: panel.mqtt_status.text().startswith("connected: connected to"), timeout=15000)
        qtbot.waitUntil(lambda: panel.metrics_status.text().startswith("serving"), timeout=5000)
        assert "campool/gui-site" in panel.mqtt_status.text()
        assert hub.status().mqtt.state == "connected"
        path = tmp_path / "master" / "integrations.toml"
        saved = load_file(path)
        assert saved.mqtt.port == broker.port and saved.mqtt.prefix == "campool/gui-site"
        if os.name == "posix":
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

        broker.stop()       # the broker goes away: the status says so, in words
        qtbot.waitUntil(lambda: panel.mqtt_status.text().startswith("failing:"), timeout=15000)
        assert "127.0.0.1" in panel.mqtt_status.text()


def test_a_bad_field_is_named_and_nothing_is_applied(qtbot, panel, hub):
    panel.mqtt_on.setChecked(True)
    panel.prefix.setText("campool/#")
    panel.apply_btn.click()
    assert "prefix" in panel.error.text()
    assert hub.status().mqtt is None
