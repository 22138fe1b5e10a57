-- Raw archive of every event on topic ocpp.frames: every OCPP frame, in and out, byte-exact,
-- plus connect/disconnect events. Any projection can be rebuilt and any dispute replayed from it.
--
-- Idempotence: the analytics sink may insert an event twice (Kafka redelivery after a crash
-- between insert and offset commit, or a deliberate replay). The sorting key ends with event_id,
-- so two copies of one event share a key and ReplacingMergeTree keeps one of them when parts
-- merge. Merges run in the background, so until then exact reads use FINAL:
--
--   SELECT action, count() FROM ocpp_frames FINAL
--   WHERE station = 'CP-001' AND ts >= now64(3) - INTERVAL 1 DAY
--   GROUP BY action;
--
-- (Or count distinct events without FINAL: SELECT uniqExact(event_id) FROM ocpp_frames WHERE ...)
--
-- station is a plain String, not LowCardinality: a network has far more than the ~10k distinct
-- values LowCardinality dictionaries are made for, and as the first sorting column it is stored
-- in long runs that ZSTD compresses to almost nothing anyway.
CREATE TABLE IF NOT EXISTS ocpp_frames
(
    ts       DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    station  String CODEC(ZSTD(1)),
    event_id String CODEC(ZSTD(1)),
    gateway  LowCardinality(String),
    conn     String CODEC(ZSTD(1)),
    proto    LowCardinality(String),
    dir      LowCardinality(String),
    kind     LowCardinality(String),
    uid      String CODEC(ZSTD(1)),
    action   LowCardinality(String),
    frame    String CODEC(ZSTD(3)),
    err      LowCardinality(String)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (station, ts, event_id);
