"""The ClickHouse client factory and the engine thread."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from csms.infra.clickhouse import ClickHouse, chdb_path, is_embedded, make_client


def test_is_embedded() -> None:
    assert is_embedded("chdb:///var/lib/csms/clickhouse")
    assert not is_embedded("http://127.0.0.1:8123")


def test_chdb_path_is_canonical(tmp_path: Path) -> None:
    assert chdb_path(f"chdb://{tmp_path}/a/../b/") == str((tmp_path / "b").resolve())
    with pytest.raises(ValueError, match="absolute"):
        chdb_path("chdb://relative/path")
    with pytest.raises(ValueError, match="not a chdb"):
        chdb_path("http://x")


def test_http_urls_become_server_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(clickhouse_connect, "get_client", lambda **kw: seen.append(kw))
    make_client("http://analyst:s%40cret@ch.internal:8124/csms")
    make_client("https://ch.example.com")
    assert seen == [
        {"interface": "http", "host": "ch.internal", "port": 8124, "username": "analyst",
         "password": "s@cret", "database": "csms"},
        {"interface": "https", "host": "ch.example.com", "port": 8443, "username": "default",
         "password": "", "database": None},
    ]  # fmt: skip
    with pytest.raises(ValueError, match="scheme"):
        make_client("tcp://ch:9000")


async def test_embedded_client_round_trip(chdb_url: str) -> None:
    ch = await ClickHouse.open(chdb_url)
    try:
        assert ch.embedded
        assert await ch.run(ch.client.command, "SELECT 40 + 2") == 42
    finally:
        await ch.close()


async def test_engine_calls_run_one_at_a_time_on_one_thread(chdb_url: str) -> None:
    ch = await ClickHouse.open(chdb_url)
    threads: set[int] = set()
    active = 0
    overlaps = 0

    def blocking() -> None:
        nonlocal active, overlaps
        threads.add(threading.get_ident())
        active += 1
        overlaps += active > 1
        time.sleep(0.01)
        active -= 1

    try:
        await asyncio.gather(*(ch.run(blocking) for _ in range(8)))
    finally:
        await ch.close()
    assert len(threads) == 1 and threading.get_ident() not in threads
    assert overlaps == 0
