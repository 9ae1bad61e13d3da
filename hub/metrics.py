"""Prometheus metrics of one hub, in a registry of its own (no global state: tests run several
hubs in one process). Served at `/metrics`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_STAGE_BUCKETS = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    10,
)
PRESS_STAGES = ("wait", "plan", "commit", "ack", "fanout", "total")
"""The stages of a press through the hub (`chuong_press_stage_seconds`, docs/BENCHMARKS.md):
`wait` from its arrival to the writer taking its batch (parsing, the queue, the batch before),
`plan` to the start of the commit (the registry check, the duplicate look-up, the plan),
`commit` until the loop sees the transaction done, `ack` until its PUBACK is written,
`fanout` until its alarm and ack are queued for the broker; `total` from arrival to there."""
_ACK_BUCKETS = (5, 10, 15, 30, 45, 60, 90, 120, 180, 300, 600, 1800, 3600)


class _OpenAlarms(Collector):
    """Alarms by state, read from the hub's state when scraped."""

    def __init__(self, counts: Callable[[], dict[str, int]]) -> None:
        self._counts = counts

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("chuong_alarms", "Open alarms by state.", labels=["state"])
        counts = self._counts()
        for state in ("active", "acknowledged"):
            family.add_metric([state], counts.get(state, 0))
        yield family


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.presses = Counter(
            "chuong_presses",
            "Presses recorded (those that raise alarms), by type.",
            ["type"],
            registry=r,
        )
        self.button_events = Counter(
            "chuong_button_events",
            "Other events of buttons recorded (tamper, cancel), by type.",
            ["type"],
            registry=r,
        )
        self.duplicates = Counter(
            "chuong_press_duplicates", "Redelivered or repeated events dropped.", registry=r
        )
        self.rejected = Counter(
            "chuong_rejected_messages", "Messages rejected, by reason.", ["reason"], registry=r
        )
        self.ignored = Counter(
            "chuong_ignored_messages",
            "Messages that carried nothing to record (a vendor's other traffic, a retained "
            "replay), by reason.",
            ["reason"],
            registry=r,
        )
        self.pruned = Counter(
            "chuong_store_pruned_rows",
            "Rows deleted by the retention policy, by table.",
            ["table"],
            registry=r,
        )
        self.alarms_raised = Counter("chuong_alarms_raised", "Alarms raised.", ["test"], registry=r)
        self.alarms_resolved = Counter(
            "chuong_alarms_resolved", "Alarms resolved, by outcome.", ["outcome"], registry=r
        )
        self.ack_latency = Histogram(
            "chuong_alarm_ack_seconds",
            "From raise to acknowledgement by an officer.",
            buckets=_ACK_BUCKETS,
            registry=r,
        )
        self.ingest_latency = Histogram(
            "chuong_ingest_seconds",
            "From a message's arrival to its durable commit.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.commit_latency = Histogram(
            "chuong_commit_seconds",
            "Duration of one store transaction.",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.press_stage = Histogram(
            "chuong_press_stage_seconds",
            "Time a press spends in each stage of the press path (wait, plan, commit, ack, "
            "fanout; total: from arrival to its alarm queued for the broker).",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.commit_statement = Histogram(
            "chuong_store_commit_statement_seconds",
            "Duration of the COMMIT statement alone on the writer's thread (SQLite: the WAL's "
            "fsync).",
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.checkpoint = Histogram(
            "chuong_store_checkpoint_seconds",
            "Duration of one WAL checkpoint (off the writer's thread).",
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.loop_lag = Histogram(
            "chuong_loop_lag_seconds",
            "How late a periodic timer of the event loop fires (what held the loop).",
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.loop_lag_max = Gauge(
            "chuong_loop_lag_max_seconds",
            "The largest event-loop lag seen since the hub started.",
            registry=r,
        )
        self.batch_size = Histogram(
            "chuong_commit_batch_size",
            "Messages and commands per transaction.",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
            registry=r,
        )
        self.commit_failures = Counter(
            "chuong_commit_failures", "Failed store transactions (retried).", registry=r
        )
        self.quarantined = Counter(
            "chuong_quarantined_messages",
            "Messages the hub failed to process because of an internal error (kept as rejected).",
            registry=r,
        )
        self.untracked_devices = Counter(
            "chuong_untracked_device_messages",
            "Heartbeats and statuses of unregistered buttons not tracked (too many unknown ids).",
            registry=r,
        )
        self.heartbeats_dropped = Counter(
            "chuong_heartbeats_dropped",
            "Heartbeats dropped because the hub was backlogged.",
            registry=r,
        )
        self.publications_dropped = Counter(
            "chuong_mqtt_publications_dropped",
            "Fan-out publications dropped because too many waited for the broker.",
            registry=r,
        )
        self.publications_too_large = Counter(
            "chuong_mqtt_publications_too_large",
            "Publications dropped because they were larger than the broker's max_packet_size.",
            registry=r,
        )
        self.alarm_topics_repaired = Counter(
            "chuong_alarm_topics_repaired",
            "Retained alarm topics published again (`published`) or cleared again (`cleared`) by"
            " the topic repair after a connection or a dropped publication.",
            ["action"],
            registry=r,
        )
        self.alarm_topics_waiting = Gauge(
            "chuong_alarm_topics_waiting",
            "Retained alarm topics the current topic repair has still to publish.",
            registry=r,
        )
        self.mqtt_connected = Gauge(
            "chuong_mqtt_connected", "1 while connected to the broker.", registry=r
        )
        self.mqtt_connects = Counter(
            "chuong_mqtt_connects",
            "Successful broker connections, by session.",
            ["session"],
            registry=r,
        )
        self.upstream_connected = Gauge(
            "chuong_upstream_connected",
            "1 while the link to the district is connected (docs/DISTRICT.md).",
            registry=r,
        )
        self.upstream_pending = Gauge(
            "chuong_upstream_pending",
            "Alarm changes the district has not acknowledged yet (up to the window).",
            registry=r,
        )
        self.upstream_acknowledged = Counter(
            "chuong_upstream_acknowledged",
            "Alarm changes the district has acknowledged.",
            registry=r,
        )
        self.district_changes = Counter(
            "chuong_district_changes",
            "Posts' alarm changes received by a district, by outcome (applied, duplicate, early).",
            ["outcome"],
            registry=r,
        )
        self.store_writable = Gauge(
            "chuong_store_writable", "1 while the store accepts commits.", registry=r
        )
        self.pipeline_backlog = Gauge(
            "chuong_pipeline_backlog", "Messages waiting to be committed.", registry=r
        )
        self.http_connections = Gauge(
            "chuong_http_connections", "HTTP connections open (admitted by the caps).", registry=r
        )
        self.http_connections_closed = Counter(
            "chuong_http_connections_closed",
            "HTTP connections refused or closed by the front door, by reason (server_full, "
            "address_full, pushed_out, timeout).",
            ["reason"],
            registry=r,
        )
        self.http_accept_errors = Counter(
            "chuong_http_accept_errors",
            "Failed accept() calls on the HTTP socket (out of descriptors or memory).",
            registry=r,
        )
        self.http_log_lines_skipped = Counter(
            "chuong_http_log_lines_skipped",
            "Repeated HTTP server warnings left out of the log (at most one a minute per kind).",
            registry=r,
        )
        self.http_bodies_refused = Counter(
            "chuong_http_bodies_refused",
            "Requests refused with 413 because their body was over the limit.",
            registry=r,
        )

    def watch_alarms(self, counts: Callable[[], dict[str, int]]) -> None:
        self.registry.register(_OpenAlarms(counts))
