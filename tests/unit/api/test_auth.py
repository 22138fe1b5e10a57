"""Bearer tokens and roles: who may call what, and that secrets never come back out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis

from csms.infra import redis_keys
from csms.infra.api_tokens import (
    BOOTSTRAP_NAME,
    ApiTokens,
    Role,
    TokenNameTaken,
    allows,
    token_digest,
)
from csms.settings import Settings
from services import cli as services_cli
from services.admin import api_tokens as cli
from services.cli import local_api_token
from tests.unit.api.api_seed import ADMIN_TOKEN, REDIS_URL, mint
from tests.unit.api.memory_audit import MemoryAudit

TOKENS = "/api/v1/api-tokens"
ID_TOKEN = {"id_token": "AA11", "type": "ISO14443"}
STATION = {"id": "CP-NEW", "status": "Accepted"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _everything_in(redis: Redis) -> str:
    """Every key and value of the test DB as one string, to look for leaked secrets."""
    parts: list[str] = []
    async for key in redis.scan_iter():
        parts.append(key)
        kind = await redis.type(key)
        if kind == "hash":
            parts.append(str(await redis.hgetall(key)))
        elif kind == "string":
            parts.append(str(await redis.get(key)))
    return "\n".join(parts)


def test_roles_are_ordered() -> None:
    assert allows(Role.ADMIN, Role.OPERATOR)
    assert allows(Role.OPERATOR, Role.ANALYST)
    assert allows(Role.ANALYST, Role.ANALYST)
    assert not allows(Role.ANALYST, Role.OPERATOR)
    assert not allows(Role.OPERATOR, Role.ADMIN)


async def test_no_token_is_401_with_bearer_challenge(anon: httpx.AsyncClient) -> None:
    for method, path in [
        ("GET", "/api/v1/stations"),
        ("GET", "/api/v1/stations/CP-1"),
        ("GET", "/api/v1/id-tokens"),
        ("POST", "/api/v1/id-tokens"),
        ("POST", "/api/v1/stations"),
        ("GET", TOKENS),
    ]:
        resp = await anon.request(method, path)
        assert resp.status_code == 401, path
        assert resp.json() == {
            "error": "unauthorized",
            "detail": "an API token is required: Authorization: Bearer <token>",
        }
        assert resp.headers["www-authenticate"] == "Bearer"


async def test_unknown_wrong_scheme_and_empty_tokens_are_401(anon: httpx.AsyncClient) -> None:
    for headers in (
        _bearer("csms_" + "x" * 43),
        _bearer("not-even-ours"),
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": "Bearer"},
        {"Authorization": ADMIN_TOKEN},
    ):
        resp = await anon.get("/api/v1/stations", headers=headers)
        assert resp.status_code == 401, headers
        assert resp.json()["error"] == "unauthorized"
        assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_bootstrap_token_is_admin(api: httpx.AsyncClient, audit: MemoryAudit) -> None:
    resp = await api.post(TOKENS, json={"name": "ops", "role": "operator"})
    assert resp.status_code == 201
    (_, _, record) = audit.records[-1]
    assert (record["actor"], record["role"]) == (BOOTSTRAP_NAME, "admin")


async def test_each_role_reaches_its_calls_and_no_more(
    redis: Redis, anon: httpx.AsyncClient
) -> None:
    analyst, operator = await mint(redis, "analyst"), await mint(redis, "operator")
    admin = await mint(redis, "admin")

    async def status(method: str, path: str, headers: dict[str, str], body: Any = None) -> int:
        return (await anon.request(method, path, headers=headers, json=body)).status_code

    assert await status("GET", "/api/v1/stations", analyst) == 200
    assert await status("GET", "/api/v1/id-tokens", analyst) == 200
    assert await status("POST", "/api/v1/id-tokens", analyst, ID_TOKEN) == 403
    assert await status("POST", "/api/v1/id-tokens", operator, ID_TOKEN) == 201
    assert await status("POST", "/api/v1/id-tokens/AA11/block", analyst) == 403
    assert await status("POST", "/api/v1/id-tokens/AA11/block", operator) == 200
    assert await status("POST", "/api/v1/stations", operator, STATION) == 403
    assert await status("POST", "/api/v1/stations", admin, STATION) == 201
    assert await status("GET", TOKENS, operator) == 403
    assert await status("GET", TOKENS, admin) == 200

    refused = await anon.post(TOKENS, headers=operator, json={"name": "x", "role": "admin"})
    assert refused.status_code == 403
    assert refused.json() == {
        "error": "forbidden",
        "detail": "this call needs the admin role; the token has operator",
    }
    assert refused.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'


async def test_token_is_shown_once_and_stored_only_hashed(
    redis: Redis, api: httpx.AsyncClient, anon: httpx.AsyncClient, audit: MemoryAudit
) -> None:
    resp = await api.post(TOKENS, json={"name": "ci-reports", "role": "analyst"})
    assert resp.status_code == 201
    created = resp.json()
    token = created["token"]
    assert token.startswith("csms_") and len(token) > 40
    assert created["name"] == "ci-reports" and created["role"] == "analyst"
    assert created["created"].endswith("Z")

    listed = (await api.get(TOKENS)).json()
    assert listed == {"items": [{k: v for k, v in created.items() if k != "token"}]}
    stored = await _everything_in(redis)
    assert token not in stored
    assert token_digest(token) in stored  # the digest is how it is found
    assert token_digest(token) not in str(listed)
    assert token not in orjson.dumps(audit.records).decode()

    assert (await anon.get("/api/v1/stations", headers=_bearer(token))).status_code == 200


async def test_revoked_token_is_refused(
    redis: Redis, api: httpx.AsyncClient, anon: httpx.AsyncClient, audit: MemoryAudit
) -> None:
    token = (await api.post(TOKENS, json={"name": "temp", "role": "operator"})).json()["token"]
    assert (await anon.get("/api/v1/stations", headers=_bearer(token))).status_code == 200

    assert (await api.delete(f"{TOKENS}/temp")).status_code == 204
    resp = await anon.get("/api/v1/stations", headers=_bearer(token))
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert (await api.get(TOKENS)).json() == {"items": []}
    assert await redis.hlen(redis_keys.API_TOKEN_NAMES) == 0
    topic, key, record = audit.records[-1]
    assert (topic, key) == ("csms.audit", "temp")
    assert (record["action"], record["name"]) == ("api_token.delete", "temp")

    missing = await api.delete(f"{TOKENS}/temp")
    assert missing.status_code == 404
    assert missing.json()["error"] == "api_token_not_found"


async def test_token_creation_audited_and_names_unique(
    api: httpx.AsyncClient, audit: MemoryAudit
) -> None:
    assert (await api.post(TOKENS, json={"name": "dup", "role": "admin"})).status_code == 201
    topic, key, record = audit.records[-1]
    assert (topic, key) == ("csms.audit", "dup")
    assert record["action"] == "api_token.create"
    assert (record["name"], record["token_role"]) == ("dup", "admin")
    assert {"id", "ts"} <= set(record)

    again = await api.post(TOKENS, json={"name": "dup", "role": "analyst"})
    assert again.status_code == 409
    assert again.json()["error"] == "api_token_exists"
    assert len(audit.records) == 1


@pytest.mark.parametrize(
    "body",
    [
        {"name": "ok", "role": "root"},
        {"name": "", "role": "admin"},
        {"name": "has space", "role": "admin"},
        {"name": "env:CSMS_API_TOKEN", "role": "admin"},
        {"name": "x" * 65, "role": "admin"},
        {"name": "ok"},
        {"name": "ok", "role": "admin", "token": "chosen-by-me"},
    ],
)
async def test_invalid_token_requests_are_422(
    api: httpx.AsyncClient, audit: MemoryAudit, body: dict[str, str]
) -> None:
    resp = await api.post(TOKENS, json=body)
    assert resp.status_code == 422
    assert resp.json()["error"] == "invalid_request"
    assert audit.records == []


async def test_unreadable_token_record_is_refused(redis: Redis) -> None:
    tokens = ApiTokens(redis)
    minted = await tokens.create("odd", Role.OPERATOR)
    await redis.hset(redis_keys.api_token(token_digest(minted.token)), "role", "superuser")
    assert await tokens.lookup(minted.token) is None
    assert await tokens.list() == []
    with pytest.raises(TokenNameTaken):
        await tokens.create("odd", Role.ADMIN)
    with pytest.raises(ValueError, match="token names"):
        await tokens.create("bad name", Role.ADMIN)


def test_settings_read_the_bootstrap_token_and_hide_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSMS_API_TOKEN", "s3cret-bootstrap")
    settings = Settings.from_env()
    assert settings.api_token == "s3cret-bootstrap"
    assert "s3cret-bootstrap" not in repr(settings)
    monkeypatch.delenv("CSMS_API_TOKEN")
    assert Settings.from_env().api_token == ""


async def test_cli_mints_lists_and_revokes(
    redis: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(redis_url=REDIS_URL)

    async def run(*argv: str) -> int:
        parser = argparse.ArgumentParser()
        cli.add_parser(parser.add_subparsers(dest="command"))
        return await cli._run(parser.parse_args(["api-token", *argv]), settings)

    assert await run("create", "nightly", "--role", "operator") == 0
    out = capsys.readouterr()
    token = out.out.strip()
    principal = await ApiTokens(redis).lookup(token)
    assert principal is not None and (principal.name, principal.role) == ("nightly", "operator")
    assert "shown only this once" in out.err

    assert await run("create", "nightly") == 2
    assert "exists already" in capsys.readouterr().err
    assert await run("list") == 0
    listed = capsys.readouterr().out
    assert listed.startswith("nightly\toperator\t") and token not in listed
    assert await run("delete", "nightly") == 0
    assert await ApiTokens(redis).lookup(token) is None
    assert await run("delete", "nightly") == 1


def test_csms_up_admin_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert local_api_token(Settings(api_token="from-the-environment")) == "from-the-environment"
    monkeypatch.setattr(services_cli, "LOCAL_STATE_DIR", tmp_path)
    first = local_api_token(Settings())
    assert len(first) >= 40
    assert local_api_token(Settings()) == first, "kept across restarts"
    assert (tmp_path / "api-token").stat().st_mode & 0o777 == 0o600
