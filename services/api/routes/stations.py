"""Stations: the network's chargers, their live state and their EVSE/connector tree, and their
registration (admission status and Basic-auth credentials), which admins manage.

A station is listed once the network has seen it (processors' `STATIONS`) or once an admin has
registered it (`REGISTERED_STATIONS`), so a charger can be registered before it first connects.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, cast, get_args

from fastapi import APIRouter, Query, Request
from redis.asyncio import Redis

from csms.infra.station_registry import Registration, StationRegistry
from csms.protocol.station_path import RESERVED_SUFFIXES, InvalidStationPath, station_id_from_path
from csms.readmodels.stations import StationRecord
from csms.security.passwords import WeakPassword
from services.api.auth import AUTH_ERRORS, Admin, Analyst, record_audit
from services.api.deps import Store
from services.api.errors import ApiError, error_responses
from services.api.pagination import Limit, decode_cursor, encode_cursor, scan_page
from services.api.params import StationIdPath as StationId
from services.api.schemas import (
    DeviceModelView,
    Protocol,
    RegistrationStatus,
    RegistrationView,
    StationDetail,
    StationPage,
    StationPasswordSet,
    StationRegister,
    StationStatusSet,
    StationSummary,
)
from services.api.store import ReadModelStore
from services.api.views import device_model_view, iso_ms, station_detail, variable_filter

router = APIRouter(prefix="/api/v1/stations", tags=["stations"])


Offset = Annotated[int | None, Query(ge=0, description="items to skip (not with `cursor`)")]
Cursor = Annotated[
    str | None, Query(max_length=2048, description="`next_cursor` of the previous page")
]
Online = Annotated[bool | None, Query(description="only stations online (true) or offline")]
ProtocolFilter = Annotated[Protocol | None, Query(description="only stations speaking it")]
RegistrationFilter = Annotated[
    RegistrationStatus | None, Query(description="only stations with this registration status")
]
TextFilter = Annotated[str | None, Query(min_length=1, max_length=255)]

_REGISTRATION_STATUSES = frozenset(get_args(RegistrationStatus))


@dataclass(frozen=True)
class StationFilters:
    online: bool | None = None
    protocol: str | None = None
    registration_status: str | None = None
    vendor: str | None = None
    model: str | None = None

    def active(self) -> bool:
        return any(v is not None for v in vars(self).values())

    def keep(self, station: StationSummary) -> bool:
        return (
            (self.online is None or station.online == self.online)
            and (self.protocol is None or station.protocol == self.protocol)
            and (
                self.registration_status is None
                or station.registration_status == self.registration_status
            )
            and (self.vendor is None or station.vendor == self.vendor)
            and (self.model is None or station.model == self.model)
        )


def station_filter(filters: StationFilters) -> Callable[[StationSummary], bool] | None:
    """The predicate for the list's filters; None when nothing filters (pages by position)."""
    return filters.keep if filters.active() else None


def _cursor_id(cursor: str) -> str:
    station_id = decode_cursor(cursor)
    if station_id is None:
        raise ApiError(422, "invalid_cursor", "cursor is not one this API returned")
    return station_id


def _redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


def _known_status(raw: object) -> RegistrationStatus | None:
    if isinstance(raw, str) and raw in _REGISTRATION_STATUSES:
        return cast("RegistrationStatus", raw)
    return None


async def _listed_ids(store: ReadModelStore, registry: StationRegistry) -> list[str]:
    ids = set(await store.station_ids()) | await registry.registered_ids()
    # An id registered before such ids were refused would read another station's sub-keys
    # (services/api/params.py): left out rather than failing the whole list.
    return sorted(i for i in ids if not i.endswith(RESERVED_SUFFIXES))


@router.get("", response_model=StationPage, responses=error_responses(*AUTH_ERRORS, 422, 503))
async def list_stations(
    request: Request,
    store: Store,
    _: Analyst,
    limit: Limit = 100,
    offset: Offset = None,
    cursor: Cursor = None,
    online: Online = None,
    protocol: ProtocolFilter = None,
    registration_status: RegistrationFilter = None,
    vendor: TextFilter = None,
    model: TextFilter = None,
) -> StationPage:
    """Stations ordered by id. Page with `offset`, or with `cursor` (cheaper when filtering:
    it resumes where the previous page stopped instead of re-scanning from the start)."""
    if offset is not None and cursor is not None:
        raise ApiError(422, "invalid_request", "use either offset or cursor, not both")
    registry = StationRegistry(_redis(request))
    ids = await _listed_ids(store, registry)
    start = bisect_right(ids, _cursor_id(cursor)) if cursor is not None else 0
    keep = station_filter(StationFilters(online, protocol, registration_status, vendor, model))

    async def window(position: int, count: int) -> list[str]:
        return ids[position : position + count]

    async def load(batch: Sequence[str]) -> list[StationSummary | None]:
        summaries = await store.station_summaries(batch)
        statuses = await registry.statuses(batch)
        return [
            None
            if summary is None
            else summary.model_copy(update={"registration_status": _known_status(status)})
            for summary, status in zip(summaries, statuses, strict=True)
        ]

    page = await scan_page(window, load, keep=keep, start=start, offset=offset or 0, limit=limit)
    next_offset = None
    if page.has_more and cursor is None:
        next_offset = (offset or 0) + len(page.items)
    return StationPage(
        items=page.items,
        limit=limit,
        offset=None if cursor is not None else offset or 0,
        next_offset=next_offset,
        next_cursor=encode_cursor(page.items[-1].id) if page.has_more else None,
        total=len(ids) if keep is None else None,
    )


