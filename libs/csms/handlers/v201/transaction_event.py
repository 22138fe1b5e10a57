"""2.x TransactionEvent: idTokenInfo is required in the answer when the event carries a token."""

from typing import Any

from csms.handlers import CallContext, token_info
from csms.handlers.v201.id_token_info import id_token_info


async def handle(ctx: CallContext) -> dict[str, Any]:
    id_token = ctx.payload.get("idToken")
    if not id_token:
        return {}
    return {"idTokenInfo": id_token_info(await token_info(ctx, id_token["idToken"]))}
