"""Operator commands end to end: translate, route, deliver, record.

A command (neutral, or a raw CALL) for one station becomes one or more OCPP CALLs for the
station's protocol version (`csms.commands`). They go, one after the other, through Redis to the
gateway that holds the station (`csms.infra.call_bus`), and the station's answers come back the
same way. Every command is recorded on Kafka `ocpp.commands` twice: when it is requested (who,
what, for which station) and when it ends (outcome, result) — and its state is kept in Redis
(`redis_keys.command`) for `GET /api/v1/commands/{id}` and for asynchronous commands.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson
from redis.asyncio import Redis

from csms.commands import (
    OcppCall,
    UnsupportedCommand,
    neutral_result,
    translate,
    validate_request,
)
from csms.infra import redis_keys
from csms.infra.api_tokens import Principal
from csms.infra.call_bus import CallBus, CallReply, Outcome, Route, route_of
from csms.infra.station_registry import StationRegistry
from csms.protocol.versions import OcppVersion
from csms.readmodels.stations import RedisStations
from services.api.audit import AuditSink, audit_record, redact
from services.api.errors import ApiError

log = logging.getLogger(__name__)

COMMAND_TTL_S = 24 * 3600  # how long GET /commands/{id} can find a finished command
RAW_CALL = "call"  # the command name of a raw passthrough CALL

State = Literal["pending", "completed", "failed"]


@dataclass
class CommandRecord:
    """One command as the API reports it (and keeps in Redis)."""

    id: str
    station: str
    command: str
    actor: str
    state: State = "pending"
    created_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    finished_ms: int | None = None
    outcome: Outcome | None = None
    result: dict[str, Any] | None = None  # neutral result, or the raw CALLRESULT payload
    error: dict[str, Any] | None = None  # {error, detail, station_error?}
    calls: list[dict[str, Any]] = field(default_factory=list)  # [{id, action, outcome, ms}]
    requested: asyncio.Future[None] | None = None  # the "requested" audit record in flight

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "station": self.station,
            "command": self.command,
            "actor": self.actor,
            "state": self.state,
            "created_ms": self.created_ms,
            "finished_ms": self.finished_ms,
            "outcome": self.outcome,
            "result": self.result,
            "error": self.error,
            "calls": self.calls,
        }


# Outcome of the failing call -> (HTTP status, error code) the caller gets.
# Outcome of the failing call -> the error code the caller gets.
_FAILURE_CODES: Mapping[str, str] = {
    "error": "station_error",
    "invalid": "invalid_response",
    "offline": "station_offline",
    "unreachable": "station_offline",
    "timeout": "timeout",
    "no_answer": "gateway_timeout",
}
# Error code -> HTTP status.
_STATUSES: Mapping[str, int] = {
    "station_error": 502,
    "invalid_response": 502,
    "invalid_command": 422,
    "station_offline": 409,
    "timeout": 504,
    "gateway_timeout": 504,
}
# The gateway refused to send the request (its detail starts so): the caller's payload is wrong.
_REFUSED_REQUEST = "request: "


def failure_status(error_code: str) -> int:
    """The HTTP status of a command that failed with `error_code` (500: inside the API)."""
    return _STATUSES.get(error_code, 500)


def failure_of(reply: CallReply) -> dict[str, Any]:
    """The error body for a call that did not end in a valid CALLRESULT."""
    code = _FAILURE_CODES[reply.outcome]
    detail = reply.detail
    if reply.outcome == "error":
        detail = f"{reply.error.get('code', '')}: {reply.error.get('description', '')}".strip()
    elif reply.outcome == "timeout":
        detail = detail or "the station did not answer in time"
    elif reply.outcome == "invalid" and detail.startswith(_REFUSED_REQUEST):
        code = "invalid_command"
    body: dict[str, Any] = {"error": code, "detail": detail or code.replace("_", " ")}
    if reply.outcome == "error":
        body["station_error"] = reply.error
    if code == "invalid_response":
        body["payload"] = reply.payload
    return body


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a command becomes for one station: its version, the CALLs, where to send them."""

    version: OcppVersion
    calls: list[OcppCall]
    route: Route | None


