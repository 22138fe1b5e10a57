"""Operator commands: one route per neutral command, the raw CALL passthrough, command status.

    POST /api/v1/stations/{id}/commands/{name}   neutral command, translated per station version
    POST /api/v1/stations/{id}/calls             any CSMS-initiated action of the station's version
    GET  /api/v1/commands/{command_id}           state and outcome (also of ?async=true commands)

Synchronous by default: the answer is the station's (neutral) answer, or an error in the API's
shape — 404 unknown station, 409 offline, 422 invalid or not supported by the station's version,
502 the station answered CALLERROR or an invalid payload, 504 no answer in time.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from csms.commands import COMMANDS, CommandError, CommandSpec
from csms.infra.api_tokens import Principal
from csms.protocol.versions import OcppVersion
from services.api.audit import redact
from services.api.auth import Analyst, Operator
from services.api.commands import RAW_CALL, CommandRecord, CommandService, failure_status
from services.api.errors import ApiError, error_responses
from services.api.params import StationIdPath as StationId

router = APIRouter(tags=["commands"])

RunAsync = Annotated[
    bool,
    Query(
        alias="async",
        description="return 202 with the command id at once; poll GET /api/v1/commands/{id}",
    ),
]
Timeout = Annotated[
    float | None,
    Query(
        alias="timeout",
        gt=0,
        le=300,
        description="seconds to wait for the station (default: API_COMMAND_TIMEOUT_S)",
    ),
]


class CallRecordView(BaseModel):
    id: str
    action: str
    outcome: str
    elapsed_ms: float


class CommandView(BaseModel):
    id: str = Field(description="command id")
    station: str
    command: str = Field(description='neutral command name, or "call" for a raw CALL')
    actor: str = Field(description="who asked for it")
    state: str = Field(description="pending | completed | failed")
    created_ms: int
    finished_ms: int | None = None
    outcome: str | None = Field(
        None, description="result | error | invalid | offline | timeout | unreachable | no_answer"
    )
    result: dict[str, Any] | None = Field(
        None, description="neutral result (commands) or the CALLRESULT payload (raw calls)"
    )
    error: dict[str, Any] | None = None
    calls: list[CallRecordView] = []


class RawCall(BaseModel):
    action: str = Field(min_length=1, max_length=64, description="OCPP action, e.g. Reset")
    payload: dict[str, Any] = Field(description="the request payload, per the version's schema")


_ERRORS = error_responses(401, 403, 404, 409, 422, 502, 504)


def _service(request: Request) -> CommandService:
    service: CommandService = request.app.state.commands
    return service


def _timeout(request: Request, timeout: float | None) -> float:
    return (
        timeout if timeout is not None else float(request.app.state.settings.api_command_timeout_s)
    )


async def send_command(
    request: Request,
    station_id: str,
    command: str,
    params: Any,
    audit_params: Any,
    principal: Principal,
    *,
    run_async: bool = False,
    timeout_s: float | None = None,
    only: OcppVersion | None = None,
) -> CommandRecord:
    """Prepare, record and send one command (or start it in the background when `run_async`):
    what every command route does. 404/409/422 as ApiError; `only` limits it to one version."""
    service = _service(request)
    try:
        prepared = await service.prepare(station_id, command, params, only=only)
    except CommandError as exc:
        raise ApiError(422, exc.code, str(exc)) from None
    record = service.start(station_id, command, audit_params, principal, prepared)
    wait_s = _timeout(request, timeout_s)
    if run_async:
        await service.run_in_background(record, prepared, wait_s, principal)
        return record
    return await service.run(record, prepared, wait_s, principal)


def command_response(record: CommandRecord, run_async: bool) -> JSONResponse:
    """The HTTP answer for a command `send_command` ran (or started, when `run_async`)."""
    if run_async:
        body = {"id": record.id, "state": record.state, "href": f"/api/v1/commands/{record.id}"}
        return JSONResponse(status_code=202, content=body)
    return _answer(record)


async def _execute(
    request: Request,
    station_id: str,
    command: str,
    params: Any,
    audit_params: Any,
    principal: Principal,
    run_async: bool,
    timeout_s: float | None,
) -> JSONResponse:
    record = await send_command(
        request,
        station_id,
        command,
        params,
        audit_params,
        principal,
        run_async=run_async,
        timeout_s=timeout_s,
    )
    return command_response(record, run_async)


def _answer(record: CommandRecord) -> JSONResponse:
    if record.state == "completed":
        return JSONResponse(status_code=200, content=record.as_dict())
    body: dict[str, Any] = dict(record.error or {"error": "internal_error", "detail": ""})
    body["command_id"] = record.id
    return JSONResponse(status_code=failure_status(str(body.get("error"))), content=body)


def _command_route(spec: CommandSpec[Any]) -> Any:
    async def run_command(
        request: Request,
        station_id: StationId,
        body: BaseModel,
        principal: Operator,
        run_async: RunAsync = False,
        timeout_s: Timeout = None,
    ) -> JSONResponse:
        return await _execute(
            request,
            station_id,
            spec.name,
            body,
            redact(body.model_dump(mode="json")),
            principal,
            run_async,
            timeout_s,
        )

    # Generated per command: the body type is set here (this module postpones annotations).
    run_command.__annotations__ = {
        **run_command.__annotations__,
        "body": spec.model,
    }
    return run_command


def install(app: FastAPI) -> None:
    """Add the command routes (one per neutral command) and the raw-call and status routes."""
    generated = APIRouter(tags=["commands"])
    for spec in COMMANDS.values():
        versions = ", ".join(sorted(v.value for v in spec.versions))
        generated.post(
            f"/api/v1/stations/{{station_id}}/commands/{spec.name}",
            summary=spec.summary,
            description=f"{spec.notes}\n\nSupported on: {versions}.".strip(),
            response_model=CommandView,
            responses={**_ERRORS, 202: {"description": "accepted (?async=true)"}},
            name=f"command_{spec.name.replace('-', '_')}",
        )(_command_route(spec))
    app.include_router(generated)
    app.include_router(router)


@router.post(
    "/api/v1/stations/{station_id}/calls",
    response_model=CommandView,
    responses={**_ERRORS, 202: {"description": "accepted (?async=true)"}},
    summary="Send any CSMS-initiated OCPP CALL of the station's version",
)
async def raw_call(
    request: Request,
    station_id: StationId,
    body: RawCall,
    principal: Operator,
    run_async: RunAsync = False,
    timeout_s: Timeout = None,
) -> JSONResponse:
    audit_params = {"action": body.action, "payload": redact(body.payload)}
    return await _execute(
        request,
        station_id,
        RAW_CALL,
        (body.action, body.payload),
        audit_params,
        principal,
        run_async,
        timeout_s,
    )


@router.get(
    "/api/v1/commands/{command_id}",
    response_model=CommandView,
    responses=error_responses(401, 403, 404, 422),
    summary="A command's state and outcome",
)
async def get_command(
    request: Request,
    command_id: Annotated[str, Path(min_length=1, max_length=64)],
    principal: Analyst,
) -> dict[str, Any]:
    found = await _service(request).get(command_id)
    if found is None:
        raise ApiError(404, "command_not_found", f"no command {command_id!r} (or it expired)")
    return found
