"""API tokens expire: a lifetime given at minting (or API_TOKEN_TTL_S by default), refused 401
`token_expired` from that millisecond on, listed as expired until deleted; the bootstrap token
and tokens minted before expiries existed never expire. Time is the app's injected clock."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from csms.infra import redis_keys
from csms.infra.api_tokens import ApiTokens, Role, token_digest
from csms.settings import Settings
from services.api.app import create_app
from services.api.views import iso_ms
from tests.unit.api.api_seed import ADMIN_TOKEN, REDIS_URL, T0, Clock
from tests.unit.api.memory_audit import MemoryAudit

TOKENS = "/api/v1/api-tokens"
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


@pytest.fixture
def clock(app: FastAPI) -> Clock:
    app.state.clock = clock = Clock(T0)
    return clock


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _stations_as(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/stations", headers=_bearer(token))


async def test_a_token_works_until_its_expiry_then_is_refused_and_listed_expired(
    api: httpx.AsyncClient, anon: httpx.AsyncClient, clock: Clock, audit: MemoryAudit
) -> None:
    created = await api.post(TOKENS, json={"name": "job", "role": "operator", "expires_in_s": 3600})
    assert created.status_code == 201
    assert (created.json()["expires"], created.json()["expired"]) == (iso_ms(T0 + HOUR_MS), False)
    assert audit.records[-1][2]["expires_ms"] == T0 + HOUR_MS
    token = created.json()["token"]

    clock.now = T0 + HOUR_MS - 1
    assert (await _stations_as(anon, token)).status_code == 200
    clock.now = T0 + HOUR_MS
    refused = await _stations_as(anon, token)
    assert refused.status_code == 401
    assert refused.json()["error"] == "token_expired"
    assert iso_ms(T0 + HOUR_MS) in refused.json()["detail"]
    assert refused.headers["www-authenticate"] == (
        'Bearer error="invalid_token", error_description="The access token expired"'
    )

    (listed,) = (await api.get(TOKENS)).json()["items"]
    assert (listed["name"], listed["expires"], listed["expired"]) == (
        "job",
        iso_ms(T0 + HOUR_MS),
        True,
    )
    assert (await api.delete(f"{TOKENS}/job")).status_code == 204
    assert (await _stations_as(anon, token)).json()["error"] == "unauthorized"


async def test_a_token_minted_without_a_lifetime_gets_the_default_one(
    api: httpx.AsyncClient, anon: httpx.AsyncClient, clock: Clock
) -> None:
    created = (await api.post(TOKENS, json={"name": "console", "role": "analyst"})).json()
    assert created["expires"] == iso_ms(T0 + 90 * DAY_MS)
    clock.now = T0 + 90 * DAY_MS
    assert (await _stations_as(anon, created["token"])).json()["error"] == "token_expired"


async def test_without_a_default_lifetime_tokens_minted_without_one_never_expire(
    redis: Redis,
) -> None:
    settings = Settings(redis_url=REDIS_URL, api_token=ADMIN_TOKEN, api_token_ttl_s=0)
    clock = Clock(T0)
    app = create_app(settings, redis=redis, audit=MemoryAudit(), clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        created = await client.post(
            TOKENS, json={"name": "svc", "role": "analyst"}, headers=_bearer(ADMIN_TOKEN)
        )
        assert (created.json()["expires"], created.json()["expired"]) == (None, False)
        clock.now = T0 + 3650 * DAY_MS
        assert (await _stations_as(client, created.json()["token"])).status_code == 200


async def test_the_bootstrap_token_never_expires(api: httpx.AsyncClient, clock: Clock) -> None:
    clock.now = T0 + 100 * 365 * DAY_MS
    assert (await api.get("/api/v1/stations")).status_code == 200
    assert (await api.get(TOKENS)).json() == {"items": []}  # and it is not listed


@pytest.mark.parametrize("lifetime", [59, 366 * 24 * 3600 + 1, 0, -1, "1h", 1.5, None])
async def test_lifetimes_out_of_bounds_are_422(
    api: httpx.AsyncClient, audit: MemoryAudit, lifetime: object
) -> None:
    body = {"name": "x", "role": "admin", "expires_in_s": lifetime}
    if lifetime is None:
        body["expires_at_ms"] = T0  # the lifetime is relative; an absolute time is not a field
    answer = await api.post(TOKENS, json=body)
    assert (answer.status_code, answer.json()["error"]) == (422, "invalid_request")
    assert audit.records == []


async def test_an_unreadable_expiry_is_refused_not_taken_for_never(redis: Redis) -> None:
    tokens = ApiTokens(redis, Clock(T0))
    minted = await tokens.create("odd", Role.ADMIN, T0 + DAY_MS)
    await redis.hset(redis_keys.api_token(token_digest(minted.token)), "expires_ms", "soon")
    assert await tokens.lookup(minted.token) is None
    (info,) = await tokens.list()
    assert info.expired(T0)


async def test_a_token_minted_before_expiries_existed_never_expires(redis: Redis) -> None:
    tokens = ApiTokens(redis, Clock(T0))
    minted = await tokens.create("old", Role.OPERATOR)
    await redis.hdel(redis_keys.api_token(token_digest(minted.token)), "expires_ms")
    principal = await tokens.lookup(minted.token)
    assert principal is not None and principal.expires_ms is None
    assert not principal.expired(T0 + 3650 * DAY_MS)
    assert [info.expires_ms for info in await tokens.list()] == [None]
