-- Issue 6: the neutral transaction's 2.x-style facts, and the neutral transaction events.
--
-- transactions gains what 2.x says (1.6: inferred): the latest charging state and trigger
-- reason, whether any of it happened offline, the CSMS remote start it answers (message id of
-- the Remote/RequestStartTransaction CALL), who closed it (station | policy), the flags of
-- csms.domain.transactions.flags (no_start, stopped_twice, seq_gaps, offline,
-- baseline_from_first_sample, meter_decreased, closed_by_policy, rebooted, remote_start) and
-- the milliseconds spent Charging.
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS charging_state LowCardinality(String);
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS trigger_reason LowCardinality(String);
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS offline UInt8;
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS remote_start_uid String CODEC(ZSTD(1));
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS closed_by LowCardinality(String);
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS flags Array(LowCardinality(String));
ALTER TABLE transactions ADD COLUMN IF NOT EXISTS charging_ms UInt64;

-- One row per neutral transaction event on csms.transactions: every 2.x TransactionEvent
-- (inferred = 0) and every event inferred from a 1.6 station's frames (inferred = 1), in the
-- 2.0.1 vocabulary (TriggerReasonEnumType, ChargingStateEnumType). transaction_id is empty
-- for an inferred event outside a transaction (CablePluggedIn before the start, ...).
--
-- Idempotence: `id` (the source frame's envelope id + what it is about) ends the sorting key,
-- so redelivered or replayed events collapse in ReplacingMergeTree; read exact counts with
-- FINAL or count(DISTINCT id):
--
--   SELECT trigger_reason, inferred, count(DISTINCT id)
--   FROM transaction_events
--   WHERE ts >= now() - INTERVAL 1 DAY
--   GROUP BY trigger_reason, inferred;
CREATE TABLE IF NOT EXISTS transaction_events
(
    ts             DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    station        String CODEC(ZSTD(1)),
    proto          LowCardinality(String),
    evse           UInt32,
    connector      UInt32,
    transaction_id String CODEC(ZSTD(1)),
    event_type     LowCardinality(String),
    trigger_reason LowCardinality(String),
    charging_state LowCardinality(String),
    seq_no         Nullable(UInt32),
    offline        UInt8,
    inferred       UInt8,
    id_token       String CODEC(ZSTD(1)),
    id             String CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (station, ts, id);
