"""Bodies that would cost the API memory or a crash: larger than API_MAX_BODY_BYTES (declared
or streamed without a length) are refused 413 before they are read whole; nesting deeper than
any parser stack is a 400 with the API's error body, never a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from redis.asyncio import Redis

from csms.settings import Settings
from services.api.app import create_app
from tests.unit.api.api_seed import ADMIN_TOKEN, REDIS_URL
from tests.unit.api.memory_audit import MemoryAudit

LIMIT = 64 * 1024
JSON = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}


def _small_app(redis: Redis) -> FastAPI:
    settings = Settings(redis_url=REDIS_URL, api_token=ADMIN_TOKEN, api_max_body_bytes=LIMIT)
    return create_app(settings, redis=redis, audit=MemoryAudit())


async def test_a_body_over_the_limit_is_refused_413_declared_or_streamed(redis: Redis) -> None:
    big = b'{"id_token":"' + b"A" * LIMIT + b'"}'

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 4096):
            yield big[start : start + 4096]

    transport = httpx.ASGITransport(app=_small_app(redis))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        declared = await client.post("/api/v1/id-tokens", content=big, headers=JSON)
        chunked = await client.post("/api/v1/id-tokens", content=streamed(), headers=JSON)
        small = await client.post("/api/v1/id-tokens", content=b'{"id_token":"A"}', headers=JSON)
    assert (declared.status_code, chunked.status_code) == (413, 413)
    assert small.status_code == 422  # under the limit: read, and refused for what it says


async def test_nesting_deeper_than_any_parser_is_a_400(api: httpx.AsyncClient) -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000):
        response = await api.post("/api/v1/tariffs", content=body, headers=JSON)
        assert response.status_code == 400
        assert response.json()["error"] == "bad_request"
