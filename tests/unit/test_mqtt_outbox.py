"""The persisted MQTT queue: alert events wait on disk, in order, bounded, until the broker acknowledges them."""
from __future__ import annotations

import os
import stat

from campool_gui.integrations.outbox import MqttOutbox


def test_queued_events_survive_a_restart_in_order_until_acknowledged(tmp_path):
    box = MqttOutbox(tmp_path / "q.db")
    for i in range(5):
        box.put("campool/s/alert", f'{{"id": {i}}}')
    first = box.pending(2)
    assert [m.payload for m in first] == [b'{"id": 0}', b'{"id": 1}']
    box.done(first[0].id)
    box.close()
    box = MqttOutbox(tmp_path / "q.db")          # the master restarted
    assert len(box) == 4
    assert [m.payload for m in box.pending(10)] == [b'{"id": %d}' % i for i in (1, 2, 3, 4)]
    assert all(m.qos == 1 and not m.retain and m.topic == "campool/s/alert" for m in box.pending(10))
    box.close()


def test_messages_handed_to_the_client_are_not_handed_out_twice(tmp_path):
    box = MqttOutbox(tmp_path / "q.db")
    for i in range(4):
        box.put("t", str(i))
    out = {m.id for m in box.pending(2)}
    assert [m.payload for m in box.pending(10, out)] == [b"2", b"3"]
    box.close()


def test_the_queue_is_bounded_and_drops_the_oldest(tmp_path):
    box = MqttOutbox(tmp_path / "q.db", max_messages=100)
    for i in range(130):
        box.put("t", str(i))
    assert len(box) == 100 and box.dropped == 30
    assert [m.payload for m in box.pending(3)] == [b"30", b"31", b"32"]
    box.close()
    assert len(MqttOutbox(tmp_path / "q.db", max_messages=100)) == 100


def test_the_file_is_private(tmp_path):
    MqttOutbox(tmp_path / "q.db").close()
    if os.name == "posix":
        assert stat.S_IMODE(os.stat(tmp_path / "q.db").st_mode) == 0o600


def test_retained_topics_are_remembered_across_restarts_until_cleared(tmp_path):
    box = MqttOutbox(tmp_path / "q.db")
    box.remember_retained({"campool/s/camera/a/state": None, "homeassistant/device/x/config": '{"cmps": {}}'})
    box.forget_retained(["campool/s/camera/a/state"])
    box.close()
    assert MqttOutbox(tmp_path / "q.db").retained() == {"homeassistant/device/x/config": '{"cmps": {}}'}
