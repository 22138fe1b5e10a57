"""2.1 NotifyEVChargingNeeds: NoChargingProfile, the status 2.1 added for a CSMS that will send
no charging profile for this session (it computes no schedules yet), so the station charges on
its own limits without waiting for one."""

from typing import Any

from csms.handlers import CallContext, status_info


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {"status": "NoChargingProfile", "statusInfo": status_info("NoSmartCharging")}
