"""2.x TransactionEvent (2.1 uses this module too): idTokenInfo is required in the answer when
the event carries a token; Updated and Ended events of a station that can display cost are
also told the session's cost (see transaction_cost)."""

from typing import Any

from csms.handlers import CallContext, token_info
from csms.handlers.v201.id_token_info import id_token_info


async def handle(ctx: CallContext) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    id_token = ctx.payload.get("idToken")
    if id_token:
        answer["idTokenInfo"] = id_token_info(await token_info(ctx, id_token["idToken"]))
    if ctx.cost is not None:
        answer.update(await ctx.cost.answer(ctx.payload, ctx.now_ms))
    return answer
