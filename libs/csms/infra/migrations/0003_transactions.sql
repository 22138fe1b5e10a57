-- Charging sessions as the transactions processor publishes them on csms.transactions: one row
-- per snapshot of csms.domain.model.Transaction, whatever OCPP version the station speaks.
-- Times are epoch milliseconds (as in the model); the ALIAS columns show them as DateTime64.
-- meter_*_wh are the first / latest energy register readings, taken at meter_*_ms (station clock).
--
-- Idempotence and versions: ReplacingMergeTree(updated_ms) keeps, per (station, transaction_id),
-- the snapshot with the highest updated_ms, so replays and redeliveries converge to the latest
-- state. Read the current state either with FINAL:
--
--   SELECT station, transaction_id, state, energy_wh
--   FROM transactions FINAL
--   WHERE station = 'CP-001';
--
-- or without FINAL (cheaper on big tables) with argMax over the version column:
--
--   SELECT station, transaction_id,
--          argMax(state, updated_ms) AS state,
--          argMax(energy_wh, updated_ms) AS energy_wh
--   FROM transactions
--   GROUP BY station, transaction_id;
--
-- Not partitioned: ReplacingMergeTree only replaces within a partition, and no time column is
-- fixed for a session's whole life (started_ms may only become known in a later snapshot).
CREATE TABLE IF NOT EXISTS transactions
(
    key            String CODEC(ZSTD(1)),
    station        String CODEC(ZSTD(1)),
    transaction_id String CODEC(ZSTD(1)),
    proto          LowCardinality(String),
    evse           UInt32,
    connector      UInt32,
    id_token       String CODEC(ZSTD(1)),
    state          LowCardinality(String),
    started_ms     UInt64 CODEC(Delta, ZSTD(1)),
    ended_ms       UInt64 CODEC(Delta, ZSTD(1)),
    meter_start_wh Nullable(Float64),
    meter_stop_wh  Nullable(Float64),
    meter_start_ms UInt64 CODEC(Delta, ZSTD(1)),
    meter_stop_ms  UInt64 CODEC(Delta, ZSTD(1)),
    energy_wh      Float64,
    stop_reason    LowCardinality(String),
    updated_ms     UInt64 CODEC(Delta, ZSTD(1)),
    started        DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(toInt64(started_ms), 'UTC'),
    ended          DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(toInt64(ended_ms), 'UTC'),
    updated        DateTime64(3, 'UTC') ALIAS fromUnixTimestamp64Milli(toInt64(updated_ms), 'UTC')
)
ENGINE = ReplacingMergeTree(updated_ms)
ORDER BY (station, transaction_id);
