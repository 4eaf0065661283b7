"""The master's MQTT client (paho-mqtt 2.x): retained state, Home Assistant discovery, alert events.

Delivery: QoS 1 everywhere, a persistent session (clean_session off, a client id of its own per
master), ``<prefix>/available`` retained ``online`` and the Last Will ``offline``.

* State (topics.py, ha_discovery.py) is retained, and published as a diff against what was sent
  on the current connection. On every (re)connect that record starts empty, so the whole current
  state goes out again: after a broker outage the broker holds exactly the master's stored totals.
  Topics of a camera, line, zone or worker that is gone are cleared (an empty retained message);
  their list survives a restart in the outbox file.
* Alert events go through the persisted queue (outbox.py) first and leave it only when the broker
  has acknowledged them, so neither an outage nor a master restart loses one (at least once:
  a consumer can tell a repeat by the alert's id and event).
* Home Assistant: discovery configs are resent when Home Assistant publishes ``online`` on
  ``homeassistant/status`` (it restarted).

Threads: `pump` runs on the integrations' thread (hub.py) and is the only place that publishes.
The client's network loop runs in paho's own thread (``loop_start``), one connection at a time,
supervised by this publisher's thread, which makes each connection attempt itself: a refused
connection, an unknown host or a TLS failure is reported in the operator's words, and retried with
a doubling backoff (1 s to 8 s). paho's callbacks only drop a note into a queue.
"""
from __future__ import annotations

import json
import logging
import queue
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from campool_worker.supervision import Backoff

from .ha_discovery import Config, Discovery, removal_step
from .outbox import MqttOutbox
from .settings import MqttSettings
from .topics import Topics

log = logging.getLogger(__name__)

INFLIGHT_EVENTS = 100            # queued alert events handed to the client at once
RECONNECT_INITIAL_S = 1.0
RECONNECT_CAP_S = 8.0
CONNECT_TIMEOUT_S = 5.0
ONLINE, OFFLINE = "online", "offline"


@dataclass(frozen=True)
class MqttStatus:
    state: str                      # connecting | connected | failing | stopped
    message: str                    # one line for the operator
    address: str
    prefix: str
    queued: int = 0                 # alert events waiting for the broker
    dropped: int = 0                # alert events dropped because the queue was full

    @property
    def problem(self) -> str:
        """What the integration_down alert says; "" while it works (or is still connecting)."""
        return self.message if self.state == "failing" else ""


def describe_connect_error(exc: BaseException, address: str) -> str:
    """An OSError of a connection attempt, in the operator's words."""
    if isinstance(exc, socket.gaierror):
        return f"cannot find the MQTT broker host in {address} (unknown host name); check the broker host in Settings"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (f"the MQTT broker at {address} presented a certificate the CA file does not vouch for "
                f"({exc.verify_message}); check the TLS CA file")
    if isinstance(exc, ssl.SSLError):
        return f"TLS with the MQTT broker at {address} failed ({exc.reason or exc}); check the port and the CA file"
    if isinstance(exc, ConnectionRefusedError):
        return f"the MQTT broker at {address} refused the connection (nothing listens there); check the host and port"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"the MQTT broker at {address} did not answer within {CONNECT_TIMEOUT_S:.0f} s; check the host and port"
    return f"cannot connect to the MQTT broker at {address}: {getattr(exc, 'strerror', None) or exc}"


def describe_refusal(reason: ReasonCode) -> str:
    text = str(reason)
    if reason.value in (4, 5, 134, 135):   # bad user name or password / not authorised (3.1.1 and 5)
        return (f"the MQTT broker refused the login ({text.lower()}); check the user name and password in Settings")
    return f"the MQTT broker refused the connection ({text})"


