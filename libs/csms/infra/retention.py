"""Retention of the ClickHouse tables: a TTL per table, configured, applied at sink start.

`ANALYTICS_TTL_DAYS="ocpp_frames=90,meter_values=730"` keeps raw frames 90 days and meter values
two years; a table left out (or given 0) keeps its rows forever. ClickHouse deletes expired rows
in background merges (whole parts once every row of a monthly partition has expired).

The configuration is the truth: at every start each known table gets exactly the TTL it
configures - `ALTER TABLE t MODIFY TTL <time column> + toIntervalDay(n)`, or `REMOVE TTL` when
it has one and should keep forever (a TTL set by hand is removed too). A table whose TTL already
matches is left alone: MODIFY TTL re-evaluates every part of the table, which is not free.

Each table expires by the time that says how old a row is (`TTL_COLUMNS`): event time for the
event tables, the session's start for transactions and bills (falling back to the last update /
computation time while the start is unknown, so an undated row is never expired at once), the
hour / day for the aggregates. station_info (one row per station) and schema_migrations are not
expirable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

# Table -> the expression of its rows' age (written as ClickHouse prints it back in
# system.tables.engine_full, so a configured TTL can be recognized as already applied).
TTL_COLUMNS: Final[Mapping[str, str]] = {
    "ocpp_frames": "ts",
    "meter_values": "ts",
    "status_events": "ts",
    "transaction_events": "ts",
    "transactions": (
        "fromUnixTimestamp64Milli(toInt64(if(started_ms > 0, started_ms, updated_ms)), 'UTC')"
    ),
    "bills": "if(toUnixTimestamp64Milli(started) > 0, started, computed)",
    "agg_energy_hourly": "hour",
    "agg_status_daily": "day",
    "agg_sessions_daily": "day",
    "agg_errors_daily": "day",
}

ENV_VAR: Final = "ANALYTICS_TTL_DAYS"
_TTL_CLAUSE = re.compile(r"\sTTL\s(.*?)(?:\sSETTINGS\s|$)", re.DOTALL)


class RetentionError(ValueError):
    """A retention setting that names an unknown table or is not a number of days."""


def parse_ttl_days(raw: str) -> dict[str, int]:
    """`"ocpp_frames=90, meter_values=730"` -> {"ocpp_frames": 90, "meter_values": 730}.

    Empty means keep everything forever. 0 days = keep forever (same as leaving the table out).
    """
    days: dict[str, int] = {}
    for entry in raw.split(","):
        item = entry.strip()
        if not item:
            continue
        table, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not table:
            raise RetentionError(f"{ENV_VAR}: expected table=days, got {item!r}")
        if table not in TTL_COLUMNS:
            known = ", ".join(sorted(TTL_COLUMNS))
            raise RetentionError(f"{ENV_VAR}: unknown table {table!r} (known: {known})")
        if table in days:
            raise RetentionError(f"{ENV_VAR}: table {table!r} given twice")
        if not value.isdigit():
            raise RetentionError(
                f"{ENV_VAR}: days for {table!r} must be a whole number >= 0, got {value!r}"
            )
        days[table] = int(value)
    return days


def ttl_expression(table: str, days: int) -> str:
    """The TTL of `table` for `days` (> 0), as ClickHouse prints it."""
    return f"{TTL_COLUMNS[table]} + toIntervalDay({days})"


def current_ttl(engine_full: str) -> str:
    """The table TTL in a system.tables.engine_full text ("" when there is none)."""
    match = _TTL_CLAUSE.search(engine_full)
    return match[1].strip() if match else ""


def retention_statements(ttl_days: Mapping[str, int], current: Mapping[str, str]) -> list[str]:
    """The ALTERs that give every known table of `current` (table -> its TTL now, "" for none)
    the TTL `ttl_days` configures; nothing for a table already right or not present."""
    statements: list[str] = []
    for table in TTL_COLUMNS:
        if table not in current:
            continue
        days = ttl_days.get(table, 0)
        if days > 0:
            wanted = ttl_expression(table, days)
            if current[table] != wanted:
                statements.append(f"ALTER TABLE {table} MODIFY TTL {wanted}")
        elif current[table]:
            statements.append(f"ALTER TABLE {table} REMOVE TTL")
    return statements


def apply_retention(client: Client, ttl_days: Mapping[str, int]) -> list[str]:
    """Apply the configured TTLs (blocking: run it where migrations run); returns the ALTERs
    it ran."""
    rows = client.query(
        "SELECT name, engine_full FROM system.tables "
        "WHERE database = currentDatabase() AND name IN {names:Array(String)}",
        parameters={"names": list(TTL_COLUMNS)},
    ).result_rows
    current = {str(name): current_ttl(str(engine)) for name, engine in rows}
    statements = retention_statements(ttl_days, current)
    for statement in statements:
        client.command(statement)
    return statements
