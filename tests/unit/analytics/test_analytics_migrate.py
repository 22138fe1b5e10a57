"""Schema migrations on embedded chDB, and the idempotence the tables promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from csms.infra.clickhouse import ClickHouse
from csms.infra.migrate import Migration, load_migrations, migrate, split_statements
from services.analytics.rows import TABLES


def test_split_statements_skips_comment_lines_and_keeps_multiline_statements() -> None:
    sql = """-- a comment; with a semicolon
CREATE TABLE a
(
    x UInt8 -- inline note
) ENGINE = Memory;

-- another
CREATE TABLE b (y UInt8) ENGINE = Memory;
SELECT 1"""
    assert split_statements(sql) == [
        "CREATE TABLE a\n(\n    x UInt8 -- inline note\n) ENGINE = Memory",
        "CREATE TABLE b (y UInt8) ENGINE = Memory",
        "SELECT 1",
    ]


def test_shipped_migrations_are_numbered_in_order() -> None:
    migrations = load_migrations()
    assert [(m.version, m.name) for m in migrations] == [
        (1, "ocpp_frames"), (2, "meter_values"), (3, "transactions"), (4, "status_events"),
        (5, "transaction_events"), (6, "bills"), (7, "station_info"), (8, "energy_hourly"),
        (9, "status_daily"), (10, "sessions_daily"), (11, "errors_daily"), (12, "ocpp_frames_flag"),
    ]  # fmt: skip
    # Every statement can run twice (a crash re-runs the whole file): CREATE ... IF NOT EXISTS,
    # or a backfill INSERT ... SELECT into a table that collapses a second copy.
    for m in migrations:
        assert all(
            "IF NOT EXISTS" in statement or statement.startswith("INSERT INTO ")
            for statement in m.statements()
        )


def test_load_migrations_rejects_bad_names_and_duplicates(tmp_path: Path) -> None:
    (tmp_path / "1_x.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="NNNN_name"):
        load_migrations(tmp_path)
    (tmp_path / "1_x.sql").unlink()
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="duplicate"):
        load_migrations(tmp_path)


async def test_migrate_applies_once_and_records_versions(clickhouse: ClickHouse) -> None:
    client = clickhouse.client
    # The fixture already migrated: a second run applies nothing.
    assert await clickhouse.run(migrate, client) == []
    rows = client.query("SELECT version, name FROM schema_migrations FINAL ORDER BY version")
    assert rows.result_rows == [
        (1, "ocpp_frames"), (2, "meter_values"), (3, "transactions"), (4, "status_events"),
        (5, "transaction_events"), (6, "bills"), (7, "station_info"), (8, "energy_hourly"),
        (9, "status_daily"), (10, "sessions_daily"), (11, "errors_daily"), (12, "ocpp_frames_flag"),
    ]  # fmt: skip
    engines = client.query(
        "SELECT name, engine, partition_key FROM system.tables WHERE database = 'default' "
        "AND name IN ('ocpp_frames', 'meter_values', 'transactions', 'status_events', "
        "'transaction_events', 'bills') "
        "ORDER BY name"
    ).result_rows
    assert engines == [
        ("bills", "ReplacingMergeTree", "toYYYYMM(started)"),
        ("meter_values", "ReplacingMergeTree", "toYYYYMM(ts)"),
        ("ocpp_frames", "ReplacingMergeTree", "toYYYYMM(ts)"),
        ("status_events", "ReplacingMergeTree", "toYYYYMM(ts)"),
        ("transaction_events", "ReplacingMergeTree", "toYYYYMM(ts)"),
        ("transactions", "ReplacingMergeTree", ""),
    ]


async def test_new_migration_is_applied_after_the_existing_ones(clickhouse: ClickHouse) -> None:
    extra = Migration(99, "extra", "CREATE TABLE IF NOT EXISTS extra (x UInt8) ENGINE = Memory;")
    applied = await clickhouse.run(migrate, clickhouse.client, [*load_migrations(), extra])
    assert applied == [99]
    assert clickhouse.client.command("EXISTS TABLE extra") == 1


async def test_sink_columns_are_the_table_columns(clickhouse: ClickHouse) -> None:
    for table in TABLES:
        described = clickhouse.client.query(f"DESCRIBE TABLE {table.name}").named_results()
        stored = [c["name"] for c in described if c["default_type"] != "ALIAS"]
        assert set(stored) == set(table.columns), table.name


async def test_a_redelivered_sample_collapses(clickhouse: ClickHouse) -> None:
    client = clickhouse.client
    row = [1_740_816_000_000, "CP-1", 1, 1, "42", "Energy.Active.Import.Register", "", "Outlet",
           "Wh", 1500.5, "Sample.Periodic", "ocpp1.6", "ev-1", 0]  # fmt: skip
    other = [*row[:-1], 1]
    columns = [
        "ts", "station", "evse", "connector", "transaction_id", "measurand", "phase", "location",
        "unit", "value", "context", "proto", "event_id", "sample_index",
    ]  # fmt: skip
    for _ in range(2):  # the same batch delivered twice
        client.insert("meter_values", [row, other], column_names=columns)
    assert client.command("SELECT count() FROM meter_values FINAL") == 2
    client.command("OPTIMIZE TABLE meter_values FINAL")
    assert client.command("SELECT count() FROM meter_values") == 2


async def test_transactions_keep_the_latest_snapshot(clickhouse: ClickHouse) -> None:
    client = clickhouse.client
    columns = ["key", "station", "transaction_id", "proto", "state", "energy_wh", "updated_ms"]
    client.insert(
        "transactions",
        [["S/1", "S", "1", "ocpp1.6", "active", 10.0, 100],
         ["S/1", "S", "1", "ocpp1.6", "ended", 50.0, 300]],
        column_names=columns,
    )  # fmt: skip
    # A replayed older snapshot arriving last must not win.
    client.insert(
        "transactions", [["S/1", "S", "1", "ocpp1.6", "active", 20.0, 200]], column_names=columns
    )
    final = client.query("SELECT state, energy_wh, updated FROM transactions FINAL")
    assert [(r[0], r[1]) for r in final.result_rows] == [("ended", 50.0)]
    arg_max = client.query(
        "SELECT argMax(state, updated_ms), argMax(energy_wh, updated_ms) FROM transactions "
        "GROUP BY station, transaction_id"
    )
    assert arg_max.result_rows == [("ended", 50.0)]
