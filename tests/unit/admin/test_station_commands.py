"""`csms station …` against a real Redis (DB 10)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis

from csms.infra.redis_client import make_redis
from csms.infra.station_registry import StationRegistry
from csms.settings import Settings
from services.cli import main

REDIS_URL = "redis://127.0.0.1:6379/10"


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    redis.Redis.from_url(REDIS_URL).flushdb()
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    yield Settings(redis_url=REDIS_URL)
    redis.Redis.from_url(REDIS_URL).flushdb()


def _registration(settings: Settings, station: str):
    async def get():
        client = make_redis(settings)
        try:
            return await StationRegistry(client).get(station)
        finally:
            await client.aclose()

    return asyncio.run(get())


def test_set_password_generates_one_and_stores_only_its_hash(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["station", "set-password", "CP-1"]) == 0
    password = capsys.readouterr().out.splitlines()[0].split(": ", 1)[1]
    assert 16 <= len(password) <= 40
    registration = _registration(settings, "CP-1")
    assert registration.status == "Accepted"
    assert password not in registration.password_hash
    assert registration.password_matches(password)
    assert not registration.password_matches(password + "x")


def test_set_status_accepts_a_pending_station(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["station", "set-status", "CP-2", "Pending"]) == 0
    assert _registration(settings, "CP-2").status == "Pending"
    assert main(["station", "set-status", "CP-2", "Accepted"]) == 0
    assert _registration(settings, "CP-2").status == "Accepted"
    assert "CP-2: Accepted, password not set" in capsys.readouterr().out


def test_bad_input_is_refused_with_a_clear_error(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["station", "set-password", "CP-3", "--password", "short"]) == 2
    assert "16-40 characters" in capsys.readouterr().err
    assert main(["station", "show", "../etc"]) == 2
    assert main(["station", "show", "CP-404"]) == 1
    assert "not registered" in capsys.readouterr().out
