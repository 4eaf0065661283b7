"""Protocol 2: a heartbeat's camera telemetry carries zone occupancy per class, strictly decoded."""
from __future__ import annotations

import json

import pytest

from campool_worker import protocol as p
from tests.helpers import wire


def heartbeat(zone_classes: object) -> list[bytes]:
    tel = wire.camera("gate-1", 1, zones={"yard": 3}, zone_classes={"yard": {"car": 2, "person": 1}})
    frames = p.encode_telemetry(p.Heartbeat(wire.status("w1", [tel])))
    header = json.loads(frames[1])
    header["body"]["status"]["cameras"][0]["zone_classes"] = zone_classes
    return [frames[0], json.dumps(header).encode(), *frames[2:]]


def test_zone_occupancy_per_class_round_trips():
    env = p.decode_telemetry(heartbeat({"yard": {"car": 2, "person": 1}}))
    [cam] = env.message.status.cameras
    assert cam.zone_classes == {"yard": {"car": 2, "person": 1}} and cam.zones == {"yard": 3}


@pytest.mark.parametrize("bad", [{"yard": {"car": "2"}}, {"yard": 2}, ["yard"], {"yard": {"car": True}}])
def test_a_malformed_occupancy_is_refused(bad):
    with pytest.raises(p.ProtocolError):
        p.decode_telemetry(heartbeat(bad))


def test_a_worker_of_protocol_1_is_refused_with_a_line_that_says_to_upgrade():
    frames = heartbeat({})
    header = json.loads(frames[1])
    header["v"] = p.PROTOCOL_VERSION - 1
    with pytest.raises(p.ProtocolError, match="upgrade the worker"):
        p.decode_telemetry([frames[0], json.dumps(header).encode()])
