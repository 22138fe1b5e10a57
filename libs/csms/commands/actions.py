"""One CALL to send, and request validation of CSMS-initiated actions against their schemas
(which actions those are: csms.protocol.directions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fastjsonschema

from csms.commands.errors import InvalidCommand
from csms.protocol.directions import CSMS_ACTIONS
from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion


@dataclass(frozen=True, slots=True)
class OcppCall:
    """One CALL to send to a station: the action and its (already validated) payload."""

    action: str
    payload: dict[str, Any]


def validate_request(version: OcppVersion, action: str, payload: Any) -> None:
    """Raise InvalidCommand unless `action` is CSMS-initiated in `version` and `payload` fits.

    Used for every translated command and for the raw passthrough (`POST .../calls`).
    """
    if action not in CSMS_ACTIONS[version]:
        raise InvalidCommand(action, version, "not an action the CSMS can send in this version")
    try:
        validator(version, action)(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        # "data.connectorId must be integer" -> "connectorId must be integer"
        message = exc.message.replace("data.", "", 1).replace("data ", "payload ", 1)
        raise InvalidCommand(
            action, version, f"payload rejected by the schema: {message}"
        ) from None
