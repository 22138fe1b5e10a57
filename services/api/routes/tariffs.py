"""Tariffs and their assignments: what charging costs, written by operators, read by billing.

A tariff edit is a new immutable version (valid from the moment it is saved, or a later
`valid_from_ms`); a session is priced with the version valid when it started, and with the
tariff assigned to its id-token group, EVSE, station or the network default at that moment
(see csms.domain.tariffs). So nothing written here ever reprices a session already started.
A version can also be pushed to an OCPP 2.1 station as its default tariff (SetDefaultTariff),
through the command path of services.api.routes.commands.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis

from csms.clock import Clock, system_clock
from csms.domain.tariff_ocpp21 import set_default_tariff_request
from csms.domain.tariffs import Tariff, TariffError
from csms.infra.api_tokens import Principal
from csms.protocol.versions import OcppVersion
from csms.readmodels.tariffs import RedisTariffs, TariffExists, TariffNotFound, Tariffs
from services.api.auth import AUTH_ERRORS, Analyst, Operator, record_audit
from services.api.commands import RAW_CALL
from services.api.errors import ApiError, error_responses
from services.api.routes.commands import (
    CommandView,
    RunAsync,
    Timeout,
    command_response,
    send_command,
)
from services.api.tariff_schemas import (
    AssignmentBody,
    AssignmentList,
    AssignmentView,
    ResolvedTariff,
    TariffBody,
    TariffDetail,
    TariffList,
    TariffPushBody,
    TariffView,
    assignment_view,
    tariff_detail,
    tariff_view,
)

router = APIRouter(prefix="/api/v1", tags=["tariffs"])

TariffPath = Annotated[str, Path(min_length=1, max_length=60, description="tariff id")]
VersionPath = Annotated[int, Path(ge=1, description="version number")]
SET_DEFAULT_TARIFF = "SetDefaultTariff"  # OCPP 2.1 only
# `resolve` is a sub-route of /tariffs, so it cannot be a tariff id.
RESERVED_IDS = frozenset({"resolve"})


def _store(request: Request) -> Tariffs:
    redis: Redis = request.app.state.redis
    return RedisTariffs(redis)


def _now(request: Request) -> int:
    """Epoch ms; tests pin it with `app.state.clock`."""
    clock: Clock = getattr(request.app.state, "clock", system_clock)
    return clock()


def _invalid(exc: TariffError) -> ApiError:
    return ApiError(422, "invalid_tariff", str(exc))


def _not_found(tariff_id: str) -> ApiError:
    return ApiError(404, "tariff_not_found", f"no tariff {tariff_id!r}")


@router.post(
    "/tariffs",
    status_code=201,
    response_model=TariffView,
    responses=error_responses(*AUTH_ERRORS, 409, 422, 503),
)
async def create_tariff(request: Request, body: TariffBody, principal: Operator) -> TariffView:
    """Version 1 of a new tariff."""
    if body.id in RESERVED_IDS:
        raise ApiError(422, "invalid_tariff", f"id: {body.id!r} is reserved")
    try:
        tariff = await _store(request).create(body.to_tariff_json(), _now(request))
    except TariffError as exc:
        raise _invalid(exc) from exc
    except TariffExists as exc:
        raise ApiError(409, "tariff_exists", str(exc)) from exc
    await _audit(request, principal, "tariff.create", tariff)
    return tariff_view(tariff)


@router.get("/tariffs", response_model=TariffList, responses=error_responses(*AUTH_ERRORS, 503))
async def list_tariffs(request: Request, _: Analyst) -> TariffList:
    """The latest version of every tariff, by id."""
    return TariffList(items=[tariff_view(t) for t in await _store(request).list()])


@router.get(
    "/tariffs/resolve",
    response_model=ResolvedTariff,
    responses=error_responses(*AUTH_ERRORS, 404, 422, 503),
)
async def resolve_tariff(
    request: Request,
    _: Analyst,
    station: Annotated[str, Query(min_length=1, max_length=48, description="station id")],
    evse: Annotated[int, Query(ge=0, description="EVSE id; 0 = not EVSE-specific")] = 0,
    group: Annotated[
        str | None, Query(min_length=1, max_length=255, description="id-token group id")
    ] = None,
    at_ms: Annotated[
        int | None, Query(ge=0, description="session start, epoch ms; default now")
    ] = None,
) -> ResolvedTariff:
    """Which tariff version would price a session of this station/EVSE/group started at
    `at_ms` (precedence group > evse > station > default)."""
    at = _now(request) if at_ms is None else at_ms
    found = await _store(request).resolve_with_key(station, evse, group, at)
    if found is None:
        raise ApiError(404, "tariff_not_found", "no tariff is assigned to this session's scopes")
    key, tariff = found
    return ResolvedTariff(at_ms=at, assignment=key, tariff=tariff_view(tariff))


@router.get(
    "/tariffs/{tariff_id}",
    response_model=TariffDetail,
    responses=error_responses(*AUTH_ERRORS, 404, 422, 503),
)
async def get_tariff(request: Request, tariff_id: TariffPath, _: Analyst) -> TariffDetail:
    """The latest version, with the validity of every version."""
    versions = await _store(request).versions(tariff_id)
    if not versions:
        raise _not_found(tariff_id)
    return tariff_detail(versions)


@router.get(
    "/tariffs/{tariff_id}/versions/{version}",
    response_model=TariffView,
    responses=error_responses(*AUTH_ERRORS, 404, 422, 503),
)
async def get_tariff_version(
    request: Request, tariff_id: TariffPath, version: VersionPath, _: Analyst
) -> TariffView:
    tariff = await _store(request).get(tariff_id, version)
    if tariff is None:
        raise ApiError(
            404, "tariff_version_not_found", f"no version {version} of tariff {tariff_id!r}"
        )
    return tariff_view(tariff)


@router.put(
    "/tariffs/{tariff_id}",
    response_model=TariffView,
    responses=error_responses(*AUTH_ERRORS, 404, 422, 503),
)
async def update_tariff(
    request: Request, tariff_id: TariffPath, body: TariffBody, principal: Operator
) -> TariffView:
    """A new version, valid from now (or the later `valid_from_ms`); the body is the whole
    tariff, not a patch. Sessions already started keep the version they started with."""
    if body.id is not None and body.id != tariff_id:
        raise ApiError(422, "invalid_tariff", f"id: {body.id!r} does not match the path")
    try:
        tariff = await _store(request).update(tariff_id, body.to_tariff_json(), _now(request))
    except TariffError as exc:
        raise _invalid(exc) from exc
    except TariffNotFound as exc:
        raise _not_found(tariff_id) from exc
    await _audit(request, principal, "tariff.update", tariff)
    return tariff_view(tariff)


@router.post(
    "/tariffs/{tariff_id}/push",
    response_model=CommandView,
    responses={
        **error_responses(*AUTH_ERRORS, 404, 409, 422, 502, 503, 504),
        202: {"description": "accepted (?async=true)"},
    },
)
async def push_tariff(
    request: Request,
    tariff_id: TariffPath,
    body: TariffPushBody,
    principal: Operator,
    run_async: RunAsync = False,
    timeout_s: Timeout = None,
) -> JSONResponse:
    """Send a tariff version (default the latest) to an OCPP 2.1 station as its default tariff
    (SetDefaultTariff, for one EVSE or the whole station), as a command: recorded on
    ocpp.commands and answered like `POST /stations/{id}/calls`. 422 unsupported_command for a
    station of another version."""
    tariff = await _store(request).get(tariff_id, body.version)
    if tariff is None:
        if body.version is None:
            raise _not_found(tariff_id)
        raise ApiError(
            404, "tariff_version_not_found", f"no version {body.version} of tariff {tariff_id!r}"
        )
    payload = set_default_tariff_request(tariff, body.evse_id)
    record = await send_command(
        request,
        body.station_id,
        RAW_CALL,
        (SET_DEFAULT_TARIFF, payload),
        {"action": SET_DEFAULT_TARIFF, "payload": payload, "tariff_version": tariff.version},
        principal,
        run_async=run_async,
        timeout_s=timeout_s,
        only=OcppVersion.V21,
    )
    # Built before the audit record is awaited: an async command must answer as it started.
    response = command_response(record, run_async)
    await _audit(
        request,
        principal,
        "tariff.push",
        tariff,
        station=body.station_id,
        evse_id=body.evse_id,
        command_id=record.id,
        state=record.state,
        outcome=record.outcome,
    )
    return response


@router.put(
    "/tariff-assignments",
    response_model=AssignmentView,
    responses=error_responses(*AUTH_ERRORS, 404, 422, 503),
)
async def assign_tariff(
    request: Request, body: AssignmentBody, principal: Operator
) -> AssignmentView:
    """Assign a tariff to a scope (or unassign with `tariff_id: null`) from now or the later
    `valid_from_ms` on; answers the scope's whole history."""
    now = _now(request)
    try:
        result = await _store(request).assign(
            body.scope,
            station=body.station or "",
            evse=body.evse or 0,
            group=body.group or "",
            tariff_id=body.tariff_id,
            now_ms=now,
            valid_from_ms=body.valid_from_ms or 0,
        )
    except TariffError as exc:
        raise ApiError(422, "invalid_assignment", str(exc)) from exc
    except TariffNotFound as exc:
        raise _not_found(str(body.tariff_id)) from exc
    view = assignment_view(result["key"], result["history"])
    await record_audit(
        request,
        principal,
        "tariff.assign",
        view.key,
        assignment=view.key,
        tariff_id=body.tariff_id,
        valid_from_ms=max(now, body.valid_from_ms or 0),
    )
    return view


@router.get(
    "/tariff-assignments",
    response_model=AssignmentList,
    responses=error_responses(*AUTH_ERRORS, 503),
)
async def list_assignments(request: Request, _: Analyst) -> AssignmentList:
    """Every scope's assignment history, by key."""
    history = await _store(request).assignments()
    return AssignmentList(items=[assignment_view(k, history[k]) for k in sorted(history)])


async def _audit(
    request: Request, principal: Principal, action: str, tariff: Tariff, **extra: Any
) -> None:
    await record_audit(
        request,
        principal,
        action,
        tariff.id,
        tariff_id=tariff.id,
        version=tariff.version,
        valid_from_ms=tariff.valid_from_ms,
        currency=tariff.currency,
        **extra,
    )
