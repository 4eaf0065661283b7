"""The integrations' settings: the headless config's [mqtt] / [metrics] names, checked at the edge;
the Settings view's file (0600); the broker password never in a repr."""
from __future__ import annotations

import os
import stat

import pytest

from campool_gui.headless import HeadlessConfigError, load_config
from campool_gui.integrations.settings import (
    IntegrationConfigError,
    IntegrationSettings,
    MetricsSettings,
    MqttSettings,
    load_file,
    parse_mqtt,
    save_file,
)

ISSUE_CONFIG = """
[mqtt]
host = "127.0.0.1"
port = 1883
prefix = "campool/site-north"
discovery = true

[metrics]
bind = "127.0.0.1"
port = 9464
"""


def test_the_headless_config_takes_the_documented_names(tmp_path):
    f = tmp_path / "pool.toml"
    f.write_text('[master]\nname = "site-north"\n' + ISSUE_CONFIG)
    cfg = load_config(f).integrations
    assert cfg.mqtt == MqttSettings(host="127.0.0.1", port=1883, prefix="campool/site-north", discovery=True)
    assert cfg.metrics == MetricsSettings(bind="127.0.0.1", port=9464)


def test_without_the_sections_both_are_off(tmp_path):
    f = tmp_path / "pool.toml"
    f.write_text('[master]\nname = "x"\n')
    assert load_config(f).integrations == IntegrationSettings()


@pytest.mark.parametrize(("table", "says"), [
    ('[mqtt]\nport = 70000', "port"),
    ('[mqtt]\nprefix = "campool/#"', "prefix"),
    ('[mqtt]\nprefix = "campool//north"', "empty levels"),
    ('[mqtt]\nhots = "x"', "unknown key"),
    ('[mqtt]\npassword = "secret"', "needs a username"),
    ('[mqtt]\ntls_ca = "/no/such/ca.pem"', "no CA certificate file"),
    ('[metrics]\nport = "9464"', "port"),
])
def test_a_bad_value_is_refused_with_a_line_that_names_it(tmp_path, table, says):
    f = tmp_path / "pool.toml"
    f.write_text(table + "\n")
    with pytest.raises(HeadlessConfigError, match=says):
        load_config(f)


def test_the_password_never_shows_in_a_repr():
    s = parse_mqtt({"username": "site", "password": "hunter2"})
    assert s is not None and s.password == "hunter2"
    assert "hunter2" not in repr(s) and "hunter2" not in repr(IntegrationSettings(mqtt=s))


def test_the_settings_file_round_trips_and_is_private(tmp_path):
    path = tmp_path / "integrations.toml"
    s = IntegrationSettings(mqtt=MqttSettings(host="broker.lan", port=8883, prefix="campool/yard", discovery=False,
                                              username="site", password='p"w\\d', tls_ca=None),
                            metrics=MetricsSettings(bind="0.0.0.0", port=9100))
    save_file(path, s)
    assert load_file(path) == s
    if os.name == "posix":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    save_file(path, IntegrationSettings())
    assert load_file(path) == IntegrationSettings()
    assert load_file(tmp_path / "none.toml") == IntegrationSettings()


def test_enabled_false_turns_a_section_off():
    assert parse_mqtt({"enabled": False, "host": "x"}) is None
    with pytest.raises(IntegrationConfigError):
        parse_mqtt({"port": True})
