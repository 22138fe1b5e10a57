"""The compat tests use the analytics unit tests' embedded chDB fixtures (one definition)."""

from tests.unit.analytics.conftest import chdb_url, clickhouse, engine

__all__ = ["chdb_url", "clickhouse", "engine"]
