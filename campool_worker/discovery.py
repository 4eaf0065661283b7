"""mDNS/DNS-SD: a worker announces ``_campool._tcp.local.``; a master browses for it.

The record is a hint, not trust (security.py is the trust): anyone on the LAN can announce.
TXT keys (RFC 6763, ``txtvers`` first): ``txtvers=1``, ``id`` (stable worker id), ``ver``
(software version), ``proto`` (wire protocol version), ``pub`` (telemetry port), ``pair``
(pairing port), ``key`` (the worker's CURVE public key, Z85), ``gpu`` (GPU model or 0),
``cams`` (camera capacity). The SRV port is the command port; the instance name is the
worker's name, renamed ``name-2``... when another worker already holds it.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

import psutil
from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, ServiceStateChange, Zeroconf

from campool_worker.protocol import SERVICE_TYPE
from campool_worker.security import valid_key

log = logging.getLogger(__name__)
TXT_VERSION = "1"


@dataclass(frozen=True)
class DiscoveredWorker:
    """One worker as its mDNS record describes it (unauthenticated until paired/pinned)."""

    instance: str  # the instance name (the worker's name, possibly renamed on a clash)
    worker_id: str
    host: str  # an IPv4 address from the record
    addresses: tuple[str, ...]
    cmd_port: int
    pub_port: int
    pair_port: int
    key: str
    version: str
    protocol: int
    gpu: str
    capacity: int


def local_ipv4_addresses() -> list[str]:
    """Non-loopback IPv4 addresses of this machine (what we announce when no interface is given)."""
    out = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family == socket.AF_INET and not a.address.startswith("127."):
                out.append(a.address)
    return out or ["127.0.0.1"]


class Announcer:
    """Registers the worker's record (on a background thread: probing takes ~1 s), updates it on
    change, unregisters on close."""

    def __init__(self, name: str, port: int, properties: dict[str, str], *,
                 interfaces: list[str] | None = None, host_label: str = "") -> None:
        self.name = name
        self.port = port
        self.properties = {"txtvers": TXT_VERSION, **properties}
        self.interfaces = list(interfaces or [])
        self.addresses = self.interfaces or local_ipv4_addresses()
        label = "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in (host_label or name))[:50] or "worker"
        self._server = f"{label}.local."
        self._zc: Zeroconf | None = None
        self._info: ServiceInfo | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.registered = threading.Event()
        self._settled = threading.Event()  # registered, or given up on (said in the log)

    @property
    def settled(self) -> bool:
        """The announcement is done: the record is up, or it failed (masters add the worker by address)."""
        return self._settled.is_set()

    @property
    def announced(self) -> bool:
        return self.registered.is_set()

    @property
    def instance(self) -> str:
        info = self._info
        return info.name[: -len(SERVICE_TYPE) - 1] if info else self.name

    def start(self) -> None:
        self._thread = threading.Thread(target=self._register, name="campool-zeroconf", daemon=True)
        self._thread.start()

    def _register(self) -> None:
        try:
            zc = Zeroconf(interfaces=self.interfaces, ip_version=IPVersion.V4Only) if self.interfaces \
                else Zeroconf(ip_version=IPVersion.V4Only)
            info = ServiceInfo(
                SERVICE_TYPE, f"{self.name}.{SERVICE_TYPE}", port=self.port, properties=self.properties,
                server=self._server, addresses=[socket.inet_aton(a) for a in self.addresses])
            with self._lock:
                self._zc, self._info = zc, info
            zc.register_service(info, allow_name_change=True)
            if info.name != f"{self.name}.{SERVICE_TYPE}":
                log.warning("another worker on the LAN is already called %r; announcing as %r", self.name,
                            self.instance)
            log.info("announced %s on mDNS (%s port %d)", self.instance, ", ".join(self.addresses), self.port)
            self.registered.set()
        except Exception as exc:  # noqa: BLE001 - no multicast is a degraded worker, not a dead one
            log.error("mDNS announcement failed (%s): masters must add this worker by address", exc)
        finally:
            self._settled.set()

    def update(self, **properties: str) -> None:
        """Change TXT values (e.g. capacity, gpu) and re-announce."""
        with self._lock:
            changed = {k: v for k, v in properties.items() if self.properties.get(k) != v}
            if not changed:
                return
            self.properties.update(changed)
            if self._zc is None or self._info is None or not self.registered.is_set():
                return
            info = ServiceInfo(SERVICE_TYPE, self._info.name, port=self.port, properties=self.properties,
                               server=self._server, addresses=[socket.inet_aton(a) for a in self.addresses])
            self._info = info
            zc = self._zc
        try:
            zc.update_service(info)
        except Exception as exc:  # noqa: BLE001
            log.warning("mDNS update failed: %s", exc)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join(5.0)
        with self._lock:
            zc, info = self._zc, self._info
            self._zc = None
        if zc is None:
            return
        try:
            if info is not None and self.registered.is_set():
                zc.unregister_service(info)
        except Exception as exc:  # noqa: BLE001
            log.warning("mDNS unregister failed: %s", exc)
        finally:
            zc.close()


def parse_service_info(info: ServiceInfo) -> DiscoveredWorker | None:
    """A DiscoveredWorker from a resolved record, or None (logged) when the record is unusable."""
    props = {(k.decode("utf-8", "replace") if isinstance(k, bytes) else str(k)):
             (v.decode("utf-8", "replace") if isinstance(v, bytes) else "") for k, v in info.properties.items()}
    try:
        if props.get("txtvers") != TXT_VERSION:
            raise ValueError(f"txtvers {props.get('txtvers')!r}")
        addresses = tuple(str(ipaddress.ip_address(a)) for a in info.parsed_addresses(IPVersion.V4Only))
        if not addresses or not info.port:
            raise ValueError("no address/port")
        key = props["key"]
        if not valid_key(key):
            raise ValueError("bad key")
        return DiscoveredWorker(
            instance=info.name[: -len(SERVICE_TYPE) - 1], worker_id=props["id"], host=addresses[0],
            addresses=addresses, cmd_port=int(info.port), pub_port=int(props["pub"]), pair_port=int(props["pair"]),
            key=key, version=props.get("ver", ""), protocol=int(props.get("proto", "1")),
            gpu="" if props.get("gpu", "0") == "0" else props["gpu"], capacity=int(props.get("cams", "0")))
    except (KeyError, ValueError) as exc:
        log.info("ignoring mDNS record %s: %s", info.name, exc)
        return None


class WorkerBrowser:
    """Calls ``on_change(instance_name, DiscoveredWorker | None)`` (None = gone) on zeroconf's
    thread whenever a worker appears, changes or leaves."""

    def __init__(self, on_change: Callable[[str, DiscoveredWorker | None], None], *,
                 interfaces: list[str] | None = None) -> None:
        self.on_change = on_change
        self._zc = Zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only) if interfaces \
            else Zeroconf(ip_version=IPVersion.V4Only)
        self._browser = ServiceBrowser(self._zc, SERVICE_TYPE, handlers=[self._handle])

    def _handle(self, zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange) -> None:
        instance = name[: -len(SERVICE_TYPE) - 1] if name.endswith(SERVICE_TYPE) else name
        if state_change is ServiceStateChange.Removed:
            self.on_change(instance, None)
            return
        try:
            info = zeroconf.get_service_info(service_type, name, timeout=3000)
            worker = parse_service_info(info) if info else None
            if worker is not None:
                self.on_change(instance, worker)
        except Exception:
            log.exception("handling the mDNS record %s failed", name)

    def close(self) -> None:
        self._browser.cancel()
        self._zc.close()


__all__ = ["Announcer", "DiscoveredWorker", "WorkerBrowser", "parse_service_info"]
