"""Prometheus metrics of the analytics sink, served at /metrics on its HTTP endpoint
(Settings.clickhouse_http_host:clickhouse_http_port, default 127.0.0.1:8123)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROWS_INSERTED = Counter(
    "csms_analytics_rows_inserted_total", "Rows inserted into ClickHouse", ["table"]
)
BATCHES = Counter("csms_analytics_batches_total", "Batches inserted and committed")
EVENTS = Counter("csms_analytics_events_total", "Kafka events consumed", ["topic"])
UNDECODABLE = Counter(
    "csms_analytics_undecodable_events_total",
    "Events (partly) skipped because they could not be decoded",
    ["topic", "reason"],
)
INSERT_SECONDS = Histogram(
    "csms_analytics_insert_seconds",
    "Duration of one table's insert of one batch",
    ["table"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
INSERT_FAILURES = Counter(
    "csms_analytics_insert_failures_total", "Failed insert attempts (retried)", ["table"]
)
COMMIT_FAILURES = Counter(
    "csms_analytics_commit_failures_total", "Offset commits Kafka refused (events redelivered)"
)
CONSUMER_LAG = Gauge(
    "csms_analytics_consumer_lag",
    "Events behind the partition high watermark at the last fetch",
    ["topic", "partition"],
)
HTTP_QUERIES = Counter(
    "csms_analytics_http_queries_total",
    "Queries served by the local ClickHouse HTTP endpoint",
    ["outcome"],
)
