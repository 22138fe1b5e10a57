"""Runtime settings, read once from the environment.

Every process of the CSMS takes its configuration from environment variables (the twelve-factor
way that Kubernetes ConfigMaps expect). Defaults are the local stack of `make up`.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from csms.infra.retention import parse_ttl_days
from csms.security.client_cert import CLIENT_CERT_MODES

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCAL_STATE_DIR = Path(os.environ.get("CSMS_LOCAL_DIR", str(PROJECT_ROOT / ".local")))


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be an integer, got {raw!r}") from exc


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"environment variable {name} must be a number, got {raw!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"environment variable {name} must be true or false, got {raw!r}")


def _env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = os.environ.get(name) or default
    if raw not in choices:
        raise ValueError(f"environment variable {name} must be one of {choices}, got {raw!r}")
    return raw


@dataclass(frozen=True)
class Topics:
    """Kafka topic names. A prefix isolates test runs that share one broker."""

    prefix: str = ""

    @property
    def frames(self) -> str:
        return f"{self.prefix}ocpp.frames"

    @property
    def commands(self) -> str:
        return f"{self.prefix}ocpp.commands"

    @property
    def transactions(self) -> str:
        return f"{self.prefix}csms.transactions"

    @property
    def status(self) -> str:
        return f"{self.prefix}csms.status"

    @property
    def audit(self) -> str:
        """Every state-changing operator API call, with who made it (commands are also on
        `commands` with their outcome)."""
        return f"{self.prefix}csms.audit"

    @property
    def policy(self) -> str:
        """Decisions the CSMS takes about the network on its own (a zombie transaction closed
        by policy): facts the projections fold like frames, so a replay repeats them."""
        return f"{self.prefix}csms.policy"

    @property
    def bills(self) -> str:
        """The billing projection's bills (final, and revisions when late data changed one),
        key = station; the analytics sink writes them to ClickHouse `bills`."""
        return f"{self.prefix}csms.bills"

    def all(self) -> list[str]:
        return [
            self.frames,
            self.commands,
            self.transactions,
            self.status,
            self.audit,
            self.policy,
            self.bills,
        ]


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_partitions: int = 4
    # Replicas of the topics the services create (when nothing created them first): 3 on a
    # production cluster, so they match the KafkaTopics whichever side creates a topic first.
    kafka_replication_factor: int = 1
    kafka_linger_ms: int = 2
    # How long a produce request, and a batch whose partition has no leader, may wait: it must
    # outlast a broker restart (csms.infra.kafka.make_producer, and librdkafka's message.timeout.ms
    # in services/gateway/kafka_sink.py); 120 s = Java's default delivery.timeout.ms.
    kafka_request_timeout_ms: int = 120_000
    topics: Topics = field(default_factory=Topics)
    redis_url: str = "redis://127.0.0.1:6379/0"
    clickhouse_url: str = f"chdb://{LOCAL_STATE_DIR / 'clickhouse'}"
    clickhouse_http_host: str = "127.0.0.1"
    clickhouse_http_port: int = 8123
    gateway_id: str = field(default_factory=lambda: f"gw-{socket.gethostname()}")
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 9000
    gateway_max_frame_bytes: int = 64 * 1024
    gateway_pipeline_window: int = 16
    # Admission of unknown stations: open (registered on first connect), pending (BootNotification
    # answered Pending until an operator accepts), closed (refused at the WebSocket handshake).
    gateway_admission: str = "open"
    # Security profile 1: HTTP Basic auth required for stations that have a password set; with
    # gateway_require_auth every station must present valid credentials.
    gateway_require_auth: bool = False
    # Security profile 3 behind a TLS-terminating proxy (ingress-nginx auth-tls): off (the
    # proxy's headers are ignored: anyone could forge them), optional (a station with a verified
    # certificate whose CN is its id is authenticated by it, the others fall back to Basic auth),
    # required (every station needs one). The header names are the proxy's (nginx's defaults).
    gateway_client_cert: str = "off"
    gateway_client_cert_verify_header: str = "ssl-client-verify"
    gateway_client_cert_dn_header: str = "ssl-client-subject-dn"
    gateway_compression: bool = True
    gateway_compression_window_bits: int = 10
    gateway_compression_mem_level: int = 2
    gateway_reuse_port: bool = False
    # Gateway processes `csms up` runs on one port (SO_REUSEPORT; 0 = one per usable core): one
    # Python process uses one core. On Kubernetes each pod runs one, and replicas scale out.
    gateway_processes: int = 0
    gateway_idle_timeout_s: float = 900.0
    gateway_rate_limit_per_s: float = 20.0
    gateway_rate_burst: int = 60
    gateway_drain_window_s: float = 10.0
    # ... at this many closes per second at most: a few stations are closed at once (a local
    # stack stops in well under a second), tens of thousands are spread over the whole window.
    gateway_drain_rate_per_s: float = 2000.0
    # Frames handed to Kafka and not acknowledged yet, over the whole gateway; at the bound the
    # sessions stop reading their sockets, and give up (close 1011) after the publish timeout.
    gateway_kafka_max_inflight: int = 10_000
    # The gateway's producer linger, longer than the other services' (KAFKA_LINGER_MS): its
    # frames are many and small, and a batch of 20 ms per partition halves the Kafka bytes per
    # frame and cuts the gateway's CPU per CALL by a fifth, for 20 ms more on an answer (ADR 0027).
    gateway_kafka_linger_ms: int = 20
    gateway_kafka_publish_timeout_s: float = 10.0
    # A CALL not acknowledged by Kafka within this time is answered InternalError (the station
    # retries) rather than left hanging; OCPP stations time their CALLs out after ~30-60 s.
    gateway_answer_timeout_s: float = 30.0
    # OCPP-J's "one CALL at a time" binds the sender: by default a CALL that arrives while the
    # same station's earlier CALL is unanswered is handled and answered in order, counted and
    # flagged (ConcurrentCall). true: refuse it in 2.0.1/2.1 with RpcFrameworkError (opt-in;
    # a refused TransactionEvent(Ended) loses the end of a session). 1.6 is always pipelined.
    gateway_strict_call_order: bool = False
    # A CALL whose only schema fault is properties its schema does not define is processed (the
    # unknown properties ignored, the frame flagged UnknownProperties); true: FormatViolation.
    gateway_strict_schema: bool = False
    # Reconnect-storm guard: above this many BootNotifications per second (or this many frames
    # in flight to Kafka) boots are answered Pending with an interval of storm_retry_s + jitter.
    gateway_storm_boots_per_s: float = 500.0
    gateway_storm_max_inflight: int = 8_000  # below gateway_kafka_max_inflight, so it can fire
    gateway_storm_retry_s: int = 30
    heartbeat_interval_s: int = 300
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    # Bootstrap admin bearer token of the operator API (CSMS_API_TOKEN); empty = none, and
    # `csms up` mints one in Redis and prints it. Kept out of repr: settings may be logged.
    api_token: str = field(default="", repr=False)
    api_command_timeout_s: float = 30.0  # how long a command waits for the station by default
    # Request bodies above this are refused 413 before they are read whole (the largest real
    # ones, a local authorization list or a tariff, stay far below).
    api_max_body_bytes: int = 4 * 1024 * 1024
    # Lifetime of an API token minted without `expires_in_s` (POST /api/v1/api-tokens): 90 days,
    # so a forgotten token stops working on its own; 0 = such tokens never expire (ADR 0028).
    api_token_ttl_s: int = 90 * 24 * 3600
    # Per-client token bucket of each API replica (services/api/rate_limit.py): a client (a token
    # the replica has authenticated, else the source address) gets api_rate_limit_burst requests
    # at once, refilled at api_rate_limit_per_s; beyond, 429. Either 0 disables it; /health,
    # /metrics and the bootstrap api_token are never limited (ADR 0028).
    api_rate_limit_per_s: float = 200.0
    api_rate_limit_burst: int = 400
    # The frames consumer's group (the offsets of ocpp.frames and csms.policy); the billing's
    # is `processors_billing_group`, faust's (timers, leader election) `processors_faust_app_id`.
    processors_app_id: str = "csms-processors"
    processors_web_port: int = 6066
    # Zombie transactions (closed by the processors' policy, csms.domain.transactions): nothing
    # heard of an active one for tx_zombie_after_s, or the station rebooted and the session
    # never showed up again within tx_reboot_grace_s. Checked every tx_sweep_interval_s.
    # Each processor agent folds up to processors_batch_max events (waiting at most
    # processors_batch_s for them), then writes Redis in one pipeline (write-behind).
    processors_batch_max: int = 1000
    processors_batch_s: float = 0.05
    # Keys each agent's write-behind copy holds before it evicts those not used since its last
    # eviction (csms.projections.write_behind): about 5 per station plus the open transactions.
    processors_cache_keys: int = 20_000
    tx_zombie_after_s: int = 48 * 3600
    tx_reboot_grace_s: int = 900
    tx_sweep_interval_s: float = 60.0
    # JSON file of 1.6 inference rules per vendor/model (csms.domain.inference16.RulesRegistry
    # .from_dict); empty = the default rules for every station.
    inference16_rules: str = ""
    # Billing (libs/csms/projections/billing.py): stations that can display cost get CostUpdated
    # (2.x) every billing_cost_interval_s of session time (0 = never); 1.6 stations that report
    # CustomDisplayCostAndPrice get the OCA RunningCost/FinalCost DataTransfer only when
    # billing_datatransfer16 is on (a vendor extension: off by default).
    billing_cost_interval_s: int = 60
    billing_datatransfer16: bool = False
    analytics_group_id: str = "csms-analytics"
    analytics_batch_rows: int = 50_000
    analytics_batch_seconds: float = 0.5
    # Users of the local ClickHouse HTTP endpoint (services/analytics/http_endpoint/): path to
    # a JSON file {"<user>": {"password_sha256": "<hex>", "readonly": true}}; empty = only
    # `default` without password, and then the endpoint serves loopback hosts only.
    analytics_http_users: str = ""
    # Retention per ClickHouse table in days (ANALYTICS_TTL_DAYS="ocpp_frames=90,..."; a table
    # left out keeps its rows forever), applied by the analytics sink at start
    # (csms.infra.retention). Not hashed: a dict is not hashable.
    analytics_ttl_days: dict[str, int] = field(default_factory=dict, hash=False)

    @property
    def processors_billing_group(self) -> str:
        """The billing consumer's group: its offsets of csms.transactions."""
        return f"{self.processors_app_id}-billing"

    @property
    def processors_faust_app_id(self) -> str:
        """faust's app id and group (web page, timers, the zombie sweep's leader election)."""
        return f"{self.processors_app_id}-faust"

    @classmethod
    def from_env(cls) -> Settings:
        base = cls()
        return cls(
            kafka_bootstrap=_env("KAFKA_BOOTSTRAP", base.kafka_bootstrap),
            kafka_partitions=_env_int("KAFKA_PARTITIONS", base.kafka_partitions),
            kafka_replication_factor=_env_int(
                "KAFKA_REPLICATION_FACTOR", base.kafka_replication_factor
            ),
            kafka_linger_ms=_env_int("KAFKA_LINGER_MS", base.kafka_linger_ms),
            kafka_request_timeout_ms=_env_int(
                "KAFKA_REQUEST_TIMEOUT_MS", base.kafka_request_timeout_ms
            ),
            topics=Topics(prefix=_env("CSMS_TOPIC_PREFIX", "")),
            redis_url=_env("REDIS_URL", base.redis_url),
            clickhouse_url=_env("CLICKHOUSE_URL", base.clickhouse_url),
            clickhouse_http_host=_env("CLICKHOUSE_HTTP_HOST", base.clickhouse_http_host),
            clickhouse_http_port=_env_int("CLICKHOUSE_HTTP_PORT", base.clickhouse_http_port),
            gateway_kafka_linger_ms=_env_int(
                "GATEWAY_KAFKA_LINGER_MS", base.gateway_kafka_linger_ms
            ),
            gateway_id=_env("GATEWAY_ID", base.gateway_id),
            gateway_host=_env("GATEWAY_HOST", base.gateway_host),
            gateway_port=_env_int("GATEWAY_PORT", base.gateway_port),
            gateway_max_frame_bytes=_env_int(
                "GATEWAY_MAX_FRAME_BYTES", base.gateway_max_frame_bytes
            ),
            gateway_pipeline_window=_env_int(
                "GATEWAY_PIPELINE_WINDOW", base.gateway_pipeline_window
            ),
            gateway_admission=_env_choice(
                "GATEWAY_ADMISSION", base.gateway_admission, ("open", "pending", "closed")
            ),
            gateway_require_auth=_env_bool("GATEWAY_REQUIRE_AUTH", base.gateway_require_auth),
            gateway_client_cert=_env_choice(
                "GATEWAY_CLIENT_CERT", base.gateway_client_cert, CLIENT_CERT_MODES
            ),
            gateway_client_cert_verify_header=_env(
                "GATEWAY_CLIENT_CERT_VERIFY_HEADER", base.gateway_client_cert_verify_header
            ),
            gateway_client_cert_dn_header=_env(
                "GATEWAY_CLIENT_CERT_DN_HEADER", base.gateway_client_cert_dn_header
            ),
            gateway_compression=_env_bool("GATEWAY_COMPRESSION", base.gateway_compression),
            gateway_compression_window_bits=_env_int(
                "GATEWAY_COMPRESSION_WINDOW_BITS", base.gateway_compression_window_bits
            ),
            gateway_compression_mem_level=_env_int(
                "GATEWAY_COMPRESSION_MEM_LEVEL", base.gateway_compression_mem_level
            ),
            gateway_reuse_port=_env_bool("GATEWAY_REUSE_PORT", base.gateway_reuse_port),
            gateway_processes=_env_int("GATEWAY_PROCESSES", base.gateway_processes),
            gateway_idle_timeout_s=_env_float(
                "GATEWAY_IDLE_TIMEOUT_S", base.gateway_idle_timeout_s
            ),
            gateway_rate_limit_per_s=_env_float(
                "GATEWAY_RATE_LIMIT_PER_S", base.gateway_rate_limit_per_s
            ),
            gateway_rate_burst=_env_int("GATEWAY_RATE_BURST", base.gateway_rate_burst),
            gateway_drain_window_s=_env_float(
                "GATEWAY_DRAIN_WINDOW_S", base.gateway_drain_window_s
            ),
            gateway_drain_rate_per_s=_env_float(
                "GATEWAY_DRAIN_RATE_PER_S", base.gateway_drain_rate_per_s
            ),
            gateway_kafka_max_inflight=_env_int(
                "GATEWAY_KAFKA_MAX_INFLIGHT", base.gateway_kafka_max_inflight
            ),
            gateway_kafka_publish_timeout_s=_env_float(
                "GATEWAY_KAFKA_PUBLISH_TIMEOUT_S", base.gateway_kafka_publish_timeout_s
            ),
            gateway_answer_timeout_s=_env_float(
                "GATEWAY_ANSWER_TIMEOUT_S", base.gateway_answer_timeout_s
            ),
            gateway_strict_call_order=_env_bool(
                "GATEWAY_STRICT_CALL_ORDER", base.gateway_strict_call_order
            ),
            gateway_strict_schema=_env_bool("GATEWAY_STRICT_SCHEMA", base.gateway_strict_schema),
            gateway_storm_boots_per_s=_env_float(
                "GATEWAY_STORM_BOOTS_PER_S", base.gateway_storm_boots_per_s
            ),
            gateway_storm_max_inflight=_env_int(
                "GATEWAY_STORM_MAX_INFLIGHT", base.gateway_storm_max_inflight
            ),
            gateway_storm_retry_s=_env_int("GATEWAY_STORM_RETRY_S", base.gateway_storm_retry_s),
            heartbeat_interval_s=_env_int("HEARTBEAT_INTERVAL_S", base.heartbeat_interval_s),
            api_host=_env("API_HOST", base.api_host),
            api_port=_env_int("API_PORT", base.api_port),
            api_token=_env("CSMS_API_TOKEN", base.api_token),
            api_command_timeout_s=_env_float("API_COMMAND_TIMEOUT_S", base.api_command_timeout_s),
            api_max_body_bytes=_env_int("API_MAX_BODY_BYTES", base.api_max_body_bytes),
            api_token_ttl_s=_env_int("API_TOKEN_TTL_S", base.api_token_ttl_s),
            api_rate_limit_per_s=_env_float("API_RATE_LIMIT_PER_S", base.api_rate_limit_per_s),
            api_rate_limit_burst=_env_int("API_RATE_LIMIT_BURST", base.api_rate_limit_burst),
            processors_app_id=_env("PROCESSORS_APP_ID", base.processors_app_id),
            processors_web_port=_env_int("PROCESSORS_WEB_PORT", base.processors_web_port),
            processors_batch_max=_env_int("PROCESSORS_BATCH_MAX", base.processors_batch_max),
            processors_batch_s=_env_float("PROCESSORS_BATCH_S", base.processors_batch_s),
            processors_cache_keys=_env_int("PROCESSORS_CACHE_KEYS", base.processors_cache_keys),
            tx_zombie_after_s=_env_int("TX_ZOMBIE_AFTER_S", base.tx_zombie_after_s),
            tx_reboot_grace_s=_env_int("TX_REBOOT_GRACE_S", base.tx_reboot_grace_s),
            tx_sweep_interval_s=_env_float("TX_SWEEP_INTERVAL_S", base.tx_sweep_interval_s),
            inference16_rules=_env("INFERENCE16_RULES", base.inference16_rules),
            billing_cost_interval_s=_env_int(
                "BILLING_COST_INTERVAL_S", base.billing_cost_interval_s
            ),
            billing_datatransfer16=_env_bool("BILLING_DATATRANSFER16", base.billing_datatransfer16),
            analytics_group_id=_env("ANALYTICS_GROUP_ID", base.analytics_group_id),
            analytics_batch_rows=_env_int("ANALYTICS_BATCH_ROWS", base.analytics_batch_rows),
            analytics_batch_seconds=_env_float(
                "ANALYTICS_BATCH_SECONDS", base.analytics_batch_seconds
            ),
            analytics_http_users=_env("ANALYTICS_HTTP_USERS", base.analytics_http_users),
            analytics_ttl_days=parse_ttl_days(_env("ANALYTICS_TTL_DAYS", "")),
        )
