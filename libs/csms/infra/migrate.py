"""ClickHouse schema migrations: versioned SQL files applied in order, recorded in a table.

Files live in `csms/infra/migrations/` as `NNNN_name.sql`. Rules for writing one:

* statements end with `;` at the end of a line; lines starting with `--` are comments;
* every statement is idempotent (`CREATE TABLE IF NOT EXISTS`, `ADD COLUMN IF NOT EXISTS`, ...):
  a crash between a statement and the bookkeeping row re-runs the whole file, and two sink
  replicas starting together against one server may both apply it;
* an applied file is never edited - add a new version instead (a changed checksum is logged).

`schema_migrations` is a ReplacingMergeTree keyed by version, so a version recorded twice by
racing replicas still reads as one row.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from clickhouse_connect.driver.client import Client

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
MIGRATIONS_TABLE = "schema_migrations"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_STATEMENT_END = re.compile(r";[ \t]*$")

_CREATE_MIGRATIONS_TABLE = f"""
CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE}
(
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY version
"""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    def statements(self) -> list[str]:
        return split_statements(self.sql)


def split_statements(sql: str) -> list[str]:
    """The statements of a migration file (ClickHouse runs one statement per request)."""
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        if line.lstrip().startswith("--"):
            continue
        current.append(line)
        if _STATEMENT_END.search(line):
            statement = "\n".join(current).strip()
            statements.append(statement[: statement.rfind(";")].rstrip())
            current = []
    tail = "\n".join(current).strip()
    if tail:
        statements.append(tail)
    return [s for s in statements if s]


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file of `directory`, by version; rejects stray names and duplicates."""
    migrations: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file name must be NNNN_name.sql: {path.name}")
        migrations.append(Migration(int(match[1]), match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in {directory}: {versions}")
    return sorted(migrations, key=lambda m: m.version)


def applied_versions(client: Client) -> dict[int, str]:
    """version -> checksum of the migrations recorded as applied."""
    client.command(_CREATE_MIGRATIONS_TABLE)
    result = client.query(f"SELECT version, checksum FROM {MIGRATIONS_TABLE} FINAL")  # noqa: S608 - constant name
    return {int(version): str(checksum) for version, checksum in result.result_rows}


def migrate(client: Client, migrations: list[Migration] | None = None) -> list[int]:
    """Apply the migrations not applied yet, in version order; returns the versions applied."""
    pending = load_migrations() if migrations is None else migrations
    done = applied_versions(client)
    applied: list[int] = []
    for migration in sorted(pending, key=lambda m: m.version):
        recorded = done.get(migration.version)
        if recorded is not None:
            if recorded != migration.checksum:
                log.warning(
                    "migration %04d_%s changed after it was applied; add a new version instead",
                    migration.version,
                    migration.name,
                )
            continue
        log.info("applying ClickHouse migration %04d_%s", migration.version, migration.name)
        for statement in migration.statements():
            client.command(statement)
        client.insert(
            MIGRATIONS_TABLE,
            [[migration.version, migration.name, migration.checksum]],
            column_names=["version", "name", "checksum"],
        )
        applied.append(migration.version)
    return applied
