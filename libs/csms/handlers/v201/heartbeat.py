"""2.x Heartbeat: the CSMS's clock, which stations use to keep theirs in sync."""

from typing import Any

from csms.handlers import CallContext, iso_time


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {"currentTime": iso_time(ctx.now_ms)}
