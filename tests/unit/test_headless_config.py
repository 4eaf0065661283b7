"""`campool-gui --headless` config files: what is accepted, and one clear line for what is not."""
from __future__ import annotations

import json

import pytest

from campool_gui.headless import HeadlessConfigError, load_config

KEY = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"


def write(tmp_path, text: str, name: str = "pool.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_a_full_config_is_read(tmp_path):
    ports = tmp_path / "ports.json"
    ports.write_text(json.dumps({"cmd": 7001, "pub": 7002, "pair": 7003, "key": KEY, "id": "abc"}))
    cfg = load_config(write(tmp_path, f'''
[master]
name = "north"
policy = "site"

[[workers]]
host = "10.0.0.21"
cmd_port = 7761
pub_port = 7762
pair_port = 7763
key = "{KEY}"
code = "ABCD-EFGH"
site = "north"
groups = ["gates"]

[[workers]]
host = "127.0.0.1"
ports_file = "{ports}"

[[cameras]]
camera_id = "gate-1"
source = "rtsp://10.0.0.50/stream1"
lines = ["in:0,500,1280,500", {{name = "out", p1 = [0, 100], p2 = [1280, 100]}}]
zones = ["yard:0,0,640,0,640,360,0,360"]
priority = "high"
pin = "gate-box"
target_fps = 12
standby = "warm"
standby_worker = "yard-box"

[alerts.zone_occupancy]
threshold = 20
overrides = {{ "gate-1/yard" = 5 }}
'''))
    assert (cfg.name, cfg.policy) == ("north", "site")
    assert cfg.workers[0].code == "ABCD-EFGH" and cfg.workers[0].groups == ("gates",)
    assert (cfg.workers[1].cmd_port, cfg.workers[1].key) == (7001, KEY)
    cam = cfg.cameras[0]
    assert [ln.name for ln in cam.config.lines] == ["in", "out"] and cam.config.zones[0].name == "yard"
    assert (cam.pin, cam.target_fps, cam.config.priority) == ("gate-box", 12.0, "high")
    assert (cam.config.standby, cam.standby_worker) == ("warm", "yard-box")
    assert cfg.alerts["zone_occupancy"].threshold_for("gate-1/yard") == 5
    assert cfg.alerts["zone_occupancy"].threshold_for("other/yard") == 20


def test_json_works_too(tmp_path):
    cfg = load_config(write(tmp_path, json.dumps({"cameras": [{"camera_id": "c", "source": "synthetic://"}]}),
                            "pool.json"))
    assert cfg.cameras[0].config.source == "synthetic://"


@pytest.mark.parametrize("text, message", [
    ("[nonsense]\nx = 1\n", "unknown section"),
    ("[master]\npolicy = 'fastest'\n", "policy 'fastest' is not one of"),
    ("[[cameras]]\ncamera_id = 'a'\nsource = 'x'\n[[cameras]]\ncamera_id = 'a'\nsource = 'y'\n", "appears twice"),
    ("[[cameras]]\ncamera_id = 'a'\nsource = 'x'\nlines = ['bad']\n", r"cameras\[0\]: line 'bad'"),
    ("[[cameras]]\ncamera_id = 'a'\nsource = 'x'\npriority = 'urgent'\n", "priority"),
    ("[[cameras]]\ncamera_id = 'a'\nsource = 'x'\nstandby = 'cold'\n", "standby 'cold' is not one of"),
    ("[[cameras]]\ncamera_id = 'a'\nsource = 'x'\nstandby_worker = 3\n", "standby_worker must be"),
    ("[[workers]]\nhost = 'h'\n", "missing"),
    ("[alerts.nope]\nthreshold = 1\n", "unknown alert"),
    ("[alerts.cpu_high]\nthreshhold = 1\n", "alert cpu_high"),
    ("this is = = not toml", "not valid TOML"),
])
def test_bad_configs_fail_with_one_clear_line(tmp_path, text, message):
    with pytest.raises(HeadlessConfigError, match=message) as exc:
        load_config(write(tmp_path, text))
    assert "\n" not in str(exc.value)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(HeadlessConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")
