"""The issue-8 schema: station dimension, materialized views and views for operators' daily
questions, exact under duplicate inserts (the sink is at-least-once) and after a backfill."""

from __future__ import annotations

from csms.infra.clickhouse import ClickHouse
from csms.infra.migrate import load_migrations, migrate
from tests.unit.analytics.daily import (
    FRAME_COLUMNS,
    FRAMES,
    check_all,
    check_station_info,
    dt,
    seed,
)

FIRST_ISSUE8_VERSION = 7


async def test_every_view_is_exact_when_everything_is_inserted_twice(
    clickhouse: ClickHouse,
) -> None:
    client = clickhouse.client
    seed(client)
    seed(client)  # the sink redelivers: every row arrives twice, in two inserts
    check_all(client)
    # Merges change nothing either (duplicates collapse, states merge idempotently).
    for table in ("station_info", "agg_energy_hourly", "agg_status_daily", "agg_sessions_daily",
                  "agg_errors_daily", "ocpp_frames", "meter_values", "status_events",
                  "transactions"):  # fmt: skip
        client.command(f"OPTIMIZE TABLE {table} FINAL")
    check_all(client)


async def test_backfill_of_existing_rows_gives_the_same_answers_and_reruns_safely(
    chdb_url: str,
) -> None:
    ch = await ClickHouse.open(chdb_url)
    try:
        client = ch.client
        migrations = load_migrations()
        before = [m for m in migrations if m.version < FIRST_ISSUE8_VERSION]
        issue8 = [m for m in migrations if m.version >= FIRST_ISSUE8_VERSION]
        await ch.run(migrate, client, before)
        seed(client)
        seed(client)
        assert await ch.run(migrate, client) == [m.version for m in issue8]
        check_all(client)
        # A crash before the bookkeeping row re-runs a whole file: backfills insert again.
        for m in issue8:
            for statement in m.statements():
                client.command(statement)
        check_all(client)
    finally:
        await ch.close()


async def test_station_info_keeps_the_latest_accepted_boot_of_each_version(
    clickhouse: ClickHouse,
) -> None:
    client = clickhouse.client
    # Newest boot first: the order of arrival does not matter, the boot time does.
    client.insert("ocpp_frames", list(reversed(FRAMES)), column_names=FRAME_COLUMNS)
    check_station_info(client)
    later_201 = [
        "f8", dt("2025-04-01 07:00"), "CS-201", "ocpp2.0.1", "in", "call", "u", "BootNotification",
        '[2,"u","BootNotification",{"reason":"FirmwareUpdate","chargingStation":'
        '{"vendorName":"VendorB","model":"ModelY","firmwareVersion":"2.1"}}]', "",
    ]  # fmt: skip
    client.insert("ocpp_frames", [later_201], column_names=FRAME_COLUMNS)
    got = client.query(
        "SELECT firmware, serial FROM station_info FINAL WHERE station = 'CS-201'"
    ).result_rows
    assert [tuple(r) for r in got] == [("2.1", "")]  # no serial in that boot


def test_issue8_migrations_have_headers_and_only_idempotent_statements() -> None:
    for m in load_migrations():
        if m.version < FIRST_ISSUE8_VERSION:
            continue
        assert m.sql.startswith("-- "), m.name  # every later migration says what it is for
        for statement in m.statements():
            # Backfills are INSERT ... SELECT into tables whose engine collapses a re-insert.
            assert "IF NOT EXISTS" in statement or statement.startswith("INSERT INTO"), statement


async def test_views_are_views_and_aggregates_are_materialized(clickhouse: ClickHouse) -> None:
    kinds = clickhouse.client.query(
        "SELECT name, engine FROM system.tables WHERE database = currentDatabase() "
        "AND (name LIKE 'v\\_%' OR name LIKE 'mv\\_%' OR name LIKE 'agg\\_%' "
        "OR name = 'station_info') ORDER BY name"
    ).result_rows
    assert [tuple(r) for r in kinds] == [
        ("agg_energy_hourly", "AggregatingMergeTree"),
        ("agg_errors_daily", "AggregatingMergeTree"),
        ("agg_sessions_daily", "AggregatingMergeTree"),
        ("agg_status_daily", "AggregatingMergeTree"),
        ("mv_energy_hourly", "MaterializedView"),
        ("mv_errors_daily", "MaterializedView"),
        ("mv_sessions_daily", "MaterializedView"),
        ("mv_station_info", "MaterializedView"),
        ("mv_status_daily", "MaterializedView"),
        ("station_info", "ReplacingMergeTree"),
        ("v_energy_hourly", "View"),
        ("v_fault_rates_daily", "View"),
        ("v_sessions_daily", "View"),
        ("v_status_daily", "View"),
        ("v_status_intervals", "View"),
        ("v_uptime_daily", "View"),
        ("v_utilization_daily", "View"),
    ]
