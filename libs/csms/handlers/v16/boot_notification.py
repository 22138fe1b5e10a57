"""1.6 BootNotification: the admission decision (Accepted/Pending/Rejected) and its interval."""

from typing import Any

from csms.handlers import CallContext, iso_time


async def handle(ctx: CallContext) -> dict[str, Any]:
    decision = await ctx.decisions.boot(ctx.station)
    return {
        "status": decision.status,
        "currentTime": iso_time(ctx.now_ms),
        "interval": decision.interval_s,
    }
