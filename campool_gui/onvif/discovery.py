"""WS-Discovery (the ONVIF "Scan"): one Probe for NetworkVideoTransmitter, multicast to
239.255.255.250:3702 (and, optionally, unicast to given hosts: cameras on another subnet), and the
ProbeMatches that come back within the wait, one `OnvifDevice` per endpoint.

A device's own description is its scopes (``onvif://www.onvif.org/name/...``, ``.../hardware/...``)
and its XAddrs (the device service URLs); both come from the network unauthenticated: they are
shown for the operator to choose, and nothing is trusted until the operator gives credentials.
"""
from __future__ import annotations

import logging
import socket
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

MULTICAST = ("239.255.255.250", 3702)
MAX_DATAGRAM = 65535

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "a": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "d": "http://schemas.xmlsoap.org/ws/2005/04/discovery",
    "dn": "http://www.onvif.org/ver10/network/wsdl",
}

PROBE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="{s}" xmlns:a="{a}" xmlns:d="{d}" xmlns:dn="{dn}">
<s:Header><a:MessageID>{message_id}</a:MessageID>
<a:To s:mustUnderstand="true">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>
<a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2005/04/discovery/Probe</a:Action></s:Header>
<s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body></s:Envelope>"""


@dataclass(frozen=True)
class OnvifDevice:
    """One camera that answered the probe, as it describes itself."""

    endpoint: str            # its WS-Addressing endpoint (urn:uuid:...): the same across address changes
    xaddrs: tuple[str, ...]  # device service URLs (http://host/onvif/device_service)
    name: str                # from its scopes ("" when it gives none)
    model: str
    scopes: tuple[str, ...]

    @property
    def address(self) -> str:
        """The host of its first device service URL (what the scan list shows)."""
        if not self.xaddrs:
            return ""
        return urlsplit(self.xaddrs[0]).hostname or ""


def probe_message(message_id: str) -> bytes:
    return PROBE.format(message_id=message_id, **NS).encode()


def parse_probe_matches(data: bytes, message_id: str) -> list[OnvifDevice]:
    """The devices of one ProbeMatches answer to ``message_id``; [] for anything else (another
    probe's answer, a Hello, junk: the LAN is not ours to trust)."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return []
    relates = root.findtext("s:Header/a:RelatesTo", default="", namespaces=NS).strip()
    if relates != message_id:
        return []
    devices = []
    for match in root.iterfind("s:Body/d:ProbeMatches/d:ProbeMatch", NS):
        types = (match.findtext("d:Types", default="", namespaces=NS) or "").split()
        if types and not any(t.endswith("NetworkVideoTransmitter") for t in types):
            continue
        xaddrs = tuple(x for x in (match.findtext("d:XAddrs", default="", namespaces=NS) or "").split()
                       if x.startswith(("http://", "https://")))
        if not xaddrs:
            continue
        scopes = tuple((match.findtext("d:Scopes", default="", namespaces=NS) or "").split())
        endpoint = (match.findtext("a:EndpointReference/a:Address", default="", namespaces=NS) or "").strip()
        devices.append(OnvifDevice(endpoint or xaddrs[0], xaddrs, _scope(scopes, "name"), _scope(scopes, "hardware"),
                                   scopes))
    return devices


def _scope(scopes: Iterable[str], kind: str) -> str:
    prefix = f"onvif://www.onvif.org/{kind}/"
    for scope in scopes:
        if scope.startswith(prefix):
            return unquote(scope[len(prefix):]).replace("_", " ").strip()
    return ""


def probe(wait_s: float = 3.0, *, interface: str = "0.0.0.0", targets: Iterable[str] = (),
          multicast: tuple[str, int] = MULTICAST) -> list[OnvifDevice]:
    """Probe the LAN (through ``interface``'s address, or the system's choice) and the ``targets``
    (hosts probed by unicast on port 3702); wait ``wait_s`` for answers. Blocking: call it off the
    UI thread. A device that answers twice (several XAddrs, multicast and unicast) is listed once."""
    message_id = f"uuid:{uuid.uuid4()}"
    message = probe_message(message_id)
    found: dict[str, OnvifDevice] = {}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP) as sock:
        sock.bind((interface, 0))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)  # a site's routers, no further
        if interface != "0.0.0.0":
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        destinations = [multicast, *((host, multicast[1]) for host in targets)]
        for dest in destinations:
            try:
                sock.sendto(message, dest)
            except OSError as exc:  # no route for multicast (no network): the unicast targets may still answer
                log.warning("ONVIF scan: cannot send the probe to %s:%d (%s)", dest[0], dest[1], exc)
        deadline = time.monotonic() + wait_s
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, sender = sock.recvfrom(MAX_DATAGRAM)
            except TimeoutError:
                break
            for device in parse_probe_matches(data, message_id):
                if device.endpoint not in found:
                    log.info("ONVIF scan: %s (%s) at %s", device.name or "?", device.model or "?", sender[0])
                    found[device.endpoint] = device
    return list(found.values())


__all__ = ["MULTICAST", "OnvifDevice", "parse_probe_matches", "probe", "probe_message"]
