"""Health, metrics, OpenAPI and the error shape of the app as a whole."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from csms.infra.redis_client import make_redis
from csms.settings import Settings
from services.api import app as app_module
from services.api.app import create_app
from tests.unit.api.api_seed import ADMIN_HEADERS, ADMIN_TOKEN, REDIS_URL
from tests.unit.api.memory_audit import MemoryAudit


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _down_api() -> tuple[httpx.AsyncClient, Redis]:
    """An admin client of an app whose Redis is away (the caller closes the Redis client)."""
    settings = Settings(redis_url=f"redis://127.0.0.1:{_unused_port()}/0", api_token=ADMIN_TOKEN)
    down = make_redis(settings)
    app = create_app(settings, redis=down, audit=MemoryAudit())
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(
        transport=transport, base_url="http://api.test", headers=ADMIN_HEADERS
    )
    return client, down


async def test_health_ok(api: httpx.AsyncClient) -> None:
    resp = await api.get("/health")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}


async def test_health_is_503_when_redis_is_down() -> None:
    client, down = _down_api()
    async with client:
        resp = await client.get("/health")
    await down.aclose()
    assert resp.status_code == 503
    assert resp.headers["retry-after"] == "1"
    assert resp.json() == {
        "error": "redis_unavailable",
        "detail": "the read-model store (Redis) is unreachable; retry later",
    }


async def test_reads_are_503_when_redis_is_down() -> None:
    client, down = _down_api()
    async with client:
        for path in (
            "/api/v1/stations",
            "/api/v1/stations/CP-1",
            "/api/v1/transactions",
            "/api/v1/id-tokens",
        ):
            resp = await client.get(path)
            assert resp.status_code == 503, path
            assert resp.json()["error"] == "redis_unavailable"
        # a minted token needs Redis to be checked: 503, not 401
        minted = {"Authorization": "Bearer csms_not-checkable-now"}
        resp = await client.get("/api/v1/stations", headers=minted)
        assert (resp.status_code, resp.json()["error"]) == (503, "redis_unavailable")
    await down.aclose()


async def _client_ids(observer: Redis) -> set[int]:
    return {int(c["id"]) for c in await observer.client_list()}


async def test_owned_client_is_closed_on_shutdown(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    created: list[Redis] = []

    def spy(settings: Settings) -> Redis:
        created.append(make_redis(settings))
        return created[-1]

    monkeypatch.setattr(app_module, "make_redis", spy)
    app = create_app(Settings(redis_url=REDIS_URL), audit=MemoryAudit())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
            assert (await client.get("/health")).status_code == 200
        api_conn = await created[0].client_id()
        assert api_conn in await _client_ids(redis)
    # the server drops the connection once it reads the close; wait for that, boundedly
    for _ in range(100):
        if api_conn not in await _client_ids(redis):
            break
        await asyncio.sleep(0.02)
    assert api_conn not in await _client_ids(redis)


async def test_injected_client_is_left_to_its_owner(
    redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    closed: list[bool] = []

    async def spy_aclose(*_: object, **__: object) -> None:
        closed.append(True)

    monkeypatch.setattr(redis, "aclose", spy_aclose)
    app = create_app(Settings(redis_url=REDIS_URL), redis=redis, audit=MemoryAudit())
    async with app.router.lifespan_context(app):
        pass
    assert closed == [], "the app must not close a client it was given"
    assert await redis.ping()


def test_redis_client_fails_fast() -> None:
    client = make_redis(Settings(redis_url=REDIS_URL))
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["decode_responses"] is True
    assert kwargs["socket_connect_timeout"] == 2.0
    assert kwargs["retry"].get_retries() == 2


async def test_unknown_route_and_method_use_error_shape(api: httpx.AsyncClient) -> None:
    resp = await api.get("/api/v1/nothing")
    assert resp.status_code == 404
    assert resp.json() == {"error": "not_found", "detail": "Not Found"}
    resp = await api.delete("/api/v1/stations")
    assert resp.status_code == 405
    assert resp.json()["error"] == "method_not_allowed"


async def test_metrics_count_by_route_template_and_status(api: httpx.AsyncClient) -> None:
    await api.get("/api/v1/stations/CP-1")
    await api.get("/api/v1/stations/CP-2")
    await api.get("/api/v1/stations")
    await api.get("/nope")
    resp = await api.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }

    def requests(route: str, status: str) -> float:
        labels = (("method", "GET"), ("route", route), ("status", status))
        return samples.get(("csms_api_requests_total", labels), 0.0)

    assert requests("/api/v1/stations/{station_id}", "404") == 2
    assert requests("/api/v1/stations", "200") == 1
    assert requests("<unmatched>", "404") == 1
    count = (
        "csms_api_request_duration_seconds_count",
        (("method", "GET"), ("route", "/api/v1/stations/{station_id}")),
    )
    assert samples[count] == 2


async def test_openapi_describes_routes_and_error_shape(api: httpx.AsyncClient) -> None:
    resp = await api.get("/openapi.json")
    assert resp.status_code == 200
    spec = resp.json()
    assert spec["info"]["title"] == "CSMS operator API"
    assert spec["info"]["version"] == "0.1.0"
    assert set(spec["paths"]) >= {
        "/health",
        "/api/v1/stations",
        "/api/v1/stations/{station_id}",
        "/api/v1/stations/{station_id}/password",
        "/api/v1/transactions",
        "/api/v1/transactions/{station_id}/{transaction_id}",
        "/api/v1/api-tokens",
        "/api/v1/api-tokens/{name}",
        "/api/v1/id-tokens",
        "/api/v1/id-tokens/{id_token}",
        "/api/v1/id-tokens/{id_token}/block",
    }
    schemes = spec["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["HTTPBearer"]["description"],
    }
    assert spec["paths"]["/api/v1/stations"]["get"]["security"] == [{"HTTPBearer": []}]
    detail = spec["paths"]["/api/v1/stations/{station_id}"]["get"]["responses"]
    assert detail["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/StationDetail")
    for status in ("404", "422"):
        assert detail[status]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorBody"
        )
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    docs = await api.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
