"""The operator API's request bodies and path parameters under any JSON and any text, on every
route of its OpenAPI document (a new route is fuzzed without a line here): answered, never a
500 — a bad body is a 4xx with a reason. Real Redis (the API's test DB), admin token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st

from csms.settings import Settings
from services.api.app import create_app
from tests.fuzz.budget import fuzz_settings
from tests.fuzz.json_values import json_objects, json_values
from tests.unit.api.api_seed import ADMIN_TOKEN, REDIS_URL
from tests.unit.api.memory_audit import MemoryAudit
from tests.unit.api.openapi_ops import fill, operations
from tests.unit.redis_db import flushed_redis

WRITES = {"post", "put", "patch"}


def _routes(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path template) of every route that takes a body or a path parameter."""
    return sorted(
        (method, path)
        for method, path, op in operations(app)
        if (method in WRITES and "requestBody" in op) or "{" in path
    )


_app = create_app(Settings(redis_url=REDIS_URL, api_token=ADMIN_TOKEN), audit=MemoryAudit())
ROUTES = _routes(_app)
_param = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["CP-1", "..", "../../etc", "*", "a:b", "' OR 1=1 --", "%00", "\u202e"]),
)


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with flushed_redis(REDIS_URL) as redis:
        app = create_app(
            Settings(redis_url=REDIS_URL, api_token=ADMIN_TOKEN), redis=redis, audit=MemoryAudit()
        )
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://api", headers=headers
        ) as http:
            yield http


def test_the_fuzzed_routes_include_every_write() -> None:
    writes = [path for method, path in ROUTES if method in WRITES]
    assert len(writes) >= 10 and any("{" in path for _, path in ROUTES)


@fuzz_settings(scale=2)
@given(
    route=st.sampled_from(ROUTES),
    params=st.lists(_param, min_size=4, max_size=4),
    body=st.one_of(json_objects, json_values),
)
async def test_any_body_and_parameter_is_answered_without_a_server_error(
    client: httpx.AsyncClient, route: tuple[str, str], params: list[str], body: Any
) -> None:
    method, template = route
    path = fill(template, (quote(p, safe="") or "x" for p in params))
    response = await client.request(method.upper(), path, json=body)
    assert response.status_code < 500, (method, path, body, response.text[:500])
