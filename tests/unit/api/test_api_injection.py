"""Injection attempts in every parameter of every operation of the OpenAPI document (path and
query; a parameter added tomorrow is sent them without a line here): glob patterns that a
SCAN/KEYS would expand, CR/LF and Redis protocol, SQL, traversal (plain and percent-encoded),
NUL, 10,000 characters, unicode tricks and ids that would name another station's Redis sub-key.

Each is answered like a plain unknown value of that parameter (the same status and error, or
the same body), or refused 422 — never a 500, never another key's data — and afterwards Redis
holds exactly what it held before. Requests reach the app as uvicorn hands them over (raw path,
decoded once, nothing normalized). No API parameter reaches SQL: the API reads Redis only, which
the last test keeps true."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis

from csms.infra.api_tokens import ApiTokens, Role
from csms.infra.station_registry import StationRegistry
from tests.unit.api.api_seed import (
    ADMIN_HEADERS,
    T0,
    make_tx,
    put_station,
    put_status,
    put_transaction,
    station_fields,
)
from tests.unit.api.openapi_ops import operations
from tests.unit.api.raw_asgi import RawAnswer, raw_request

HOSTILE = {
    "glob-star": "*",
    "glob-question": "?",
    "glob-class": "[a]",
    "glob-prefix": "CP-*",
    "crlf": "\r\n",
    "header-smuggling": "x\r\nX-Injected: 1",
    "redis-protocol": "CP-1\r\nFLUSHALL\r\n",
    "sql-drop": "'; DROP TABLE transactions; --",
    "sql-or": "1' OR '1'='1",
    "dot": ".",
    "dot-dot": "..",
    "traversal": "../",
    "deep-traversal": "../../etc/passwd",
    "encoded-traversal": "%2e%2e%2f",
    "backslash-traversal": "..\\..\\",
    "nul": "\x00",
    "nul-suffix": "CP-1\x00",
    "very-long": "A" * 10_000,
    "right-to-left": "\u202eCP-1",
    "zero-width": "CP\u200b-1",
    "fullwidth": "\uff23\uff30\uff0d\uff11",
    "emoji": "\U0001f600",
    "sub-key-txs": "CP-1:txs",
    "sub-key-connectors": "CP-1:connectors",
    "sub-key-active": "CP-1:active_txs",
    "key-prefix": "csms:station:CP-1",
    "template": "${jndi:ldap://x/a}",
    "format": "%s%n%x",
}
UNKNOWN = "zz-unknown"
# What fills the path parameters that are not under test: the seeded resources.
KNOWN = {
    "station_id": "CP-1",
    "transaction_id": "tx-1",
    "id_token": "AA11",
    "tariff_id": "STD",
    "version": "1",
    "name": "t-analyst",
    "command_id": "nope",
    "station": "CP-1",
    "at_ms": str(T0),  # not "now": two answers a few milliseconds apart must be equal
}
# Bodies that pass validation, so a hostile path parameter reaches the route's code; any other
# write gets `{}` (validated together with the parameters, still answered without a 500).
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("patch", "/api/v1/stations/{station_id}"): {"status": "Pending"},
    ("put", "/api/v1/stations/{station_id}/password"): {"password": "a-long-station-secret"},
    ("patch", "/api/v1/id-tokens/{id_token}"): {"status": "Blocked"},
    ("put", "/api/v1/tariffs/{tariff_id}"): {"currency": "EUR"},
    ("post", "/api/v1/tariffs/{tariff_id}/push"): {"station_id": "CP-1"},
    ("post", "/api/v1/stations/{station_id}/calls"): {"action": "ClearCache", "payload": {}},
}
EXAMPLES_BY_TYPE = {"integer": "1", "number": "1", "boolean": "false"}


async def _seed(app: FastAPI, redis: Redis) -> None:
    await put_station(redis, "CP-1", station_fields("ocpp2.0.1", online=True, last_seen=T0))
    await put_status(redis, "CP-1", 1, 1, "Available", T0)
    await put_transaction(redis, make_tx("CP-1", "tx-1", T0))
    await ApiTokens(redis).create("t-analyst", Role.ANALYST)
    for method, path, body in [
        ("post", "/api/v1/stations", {"id": "CP-1"}),
        ("post", "/api/v1/id-tokens", {"id_token": "AA11", "type": "ISO14443", "group_id": "G1"}),
        ("post", "/api/v1/tariffs", {"id": "STD", "currency": "EUR"}),
        ("put", "/api/v1/tariff-assignments", {"scope": "station", "station": "CP-1",
                                               "tariff_id": "STD"}),
    ]:  # fmt: skip
        answer = await _call(app, method, path, body)
        assert answer.status < 300, (path, answer.body)


async def _call(app: FastAPI, method: str, target: str, body: Any | None) -> RawAnswer:
    content = orjson.dumps(body) if body is not None else b""
    return await raw_request(app, method, target, ADMIN_HEADERS, content)


def _type(param: dict[str, Any]) -> str:
    schema = param.get("schema", {})
    types = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", [])]
    return next((t for t in types if t and t != "null"), "string")


def _target(path: str, op: dict[str, Any], under_test: str, value: str) -> str:
    """The raw request target: path parameters percent-encoded as a client would send them,
    the one under test set to `value`, required query parameters filled in."""
    query: dict[str, str] = {}
    for param in op.get("parameters", []):
        name = param["name"]
        given = value if name == under_test else KNOWN.get(name, "")
        if param["in"] == "path":
            path = path.replace("{" + name + "}", quote(given, safe=""))
        elif name == under_test or param.get("required") or name in KNOWN:
            query[name] = given or EXAMPLES_BY_TYPE.get(_type(param), UNKNOWN)
    return path + ("?" + urlencode(query) if query else "")


def _unknown_value(param: dict[str, Any]) -> str:
    return EXAMPLES_BY_TYPE.get(_type(param), UNKNOWN)


def _shape(answer: RawAnswer, value: str) -> Any:
    """What must match a plain unknown value's answer: an error's status and code; a success's
    whole body, with the value echoed back read as the unknown one."""
    if answer.status >= 300:
        return answer.status, answer.json().get("error") if answer.body else None
    return answer.status, _renamed(answer.json() if answer.body else None, value)


def _renamed(body: Any, value: str) -> Any:
    if isinstance(body, dict):
        return {k: _renamed(v, value) for k, v in body.items()}
    if isinstance(body, list):
        return [_renamed(v, value) for v in body]
    return UNKNOWN if body == value else body


def _fault(hostile: RawAnswer, baseline: RawAnswer, value: str, in_path: bool) -> str | None:
    if hostile.status >= 500:
        return f"{hostile.status} {hostile.body[:200]!r}"
    if hostile.status >= 400 and set(hostile.json()) != {"error", "detail"}:
        return f"error body {hostile.body[:200]!r}"
    if hostile.status == 422 or _shape(hostile, value) == _shape(baseline, UNKNOWN):
        return None
    if in_path and "/" in value and hostile.status in (307, 404, 405):
        # A decoded `/` made it another path, which matched no route (404, 405), or only
        # without its trailing slash (307 to that path, on this API).
        location = hostile.headers.get("location", "http://api.test/api/")
        return None if location.startswith("http://api.test/api/") else f"307 to {location}"
    return f"{_shape(hostile, value)} where an unknown value gets {_shape(baseline, UNKNOWN)}"


async def _everything(redis: Redis) -> dict[str, Any]:
    """Every key's type and value, commands' records aside (a command to an unknown station
    may be recorded)."""
    found: dict[str, Any] = {}
    async for key in redis.scan_iter(count=1000):
        if key.startswith("csms:cmd:"):
            continue
        kind = await redis.type(key)
        reads = {"hash": redis.hgetall, "string": redis.get, "set": redis.smembers}
        if kind == "zset":
            found[key] = await redis.zrange(key, 0, -1, withscores=True)
        else:
            found[key] = await reads[kind](key) if kind in reads else kind
    return found


async def test_every_parameter_takes_injection_attempts_like_an_unknown_value(
    app: FastAPI, redis: Redis
) -> None:
    await _seed(app, redis)
    before = await _everything(redis)
    faults: list[str] = []
    swept = 0
    for method, path, op in operations(app):
        body = BODIES.get((method, path), {} if method in ("post", "put", "patch") else None)
        for param in op.get("parameters", []):
            name, in_path = param["name"], param["in"] == "path"
            baseline = await _call(
                app, method, _target(path, op, name, _unknown_value(param)), body
            )
            for label, value in HOSTILE.items():
                hostile = await _call(app, method, _target(path, op, name, value), body)
                fault = _fault(hostile, baseline, value, in_path)
                if fault:
                    faults.append(f"{method.upper()} {path} {name}={label}: {fault}")
            swept += 1
    assert faults == [], "\n".join(faults)
    assert swept >= 60  # every parameter of every operation, a few dozen routes
    assert await _everything(redis) == before


@pytest.mark.parametrize("station", ["CP-1:txs", "CP-1:connectors", "CP-1:active_txs"])
async def test_an_id_naming_another_stations_sub_key_is_refused_everywhere(
    app: FastAPI, redis: Redis, station: str
) -> None:
    """Before: GET /stations/CP-1:connectors served CP-1's connectors as a station of its own,
    and CP-1:txs (CP-1's transaction index, a sorted set) was a 500 WRONGTYPE."""
    await _seed(app, redis)
    encoded = quote(station, safe="")
    for method, target, body in [
        ("get", f"/api/v1/stations/{encoded}", None),
        ("get", f"/api/v1/stations/{encoded}/device-model", None),
        ("patch", f"/api/v1/stations/{encoded}", {"status": "Rejected"}),
        ("post", f"/api/v1/stations/{encoded}/commands/clear-cache", {}),
        ("get", f"/api/v1/transactions/{encoded}/tx-1", None),
        ("get", f"/api/v1/transactions?station_id={encoded}", None),
        ("post", "/api/v1/stations", {"id": station}),
        ("post", "/api/v1/tariffs/STD/push", {"station_id": station}),
    ]:
        answer = await _call(app, method, target, body)
        assert answer.status == 422, (target, answer.body)
    # Registered before the rule (or written by an older gateway): left out of the list, which
    # answered 500 to everyone when it read CP-1's transaction index as a station's hash.
    await StationRegistry(redis).set_status(station, "Accepted")
    listed = await _call(app, "get", "/api/v1/stations", None)
    assert [s["id"] for s in listed.json()["items"]] == ["CP-1"]


def test_no_api_module_reaches_sql() -> None:
    api = Path(__file__).resolve().parents[3] / "services" / "api"
    reaching = [
        str(module.relative_to(api))
        for module in sorted(api.rglob("*.py"))
        if re.search(r"^\s*(from|import)\s+\S*(clickhouse|chdb|sql)", module.read_text(), re.M)
    ]
    assert reaching == []
