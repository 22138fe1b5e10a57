"""Neutral command -> OCPP calls for a station's version, and station answers -> neutral result.

Pure: no I/O, no clock. The API validates the body with the command's model, calls `translate`
with the station's version, sends the calls in order, then hands the CALLRESULT payloads to
`neutral_result`. Every produced payload has been validated against the version's schema.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from csms.commands.actions import OcppCall, validate_request
from csms.commands.errors import CommandError, InvalidCommand, UnsupportedCommand
from csms.commands.registry import COMMANDS, CommandSpec
from csms.protocol.versions import OcppVersion

__all__ = ["OcppCall", "neutral_result", "parse_params", "translate", "validate_request"]


def _spec(command: str) -> CommandSpec[Any]:
    spec = COMMANDS.get(command)
    if spec is None:
        raise InvalidCommand(command, None, "unknown command")
    return spec


def _pydantic_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "body"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def parse_params(command: str, params: BaseModel | Mapping[str, Any]) -> BaseModel:
    """The command's model from a model instance or a plain mapping (InvalidCommand if wrong)."""
    model: type[BaseModel] = _spec(command).model
    if isinstance(params, model):
        return params
    if isinstance(params, BaseModel):
        raise TypeError(f"{command} takes {model.__name__}, not {type(params).__name__}")
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise InvalidCommand(command, None, _pydantic_message(exc)) from None


def translate(
    command: str, params: BaseModel | Mapping[str, Any], version: OcppVersion
) -> list[OcppCall]:
    """The CALLs (usually one) that carry out `command` on a station speaking `version`.

    Raises UnsupportedCommand when the version has no equivalent, InvalidCommand when a value
    cannot be expressed in it or the payload breaks the version's schema.
    """
    spec = _spec(command)
    if version not in spec.versions:
        equivalent = spec.actions[OcppVersion.V201]
        raise UnsupportedCommand(command, version, f"this version has no {equivalent} equivalent")
    calls = spec.translator(parse_params(command, params), version)
    for call in calls:
        try:
            validate_request(version, call.action, call.payload)
        except CommandError as exc:
            raise InvalidCommand(command, version, f"{call.action} {exc.reason}") from None
    return calls


# Stands in for a call that got no CALLRESULT (CALLERROR, or never sent after an earlier failure).
NO_RESULT: Mapping[str, Any] = {"status": "NoResult"}


def neutral_result(
    command: str,
    version: OcppVersion,
    calls: Sequence[OcppCall],
    responses: Sequence[Mapping[str, Any] | None],
) -> dict[str, Any]:
    """One neutral answer from the CALLRESULT payloads (same order as `calls`).

    For multi-call commands (1.6 set-configuration) a None response marks a call that got no
    CALLRESULT; that key's status becomes NoResult, so keys already changed are still reported.
    The raw payloads stay available under `responses` ([{action, payload}]).
    """
    if not calls or len(calls) != len(responses):
        raise ValueError(f"{command}: {len(calls)} calls but {len(responses)} responses")
    if len(calls) == 1 and responses[0] is None:
        raise ValueError(f"{command}: the call got no CALLRESULT, there is nothing to summarise")
    answered = [NO_RESULT if resp is None else resp for resp in responses]
    out = _spec(command).result(calls, answered, version)
    out["responses"] = [
        {"action": call.action, "payload": None if resp is None else dict(resp)}
        for call, resp in zip(calls, responses, strict=True)
    ]
    return out
