"""The models work as FastAPI request bodies: one route per command, documented in OpenAPI."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from csms.commands import COMMANDS, CommandSpec, translate
from csms.protocol.versions import OcppVersion


def _route(app: FastAPI, spec: CommandSpec[Any]) -> None:
    async def handler(body: BaseModel) -> dict[str, Any]:
        calls = translate(spec.name, body, OcppVersion.V201)
        return {"actions": [c.action for c in calls]}

    # Routes are generated, so the body type is set at run time (the module uses postponed
    # annotations, which FastAPI would otherwise try to resolve by name).
    handler.__annotations__ = {"body": spec.model, "return": dict[str, Any]}
    app.post(f"/commands/{spec.name}", summary=spec.summary)(handler)


def _app() -> FastAPI:
    app = FastAPI()
    for spec in COMMANDS.values():
        if OcppVersion.V201 in spec.versions:
            _route(app, spec)
    return app


def test_openapi_documents_every_command_body() -> None:
    schema = _app().openapi()
    assert len(schema["paths"]) == len(COMMANDS)
    components = schema["components"]["schemas"]
    reset = components["ResetCommand"]["properties"]["type"]
    assert "on-idle" in reset["enum"] and reset["description"]
    assert "ConfigurationValue" in components


async def test_a_body_goes_through_fastapi_into_translate() -> None:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        body = {"values": [{"key": "HeartbeatInterval", "value": "5"}]}
        ok = await client.post("/commands/set-configuration", json=body)
        assert ok.status_code == 200
        assert ok.json() == {"actions": ["SetVariables"]}
        bad = await client.post("/commands/reset", json={"type": "later"})
        assert bad.status_code == 422
