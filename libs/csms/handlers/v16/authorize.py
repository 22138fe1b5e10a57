"""1.6 Authorize: idTagInfo from the authorization read model."""

from typing import Any

from csms.handlers import CallContext


async def handle(ctx: CallContext) -> dict[str, Any]:
    status = await ctx.decisions.authorize(ctx.payload["idTag"])
    return {"idTagInfo": {"status": status}}
