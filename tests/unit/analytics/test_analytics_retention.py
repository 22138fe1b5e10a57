"""Retention: ANALYTICS_TTL_DAYS parsing, the ALTERs it needs, and the TTLs on a real chDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.infra.clickhouse import ClickHouse
from csms.infra.retention import (
    TTL_COLUMNS,
    RetentionError,
    apply_retention,
    current_ttl,
    parse_ttl_days,
    retention_statements,
)
from csms.settings import Settings


def test_parse_reads_tables_and_days() -> None:
    assert parse_ttl_days("") == {}
    assert parse_ttl_days(" ocpp_frames=90 , meter_values = 730,bills=0,") == {
        "ocpp_frames": 90,
        "meter_values": 730,
        "bills": 0,
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("ocpp_frame=90", "unknown table 'ocpp_frame'"),
        ("station_info=30", "unknown table 'station_info'"),
        ("ocpp_frames", "expected table=days"),
        ("=90", "expected table=days"),
        ("ocpp_frames=-1", "whole number >= 0"),
        ("ocpp_frames=1.5", "whole number >= 0"),
        ("ocpp_frames=", "whole number >= 0"),
        ("ocpp_frames=90,ocpp_frames=30", "given twice"),
    ],
)
def test_parse_rejects_bad_input_with_a_clear_message(raw: str, message: str) -> None:
    with pytest.raises(RetentionError, match=message) as info:
        parse_ttl_days(raw)
    assert str(info.value).startswith("ANALYTICS_TTL_DAYS: ")


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANALYTICS_TTL_DAYS", raising=False)
    assert Settings.from_env().analytics_ttl_days == {}  # keep everything forever
    monkeypatch.setenv("ANALYTICS_TTL_DAYS", "ocpp_frames=90,agg_energy_hourly=3650")
    settings = Settings.from_env()
    assert settings.analytics_ttl_days == {"ocpp_frames": 90, "agg_energy_hourly": 3650}
    hash(settings)  # still usable as a key: the dict is left out of the hash
    monkeypatch.setenv("ANALYTICS_TTL_DAYS", "frames=90")
    with pytest.raises(ValueError, match="unknown table 'frames'"):
        Settings.from_env()


def test_statements_change_only_what_differs() -> None:
    current = {"ocpp_frames": "", "meter_values": "ts + toIntervalDay(730)", "bills": "x"}
    assert retention_statements({"ocpp_frames": 90, "meter_values": 730}, current) == [
        "ALTER TABLE ocpp_frames MODIFY TTL ts + toIntervalDay(90)",
        "ALTER TABLE bills REMOVE TTL",  # not configured: keep forever
    ]
    # A table that does not exist (yet) is skipped; nothing to do when all match.
    assert retention_statements({"transactions": 5}, {}) == []
    assert (
        retention_statements({"meter_values": 730}, {"meter_values": current["meter_values"]}) == []
    )


def test_current_ttl_reads_engine_full() -> None:
    engine = (
        "ReplacingMergeTree PARTITION BY toYYYYMM(ts) ORDER BY (station, ts, event_id) "
        "TTL ts + toIntervalDay(90) SETTINGS index_granularity = 8192"
    )
    assert current_ttl(engine) == "ts + toIntervalDay(90)"
    assert current_ttl("MergeTree ORDER BY x SETTINGS index_granularity = 8192") == ""


def _show_create(ch: ClickHouse, table: str) -> str:
    return str(ch.client.command(f"SHOW CREATE TABLE {table}"))


async def test_ttls_apply_idempotently_and_are_removed_when_unset(
    clickhouse: ClickHouse,
) -> None:
    every = dict.fromkeys(TTL_COLUMNS, 400)
    ran = await clickhouse.run(apply_retention, clickhouse.client, every)
    assert len(ran) == len(TTL_COLUMNS)
    for table in TTL_COLUMNS:
        assert "TTL " in _show_create(clickhouse, table), table
    assert "TTL ts + toIntervalDay(400)" in _show_create(clickhouse, "ocpp_frames")
    assert "TTL day + toIntervalDay(400)" in _show_create(clickhouse, "agg_status_daily")
    # Every expression reads back as written: a restart changes nothing.
    assert await clickhouse.run(apply_retention, clickhouse.client, every) == []

    ran = await clickhouse.run(apply_retention, clickhouse.client, {"ocpp_frames": 90})
    assert ran[0] == "ALTER TABLE ocpp_frames MODIFY TTL ts + toIntervalDay(90)"
    assert len(ran) == len(TTL_COLUMNS)  # one MODIFY, the rest REMOVE
    assert "TTL ts + toIntervalDay(90)" in _show_create(clickhouse, "ocpp_frames")
    assert "TTL" not in _show_create(clickhouse, "meter_values")
    assert "TTL" not in _show_create(clickhouse, "transactions")


async def test_expired_rows_go_and_undated_sessions_stay(clickhouse: ClickHouse) -> None:
    client = clickhouse.client
    now = datetime.now(UTC)
    old, recent = now - timedelta(days=100), now - timedelta(days=1)
    client.insert(
        "ocpp_frames",
        [["old", old, "CP-1"], ["recent", recent, "CP-1"]],
        column_names=["event_id", "ts", "station"],
    )
    now_ms = int(now.timestamp() * 1000)
    old_ms = int(old.timestamp() * 1000)
    client.insert(
        "transactions",
        [["CP-1/old", "CP-1", "old", old_ms, old_ms],
         # Start unknown (0): aged by its last update, not by 1970.
         ["CP-1/undated", "CP-1", "undated", 0, now_ms]],
        column_names=["key", "station", "transaction_id", "started_ms", "updated_ms"],
    )  # fmt: skip
    await clickhouse.run(apply_retention, client, {"ocpp_frames": 90, "transactions": 90})
    for table in ("ocpp_frames", "transactions"):
        client.command(f"OPTIMIZE TABLE {table} FINAL")
    assert client.query("SELECT event_id FROM ocpp_frames").result_rows == [("recent",)]
    assert client.query("SELECT transaction_id FROM transactions").result_rows == [("undated",)]
