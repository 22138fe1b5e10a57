"""2.x NotifyEVChargingSchedule: Accepted. The CSMS imposes no schedule of its own yet, so the
EV's schedule conflicts with none (K17); the schedule itself is kept in the frame archive."""

from typing import Any

from csms.handlers import CallContext


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {"status": "Accepted"}
