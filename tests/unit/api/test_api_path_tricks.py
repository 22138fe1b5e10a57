"""Path tricks, sent as raw request lines (tests/unit/api/raw_asgi.py): dot segments plain and
percent-encoded, encoded slashes, doubled slashes, `;` parameters, NUL, bad percent-encoding
and very long paths. The API routes on the path decoded once and never normalizes it, so a trick
either names a route exactly (and that route checks its own role) or names none: an analyst
gets no 2xx from any operation above its role however the path is spelled, and nobody gets a
500. Every privileged operation of the OpenAPI document is tried."""

from __future__ import annotations

import itertools

from fastapi import FastAPI
from redis.asyncio import Redis

from csms.infra.api_tokens import ApiTokens, Role
from tests.unit.api.openapi_ops import fill, operations
from tests.unit.api.raw_asgi import raw_request
from tests.unit.api.test_api_auth_matrix import PUBLIC, least_role

PREFIX = "/api/v1"


def _spellings(path: str) -> list[str]:
    """Other ways to write `path` (under /api/v1) that a lenient router might take for it."""
    rest = path[len(PREFIX) :]  # "/api-tokens", "/stations/CP-1/password", …
    return [
        PREFIX + rest.replace("/", "%2F"),  # encoded slashes: decoded once, the same path
        PREFIX + rest.replace("/", "%2f", 1),
        PREFIX + "/stations/.." + rest,  # dot segments are never resolved
        PREFIX + "/stations/%2E%2E" + rest,
        PREFIX + "/stations/..%2F" + rest.lstrip("/"),
        PREFIX + "/stations/%2e%2e%2f%2e%2e%2f" + rest.lstrip("/"),
        PREFIX + "/./" + rest.lstrip("/"),
        PREFIX + "//" + rest.lstrip("/"),
        "/" + PREFIX + rest,
        PREFIX + rest + "/",
        PREFIX + rest + "/.",
        PREFIX + rest + ";x=1",
        PREFIX + rest + "/..;/",
        PREFIX + rest + "%00",
        PREFIX + rest.upper(),
        PREFIX + "\\" + rest.lstrip("/"),
    ]


async def test_no_spelling_of_a_privileged_path_lets_an_analyst_through(
    app: FastAPI, redis: Redis
) -> None:
    token = (await ApiTokens(redis).create("reader", Role.ANALYST)).token
    await ApiTokens(redis).create("secret-admin-token-name", Role.ADMIN)
    auth = {"Authorization": f"Bearer {token}"}
    leaks: list[str] = []
    tried = 0
    for method, template, _ in operations(app):
        if (method, template) in PUBLIC or least_role(method, template) is Role.ANALYST:
            continue
        path = fill(template, itertools.repeat("CP-1"))
        for spelling in [path, *_spellings(path)]:
            answer = await raw_request(app, method, spelling, auth, b"{}")
            tried += 1
            location = answer.headers.get("location", "http://api.test/api/")
            if (
                200 <= answer.status < 300
                or answer.status >= 500
                or b"secret-admin-token-name" in answer.body
                or not location.startswith("http://api.test/api/")
            ):
                leaks.append(f"{method.upper()} {spelling}: {answer.status}")
    assert leaks == []
    assert tried > 300


async def test_malformed_paths_are_answered_without_a_server_error(app: FastAPI) -> None:
    for raw in [
        "/api/v1/stations/%zz",
        "/api/v1/stations/%",
        "/api/v1/stations/%c3%28",  # not UTF-8
        "/api/v1/stations/%ff%fe",
        "/api/v1/stations/" + "A" * 100_000,
        "/api/v1/stations/" + "%2F" * 5_000,
        "/api/v1/" + "../" * 1_000 + "etc/passwd",
        "/api/v1/stations/%C4%B0%E2%84%AA",  # letters that change under case folding
    ]:
        answer = await raw_request(app, "get", raw, {"Authorization": "Bearer x"})
        assert answer.status < 500, (raw[:60], answer.status)
        assert answer.status in (307, 401, 404), (raw[:60], answer.status)
