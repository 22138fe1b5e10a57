-- Connector status changes as the processors publish them on csms.status
-- (csms.domain.model.ConnectorStatus; 1.6 statuses already in the 2.0.1 vocabulary).
-- EVSE 0 / connector 0 is the station itself.
--
-- Idempotence: event_id (the frame that reported the status) ends the sorting key, so a
-- redelivered event collapses in ReplacingMergeTree. Exact history reads with FINAL:
--
--   SELECT ts, evse, connector, status, error_code
--   FROM status_events FINAL
--   WHERE station = 'CP-001'
--   ORDER BY ts;
--
-- and the latest status per connector without FINAL (argMax is duplicate-insensitive):
--
--   SELECT station, evse, connector, argMax(status, ts) AS status, max(ts) AS since
--   FROM status_events
--   GROUP BY station, evse, connector;
CREATE TABLE IF NOT EXISTS status_events
(
    ts         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    station    String CODEC(ZSTD(1)),
    evse       UInt32,
    connector  UInt32,
    status     LowCardinality(String),
    error_code LowCardinality(String),
    proto      LowCardinality(String),
    event_id   String CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (station, ts, evse, connector, event_id);
