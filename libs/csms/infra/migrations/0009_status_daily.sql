-- Issue 8, questions "how busy is each connector?" (utilization), "how often is it usable?"
-- (availability) and "how long was it down, how many outages?" (uptime), per UTC day, from
-- status_events. Statuses are what stations report: 2.x Available / Occupied / Reserved /
-- Unavailable / Faulted, 1.6 verbatim (Available, Preparing, Charging, SuspendedEV,
-- SuspendedEVSE, Finishing, Reserved, Unavailable, Faulted). Occupied means Occupied or any
-- 1.6 in-session status; down means Unavailable or Faulted. EVSE 0 / connector 0 is the
-- station itself: filter `evse > 0` for connectors only.
--
-- Materialized (agg_status_daily, fed by mv_status_daily): per (station, day, evse,
-- connector, status) how many reports of that status there were (uniqExact of the event ids:
-- a redelivered copy has the same id, so duplicates do not count twice), and the first and
-- last report time. Cheap counts for dashboards:
--
--   SELECT day, status, uniqExactMerge(reports) AS reports
--   FROM agg_status_daily WHERE station = 'CP-001'
--   GROUP BY day, status ORDER BY day, status;
--
-- Plain views (computed at query time), because durations are not something an insert-time
-- aggregate can hold: a status lasts until the connector's *next* report, which a later insert
-- brings, possibly out of order. They read status_events FINAL (duplicates collapsed) with
-- window functions over each connector's reports ordered by time:
-- * v_status_intervals: one row per report, with `since` (its time), `until` (the next report's
--   time, or now for the current status: ongoing = 1) and the previous status;
-- * v_status_daily: seconds per (station, evse, connector, day, status), intervals split at
--   UTC midnight, and `entered` (changes into that status that day);
-- * v_utilization_daily: per connector per day observed / occupied / reserved / down seconds,
--   utilization = occupied share, availability = share not down;
-- * v_uptime_daily: per connector per day up / down / faulted / unavailable seconds, uptime
--   share and the number of outages (moves from an up status into a down one).
-- "Observed" time starts at a connector's first report ever, and the current day ends at now.
-- Status reports say nothing about the time a station is offline: it keeps its last status.
-- The views scan the whole table; for a big network put the filters into your own copy of the
-- query (see docs/analytics.md), e.g. `WHERE station = ...` inside v_status_intervals' FROM.
CREATE TABLE IF NOT EXISTS agg_status_daily
(
    station   String CODEC(ZSTD(1)),
    day       Date,
    evse      UInt32,
    connector UInt32,
    status    LowCardinality(String),
    reports   AggregateFunction(uniqExact, String),
    first_ts  AggregateFunction(min, DateTime64(3, 'UTC')),
    last_ts   AggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (station, day, evse, connector, status);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_status_daily TO agg_status_daily AS
SELECT
    station,
    toDate(ts) AS day,
    evse,
    connector,
    status,
    uniqExactState(event_id) AS reports,
    minState(ts) AS first_ts,
    maxState(ts) AS last_ts
FROM status_events
GROUP BY station, day, evse, connector, status;

INSERT INTO agg_status_daily
SELECT
    station,
    toDate(ts) AS day,
    evse,
    connector,
    status,
    uniqExactState(event_id) AS reports,
    minState(ts) AS first_ts,
    maxState(ts) AS last_ts
FROM status_events
GROUP BY station, day, evse, connector, status;

CREATE VIEW IF NOT EXISTS v_status_intervals AS
SELECT
    station,
    evse,
    connector,
    status,
    error_code,
    status IN ('Unavailable', 'Faulted') AS down,
    ts AS since,
    leadInFrame(ts, 1, toDateTime64(0, 3, 'UTC')) OVER w AS next_ts,
    toUInt8(next_ts = toDateTime64(0, 3, 'UTC')) AS ongoing,
    if(ongoing = 1, greatest(since, now64(3, 'UTC')), next_ts) AS until,
    lagInFrame(status, 1, '') OVER w AS previous_status,
    event_id
FROM status_events FINAL
WINDOW w AS (PARTITION BY station, evse, connector ORDER BY ts, event_id
             ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING);

CREATE VIEW IF NOT EXISTS v_status_daily AS
SELECT
    station,
    evse,
    connector,
    day,
    status,
    sum(dateDiff('millisecond', greatest(since, toDateTime64(day, 3, 'UTC')),
                 least(until, toDateTime64(day + 1, 3, 'UTC')))) / 1000 AS seconds,
    countIf(toDate(since) = day AND status != previous_status) AS entered
FROM v_status_intervals
ARRAY JOIN arrayMap(i -> toDate(since) + i,
                    range(toUInt32(dateDiff('day', toDate(since), toDate(until)) + 1))) AS day
WHERE toDateTime64(day, 3, 'UTC') < until OR since = until
GROUP BY station, evse, connector, day, status;

CREATE VIEW IF NOT EXISTS v_utilization_daily AS
SELECT
    station,
    evse,
    connector,
    day,
    sum(seconds) AS observed_s,
    sumIf(seconds, status IN ('Occupied', 'Preparing', 'Charging', 'SuspendedEV',
                              'SuspendedEVSE', 'Finishing')) AS occupied_s,
    sumIf(seconds, status = 'Reserved') AS reserved_s,
    sumIf(seconds, status IN ('Unavailable', 'Faulted')) AS down_s,
    if(observed_s > 0, occupied_s / observed_s, nan) AS utilization,
    if(observed_s > 0, 1 - down_s / observed_s, nan) AS availability
FROM v_status_daily
GROUP BY station, evse, connector, day;

CREATE VIEW IF NOT EXISTS v_uptime_daily AS
SELECT
    d.station AS station,
    d.evse AS evse,
    d.connector AS connector,
    d.day AS day,
    d.observed_s AS observed_s,
    d.observed_s - d.down_s AS up_s,
    d.down_s AS down_s,
    d.faulted_s AS faulted_s,
    d.unavailable_s AS unavailable_s,
    if(d.observed_s > 0, (d.observed_s - d.down_s) / d.observed_s, nan) AS uptime,
    o.outages AS outages
FROM
(
    SELECT station, evse, connector, day,
           sum(seconds) AS observed_s,
           sumIf(seconds, status IN ('Unavailable', 'Faulted')) AS down_s,
           sumIf(seconds, status = 'Faulted') AS faulted_s,
           sumIf(seconds, status = 'Unavailable') AS unavailable_s
    FROM v_status_daily
    GROUP BY station, evse, connector, day
) AS d
LEFT JOIN
(
    SELECT station, evse, connector, toDate(since) AS day,
           countIf(down AND previous_status NOT IN ('Unavailable', 'Faulted')) AS outages
    FROM v_status_intervals
    GROUP BY station, evse, connector, day
) AS o
ON d.station = o.station AND d.evse = o.evse AND d.connector = o.connector AND d.day = o.day;
