-- Issue 8: the station dimension. One row per station with what its latest inbound
-- BootNotification said: vendor, model, firmware, serial number and OCPP version. Join it to
-- any fact table by `station` to slice by vendor / model / firmware.
--
-- Fed by the materialized view mv_station_info from ocpp_frames (inbound BootNotification CALLs
-- the gateway accepted, err = ''), reading the payload - the 4th element of the raw CALL text
-- [2,"uid","BootNotification",{...}] - as csms.domain.status does: 1.6 chargePointVendor /
-- chargePointModel / firmwareVersion / chargePointSerialNumber (or the deprecated
-- chargeBoxSerialNumber); 2.0.1 / 2.1 chargingStation.vendorName / model / firmwareVersion /
-- serialNumber. The last statement backfills it from the frames archived before this migration.
--
-- Idempotence: ReplacingMergeTree(ts) keeps, per station, the row of the latest boot (gateway
-- receive time); a redelivered or replayed frame, or the backfill running again, inserts a copy
-- of a row that collapses with it. Until merges have run read it with FINAL (or argMax by ts):
--
--   SELECT vendor, model, firmware, count() AS stations
--   FROM station_info FINAL
--   GROUP BY vendor, model, firmware
--   ORDER BY stations DESC;
--
-- It is the latest boot, not the history: a station's firmware before an update is in
-- ocpp_frames (every BootNotification is archived there).
CREATE TABLE IF NOT EXISTS station_info
(
    station  String CODEC(ZSTD(1)),
    ts       DateTime64(3, 'UTC'),
    proto    LowCardinality(String),
    vendor   LowCardinality(String),
    model    LowCardinality(String),
    firmware LowCardinality(String),
    serial   String CODEC(ZSTD(1)),
    event_id String CODEC(ZSTD(1))
)
ENGINE = ReplacingMergeTree(ts)
ORDER BY station;

CREATE MATERIALIZED VIEW IF NOT EXISTS mv_station_info TO station_info AS
SELECT
    station,
    ts,
    proto,
    if(proto = 'ocpp1.6', JSONExtractString(frame, 4, 'chargePointVendor'),
       JSONExtractString(frame, 4, 'chargingStation', 'vendorName')) AS vendor,
    if(proto = 'ocpp1.6', JSONExtractString(frame, 4, 'chargePointModel'),
       JSONExtractString(frame, 4, 'chargingStation', 'model')) AS model,
    if(proto = 'ocpp1.6', JSONExtractString(frame, 4, 'firmwareVersion'),
       JSONExtractString(frame, 4, 'chargingStation', 'firmwareVersion')) AS firmware,
    if(proto = 'ocpp1.6',
       if(JSONExtractString(frame, 4, 'chargePointSerialNumber') != '',
          JSONExtractString(frame, 4, 'chargePointSerialNumber'),
          JSONExtractString(frame, 4, 'chargeBoxSerialNumber')),
       JSONExtractString(frame, 4, 'chargingStation', 'serialNumber')) AS serial,
    event_id
FROM ocpp_frames
WHERE kind = 'call' AND dir = 'in' AND action = 'BootNotification' AND err = '';

INSERT INTO station_info (station, ts, proto, vendor, model, firmware, serial, event_id)
SELECT
    station,
    ts,
    proto,
    if(proto = 'ocpp1.6', JSONExtractString(frame, 4, 'chargePointVendor'),
       JSONExtractString(frame, 4, 'chargingStation', 'vendorName')) AS vendor,
    if(proto = 'ocpp1.6', JSONExtractString(frame, 4, 'chargePointModel'),
       JSONExtractString(frame, 4, 'chargingStation', 'model')) AS model,
    if(proto = 'ocpp1.6', JSONExtractString(frame, 4, 'firmwareVersion'),
       JSONExtractString(frame, 4, 'chargingStation', 'firmwareVersion')) AS firmware,
    if(proto = 'ocpp1.6',
       if(JSONExtractString(frame, 4, 'chargePointSerialNumber') != '',
          JSONExtractString(frame, 4, 'chargePointSerialNumber'),
          JSONExtractString(frame, 4, 'chargeBoxSerialNumber')),
       JSONExtractString(frame, 4, 'chargingStation', 'serialNumber')) AS serial,
    event_id
FROM ocpp_frames
WHERE kind = 'call' AND dir = 'in' AND action = 'BootNotification' AND err = '';
