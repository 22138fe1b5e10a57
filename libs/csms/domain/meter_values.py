"""Flatten every version's meter values into neutral MeterSample rows (one per sampled value).

Sources, inbound CALLs the gateway accepted only:
* 1.6 MeterValues (connectorId N -> EVSE N connector 1; 0 -> 0/0; optional transactionId),
* 1.6 StopTransaction.transactionData (no connectorId in that message: EVSE 0 / connector 0,
  transaction id from the payload),
* 2.0.1 / 2.1 MeterValues (evseId; connector 0, the message does not name one),
* 2.0.1 / 2.1 TransactionEvent.meterValue (evse.id / evse.connectorId when present, else 0).

Decision: 1.6 StartTransaction.meterStart and StopTransaction.meterStop are *not* turned into
rows. At StartTransaction time the transaction id is not known yet (it only exists in the
CSMS's CALLRESULT), so such a row could not be joined; and stations configured with
StopTxnSampledData already report Transaction.Begin/End samples in transactionData, which a
synthetic row would duplicate. Both readings live on the neutral Transaction instead.

Defaults follow the specifications: measurand Energy.Active.Import.Register, unit Wh, context
Sample.Periodic, location Outlet, no phase. Values that are not plain numbers (1.6 SignedData,
"nan", garbage) are skipped, never raised on; an unparseable timestamp falls back to the
envelope's receive time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from csms.domain.frames import (
    OCPP2X,
    as_decimal_string,
    as_dict,
    as_int,
    as_list,
    as_number,
    as_str,
    id_text,
    inbound_call,
    parse_ts,
)
from csms.domain.model import MeterSample
from csms.envelope import FrameEnvelope
from csms.protocol.versions import OcppVersion

ENERGY_REGISTER = "Energy.Active.Import.Register"
DEFAULT_UNIT = "Wh"
DEFAULT_CONTEXT = "Sample.Periodic"
DEFAULT_LOCATION = "Outlet"
# 10.0**22 is the largest power of ten a float holds exactly; beyond that a multiplier means a
# broken meter (or a float overflow), so the sample is skipped.
_MAX_MULTIPLIER = 22


@dataclass(frozen=True, slots=True)
class _Where:
    """Who the samples of one frame belong to."""

    evse: int
    connector: int
    transaction_id: str


@dataclass(frozen=True, slots=True)
class _Value:
    ts_ms: int
    measurand: str
    phase: str
    location: str
    unit: str
    value: float
    context: str


def flatten(env: FrameEnvelope) -> list[MeterSample]:
    """The meter samples an envelope carries, in frame order; [] for any other frame."""
    call = inbound_call(env)
    if call is None:
        return []
    action, payload = call
    return call_samples(
        env.proto, action, payload, station=env.station, fallback_ms=env.ts, event_id=env.id
    )


def call_samples(
    proto: str,
    action: str,
    payload: dict[str, Any],
    *,
    station: str,
    fallback_ms: int,
    event_id: str = "",
) -> list[MeterSample]:
    """The meter samples of one accepted inbound CALL given as its decoded payload (what
    `flatten` gives for its envelope), for callers that hold the payload, not an envelope:
    the gateway answering a TransactionEvent. `fallback_ms` is the receive time."""
    values = _values(proto, fallback_ms, action, payload)
    if values is None:
        return []
    where, found = values
    return [
        MeterSample(
            ts_ms=v.ts_ms,
            station=station,
            evse=where.evse,
            connector=where.connector,
            transaction_id=where.transaction_id,
            measurand=v.measurand,
            phase=v.phase,
            location=v.location,
            unit=v.unit,
            value=v.value,
            context=v.context,
            proto=proto,
            event_id=event_id,
            sample_index=index,
        )
        for index, v in enumerate(found)
    ]


def _values(
    proto: str, fallback_ms: int, action: str, payload: dict[str, Any]
) -> tuple[_Where, list[_Value]] | None:
    if proto == OcppVersion.V16:
        if action == "MeterValues":
            where = _where_16(payload)
            if where is None:
                return None
            return where, list(_values_16(payload.get("meterValue"), fallback_ms))
        if action == "StopTransaction":
            where = _Where(0, 0, id_text(payload.get("transactionId")))
            return where, list(_values_16(payload.get("transactionData"), fallback_ms))
    elif proto in OCPP2X:
        if action == "MeterValues":
            evse = as_int(payload.get("evseId"))
            if evse is None or evse < 0:
                return None
            return _Where(evse, 0, ""), list(_values_2x(payload.get("meterValue"), fallback_ms))
        if action == "TransactionEvent":
            where = _where_transaction_event(payload)
            return where, list(_values_2x(payload.get("meterValue"), fallback_ms))
    return None


def _where_16(payload: dict[str, Any]) -> _Where | None:
    connector_id = as_int(payload.get("connectorId"))
    if connector_id is None or connector_id < 0:
        return None  # samples that cannot be attributed are not guessed at
    transaction_id = id_text(payload.get("transactionId"))
    return _Where(connector_id, 1 if connector_id > 0 else 0, transaction_id)


def _where_transaction_event(payload: dict[str, Any]) -> _Where:
    evse = as_dict(payload.get("evse"))
    evse_id = as_int(evse.get("id"))
    connector_id = as_int(evse.get("connectorId"))
    transaction_id = id_text(as_dict(payload.get("transactionInfo")).get("transactionId"))
    return _Where(
        evse_id if evse_id is not None and evse_id >= 0 else 0,
        connector_id if connector_id is not None and connector_id >= 0 else 0,
        transaction_id,
    )


def _values_16(meter_values: Any, fallback_ms: int) -> Iterator[_Value]:
    for meter_value in as_list(meter_values):
        mv = as_dict(meter_value)
        ts_ms = parse_ts(mv.get("timestamp"), fallback_ms)
        for sampled in as_list(mv.get("sampledValue")):
            sv = as_dict(sampled)
            if sv.get("format") == "SignedData":
                continue  # a signed blob, possibly all digits: never a reading
            value = as_decimal_string(sv.get("value"))
            if value is None:
                continue
            yield _Value(
                ts_ms=ts_ms,
                measurand=as_str(sv.get("measurand"), ENERGY_REGISTER),
                phase=as_str(sv.get("phase")),
                location=as_str(sv.get("location"), DEFAULT_LOCATION),
                unit=as_str(sv.get("unit"), DEFAULT_UNIT),
                value=value,
                context=as_str(sv.get("context"), DEFAULT_CONTEXT),
            )


def _values_2x(meter_values: Any, fallback_ms: int) -> Iterator[_Value]:
    for meter_value in as_list(meter_values):
        mv = as_dict(meter_value)
        ts_ms = parse_ts(mv.get("timestamp"), fallback_ms)
        for sampled in as_list(mv.get("sampledValue")):
            sv = as_dict(sampled)
            raw = as_number(sv.get("value"))
            uom = as_dict(sv.get("unitOfMeasure"))
            multiplier = as_int(uom.get("multiplier", 0))
            if raw is None or multiplier is None or abs(multiplier) > _MAX_MULTIPLIER:
                continue
            value = _scale(raw, multiplier)
            if not math.isfinite(value):
                continue
            yield _Value(
                ts_ms=ts_ms,
                measurand=as_str(sv.get("measurand"), ENERGY_REGISTER),
                phase=as_str(sv.get("phase")),
                location=as_str(sv.get("location"), DEFAULT_LOCATION),
                unit=as_str(uom.get("unit"), DEFAULT_UNIT),
                value=value,
                context=as_str(sv.get("context"), DEFAULT_CONTEXT),
            )


def _scale(value: float, multiplier: int) -> float:
    # Dividing by an exact power of ten rounds once: 123 with multiplier -1 gives 12.3, where
    # multiplying by 0.1 (inexact) would give 12.300000000000001.
    return value * 10.0**multiplier if multiplier >= 0 else value / 10.0**-multiplier
