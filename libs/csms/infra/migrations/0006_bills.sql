-- Final bills as the billing processor publishes them on csms.bills: one row per charging
-- session (station, transaction_id), priced with csms.domain.billing (running bills are not
-- stored: they are only shown to drivers while the session runs).
--
-- Money is exact: Decimal(18, 4) for amounts (every ISO 4217 minor unit fits: 0, 2 or 3
-- digits), Decimal(18, 6) for unit prices, Decimal(18, 3) for the energy in Wh. All amounts are
-- in the bill's `currency` and exclude tax except `tax` and `total` (= subtotal + tax).
-- `ended` is 1970-01-01 when the session's end is unknown (0 ms in the bill).
--
-- Line items are a Nested column: `items.component` (energy | charging_time | idle_time |
-- session_fee | minimum_price | maximum_price), `items.period` (tariff period name, "base",
-- or "" for fee/adjustment lines), `items.quantity` (kWh, h or 1), `items.unit`,
-- `items.unit_price`, `items.amount` (rounded to the currency's minor unit). Read them line by
-- line with ARRAY JOIN:
--
--   SELECT items.component AS component, sum(items.amount) AS amount
--   FROM bills FINAL ARRAY JOIN items
--   WHERE currency = 'EUR' GROUP BY component;
--
-- Revisions: late data (an offline transaction's meter values uploaded after its end) makes the
-- billing publish the same session again with a higher `revision`; ReplacingMergeTree(revision)
-- keeps the highest one per (station, transaction_id), and a redelivered or replayed revision
-- collapses with itself. Exact reads use FINAL (or argMax(..., revision) per session):
--
--   SELECT station, toDate(started) AS day, currency, sum(total) AS revenue
--   FROM bills FINAL GROUP BY station, day, currency ORDER BY station, day;
--
-- Partitioned by the session's start month, like the event tables (drop or archive old months
-- whole). Background merges only replace within a partition: should a revision move a
-- session's start to another month (rare: the start is known when the session ends), the older
-- row stays on disk, but FINAL (which merges across partitions by default) and argMax reads
-- still see only the latest revision.
CREATE TABLE IF NOT EXISTS bills
(
    station         String CODEC(ZSTD(1)),
    transaction_id  String CODEC(ZSTD(1)),
    revision        UInt32,
    proto           LowCardinality(String),
    evse            UInt32,
    connector       UInt32,
    id_token        String CODEC(ZSTD(1)),
    tariff_id       LowCardinality(String),
    tariff_version  UInt32,
    currency        LowCardinality(String),
    started         DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    ended           DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    priced_until    DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    computed        DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    energy_wh       Decimal(18, 3) CODEC(ZSTD(1)),
    charging_s      UInt32,
    idle_s          UInt32,
    items Nested
    (
        component   LowCardinality(String),
        period      LowCardinality(String),
        quantity    Decimal(18, 4),
        unit        LowCardinality(String),
        unit_price  Decimal(18, 6),
        amount      Decimal(18, 4)
    ),
    subtotal        Decimal(18, 4) CODEC(ZSTD(1)),
    tax_rate        Decimal(9, 6),
    tax             Decimal(18, 4) CODEC(ZSTD(1)),
    total           Decimal(18, 4) CODEC(ZSTD(1)),
    flags           Array(LowCardinality(String)),
    stop_reason     LowCardinality(String),
    closed_by       LowCardinality(String)
)
ENGINE = ReplacingMergeTree(revision)
PARTITION BY toYYYYMM(started)
ORDER BY (station, transaction_id);
