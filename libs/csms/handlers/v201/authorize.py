"""2.0.1 Authorize: idTokenInfo from the authorization read model."""

from typing import Any

from csms.handlers import CallContext


async def handle(ctx: CallContext) -> dict[str, Any]:
    status = await ctx.decisions.authorize(ctx.payload["idToken"]["idToken"])
    return {"idTokenInfo": {"status": status}}
