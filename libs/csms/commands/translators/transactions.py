"""Transactions and reservations: remote start and stop, reserve now, cancel reservation."""

from __future__ import annotations

import re

from csms.commands import models as m
from csms.commands.actions import OcppCall
from csms.commands.errors import InvalidCommand
from csms.commands.translators.shapes import (
    V16,
    _call,
    _id_token,
    _opt_id_token,
    _unsupported_if,
    ocpp_datetime,
)
from csms.protocol.versions import OcppVersion

_INT32 = range(-(2**31), 2**31)


def remote_start(p: m.RemoteStartCommand, v: OcppVersion) -> list[OcppCall]:
    if v is V16:
        _unsupported_if(p.group_id_token, "remote-start", v, "1.6 has no group id token here")
        return _call(
            "RemoteStartTransaction",
            idTag=p.id_token.id,
            connectorId=p.evse_id,
            chargingProfile=p.charging_profile,
        )
    return _call(
        "RequestStartTransaction",
        idToken=_id_token(p.id_token),
        remoteStartId=p.remote_start_id,
        evseId=p.evse_id,
        groupIdToken=_opt_id_token(p.group_id_token),
        chargingProfile=p.charging_profile,
    )


def remote_stop(p: m.RemoteStopCommand, v: OcppVersion) -> list[OcppCall]:
    if v is not V16:
        return _call("RequestStopTransaction", transactionId=p.transaction_id)
    text = p.transaction_id.strip()
    if re.fullmatch(r"-?[0-9]+", text) is None or int(text) not in _INT32:
        raise InvalidCommand(
            "remote-stop", v, f"transaction_id must be a 32-bit integer, got {p.transaction_id!r}"
        )
    return _call("RemoteStopTransaction", transactionId=int(text))


def reserve_now(p: m.ReserveNowCommand, v: OcppVersion) -> list[OcppCall]:
    if v is V16:
        _unsupported_if(p.connector_type, "reserve-now", v, "1.6 cannot reserve by connector type")
        return _call(
            "ReserveNow",
            connectorId=p.evse_id or 0,
            expiryDate=ocpp_datetime(p.expires_at),
            idTag=p.id_token.id,
            parentIdTag=p.group_id_token.id if p.group_id_token else None,
            reservationId=p.reservation_id,
        )
    return _call(
        "ReserveNow",
        id=p.reservation_id,
        expiryDateTime=ocpp_datetime(p.expires_at),
        idToken=_id_token(p.id_token),
        evseId=p.evse_id or None,
        groupIdToken=_opt_id_token(p.group_id_token),
        connectorType=p.connector_type,
    )


def cancel_reservation(p: m.CancelReservationCommand, v: OcppVersion) -> list[OcppCall]:
    return _call("CancelReservation", reservationId=p.reservation_id)