class MqttPublisher:
    def __init__(self, settings: MqttSettings, *, client_id: str, prefix: str, outbox: MqttOutbox,
                 discovery: Discovery | None, on_status: Callable[[MqttStatus], None] | None = None) -> None:
        self.settings = settings
        self.topics = Topics(prefix)
        self.outbox = outbox
        self.discovery = discovery
        self._on_status = on_status
        self._notes: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()   # from paho's thread
        self._stop = threading.Event()
        self._link_down = threading.Event()
        self._status_lock = threading.Lock()
        self._status = MqttStatus("connecting", f"connecting to {settings.address}", settings.address, prefix,
                                  len(outbox))
        # pump's own records (integrations thread only)
        self._connected = False
        self._sent: dict[str, str] = {}                   # retained topic -> payload sent on this connection
        self._on_broker = outbox.retained()               # retained topics this master set (any run)
        self._clearing: set[str] = set()                  # empty retained messages not acknowledged yet
        self._inflight: dict[int, tuple[str, Any]] = {}   # mid -> ("event", row id) | ("clear", topic) | ("state", _)
        self._events_out: set[int] = set()                # outbox rows handed to the client
        self._client = self._make_client(client_id)
        self._thread = threading.Thread(target=self._supervise, name="campool-mqtt", daemon=True)

    # ------------------------------------------------------------- life cycle

    def _make_client(self, client_id: str) -> mqtt.Client:
        s = self.settings
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False,
                        protocol=mqtt.MQTTv311, reconnect_on_failure=False)
        c.connect_timeout = CONNECT_TIMEOUT_S
        c.max_inflight_messages_set(INFLIGHT_EVENTS)
        c.will_set(self.topics.available, OFFLINE, qos=1, retain=True)
        if s.username:
            c.username_pw_set(s.username, s.password)
        if s.tls_ca:
            c.tls_set(ca_certs=s.tls_ca)
        c.on_connect = self._paho_connect
        c.on_disconnect = self._paho_disconnect
        c.on_publish = self._paho_publish
        c.on_message = self._paho_message
        return c

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Say offline (a clean goodbye: the Last Will is not sent), disconnect, end the threads."""
        if self._connected:
            info = self._client.publish(self.topics.available, OFFLINE, qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError):
                pass
        self._stop.set()
        self._client.disconnect()
        self._link_down.set()
        self._thread.join(timeout + CONNECT_TIMEOUT_S)
        self._client.loop_stop()
        self._set_status(replace(self.status(), state="stopped", message="stopped"))

    def status(self) -> MqttStatus:
        with self._status_lock:
            return self._status

    def _set_status(self, st: MqttStatus) -> None:
        with self._status_lock:
            changed = (st.state, st.message) != (self._status.state, self._status.message)
            self._status = st
        if changed:
            if st.state == "failing":
                log.warning("MQTT: %s", st.message)
            else:
                log.info("MQTT: %s", st.message)
        if changed and self._on_status is not None:
            self._on_status(st)

    # ------------------------------------------------------------- the connection (its own thread)

    def _supervise(self) -> None:
        s = self.settings
        backoff = Backoff(RECONNECT_INITIAL_S, RECONNECT_CAP_S)
        while not self._stop.is_set():
            self._link_down.clear()
            try:
                self._client.connect(s.host, s.port, keepalive=15)
            except (OSError, ValueError) as exc:
                self._fail(describe_connect_error(exc, s.address), backoff.failed())
                continue
            self._client.loop_start()
            self._link_down.wait()
            self._client.loop_stop()
            if self._stop.is_set():
                return
            st = self.status()
            if st.state == "connected":
                backoff.reset()
                self._fail(f"lost the connection to the MQTT broker at {s.address}; reconnecting", backoff.failed())
            else:   # refused at CONNACK: the message says why
                self._fail(st.message, backoff.failed(), keep_message=True)

    def _fail(self, message: str, retry_in: float, *, keep_message: bool = False) -> None:
        text = message if keep_message else f"{message} (retrying in {retry_in:.0f} s; counts are kept)"
        self._set_status(replace(self.status(), state="failing", message=text))
        self._stop.wait(retry_in)

    def _paho_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                      properties: Any) -> None:
        if reason.is_failure:
            self._set_status(replace(self.status(), state="failing", message=describe_refusal(reason)))
            return
        if self.discovery is not None:
            client.subscribe(f"{self.discovery.discovery_prefix}/status", qos=1)
        self._notes.put(("connected", None))
        text = f"connected to {self.settings.address}, publishing under {self.topics.prefix}"
        self._set_status(replace(self.status(), state="connected", message=text))

    def _paho_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode,
                         properties: Any) -> None:
        self._notes.put(("disconnected", None))
        self._link_down.set()

    def _paho_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: ReasonCode,
                      properties: Any) -> None:
        self._notes.put(("acked", mid))

    def _paho_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self.discovery is not None and msg.topic == f"{self.discovery.discovery_prefix}/status" \
                and msg.payload.strip().lower() == b"online":
            self._notes.put(("ha_online", None))

    # ------------------------------------------------------------- publishing (the integrations' thread)

    def event(self, topic: str, payload: str) -> None:
        """An event message (not retained): queued on disk first, sent when the broker is there."""
        self.outbox.put(topic, payload, qos=1, retain=False)

    def pump(self, state: dict[str, str], discovery: dict[str, Config] | None) -> None:
        """Bring the broker to ``state`` (+ availability and the discovery configs) and send queued events."""
        self._take_notes()
        if self._connected:
            desired = dict(state)
            desired[self.topics.available] = ONLINE
            configs = {t: json.dumps(c, sort_keys=True, separators=(",", ":")) for t, c in (discovery or {}).items()}
            self._publish_state(desired, configs)
            self._send_events()
        st = self.status()
        if (st.queued, st.dropped) != (len(self.outbox), self.outbox.dropped):
            self._set_status(replace(st, queued=len(self.outbox), dropped=self.outbox.dropped))

    def _take_notes(self) -> None:
        while True:
            try:
                what, arg = self._notes.get_nowait()
            except queue.Empty:
                return
            if what == "connected":
                self._connected = True
                self._sent = {}          # a new connection: everything goes out again
                self._clearing = set()
            elif what == "disconnected":
                self._connected = False
            elif what == "acked":
                self._acked(int(arg))
            elif what == "ha_online" and self.discovery is not None:
                log.info("MQTT: Home Assistant is back online; sending the discovery configs again")
                for t in [t for t in self._sent if self.discovery.is_config_topic(t)]:
                    del self._sent[t]

    def _acked(self, mid: int) -> None:
        kind, arg = self._inflight.pop(mid, ("state", None))
        if kind == "event":
            self.outbox.done(arg)
            self._events_out.discard(arg)
        elif kind == "clear":
            self._clearing.discard(arg)
            if arg not in self._sent:      # not published again since
                self._on_broker.pop(arg, None)
                self.outbox.forget_retained([arg])

    def _publish(self, topic: str, payload: str | bytes, *, retain: bool, kind: str, arg: Any = None) -> None:
        info = self._client.publish(topic, payload, qos=1, retain=retain)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise RuntimeError(f"MQTT publish to {topic} failed: {mqtt.error_string(info.rc)}")
        if kind != "state":
            self._inflight[info.mid] = (kind, arg)

    def _publish_state(self, state: dict[str, str], configs: dict[str, str]) -> None:
        desired = {**state, **configs}
        remember: dict[str, str | None] = {}
        for topic, payload in desired.items():
            if self._sent.get(topic) == payload:
                continue
            if topic in configs:
                old = self._on_broker.get(topic)
                step = removal_step(json.loads(old) if old else None, json.loads(payload))
                if step is not None:
                    self._publish(topic, json.dumps(step, sort_keys=True), retain=True, kind="state")
            self._publish(topic, payload, retain=True, kind="state")
            self._sent[topic] = payload
            value = payload if topic in configs else None
            if topic not in self._on_broker or self._on_broker[topic] != value:
                self._on_broker[topic] = value
                remember[topic] = value
        self.outbox.remember_retained(remember)
        for topic in [t for t in {*self._on_broker, *self._sent} if t not in desired and t not in self._clearing]:
            self._publish(topic, b"", retain=True, kind="clear", arg=topic)
            self._sent.pop(topic, None)
            self._clearing.add(topic)

    def _send_events(self) -> None:
        room = INFLIGHT_EVENTS - len(self._events_out)
        if room <= 0:
            return
        for m in self.outbox.pending(room, self._events_out):
            self._publish(m.topic, m.payload, retain=m.retain, kind="event", arg=m.id)
            self._events_out.add(m.id)

