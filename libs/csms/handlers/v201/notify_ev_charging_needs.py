"""2.0.1 NotifyEVChargingNeeds: Rejected ("service not available"), because the CSMS computes
no charging schedules yet; Accepted or Processing would promise a SetChargingProfile that never
comes (K15). The EV then charges on the station's own limits."""

from typing import Any

from csms.handlers import CallContext, status_info


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {"status": "Rejected", "statusInfo": status_info("NoSmartCharging")}
