"""2.1 PullDynamicScheduleUpdate: Rejected. The CSMS installs no dynamic charging profiles yet,
so it has no schedule update for the profile the station names (K26)."""

from typing import Any

from csms.handlers import CallContext, status_info


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {"status": "Rejected", "statusInfo": status_info("UnknownProfile")}
