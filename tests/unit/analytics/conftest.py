"""Fixtures: a migrated embedded chDB per test (tmp dir), closed afterwards.

chDB hosts one engine per process: every fixture closes all its handles so the next test (or
the stack test in the same pytest run) can open another path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from csms.infra.clickhouse import ClickHouse, chdb_path
from csms.infra.migrate import migrate
from services.analytics.http_endpoint import LocalEngine


@pytest.fixture
def chdb_url(tmp_path: Path) -> str:
    return f"chdb://{tmp_path / 'clickhouse'}"


@pytest.fixture
async def clickhouse(chdb_url: str) -> AsyncIterator[ClickHouse]:
    ch = await ClickHouse.open(chdb_url)
    try:
        await ch.run(migrate, ch.client)
        yield ch
    finally:
        await ch.close()


@pytest.fixture
async def engine(clickhouse: ClickHouse) -> AsyncIterator[LocalEngine]:
    """The local HTTP endpoint's engine over the test's chDB."""
    local = await clickhouse.run(LocalEngine, chdb_path(clickhouse.url))
    yield local
    await clickhouse.run(local.close)
