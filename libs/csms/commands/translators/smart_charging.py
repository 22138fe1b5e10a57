"""Smart charging: composite schedules, setting and clearing charging profiles."""

from __future__ import annotations

from csms.commands import models as m
from csms.commands.actions import OcppCall
from csms.commands.translators.shapes import (
    V16,
    _call,
    _compact,
)
from csms.protocol.versions import OcppVersion


def get_composite_schedule(p: m.GetCompositeScheduleCommand, v: OcppVersion) -> list[OcppCall]:
    where = {"connectorId": p.evse_id} if v is V16 else {"evseId": p.evse_id}
    return _call(
        "GetCompositeSchedule", duration=p.duration, chargingRateUnit=p.charging_rate_unit, **where
    )


def set_charging_profile(p: m.SetChargingProfileCommand, v: OcppVersion) -> list[OcppCall]:
    if v is V16:
        return _call(
            "SetChargingProfile", connectorId=p.evse_id, csChargingProfiles=p.charging_profile
        )
    return _call("SetChargingProfile", evseId=p.evse_id, chargingProfile=p.charging_profile)


# The one purpose 1.6 and 2.x name differently; the others are spelled alike.
_PURPOSE_TO_V16 = {"ChargingStationMaxProfile": "ChargePointMaxProfile"}
_PURPOSE_TO_V2 = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}


def clear_charging_profile(p: m.ClearChargingProfileCommand, v: OcppVersion) -> list[OcppCall]:
    if v is V16:
        purpose = _PURPOSE_TO_V16.get(p.purpose or "", p.purpose)
        return _call(
            "ClearChargingProfile",
            id=p.profile_id,
            connectorId=p.evse_id,
            chargingProfilePurpose=purpose,
            stackLevel=p.stack_level,
        )
    purpose = _PURPOSE_TO_V2.get(p.purpose or "", p.purpose)
    criteria = _compact(evseId=p.evse_id, chargingProfilePurpose=purpose, stackLevel=p.stack_level)
    return _call(
        "ClearChargingProfile",
        chargingProfileId=p.profile_id,
        chargingProfileCriteria=criteria or None,
    )
