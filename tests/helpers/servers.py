"""Real servers for the integration tests, each its own process on a free loopback port with its own
config file under the test's folder (never a system service):

    with Mosquitto(tmp / "broker") as broker: ...          # Debian's mosquitto; .stop() / .start() again
    Mosquitto(tmp / "site", bridge=Bridge("central", "127.0.0.1", port, ["campool/site-north/#"]))
    with Prometheus(tmp / "prom", targets=["127.0.0.1:9464"]) as prom: prom.query("campool_line_crossings_total")
    CutProxy(target_port)                                   # a TCP relay whose link the test can cut
    MqttRecorder(port, ["campool/#"])                        # a subscriber that keeps what it saw

They skip the test with a reason when the Debian package is not installed (.ci/run installs it).
"""
from __future__ import annotations

import getpass
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need_binary(name: str, package: str) -> str:
    for folder in ("", "/usr/sbin/", "/usr/bin/"):
        path = shutil.which(f"{folder}{name}") if folder else shutil.which(name)
        if path:
            return path
    pytest.skip(f"{name} not found: install Debian's {package} package (installers/setup-test-env.sh does, as root)")


def wait_port(port: int, timeout: float, what: str, proc: subprocess.Popen[bytes] | None = None,
              log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    text = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    raise AssertionError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s\n{text}")


class _Process:
    """A server process started from a config file, logging to a file in its folder."""

    name = "server"

    def __init__(self, folder: Path, port: int) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.log = self.folder / f"{self.name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> Self:
        out = open(self.log, "ab")
        try:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT, cwd=self.folder)
        finally:
            out.close()
        wait_port(self.port, 20, self.name, self.proc, self.log)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass
class Bridge:
    """A mosquitto bridge stanza: this broker's topics carried out to another (QoS 1, persistent session)."""

    name: str
    host: str
    port: int
    topics: list[str]


def make_tls(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key) PEM files."""
    openssl = need_binary("openssl", "openssl")
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key, cert, key, csr = (folder / n for n in ("ca.pem", "ca.key", "server.pem", "server.key", "server.csr"))
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for cmd in ([openssl, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
                 "-subj", "/CN=campool test CA"],
                [openssl, "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"],
                [openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
                 "-days", "2", "-extfile", ext]):
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True)
    return ca, cert, key


class Mosquitto(_Process):
    name = "mosquitto"

    def __init__(self, folder: Path, *, port: int | None = None, users: dict[str, str] | None = None,
                 bridge: Bridge | None = None, tls: tuple[Path, Path, Path] | None = None) -> None:
        self.binary = need_binary("mosquitto", "mosquitto")
        super().__init__(folder, port or free_port())
        self.users = users
        self.bridge = bridge
        self.config = self.folder / "mosquitto.conf"
        lines = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {self.folder}/",
                 "autosave_interval 1", "max_queued_messages 100000", "log_type error", "log_type warning",
                 "log_type notice", "log_type information", "connection_messages true"]
        if tls is not None:
            lines += [f"cafile {tls[0]}", f"certfile {tls[1]}", f"keyfile {tls[2]}"]
        if os.geteuid() == 0:
            lines.append(f"user {getpass.getuser()}")   # else it drops to a 'mosquitto' user that cannot write here
        if users:
            pw = self.folder / "passwords"
            pw.write_text("")
            for user, password in users.items():
                subprocess.run([need_binary("mosquitto_passwd", "mosquitto"), "-b", str(pw), user, password],
                               check=True, capture_output=True)
            pw.chmod(0o600)
            lines += ["allow_anonymous false", f"password_file {pw}"]
        else:
            lines.append("allow_anonymous true")
        if bridge is not None:
            lines += [f"connection {bridge.name}", f"address {bridge.host}:{bridge.port}", "cleansession false",
                      f"remote_clientid bridge-{bridge.name}-{self.port}", "keepalive_interval 5",
                      "restart_timeout 1 2", "bridge_protocol_version mqttv311"]
            lines += [f"topic {t} out 1" for t in bridge.topics]
        self.config.write_text("\n".join(lines) + "\n")

    def command(self) -> list[str]:
        return [self.binary, "-c", str(self.config)]


class Prometheus(_Process):
    name = "prometheus"

    def __init__(self, folder: Path, targets: list[str], *, scrape_s: float = 1.0) -> None:
        self.binary = need_binary("prometheus", "prometheus")
        super().__init__(folder, free_port())
        self.config = self.folder / "prometheus.yml"
        self.config.write_text(json.dumps({   # YAML is a superset of JSON
            "global": {"scrape_interval": f"{scrape_s:g}s", "evaluation_interval": f"{scrape_s:g}s"},
            "scrape_configs": [{"job_name": "campool", "scrape_interval": f"{scrape_s:g}s",
                                "static_configs": [{"targets": targets}]}]}))

    def command(self) -> list[str]:
        return [self.binary, f"--config.file={self.config}", f"--storage.tsdb.path={self.folder / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]

    def start(self) -> Self:
        super().start()
        deadline = time.monotonic() + 30
        while True:     # it listens before its storage is ready (503 until then)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"prometheus was not ready within 30 s\n{self.log.read_text()[-3000:]}")
            time.sleep(0.1)

    def api(self, path: str, **params: str) -> Any:
        url = f"http://127.0.0.1:{self.port}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=5) as r:
            body = json.loads(r.read())
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        return list(self.api("query", query=expr)["result"])


class CutProxy:
    """A TCP relay on a free loopback port to ``127.0.0.1:target``. `cut()` drops every relayed connection
    and refuses new ones (the link is down); `restore()` accepts again on the same port."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.restore()

    def restore(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(16)
        self._listener = ls
        self._thread = threading.Thread(target=self._accept, args=(ls,), daemon=True)
        self._thread.start()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self) -> None:
        if self._listener is not None:
            try:   # wakes the thread blocked in accept(); close() alone leaves it accepting on Linux
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
            if self._thread is not None:
                self._thread.join(5)
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.cut()


@dataclass
class Seen:
    topic: str
    payload: bytes
    retain: bool
    at: float


@dataclass
class MqttRecorder:
    """A plain subscriber (paho) that keeps the last payload of every topic and every message in order."""

    port: int
    topics: list[str]
    username: str | None = None
    password: str | None = None
    tls_ca: Path | None = None
    last: dict[str, bytes] = field(default_factory=dict)
    messages: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"recorder-{os.getpid()}-{id(self)}")
        if self.username:
            self.client.username_pw_set(self.username, self.password)
        if self.tls_ca is not None:
            self.client.tls_set(ca_certs=str(self.tls_ca))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)     # back soon after a broker outage
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        assert self.connected.wait(10), f"the recorder could not connect to 127.0.0.1:{self.port}"

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        for t in self.topics:
            client.subscribe(t, qos=1)
        self.connected.set()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self.lock:
            self.messages.append(Seen(msg.topic, bytes(msg.payload), bool(msg.retain), time.time()))
            if msg.payload:
                self.last[msg.topic] = bytes(msg.payload)
            else:
                self.last.pop(msg.topic, None)

    def value(self, topic: str) -> str | None:
        with self.lock:
            v = self.last.get(topic)
        return v.decode() if v is not None else None

    def matching(self, prefix: str) -> dict[str, str]:
        with self.lock:
            return {t: v.decode() for t, v in self.last.items() if t.startswith(prefix)}

    def seen(self, topic: str) -> list[Seen]:
        with self.lock:
            return [m for m in self.messages if m.topic == topic]

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
