"""Request floods: a client over its token bucket (API_RATE_LIMIT_PER_S / _BURST) is answered
429 with Retry-After and the API's error body, while other clients in the same moment are all
served; tokens are charged to themselves once authenticated, everything else to its address, so
garbage tokens are no way around the limit. The limiter's clock is pinned: no sleeping."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from redis.asyncio import Redis

from csms.infra.api_tokens import ApiTokens, Role
from csms.settings import Settings
from services.api.app import create_app
from services.api.rate_limit import RateLimiter
from tests.unit.api.api_seed import ADMIN_HEADERS, ADMIN_TOKEN, REDIS_URL, mint
from tests.unit.api.memory_audit import MemoryAudit

PER_S, BURST = 5.0, 10
STATIONS = "/api/v1/stations"


class Seconds:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def seconds() -> Seconds:
    return Seconds()


@pytest.fixture
def limited(redis: Redis, seconds: Seconds) -> FastAPI:
    settings = Settings(
        redis_url=REDIS_URL,
        api_token=ADMIN_TOKEN,
        api_rate_limit_per_s=PER_S,
        api_rate_limit_burst=BURST,
    )
    app = create_app(settings, redis=redis, audit=MemoryAudit())
    limiter: RateLimiter = app.state.rate_limiter
    limiter.clock = seconds
    return app


@asynccontextmanager
async def _from(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_a_flooding_client_gets_429s_while_another_is_served_in_the_same_moment(
    limited: FastAPI, redis: Redis, seconds: Seconds
) -> None:
    flooder_auth = await mint(redis, "operator", "flooder")
    other_auth = await mint(redis, "analyst", "console")
    async with _from(limited, "10.0.0.1") as flooder, _from(limited, "10.0.0.2") as other:
        # Each token's first request (charged to its address) makes it known to the limiter.
        assert (await flooder.get(STATIONS, headers=flooder_auth)).status_code == 200
        assert (await other.get(STATIONS, headers=other_auth)).status_code == 200
        floods = [flooder.get(STATIONS, headers=flooder_auth) for _ in range(60)]
        reads = [other.get(STATIONS, headers=other_auth) for _ in range(BURST)]
        answers = await asyncio.gather(*floods, *reads)
        flood, served = answers[:60], answers[60:]
        assert [r.status_code for r in served] == [200] * BURST
        assert [r.status_code for r in flood].count(200) == BURST
        refused = [r for r in flood if r.status_code == 429]
        assert len(refused) == 60 - BURST
        assert refused[0].json()["error"] == "rate_limited"
        assert refused[0].headers["retry-after"] == "1"  # one token per 0.2 s, rounded up

        assert (await flooder.get("/health")).status_code == 200  # probes are exempt
        seconds.now += 1.0  # refilled at PER_S: five more, then refused again
        again = [(await flooder.get(STATIONS, headers=flooder_auth)).status_code for _ in range(6)]
        assert again == [200] * 5 + [429]
        metrics = (await other.get("/metrics")).text
    assert 'status="429"' in metrics  # counted like any answer


async def test_garbage_tokens_are_charged_to_their_address(limited: FastAPI, redis: Redis) -> None:
    other_auth = await mint(redis, "analyst", "console")
    async with _from(limited, "10.0.0.3") as attacker, _from(limited, "10.0.0.4") as other:
        statuses = [
            (
                await attacker.get(STATIONS, headers={"Authorization": f"Bearer csms_{i:043d}"})
            ).status_code
            for i in range(3 * BURST)
        ]
        assert statuses == [401] * BURST + [429] * (2 * BURST)
        anonymous = await attacker.get(STATIONS)
        assert anonymous.status_code == 429  # the address, whatever it sends
        assert [(await other.get(STATIONS, headers=other_auth)).status_code for _ in range(5)] == [
            200
        ] * 5


async def test_a_token_revoked_since_is_charged_to_its_address_again(
    limited: FastAPI, redis: Redis
) -> None:
    minted = await ApiTokens(redis).create("leaked", Role.OPERATOR)
    auth = {"Authorization": f"Bearer {minted.token}"}
    async with _from(limited, "10.0.0.7") as client:
        assert (await client.get(STATIONS, headers=auth)).status_code == 200  # address: 9 left
        assert await ApiTokens(redis).delete("leaked")
        statuses = [(await client.get(STATIONS, headers=auth)).status_code for _ in range(20)]
    # One more on the token's own bucket, which the 401 forgets; then the address's nine.
    assert statuses == [401] * BURST + [429] * (20 - BURST)


async def test_a_token_is_one_client_from_any_address(limited: FastAPI, redis: Redis) -> None:
    auth = await mint(redis, "analyst", "roaming")
    statuses = []
    for i in range(2 * BURST):
        async with _from(limited, f"10.1.0.{i}") as client:
            statuses.append((await client.get(STATIONS, headers=auth)).status_code)
    # Only its very first request, before it was authenticated, went to an address's bucket.
    assert statuses.count(200) == BURST + 1 and statuses[-1] == 429


async def test_the_bootstrap_token_is_not_limited(limited: FastAPI) -> None:
    async with _from(limited, "10.0.0.6") as admin:
        answers = [
            (await admin.get(STATIONS, headers=ADMIN_HEADERS)).status_code for _ in range(3 * BURST)
        ]
        assert answers == [200] * 3 * BURST
        assert (await admin.get(STATIONS)).status_code == 401  # the address is not exempt


async def test_zero_disables_the_limit(redis: Redis) -> None:
    settings = Settings(redis_url=REDIS_URL, api_token=ADMIN_TOKEN, api_rate_limit_per_s=0)
    app = create_app(settings, redis=redis, audit=MemoryAudit())
    assert app.state.rate_limiter is None
    async with _from(app, "10.0.0.5") as client:
        answers = await asyncio.gather(*(client.get("/api/v1/stations") for _ in range(50)))
    assert {r.status_code for r in answers} == {401}


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings.from_env()
    assert (defaults.api_rate_limit_per_s, defaults.api_rate_limit_burst) == (200.0, 400)
    monkeypatch.setenv("API_RATE_LIMIT_PER_S", "0.5")
    monkeypatch.setenv("API_RATE_LIMIT_BURST", "0")
    settings = Settings.from_env()
    assert (settings.api_rate_limit_per_s, settings.api_rate_limit_burst) == (0.5, 0)
    assert RateLimiter.from_settings(settings) is None
    monkeypatch.setenv("API_RATE_LIMIT_BURST", "lots")
    with pytest.raises(ValueError, match="API_RATE_LIMIT_BURST"):
        Settings.from_env()


def test_memory_is_bounded_by_forgetting_the_least_recently_used() -> None:
    clock = Seconds()
    limiter = RateLimiter(per_s=1, burst=2, clock=clock, max_clients=3)
    for _ in range(2):
        assert limiter.wait_s("addr:a") == 0
    assert limiter.wait_s("addr:a") == pytest.approx(1.0)
    for name in "bcd":
        limiter.wait_s(f"addr:{name}")
    assert limiter.clients == 3
    assert limiter.wait_s("addr:a") == 0  # forgotten, so full again: the price of the bound


async def test_over_real_http_a_flood_does_not_starve_another_client(redis: Redis) -> None:
    """The same through uvicorn on a loopback socket, on the real clock, concurrently."""
    settings = Settings(
        redis_url=REDIS_URL, api_token=ADMIN_TOKEN, api_rate_limit_per_s=20, api_rate_limit_burst=20
    )
    app = create_app(settings, redis=redis, audit=MemoryAudit())
    sock = socket.create_server(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_config=None, access_log=False)
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    flooder_auth = await mint(redis, "operator", "flooder")
    other_auth = await mint(redis, "analyst", "console")
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        async with (
            httpx.AsyncClient(base_url=base) as flooder,
            httpx.AsyncClient(base_url=base) as other,
        ):
            for client, auth in ((flooder, flooder_auth), (other, other_auth)):
                assert (await client.get(STATIONS, headers=auth)).status_code == 200
            answers = await asyncio.gather(
                *(flooder.get(STATIONS, headers=flooder_auth) for _ in range(100)),
                *(other.get(STATIONS, headers=other_auth) for _ in range(10)),
            )
    finally:
        server.should_exit = True
        await serving
    flood, served = answers[:100], answers[100:]
    assert [r.status_code for r in served] == [200] * 10
    assert {r.status_code for r in flood} == {200, 429}