@router.get(
    "/{station_id}",
    response_model=StationDetail,
    responses=error_responses(*AUTH_ERRORS, 404, 422, 503),
)
async def get_station(
    request: Request, store: Store, _: Analyst, station_id: StationId
) -> StationDetail:
    """A station with its EVSE -> connector tree, live statuses and registration."""
    station = await store.station(station_id)
    registration = await StationRegistry(_redis(request)).get(station_id)
    if station is None:
        if registration is None:
            raise ApiError(404, "station_not_found", f"no station with id {station_id!r}")
        station = station_detail(StationRecord(station_id, None))  # registered, never seen
    if registration is None:
        return station
    return station.model_copy(
        update={
            "registration_status": _known_status(registration.status),
            "has_password": registration.has_password,
        }
    )


@router.get(
    "/{station_id}/device-model",
    response_model=DeviceModelView,
    responses=error_responses(*AUTH_ERRORS, 404, 422, 503),
)
async def get_device_model(
    request: Request,
    store: Store,
    _: Analyst,
    station_id: StationId,
    component: TextFilter = None,
    variable: TextFilter = None,
) -> DeviceModelView:
    """The station's device model: the Station -> EVSE -> Connector tree with status and active
    faults per node, its components/variables (attributes, characteristics, monitors, last
    event), metrics outside transactions and report progress, for every OCPP version.
    `component` / `variable` keep only the variables of that name (case-insensitive)."""
    model, live, seen = await store.device_model(station_id)
    if not seen and await StationRegistry(_redis(request)).get(station_id) is None:
        raise ApiError(404, "station_not_found", f"no station with id {station_id!r}")
    keep = variable_filter(component, variable) if component or variable else None
    return device_model_view(station_id, model, live, keep)


# --- registration (admin) ---------------------------------------------------------------------


def _registration_view(registration: Registration) -> RegistrationView:
    return RegistrationView(
        id=registration.station,
        status=_known_status(registration.status) or "Pending",
        has_password=registration.has_password,
        created=iso_ms(registration.created_ms),
        updated=iso_ms(registration.updated_ms),
    )


def _checked_station_id(station_id: str) -> str:
    """The same rule the gateway applies to the WebSocket path (the message never echoes)."""
    try:
        return station_id_from_path(f"/ocpp/{station_id}")
    except InvalidStationPath as exc:
        raise ApiError(422, "invalid_station_id", str(exc)) from exc


async def _existing(
    request: Request, store: ReadModelStore, station_id: str
) -> Registration | None:
    """The registration of a station the network knows (None: seen, never registered);
    404 when the station is neither registered nor seen."""
    registration = await StationRegistry(_redis(request)).get(station_id)
    if registration is None and await store.station(station_id) is None:
        raise ApiError(404, "station_not_found", f"no station with id {station_id!r}")
    return registration


async def _reread(request: Request, station_id: str) -> RegistrationView:
    registration = await StationRegistry(_redis(request)).get(station_id)
    if registration is None:  # deleted between the write and this read
        raise ApiError(404, "station_not_found", f"no station with id {station_id!r}")
    return _registration_view(registration)


@router.post(
    "",
    status_code=201,
    response_model=RegistrationView,
    responses=error_responses(*AUTH_ERRORS, 409, 422, 503),
)
async def register_station(
    request: Request, body: StationRegister, principal: Admin
) -> RegistrationView:
    """Register a station with its admission status and, optionally, its Basic-auth password
    (security profile 1/2; stored hashed, never returned)."""
    station_id = _checked_station_id(body.id)
    redis = _redis(request)
    registry = StationRegistry(redis)
    if await registry.get(station_id) is not None:
        raise ApiError(409, "station_exists", f"station {station_id!r} is registered already")
    # The status first: set_password alone would register the station Accepted.
    await registry.set_status(station_id, body.status)
    if body.password is not None:
        await _set_password(registry, station_id, body.password.get_secret_value())
    await record_audit(
        request,
        principal,
        "station.register",
        station_id,
        station=station_id,
        status=body.status,
        password_set=body.password is not None,
    )
    return await _reread(request, station_id)


async def _set_password(registry: StationRegistry, station_id: str, password: str) -> None:
    try:
        await registry.set_password(station_id, password)
    except WeakPassword as exc:
        raise ApiError(422, "weak_password", str(exc)) from exc


@router.put(
    "/{station_id}/password",
    response_model=RegistrationView,
    responses=error_responses(*AUTH_ERRORS, 404, 422, 503),
)
async def set_station_password(
    request: Request,
    store: Store,
    station_id: StationId,
    body: StationPasswordSet,
    principal: Admin,
) -> RegistrationView:
    """Set (or replace) the station's Basic-auth password; the station must present it at its
    next connection. The password is stored hashed and never returned."""
    await _existing(request, store, station_id)
    await _set_password(
        StationRegistry(_redis(request)), station_id, body.password.get_secret_value()
    )
    await record_audit(request, principal, "station.set_password", station_id, station=station_id)
    return await _reread(request, station_id)


@router.patch(
    "/{station_id}",
    response_model=RegistrationView,
    responses=error_responses(*AUTH_ERRORS, 404, 422, 503),
)
async def set_station_status(
    request: Request, store: Store, station_id: StationId, body: StationStatusSet, principal: Admin
) -> RegistrationView:
    """Change the station's admission: Accepted, Pending (BootNotification answered Pending)
    or Rejected. Applies at its next BootNotification."""
    previous = await _existing(request, store, station_id)
    await StationRegistry(_redis(request)).set_status(station_id, body.status)
    await record_audit(
        request,
        principal,
        "station.set_status",
        station_id,
        station=station_id,
        status=body.status,
        previous_status=previous.status if previous is not None else None,
    )
    return await _reread(request, station_id)
