-- Issue 8, question "which vendors / models / firmware versions fail most?", from
-- status_events and the station dimension station_info (0007).
--
-- An error report is a status report with an error code (1.6 errorCode other than NoError: a
-- warning while the status is not Faulted) or the status Faulted (2.x has no error codes, so
-- its faults show as error_code 'Faulted'). A status report names no vendor: the vendor,
-- model and firmware come from joining station_info (the station's latest boot) at query time.
--
-- Materialized (agg_errors_daily, fed by mv_errors_daily): per (station, day, evse,
-- connector, error_code, faulted) the number of error reports as uniqExact of their event ids,
-- so redelivered copies count once:
--
--   SELECT error_code, uniqExactMerge(reports) AS reports
--   FROM agg_errors_daily WHERE day >= today() - 7
--   GROUP BY error_code ORDER BY reports DESC;
--
-- (The filter sits in a subquery because a SELECT alias is visible in ClickHouse's WHERE: the
-- output column error_code would otherwise shadow the source column of the same name.)
--
-- Plain view v_fault_rates_daily: per (day, vendor, model, firmware) the stations of that kind
-- (station_info FINAL: today's fleet, not as of that day), how many of them reported an error
-- / a fault that day, the error and fault reports, and the rates (stations with a fault / all
-- stations of that kind; fault reports per station). A view because station_info changes
-- after the fact (a firmware update re-labels the station) and a join at insert time would
-- freeze the old label. Stations that never booted since the archive began show vendor ''.
CREATE TABLE IF NOT EXISTS agg_errors_daily
(
    station    String CODEC(ZSTD(1)),
    day        Date,
    evse       UInt32,
    connector  UInt32,
    error_code LowCardinality(String),
    faulted    UInt8,
    reports    AggregateFunction(uniqExact, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (station, day, evse, connector, error_code, faulted);

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_errors_daily TO agg_errors_daily AS
SELECT
    station,
    toDate(ts) AS day,
    evse,
    connector,
    if(code IN ('', 'NoError'), status, code) AS error_code,
    toUInt8(status = 'Faulted') AS faulted,
    uniqExactState(event_id) AS reports
FROM
(
    SELECT ts, station, evse, connector, status, error_code AS code, event_id
    FROM status_events
    WHERE error_code NOT IN ('', 'NoError') OR status = 'Faulted'
)
GROUP BY station, day, evse, connector, error_code, faulted;

INSERT INTO agg_errors_daily
SELECT
    station,
    toDate(ts) AS day,
    evse,
    connector,
    if(code IN ('', 'NoError'), status, code) AS error_code,
    toUInt8(status = 'Faulted') AS faulted,
    uniqExactState(event_id) AS reports
FROM
(
    SELECT ts, station, evse, connector, status, error_code AS code, event_id
    FROM status_events
    WHERE error_code NOT IN ('', 'NoError') OR status = 'Faulted'
)
GROUP BY station, day, evse, connector, error_code, faulted;

CREATE VIEW IF NOT EXISTS v_fault_rates_daily AS
SELECT
    e.day AS day,
    e.vendor AS vendor,
    e.model AS model,
    e.firmware AS firmware,
    f.stations AS stations,
    uniqExact(e.station) AS stations_with_errors,
    uniqExactIf(e.station, e.fault_reports > 0) AS stations_with_faults,
    sum(e.error_reports) AS error_reports,
    sum(e.fault_reports) AS fault_reports,
    if(f.stations > 0, stations_with_faults / f.stations, nan) AS faulted_station_rate,
    if(f.stations > 0, fault_reports / f.stations, nan) AS faults_per_station
FROM
(
    SELECT a.station AS station, a.day AS day,
           s.vendor AS vendor, s.model AS model, s.firmware AS firmware,
           a.error_reports AS error_reports, a.fault_reports AS fault_reports
    FROM
    (
        SELECT station, day,
               sum(reports) AS error_reports,
               sumIf(reports, faulted = 1) AS fault_reports
        FROM
        (
            SELECT station, day, evse, connector, error_code, faulted,
                   uniqExactMerge(reports) AS reports
            FROM agg_errors_daily
            GROUP BY station, day, evse, connector, error_code, faulted
        )
        GROUP BY station, day
    ) AS a
    LEFT JOIN (SELECT station, vendor, model, firmware FROM station_info FINAL) AS s
    ON a.station = s.station
) AS e
LEFT JOIN
(
    SELECT vendor, model, firmware, count() AS stations
    FROM station_info FINAL
    GROUP BY vendor, model, firmware
) AS f
ON e.vendor = f.vendor AND e.model = f.model AND e.firmware = f.firmware
GROUP BY day, vendor, model, firmware, stations;
