"""Network namespaces as hosts of a LAN, for partitions: `ip netns` with a veth pair each (root only).

`Namespace` is a host: a namespace joined to this one by a veth pair, with a default route through
it. Taking its end of the link down (`cut`) is pulling the host's cable: its packets go nowhere,
in or out, until `heal`. `HostAddress` is an address of this machine that every namespace reaches
through its own link (on ``lo``), for what all of them must reach, such as an RTSP camera: an
address of one veth would go down with that link.

A blackhole route for each pair's subnet sits behind the veth's own route, so that no packet for a
namespace ever leaves this machine by the default route, whatever state its link is in.
"""
from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import Sequence

log = logging.getLogger(__name__)


class NetnsUnavailable(RuntimeError):
    """This machine cannot make network namespaces (not root, no `ip`, no veth)."""


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False)


class Namespace:
    """A host in its own network namespace: ``ip`` (its address) reached from here at ``ip``,
    this machine reached from it at ``host_ip``. Use as a context manager, or `close` it."""

    def __init__(self, tag: str, subnet: int) -> None:
        if os.geteuid() != 0:
            raise NetnsUnavailable("a network namespace needs root (ip netns)")
        self.name, self.host_if, self.link = f"cp{tag}", f"cp{tag}a", f"cp{tag}b"
        self.net = f"10.213.{subnet}"
        self.host_ip, self.ip = f"{self.net}.1", f"{self.net}.2"
        steps = [["ip", "netns", "add", self.name],
                 ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.link, "netns", self.name],
                 ["ip", "addr", "add", f"{self.host_ip}/24", "dev", self.host_if],
                 ["ip", "link", "set", self.host_if, "up"],
                 self.inside("ip", "addr", "add", f"{self.ip}/24", "dev", self.link),
                 self.inside("ip", "link", "set", self.link, "up"),
                 self.inside("ip", "link", "set", "lo", "up"),
                 self.inside("ip", "route", "add", "default", "via", self.host_ip),
                 ["ip", "route", "add", "blackhole", f"{self.net}.0/24", "metric", "4242"]]
        for cmd in steps:
            r = _run(cmd)
            if r.returncode != 0:
                self.close()
                raise NetnsUnavailable(f"cannot set up a network namespace here ({' '.join(cmd)}: "
                                       f"{r.stderr.strip()})")

    def inside(self, *cmd: str) -> list[str]:
        """`cmd` run inside this namespace."""
        return ["ip", "netns", "exec", self.name, *cmd]

    def cut(self) -> None:
        """Pull the cable: the namespace's end of the link goes down."""
        subprocess.run(self.inside("ip", "link", "set", self.link, "down"), check=True)
        log.info("namespace %s cut off", self.name)

    def heal(self) -> None:
        subprocess.run(self.inside("ip", "link", "set", self.link, "up"), check=True)
        # the link's default route went with it when it went down
        _run(self.inside("ip", "route", "replace", "default", "via", self.host_ip))
        log.info("namespace %s joined again", self.name)

    def close(self) -> None:
        _run(["ip", "route", "del", "blackhole", f"{self.net}.0/24", "metric", "4242"])
        _run(["ip", "link", "del", self.host_if])
        _run(["ip", "netns", "del", self.name])

    def __enter__(self) -> Namespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HostAddress:
    """An address of this machine on ``lo`` (a /32), reached from every namespace by its default route."""

    def __init__(self, ip: str) -> None:
        if os.geteuid() != 0:
            raise NetnsUnavailable("adding an address needs root")
        self.ip = ip
        r = _run(["ip", "addr", "add", f"{ip}/32", "dev", "lo"])
        if r.returncode != 0:
            raise NetnsUnavailable(f"cannot add {ip} to lo: {r.stderr.strip()}")

    def close(self) -> None:
        _run(["ip", "addr", "del", f"{self.ip}/32", "dev", "lo"])

    def __enter__(self) -> HostAddress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def unique_tag(i: int = 0) -> tuple[str, int]:
    """A name tag and a /24 for the i-th namespace of this process (tests and benches run side by side)."""
    pid = os.getpid()
    return f"{pid % 10000}x{i}", 10 + (pid + 7 * i) % 200
