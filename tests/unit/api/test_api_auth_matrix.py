"""Every operation of the API's OpenAPI document against every kind of caller, so a route added
tomorrow is checked without a line here: no token, a malformed or foreign one, a revoked or an
expired one (401 with the RFC 6750 challenge), a role below the route's (403), and its own role
(through).

The roles follow one rule, stated here and checked on every route: reading is an analyst's,
writing an operator's, and station registration and credentials and the API tokens an admin's.
Only /health is public."""

from __future__ import annotations

import itertools

import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from csms.infra.api_tokens import ApiTokens, Role
from tests.unit.api.api_seed import ADMIN_TOKEN, T0, Clock
from tests.unit.api.openapi_ops import fill, operations

PUBLIC = {("get", "/health")}
ADMIN_WRITES = {
    ("post", "/api/v1/stations"),
    ("patch", "/api/v1/stations/{station_id}"),
    ("put", "/api/v1/stations/{station_id}/password"),
}
ADMIN_PREFIX = "/api/v1/api-tokens"  # minting and listing tokens is itself an escalation
RANK = [Role.ANALYST, Role.OPERATOR, Role.ADMIN]


def least_role(method: str, path: str) -> Role:
    if path.startswith(ADMIN_PREFIX) or (method, path) in ADMIN_WRITES:
        return Role.ADMIN
    return Role.ANALYST if method == "get" else Role.OPERATOR


async def _answer(
    client: httpx.AsyncClient, method: str, path: str, token: str | None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    url = fill(path, itertools.repeat("CP-1"))
    return await client.request(method.upper(), url, headers=headers, json={})


async def _status(client: httpx.AsyncClient, method: str, path: str, token: str | None) -> int:
    return (await _answer(client, method, path, token)).status_code


def test_only_health_is_public_in_the_document(app: FastAPI) -> None:
    open_ops = {(method, path) for method, path, op in operations(app) if "security" not in op}
    assert open_ops == PUBLIC


async def test_no_malformed_or_foreign_token_reaches_any_operation(
    app: FastAPI, anon: httpx.AsyncClient
) -> None:
    refused: dict[str, list[str]] = {}
    for method, path, _ in operations(app):
        if (method, path) in PUBLIC:
            continue
        for label, token in [
            ("none", None), ("empty", ""), ("garbage", "garbage"),
            ("minted-looking", "csms_" + "A" * 43), ("admin-with-suffix", ADMIN_TOKEN + "x"),
        ]:  # fmt: skip
            status = await _status(anon, method, path, token)
            if status != 401:
                refused.setdefault(f"{method.upper()} {path}", []).append(f"{label}: {status}")
    assert refused == {}


async def test_each_operation_admits_its_role_and_refuses_the_ones_below(
    app: FastAPI, anon: httpx.AsyncClient, redis: Redis
) -> None:
    tokens = {role: (await ApiTokens(redis).create(f"m-{role}", role)).token for role in RANK}
    wrong: list[str] = []
    for method, path, _ in operations(app):
        if (method, path) in PUBLIC:
            continue
        needed = least_role(method, path)
        for role in RANK:
            status = await _status(anon, method, path, tokens[role])
            allowed = RANK.index(role) >= RANK.index(needed)
            if allowed == (status in (401, 403)) or (not allowed and status != 403):
                wrong.append(f"{method.upper()} {path} as {role}: {status} (needs {needed})")
    assert wrong == []


async def test_a_revoked_token_reaches_no_operation(
    app: FastAPI, anon: httpx.AsyncClient, redis: Redis
) -> None:
    tokens = ApiTokens(redis)
    token = (await tokens.create("soon-gone", Role.ADMIN)).token
    assert await _status(anon, "get", "/api/v1/stations", token) == 200
    assert await tokens.delete("soon-gone")
    reached = [
        f"{method.upper()} {path}"
        for method, path, _ in operations(app)
        if (method, path) not in PUBLIC and await _status(anon, method, path, token) != 401
    ]
    assert reached == []


async def test_an_expired_token_reaches_no_operation(
    app: FastAPI, anon: httpx.AsyncClient, redis: Redis
) -> None:
    app.state.clock = clock = Clock(T0)
    token = (await ApiTokens(redis, clock).create("brief", Role.ADMIN, T0 + 60_000)).token
    assert await _status(anon, "get", "/api/v1/stations", token) == 200
    clock.now = T0 + 60_000  # the first millisecond it is no longer valid
    reached = []
    for method, path, _ in operations(app):
        if (method, path) in PUBLIC:
            continue
        answer = await _answer(anon, method, path, token)
        if answer.status_code != 401 or answer.json()["error"] != "token_expired":
            reached.append(f"{method.upper()} {path}: {answer.status_code}")
    assert reached == []


@pytest.mark.parametrize("role", RANK)
def test_the_rule_names_a_role_for_every_kind_of_route(role: Role) -> None:
    examples = {
        Role.ANALYST: ("get", "/api/v1/transactions"),
        Role.OPERATOR: ("post", "/api/v1/stations/{station_id}/commands/reset"),
        Role.ADMIN: ("get", "/api/v1/api-tokens"),
    }
    assert least_role(*examples[role]) is role