class CommandService:
    def __init__(self, redis: Redis, bus: CallBus, audit: AuditSink, topic: str) -> None:
        self._redis = redis
        self._bus = bus
        self._audit = audit
        self._topic = topic
        self._background: set[asyncio.Task[None]] = set()

    # -- what the routes call -------------------------------------------------------------------

    async def prepare(
        self, station: str, command: str, params: Any, *, only: OcppVersion | None = None
    ) -> Prepared:
        """The station's route and version and the CALLs of `command` for it (404/409/422).
        `only`: the one version the command exists in (UnsupportedCommand for the others)."""
        route = await route_of(self._redis, station)
        version = await self._version_of(station, route)
        if only is not None and version is not only:
            name = params[0] if command == RAW_CALL else command
            raise UnsupportedCommand(name, version, f"needs OCPP {only.value.removeprefix('ocpp')}")
        if command == RAW_CALL:
            action, payload = params
            validate_request(version, action, payload)  # InvalidCommand -> 422
            return Prepared(version, [OcppCall(action, payload)], route)
        return Prepared(version, translate(command, params, version), route)  # CommandError

    def start(
        self,
        station: str,
        command: str,
        params_for_audit: Any,
        actor: Principal,
        prepared: Prepared,
    ) -> CommandRecord:
        """A new command; its "requested" record goes to Kafka now and is acknowledged before
        the command's answer (awaited in `run`), without delaying the CALL itself."""
        record = CommandRecord(
            id=uuid.uuid4().hex, station=station, command=command, actor=actor.name
        )
        requested = audit_record(
            actor.name,
            str(actor.role),
            "command.requested",
            command_id=record.id,
            station=station,
            command=command,
            params=params_for_audit,
            actions=[c.action for c in prepared.calls],
        )
        record.requested = asyncio.ensure_future(
            self._audit.record(self._topic, station, requested)
        )
        return record

    async def run(
        self, record: CommandRecord, prepared: Prepared, timeout_s: float, actor: Principal
    ) -> CommandRecord:
        """Send the calls in order (stop at the first that fails), then record the outcome."""
        replies: list[CallReply] = []
        for call in prepared.calls:
            reply = await self._send(record, prepared.route, call, timeout_s)
            replies.append(reply)
            if reply.outcome != "result":
                break
        self._conclude(record, prepared.version, prepared.calls, replies)
        finished = audit_record(
            actor.name,
            str(actor.role),
            "command.finished",
            command_id=record.id,
            station=record.station,
            command=record.command,
            state=record.state,
            outcome=record.outcome,
            result=record.result,
            error=record.error,
            calls=record.calls,
        )
        if record.requested is not None:
            await record.requested
        await asyncio.gather(
            self._store(record), self._audit.record(self._topic, record.station, finished)
        )
        return record

    async def run_in_background(
        self, record: CommandRecord, prepared: Prepared, timeout_s: float, actor: Principal
    ) -> None:
        """Run the command after the caller got its id: pollable from now on."""
        await self._store(record)
        task = asyncio.create_task(self._run_logged(record, prepared, timeout_s, actor))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _send(
        self, record: CommandRecord, route: Route | None, call: OcppCall, timeout_s: float
    ) -> CallReply:
        if route is None:
            return CallReply("", record.station, "offline", detail="the station is not connected")
        reply = await self._bus.call(
            record.station,
            route,
            call.action,
            call.payload,
            timeout_s=timeout_s,
            command_id=record.id,
        )
        record.calls.append(
            {
                "id": reply.id,
                "action": call.action,
                "outcome": reply.outcome,
                "elapsed_ms": reply.elapsed_ms,
            }
        )
        return reply

    async def get(self, command_id: str) -> dict[str, Any] | None:
        raw = await self._redis.get(redis_keys.command(command_id))
        return None if raw is None else dict(orjson.loads(raw))

    async def close(self) -> None:
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    # -- internals ------------------------------------------------------------------------------

    async def _run_logged(
        self, record: CommandRecord, prepared: Prepared, timeout_s: float, actor: Principal
    ) -> None:
        try:
            await self.run(record, prepared, timeout_s, actor)
        except Exception:  # an async command must end in a recorded state, never vanish
            log.exception("command %s failed", record.id)
            record.state, record.error = "failed", {"error": "internal_error", "detail": ""}
            await self._store(record)

    async def _version_of(self, station: str, route: Route | None) -> OcppVersion:
        """The OCPP version of the station's live connection (its route, written by the
        gateway at connect), else the last one the processors saw; 404 for a station the
        network does not know, 409 for one never connected."""
        if route is not None and route.proto:
            return self._version(station, route.proto)
        record = await RedisStations(self._redis).record(station)
        if record.facts.protocol:
            return self._version(station, record.facts.protocol)
        if record.seen or await StationRegistry(self._redis).get(station) is not None:
            raise ApiError(409, "station_offline", f"station {station!r} has never connected")
        raise ApiError(404, "station_not_found", f"no station with id {station!r}")

    @staticmethod
    def _version(station: str, proto: str) -> OcppVersion:
        try:
            return OcppVersion(proto)
        except ValueError:
            raise ApiError(409, "station_offline", f"station {station!r} speaks {proto}") from None

    def _conclude(
        self,
        record: CommandRecord,
        version: OcppVersion,
        calls: Sequence[OcppCall],
        replies: Sequence[CallReply],
    ) -> None:
        record.finished_ms = int(time.time() * 1000)
        last = replies[-1]
        record.outcome = last.outcome
        if last.outcome != "result":
            record.state = "failed"
            record.error = failure_of(last)
            return
        record.state = "completed"
        if record.command == RAW_CALL:
            record.result = last.payload
            return
        payloads = [r.payload for r in replies]
        record.result = redact(neutral_result(record.command, version, calls, payloads))

    async def _store(self, record: CommandRecord) -> None:
        key = redis_keys.command(record.id)
        await self._redis.set(key, orjson.dumps(record.as_dict()), ex=COMMAND_TTL_S)
