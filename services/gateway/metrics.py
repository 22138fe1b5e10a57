"""Prometheus metrics of the gateway, served on its own port at /metrics."""

from __future__ import annotations

import functools

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge("csms_gateway_connections", "Open station connections", ["proto"])
FRAMES = Counter(
    "csms_gateway_frames_total", "OCPP frames by action and direction", ["action", "dir"]
)


@functools.cache
def frames(action: str, direction: str) -> Counter:
    """FRAMES' child for one (action, dir): `labels()` locks and hashes on every call, and this
    runs twice per frame. Bounded: actions are the versions' known actions (or "")."""
    return FRAMES.labels(action, direction)


CALL_LATENCY = Histogram(
    "csms_gateway_call_latency_seconds",
    "Inbound CALL received -> CALLRESULT/CALLERROR sent (includes the Kafka ack)",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
KAFKA_ACK = Histogram(
    "csms_gateway_kafka_ack_seconds",
    "Frame handed to the producer -> acknowledged by Kafka (acks=all)",
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
KAFKA_INFLIGHT = Gauge(
    "csms_gateway_kafka_inflight", "Frames handed to Kafka, not yet acknowledged"
)
KAFKA_FAILURES = Counter("csms_gateway_kafka_failures_total", "Frames Kafka did not acknowledge")
CALL_ERRORS = Counter("csms_gateway_callerrors_total", "CALLERRORs sent to stations", ["code"])
HANDSHAKES_REJECTED = Counter(
    "csms_gateway_handshakes_rejected_total", "Refused WebSocket handshakes", ["reason"]
)
CLOSES = Counter(
    "csms_gateway_closes_total",
    "Connections closed by the gateway (or by websockets for it), by WebSocket close code",
    ["code"],
)
RATE_LIMITED = Counter("csms_gateway_rate_limited_total", "Frames refused by the rate limit")
UNMATCHED_ANSWERS = Counter(
    "csms_gateway_unmatched_answers_total",
    "CALLRESULT/CALLERROR frames for a message id the gateway did not send or no longer"
    " remembers (ignored, archived)",
)
# Named for what it counts across the OCPP network rather than the gateway's internals: the
# issue that made these CALLs served rather than refused asks operators to watch exactly this.
CONCURRENT_CALLS = Counter(
    "ocpp_concurrent_calls",
    "CALLs a station sent while its earlier CALL was unanswered (served in order, flagged)",
    ["proto"],
)
LENIENT_FRAMES = Counter(
    "csms_gateway_lenient_frames_total",
    "Frames accepted although they bent a rule the gateway need not enforce, by flag",
    ["flag"],
)
BOOTS_DEFERRED = Counter(
    "csms_gateway_boots_deferred_total",
    "BootNotifications answered Pending by the reconnect-storm guard",
)
KAFKA_PUBLISH_WAITS = Counter(
    "csms_gateway_kafka_publish_waits_total",
    "Frames that had to wait for room under the gateway's Kafka in-flight bound",
)
KAFKA_PUBLISH_TIMEOUTS = Counter(
    "csms_gateway_kafka_publish_timeouts_total",
    "Frames refused because no room came within the publish timeout (connection closed 1011)",
)
CSMS_CALLS = Counter(
    "csms_gateway_csms_calls_total",
    "CSMS-initiated CALLs (operator commands) handled by this gateway, by action and outcome",
    ["action", "outcome"],
)
CSMS_CALL_LATENCY = Histogram(
    "csms_gateway_csms_call_latency_seconds",
    "CSMS CALL sent to the station -> its CALLRESULT/CALLERROR received",
    buckets=(0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
