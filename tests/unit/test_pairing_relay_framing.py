"""What the pairing relay reads of a client's byte stream (ZMTP framing, never the contents), and
what it counts as one source host."""
from __future__ import annotations

from campool_worker.pairing_relay import FrameMeter, _source_of


def test_the_frame_meter_follows_zmtp_framing():
    greeting = b"\xff" + b"\x00" * 8 + b"\x7f" + b"\x03\x00" + b"CURVE".ljust(20, b"\x00") + b"\x00" * 32
    meter = FrameMeter(100)
    stream = greeting + b"\x04\x05HELLO" + b"\x00\x03abc" + b"\x02" + (50).to_bytes(8, "big") + b"y" * 50
    for i in range(len(stream)):   # byte by byte: headers split anywhere
        assert meter.feed(stream[i:i + 1]) is None
    assert "a frame of 101 bytes" in (FrameMeter(100).feed(greeting + b"\x02" + (101).to_bytes(8, "big")) or "")
    assert "reserved flags" in (FrameMeter(100).feed(greeting + b"\x80\x01") or "")
    assert "not a ZeroMQ" in (FrameMeter(100).feed(b"GET / HTTP/1.1\r\n") or "")
    assert "ZMTP version 2" in (FrameMeter(100).feed(b"\xff" + b"\x00" * 8 + b"\x7f\x02") or "")


def test_an_ipv6_host_counts_by_its_64_and_a_mapped_ipv4_by_its_address():
    assert _source_of(("2001:db8:1:2:3:4:5:6", 1, 0, 0)) == _source_of(("2001:db8:1:2:ffff::1", 1, 0, 0))
    assert _source_of(("2001:db8:1:3::1", 1, 0, 0)) != _source_of(("2001:db8:1:2::1", 1, 0, 0))
    assert _source_of(("::ffff:10.0.0.7", 1, 0, 0)) == _source_of(("10.0.0.7", 1)) == "10.0.0.7"
