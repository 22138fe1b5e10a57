-- Issue 8, question "how much energy did each station / EVSE deliver, per hour?".
--
-- agg_energy_hourly (AggregatingMergeTree, fed by the materialized view mv_energy_hourly from
-- meter_values): per (station, evse, hour) the lowest, highest, first and last reading of the
-- whole-connector energy register, in Wh. "Whole connector" as csms.domain.transactions reads
-- it: measurand Energy.Active.Import.Register, no phase, location Outlet (the sink writes
-- Outlet when the station gave none; '' is accepted too); unit Wh / kWh (any case) or MWh.
--
-- Duplicate-safe: the sink is at-least-once and an MV sees every inserted copy, so the states
-- are only ones a copy cannot change - min, max, argMin / argMax by the sample time (a
-- redelivered sample has the same time and value). Nothing is counted or summed here.
-- Read with the -Merge combinators (no FINAL needed):
--
--   SELECT station, evse, hour, minMerge(min_wh) AS min_wh, maxMerge(max_wh) AS max_wh,
--          max_wh - min_wh AS energy_in_hour_wh
--   FROM agg_energy_hourly
--   WHERE station = 'CP-001' AND hour >= toDateTime('2025-03-01 00:00:00', 'UTC')
--   GROUP BY station, evse, hour ORDER BY evse, hour;
--
-- Caveats of max - min: it misses the energy between the hour's last sample and the next
-- hour's first one (it lands nowhere), and a meter reset or rollover inside the hour makes it
-- meaningless. v_energy_hourly gives the exact form: the difference between consecutive
-- sampled hours' last readings (the register counts up, so an hour's last reading is its
-- highest), which books all energy between two samples to the later sample's hour. An hour
-- whose last reading is below the previous hour's (a meter reset or replacement) has
-- reset = 1 and energy_wh = last - min (what was counted since the reset: a lower bound).
-- After a gap of hours without samples the whole gap's energy is booked to the first sampled
-- hour after it (the register does not say when within the gap it flowed). The first sampled
-- hour of an EVSE has no predecessor: its energy_wh is last - first.
--
-- The last statement of the file backfills the table from meter_values already stored.
CREATE TABLE IF NOT EXISTS agg_energy_hourly
(
    station  String CODEC(ZSTD(1)),
    evse     UInt32,
    hour     DateTime('UTC'),
    min_wh   AggregateFunction(min, Float64),
    max_wh   AggregateFunction(max, Float64),
    first_wh AggregateFunction(argMin, Float64, DateTime64(3, 'UTC')),
    last_wh  AggregateFunction(argMax, Float64, DateTime64(3, 'UTC')),
    first_ts AggregateFunction(min, DateTime64(3, 'UTC')),
    last_ts  AggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (station, evse, hour);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_energy_hourly TO agg_energy_hourly AS
SELECT
    station,
    evse,
    toStartOfHour(ts) AS hour,
    minState(wh) AS min_wh,
    maxState(wh) AS max_wh,
    argMinState(wh, ts) AS first_wh,
    argMaxState(wh, ts) AS last_wh,
    minState(ts) AS first_ts,
    maxState(ts) AS last_ts
FROM
(
    SELECT station, evse, ts,
           value * multiIf(lower(unit) = 'kwh', 1000., unit = 'MWh', 1000000., 1.) AS wh
    FROM meter_values
    WHERE measurand = 'Energy.Active.Import.Register' AND phase = ''
      AND location IN ('Outlet', '') AND (lower(unit) IN ('wh', 'kwh') OR unit = 'MWh')
)
GROUP BY station, evse, hour;

-- One row per (station, evse, sampled hour): min_wh / max_wh / first_wh / last_wh (Wh),
-- first_ts / last_ts (the hour's first and last sample), energy_in_hour_wh (max - min),
-- previous_wh (the last reading of the previous sampled hour, NaN for the first one),
-- energy_wh (last_wh - previous_wh; after a reset, last_wh - min_wh) and reset (1 when the
-- register went back since the previous sampled hour).
CREATE VIEW IF NOT EXISTS v_energy_hourly AS
SELECT
    station,
    evse,
    hour,
    min_wh,
    max_wh,
    first_wh,
    last_wh,
    first_ts,
    last_ts,
    max_wh - min_wh AS energy_in_hour_wh,
    lagInFrame(last_wh, 1, nan) OVER w AS previous_wh,
    toUInt8(NOT isNaN(previous_wh) AND last_wh < previous_wh) AS reset,
    multiIf(isNaN(previous_wh), last_wh - first_wh,
            reset = 1, last_wh - min_wh,
            last_wh - previous_wh) AS energy_wh
FROM
(
    SELECT station, evse, hour,
           minMerge(min_wh) AS min_wh, maxMerge(max_wh) AS max_wh,
           argMinMerge(first_wh) AS first_wh, argMaxMerge(last_wh) AS last_wh,
           minMerge(first_ts) AS first_ts, maxMerge(last_ts) AS last_ts
    FROM agg_energy_hourly
    GROUP BY station, evse, hour
)
WINDOW w AS (PARTITION BY station, evse ORDER BY hour ROWS BETWEEN 1 PRECEDING AND CURRENT ROW);

INSERT INTO agg_energy_hourly
SELECT
    station,
    evse,
    toStartOfHour(ts) AS hour,
    minState(wh) AS min_wh,
    maxState(wh) AS max_wh,
    argMinState(wh, ts) AS first_wh,
    argMaxState(wh, ts) AS last_wh,
    minState(ts) AS first_ts,
    maxState(ts) AS last_ts
FROM
(
    SELECT station, evse, ts,
           value * multiIf(lower(unit) = 'kwh', 1000., unit = 'MWh', 1000000., 1.) AS wh
    FROM meter_values
    WHERE measurand = 'Energy.Active.Import.Register' AND phase = ''
      AND location IN ('Outlet', '') AND (lower(unit) IN ('wh', 'kwh') OR unit = 'MWh')
)
GROUP BY station, evse, hour;
