-- One row per sampled value of 1.6 MeterValues / StopTransaction.transactionData and
-- 2.0.1 / 2.1 MeterValues / TransactionEvent.meterValue (csms.domain.meter_values.flatten).
-- ts is the sample's own timestamp; value is in `unit` after the 2.x multiplier.
--
-- Idempotence: (event_id, sample_index) names a sample uniquely and is deterministic for one
-- frame, so a redelivered frame produces rows with the same sorting key and ReplacingMergeTree
-- collapses them. Exact aggregates read with FINAL until merges have run, e.g. energy per
-- transaction from the register:
--
--   SELECT station, transaction_id, max(value) - min(value) AS energy_wh
--   FROM meter_values FINAL
--   WHERE measurand = 'Energy.Active.Import.Register' AND unit = 'Wh'
--     AND ts >= toDateTime64('2025-01-01 00:00:00', 3, 'UTC')
--   GROUP BY station, transaction_id;
--
-- (max/min/argMax are duplicate-insensitive and need no FINAL; sum/count/avg do.)
CREATE TABLE IF NOT EXISTS meter_values
(
    ts             DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    station        String CODEC(ZSTD(1)),
    evse           UInt32 CODEC(ZSTD(1)),
    connector      UInt32 CODEC(ZSTD(1)),
    transaction_id String CODEC(ZSTD(1)),
    measurand      LowCardinality(String),
    phase          LowCardinality(String),
    location       LowCardinality(String),
    unit           LowCardinality(String),
    value          Float64 CODEC(ZSTD(1)),
    context        LowCardinality(String),
    proto          LowCardinality(String),
    event_id       String CODEC(ZSTD(1)),
    sample_index   UInt32 CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (station, ts, event_id, sample_index);
