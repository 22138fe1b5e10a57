-- ocpp_frames gains `flag`: what a frame bent that the gateway accepted anyway (comma-separated,
-- e.g. 'ConcurrentCall', 'LateAnswer', 'BinaryFrame', 'UnknownProperties'; docs/architecture.md
-- "Lenient acceptance"). Unlike `err`, a flagged frame was processed like any other.
--
--   SELECT station, count() FROM ocpp_frames FINAL
--   WHERE has(splitByChar(',', flag), 'ConcurrentCall') AND ts >= now64(3) - INTERVAL 1 DAY
--   GROUP BY station ORDER BY count() DESC LIMIT 20;
ALTER TABLE ocpp_frames ADD COLUMN IF NOT EXISTS flag LowCardinality(String) DEFAULT '' AFTER err;
