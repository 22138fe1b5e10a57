-- DRAFT (issue 8, sink throughput): ClickHouse flattens meter values instead of the sink.
--
-- Kept in migration_drafts/ so that `csms.infra.migrate` does not pick it up: while the sink still
-- inserts meter_values itself, this view would write every sample a second time. Adopting it
-- = rename to 0012_meter_values_from_frames.sql in the same change that makes
-- services.analytics.rows.route_frame return only the archive row.
--
-- mv_meter_values_from_frames reads every inserted ocpp_frames row and writes the rows
-- csms.domain.meter_values.flatten + services.analytics.rows.meter_row produce for it, same
-- columns and values (tests/unit/analytics/test_meter_values_sql_parity.py checks it):
--
-- * only accepted inbound CALLs (kind 'call', dir 'in', err ''), frame = JSON array of >= 4
--   items, [0] == 2, [2] a string (the action read from the frame, not the envelope), [3] an
--   object;
-- * 1.6 MeterValues (connectorId N >= 0 -> evse N / connector 1, 0 -> 0/0, transactionId) and
--   StopTransaction.transactionData (0/0, transactionId); 2.0.1 / 2.1 MeterValues (evseId >= 0,
--   connector 0) and TransactionEvent (evse.id / evse.connectorId when >= 0 else 0,
--   transactionInfo.transactionId); transaction ids as text (integers printed);
-- * 1.6 values: strings holding a plain decimal (Python's strip + frames._DECIMAL), SignedData
--   skipped; 2.x values: JSON numbers times 10^unitOfMeasure.multiplier (an integer, |m| <= 22,
--   divided by an exact power of ten when negative); non-finite results skipped;
-- * sample_index counts the kept samples of the frame (dense, like enumerate after skipping);
-- * ts: the meterValue's ISO 8601 timestamp (YYYY-MM-DD[Thh[:mm[:ss[.f]]][Z|+-hh[[:]mm[:ss]]]],
--   validated like datetime.fromisoformat, rounded to ms half-even like round()), else the
--   frame's receive time; rows the sink's meter_row would refuse (ts outside 1970..2299,
--   evse / connector above UInt32) are dropped, the others of the frame keep their index.
--
-- Known differences (exotic inputs only): timestamps in forms fromisoformat also accepts
-- (basic 20250301T080000, week dates, any separator character, '.Z') fall back to the receive
-- time here; 1.6 values written with non-ASCII digits (Python's \d and float() accept them)
-- are skipped here; a JSON object with a duplicated key reads the first copy here, the last in
-- orjson; a JSON integer beyond 64 bits is a float to orjson, a string to ClickHouse (sample
-- skipped here). Also: the 1.6 timestamp "1740011481445" (epoch ms as text) is 1740-01-14
-- to fromisoformat, so Python drops those samples (out of range) and this view keeps them at
-- the receive time.
--
-- Cost (chDB, 2 shared cores, bench.synthetic_frames 10 samples/frame): inserting frames
-- through this view ~55k meter rows/s (the SELECT alone ~90-100k), against ~28k today. Most of
-- it is exactness: every JSON function call re-parses its argument, and the int-vs-float and
-- string-vs-number checks need calls a plain typed JSONExtract (~900k rows/s) does not make.
CREATE MATERIALIZED VIEW IF NOT EXISTS mv_meter_values_from_frames TO meter_values AS
SELECT
    fromUnixTimestamp64Milli(ts_ms, 'UTC') AS ts,
    station,
    toUInt32(evse_n) AS evse,
    toUInt32(connector_n) AS connector,
    transaction_id,
    ifNull(nullIf(tupleElement(k.1, 'measurand'), ''), 'Energy.Active.Import.Register')
        AS measurand,
    tupleElement(k.1, 'phase') AS phase,
    ifNull(nullIf(tupleElement(k.1, 'location'), ''), 'Outlet') AS location,
    ifNull(nullIf(if(is16, tupleElement(k.1, 'unit'),
                     tupleElement(tupleElement(k.1, 'unitOfMeasure'), 'unit')), ''), 'Wh') AS unit,
    k.2 AS value,
    ifNull(nullIf(tupleElement(k.1, 'context'), ''), 'Sample.Periodic') AS context,
    proto,
    event_id,
    toUInt32(off + n - 1) AS sample_index
FROM
(
    -- one row per meterValue with kept samples: its timestamp read
    SELECT
        station, proto, event_id, is16, evse_n, connector_n, transaction_id, mk, off,
        extractGroups(tst,
            '^(\\d{4})-(\\d{2})-(\\d{2})(?:[T ](\\d{2})(?::(\\d{2})(?::(\\d{2})(?:[.,](\\d+))?)?)?(?:(Z)|([+-])(\\d{2})(?::?(\\d{2})(?::(\\d{2})(?:\\.(\\d+))?)?)?)?)?$')
            AS g,
        toInt64OrZero(g[1]) AS y, toInt64OrZero(g[2]) AS mo, toInt64OrZero(g[3]) AS d,
        toInt64OrZero(g[4]) AS hh, toInt64OrZero(g[5]) AS mi, toInt64OrZero(g[6]) AS ss,
        toInt64OrZero(g[10]) AS oh, toInt64OrZero(g[11]) AS om, toInt64OrZero(g[12]) AS os,
        -- fromisoformat truncates fractions to microseconds
        toInt64OrZero(rightPad(substring(g[7], 1, 6), 6, '0')) AS frac_us,
        toInt64OrZero(rightPad(substring(g[13], 1, 6), 6, '0')) AS ofrac_us,
        length(g) = 13 AND y >= 1 AND mo BETWEEN 1 AND 12 AND d >= 1
            AND d <= [31, if((y % 4 = 0 AND y % 100 != 0) OR y % 400 = 0, 29, 28),
                      31, 30, 31, 30, 31, 31, 30, 31, 30, 31][mo]
            AND hh <= 23 AND mi <= 59 AND ss <= 59 AND oh <= 23 AND om <= 59 AND os <= 59
            AS ts_ok,
        -- days from the civil date (H. Hinnant's algorithm: any year 1..9999, unlike Date32)
        y - (mo <= 2) AS yy,
        intDiv(yy, 400) AS era,
        yy - era * 400 AS yoe,
        yoe * 365 + intDiv(yoe, 4) - intDiv(yoe, 100)
            + intDiv(153 * ((mo + 9) % 12) + 2, 5) + d - 1 AS doe,
        era * 146097 + doe - 719468 AS days,
        days * 86400000000 + ((hh * 60 + mi) * 60 + ss) * 1000000 + frac_us
            - if(g[9] = '-', -1, 1) * (((oh * 60 + om) * 60 + os) * 1000000 + ofrac_us) AS us,
        -- round(timestamp() * 1000) in Python: a float, rounded half to even (as round() here)
        if(ts_ok, toInt64(round(us / 1000000 * 1000)), env_ms) AS ts_ms
    FROM
    (
        -- per frame: the kept samples as (timestamp text, fields, value), in frame order.
        -- JSONExtract*Raw re-serializes numbers (3.0 becomes 3; a double beyond 2^64 prints
        -- as 20 digits that ClickHouse reads back as a string), so where that matters the
        -- JSON type is asked of the original frame text, by path.
        SELECT
            station, proto, event_id, env_ms, is16, evse_n, connector_n, transaction_id,
            -- per meterValue: (timestamp text or '', its sampledValues, its position)
            arrayMap((mv, i) -> (
                if(JSONType(mv, 'timestamp') = 'String', JSONExtractString(mv, 'timestamp'), ''),
                JSONExtractArrayRaw(mv, 'sampledValue'), i),
                meter_values, arrayEnumerate(meter_values)) AS per_meter_value,
            -- per sample: (timestamp text, JSON type of value, multiplier absent or an
            -- integer, fields)
            arrayMap(m -> arrayMap((sv, j) -> (m.1,
                if(JSONType(sv, 'value') = 'String'
                       AND match(JSONExtractString(sv, 'value'), '^-?[0-9]{17,}$'),
                   JSONType(frame, 4, mv_key, m.3, 'sampledValue', j, 'value'),
                   JSONType(sv, 'value')),
                position(sv, '"multiplier":') = 0
                    OR NOT JSONHas(sv, 'unitOfMeasure', 'multiplier')
                    OR JSONType(frame, 4, mv_key, m.3, 'sampledValue', j,
                                'unitOfMeasure', 'multiplier') = 'Int64',
                -- one parse when every text field is a JSON string (the re-serialized
                -- sampledValue is compact: a key then ':' then the value), else one per field
                -- with its type checked (as_str: anything but a string is absent)
                if(NOT match(sv, '"(measurand|phase|location|unit|context|format)":[^"]|"unitOfMeasure":[^{]'),
                   JSONExtract(sv, 'Tuple(value String, measurand String, phase String, location String, unit String, context String, format String, unitOfMeasure Tuple(unit String, multiplier Int64))'),
                   CAST((JSONExtractString(sv, 'value'),
                         if(JSONType(sv, 'measurand') = 'String', JSONExtractString(sv, 'measurand'), ''),
                         if(JSONType(sv, 'phase') = 'String', JSONExtractString(sv, 'phase'), ''),
                         if(JSONType(sv, 'location') = 'String', JSONExtractString(sv, 'location'), ''),
                         if(JSONType(sv, 'unit') = 'String', JSONExtractString(sv, 'unit'), ''),
                         if(JSONType(sv, 'context') = 'String', JSONExtractString(sv, 'context'), ''),
                         if(JSONType(sv, 'format') = 'String', JSONExtractString(sv, 'format'), ''),
                         (if(JSONType(sv, 'unitOfMeasure', 'unit') = 'String',
                             JSONExtractString(sv, 'unitOfMeasure', 'unit'), ''),
                          JSONExtractInt(sv, 'unitOfMeasure', 'multiplier'))),
                        'Tuple(value String, measurand String, phase String, location String, unit String, context String, format String, unitOfMeasure Tuple(unit String, multiplier Int64))'))),
                m.2, arrayEnumerate(m.2)), per_meter_value) AS typed,
            arrayMap(ts -> arrayMap(t -> (t.4,
                if(is16,
                   if(t.2 != 'String' OR tupleElement(t.4, 'format') = 'SignedData',
                      CAST(NULL AS Nullable(Float64)),
                      -- str.strip() + frames._DECIMAL, then float()
                      toFloat64OrNull(extract(tupleElement(t.4, 'value'),
                          '^[\\s\\x0b\\x1c-\\x1f\\x{85}\\p{Z}]*([+-]?(?:[0-9]+\\.?[0-9]*|\\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[\\s\\x0b\\x1c-\\x1f\\x{85}\\p{Z}]*$'))),
                   if(t.2 NOT IN ('Int64', 'UInt64', 'Double') OR NOT t.3
                          OR abs(tupleElement(tupleElement(t.4, 'unitOfMeasure'), 'multiplier')) > 22,
                      CAST(NULL AS Nullable(Float64)),
                      -- the number's shortest text, parsed; exact powers of ten, and a
                      -- negative multiplier divides (rounds once)
                      if(tupleElement(tupleElement(t.4, 'unitOfMeasure'), 'multiplier') >= 0,
                         toFloat64OrZero(tupleElement(t.4, 'value'))
                             * [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21,
                                1e22][tupleElement(tupleElement(t.4, 'unitOfMeasure'), 'multiplier') + 1],
                         toFloat64OrZero(tupleElement(t.4, 'value'))
                             / [1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
                                1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21,
                                1e22][1 - tupleElement(tupleElement(t.4, 'unitOfMeasure'), 'multiplier')])))),
                ts), typed) AS samples,
            -- per meterValue: its kept samples as (fields, value), its timestamp text, and
            -- how many samples of the frame were kept before it (sample_index is dense)
            arrayMap(ss -> arrayMap(s -> (s.1, assumeNotNull(s.2)),
                arrayFilter(s -> isNotNull(s.2) AND isFinite(assumeNotNull(s.2)), ss)), samples)
                AS kept,
            arrayMap(m -> m.1, per_meter_value) AS ts_texts,
            arrayMap((total, here) -> total - here,
                     arrayCumSum(arrayMap(x -> length(x), kept)),
                     arrayMap(x -> length(x), kept)) AS offsets
        FROM
        (
            SELECT
                station, proto, event_id, frame,
                toUnixTimestamp64Milli(ts) AS env_ms,
                proto = 'ocpp1.6' AS is16,
                JSONExtractString(frame, 3) AS call_action,
                JSONType(frame, 4, 'connectorId') AS cid_type,
                JSONExtractInt(frame, 4, 'connectorId') AS cid,
                JSONType(frame, 4, 'evseId') AS evse_id_type,
                JSONExtractInt(frame, 4, 'evseId') AS evse_id,
                JSONType(frame, 4, 'evse', 'id') AS te_evse_type,
                JSONExtractInt(frame, 4, 'evse', 'id') AS te_evse,
                JSONType(frame, 4, 'evse', 'connectorId') AS te_connector_type,
                JSONExtractInt(frame, 4, 'evse', 'connectorId') AS te_connector,
                -- 4294967296: an integer beyond Int64 (JSON type UInt64); the row is dropped
                -- like meter_row refuses it
                multiIf(
                    is16 AND call_action = 'MeterValues',
                        if(cid_type = 'UInt64', 4294967296, cid),
                    is16, 0,
                    call_action = 'MeterValues',
                        if(evse_id_type = 'UInt64', 4294967296, evse_id),
                    te_evse_type = 'UInt64', 4294967296,
                    te_evse_type = 'Int64' AND te_evse >= 0, te_evse,
                    0) AS evse_n,
                multiIf(
                    is16 AND call_action = 'MeterValues',
                        if(cid_type = 'UInt64' OR cid > 0, 1, 0),
                    is16 OR call_action = 'MeterValues', 0,
                    te_connector_type = 'UInt64', 4294967296,
                    te_connector_type = 'Int64' AND te_connector >= 0, te_connector,
                    0) AS connector_n,
                -- frames.id_text: strings as they are, integers printed, anything else ''
                multiIf(
                    is16, multiIf(
                        JSONType(frame, 4, 'transactionId') = 'String',
                            JSONExtractString(frame, 4, 'transactionId'),
                        JSONType(frame, 4, 'transactionId') = 'Int64',
                            toString(JSONExtractInt(frame, 4, 'transactionId')),
                        JSONType(frame, 4, 'transactionId') = 'UInt64',
                            toString(JSONExtractUInt(frame, 4, 'transactionId')),
                        ''),
                    call_action = 'MeterValues', '',
                    multiIf(
                        JSONType(frame, 4, 'transactionInfo', 'transactionId') = 'String',
                            JSONExtractString(frame, 4, 'transactionInfo', 'transactionId'),
                        JSONType(frame, 4, 'transactionInfo', 'transactionId') = 'Int64',
                            toString(JSONExtractInt(frame, 4, 'transactionInfo', 'transactionId')),
                        JSONType(frame, 4, 'transactionInfo', 'transactionId') = 'UInt64',
                            toString(JSONExtractUInt(frame, 4, 'transactionInfo', 'transactionId')),
                        '')) AS transaction_id,
                if(is16 AND call_action = 'StopTransaction', 'transactionData', 'meterValue')
                    AS mv_key,
                JSONExtractArrayRaw(frame, 4, mv_key) AS meter_values
            FROM ocpp_frames
            -- frames.inbound_call: an accepted inbound CALL [2, uid, action, {payload}, ...]
            WHERE kind = 'call' AND dir = 'in' AND err = ''
              AND JSONType(frame) = 'Array'
              AND JSONLength(frame) >= 4
              AND JSONType(frame, 1) IN ('Int64', 'UInt64', 'Double')
              AND JSONExtractFloat(frame, 1) = 2
              AND JSONType(frame, 3) = 'String'
              AND JSONType(frame, 4) = 'Object'
              AND (
                    (proto = 'ocpp1.6' AND call_action IN ('MeterValues', 'StopTransaction'))
                 OR (proto IN ('ocpp2.0.1', 'ocpp2.1')
                     AND call_action IN ('MeterValues', 'TransactionEvent'))
              )
              -- flatten attributes nothing to an unreadable connector / EVSE: no rows at all
              AND NOT (is16 AND call_action = 'MeterValues'
                       AND NOT (cid_type = 'UInt64' OR (cid_type = 'Int64' AND cid >= 0)))
              AND NOT (NOT is16 AND call_action = 'MeterValues'
                       AND NOT (evse_id_type = 'UInt64'
                                OR (evse_id_type = 'Int64' AND evse_id >= 0)))
        )
    )
    ARRAY JOIN kept AS mk, ts_texts AS tst, offsets AS off
)
ARRAY JOIN mk AS k, arrayEnumerate(mk) AS n
-- the checks of rows.meter_row
WHERE ts_ms >= 0 AND ts_ms < 10413792000000
  AND evse_n >= 0 AND evse_n <= 4294967295
  AND connector_n >= 0 AND connector_n <= 4294967295;
