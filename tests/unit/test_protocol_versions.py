"""A message of another protocol version is refused with a line that names the end to upgrade:
the receiving end knows both versions (the header's ``v`` comes first) and which end it is."""
from __future__ import annotations

import json

import pytest

from campool_worker import __version__
from campool_worker import protocol as p


def _frames(msg: p.Message, version: int) -> list[bytes]:
    header, *binary = p.encode(msg, "r1")
    data = json.loads(header)
    data["v"] = version
    return [json.dumps(data).encode(), *binary]


@pytest.mark.parametrize(("msg", "kinds", "peer", "says"), [
    (p.GetStatus(), ("command",), p.PROTOCOL_VERSION + 1, "upgrade this worker to the control center's"),
    (p.GetStatus(), ("command",), p.PROTOCOL_VERSION - 1, f"upgrade that control center to campool {__version__}"),
    (p.Ok(), ("reply",), p.PROTOCOL_VERSION - 1, f"upgrade the worker to campool {__version__}"),
    (p.Ok(), ("reply",), p.PROTOCOL_VERSION + 1, "upgrade this control center to the worker's"),
    (p.PairReply(False, "w1", "", "no"), ("pair_reply",), p.PROTOCOL_VERSION - 1, "upgrade the worker"),
])
def test_the_end_to_upgrade_is_named(msg: p.Message, kinds: tuple[str, ...], peer: int, says: str) -> None:
    with pytest.raises(p.ProtocolError) as caught:
        p.decode(_frames(msg, peer), kinds=kinds)
    assert caught.value.code == "version"
    assert caught.value.peer_version == peer
    assert says in str(caught.value)
    assert f"protocol {peer}" in str(caught.value) and str(p.PROTOCOL_VERSION) in str(caught.value)
    assert caught.value.request_id == "r1"  # so the waiting request fails with this line, not a timeout


def test_a_version_that_is_not_a_number_is_malformed_not_a_mismatch() -> None:
    header, *_ = p.encode(p.GetStatus(), "r2")
    data = json.loads(header)
    data["v"] = "2"
    with pytest.raises(p.ProtocolError) as caught:
        p.decode([json.dumps(data).encode()], kinds=("command",))
    assert caught.value.code == "version" and caught.value.peer_version is None
