"""2.0.1 TransactionEvent: idTokenInfo is required in the answer when the event carries a token."""

from typing import Any

from csms.handlers import CallContext


async def handle(ctx: CallContext) -> dict[str, Any]:
    id_token = ctx.payload.get("idToken")
    if not id_token:
        return {}
    return {"idTokenInfo": {"status": await ctx.decisions.authorize(id_token["idToken"])}}
