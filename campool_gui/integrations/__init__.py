"""Counts leave the app: MQTT (with Home Assistant discovery) and a Prometheus endpoint.

No Qt in here. The integrations are fed by the master's change stream, like the UI:
`hub.Integrations` subscribes to the `Master` (its callback only drops each event into a queue:
the pool thread never waits on a broker), and its own thread applies the events to a `PoolMirror`
(mirror.py: totals, today's totals, per-minute rates, zones, cameras, workers, alerts), from which

* `mqtt_publisher.MqttPublisher` publishes retained state topics (topics.py) and Home Assistant
  device discovery (ha_discovery.py), and alerts as events through a persisted queue (outbox.py);
* `metrics.MetricsEndpoint` serves ``/metrics`` (prometheus-client) read from the same mirror.

Their settings (settings.py) come from the headless config (``[mqtt]``, ``[metrics]``) or the
Settings view (a 0600 file beside the history). A problem (a wrong host, a refused password, a port
in use) is one line in `Integrations.status()` and an ``integration_down`` alert on the master;
counting and storing never depend on them.
"""
