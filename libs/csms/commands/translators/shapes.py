"""Shapes every translator shares: OCPP datetimes, payloads without nulls, EVSE/connector
and id token forms per version, and the refusal of a command a version cannot express."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from csms.commands import models as m
from csms.commands.actions import OcppCall
from csms.commands.errors import InvalidCommand, UnsupportedCommand
from csms.protocol.versions import OcppVersion

V16 = OcppVersion.V16
V21 = OcppVersion.V21


def ocpp_datetime(value: datetime) -> str:
    """RFC 3339 in UTC with milliseconds and `Z`: the form 1.6 firmwares parse most reliably."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _opt_dt(value: datetime | None) -> str | None:
    return None if value is None else ocpp_datetime(value)


def _compact(**fields: Any) -> dict[str, Any]:
    """A payload without the optional fields the caller left out (OCPP forbids nulls)."""
    return {k: v for k, v in fields.items() if v is not None}


def _call(action: str, **fields: Any) -> list[OcppCall]:
    return [OcppCall(action, _compact(**fields))]


def v16_connector(
    command: str, version: OcppVersion, evse_id: int | None, connector_id: int | None
) -> int:
    """The 1.6 connectorId of a neutral EVSE/connector pair (0 = the whole station).

    The neutral model maps 1.6 connector N onto EVSE N, connector 1, so a connector other than 1
    of an EVSE has no 1.6 name. A connector_id alone is taken as the 1.6 connector number.
    """
    if evse_id is None:
        return connector_id or 0
    if connector_id is None or connector_id == 1 or (evse_id == 0 and connector_id == 0):
        return evse_id
    raise InvalidCommand(
        command,
        version,
        f"connector {connector_id} of EVSE {evse_id} has no 1.6 connectorId "
        "(1.6 connector N is EVSE N): give evse_id or connector_id alone",
    )


def v2_evse(
    command: str, version: OcppVersion, evse_id: int | None, connector_id: int | None
) -> dict[str, Any] | None:
    """The 2.x EVSEType of a neutral pair; None for the whole station (absent or EVSE 0)."""
    if evse_id is None or evse_id == 0:
        if connector_id:
            raise InvalidCommand(command, version, "a connector_id needs its evse_id in 2.x")
        return None
    return _compact(id=evse_id, connectorId=connector_id)


def _id_token(token: m.IdToken) -> dict[str, Any]:
    return {"idToken": token.id, "type": token.type}


def _opt_id_token(token: m.IdToken | None) -> dict[str, Any] | None:
    return None if token is None else _id_token(token)


def _unsupported_if(condition: object, command: str, version: OcppVersion, why: str) -> None:
    if condition:
        raise UnsupportedCommand(command, version, why)
