"""2.x TransactionEvent (2.1 uses this module too): idTokenInfo is required in the answer when
the event carries a token; Updated and Ended events of a station that can display cost are
also told the session's cost (see transaction_cost)."""

from typing import Any

from csms.domain.frames import as_dict, id_text
from csms.handlers import CallContext, token_info
from csms.handlers.v201.id_token_info import id_token_info
from csms.handlers.v201.transaction_cost import COST_EVENTS, cost_fields


async def handle(ctx: CallContext) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    id_token = ctx.payload.get("idToken")
    if id_token:
        answer["idTokenInfo"] = id_token_info(await token_info(ctx, id_token["idToken"]))
    answer.update(await _cost(ctx))
    return answer


async def _cost(ctx: CallContext) -> dict[str, Any]:
    if ctx.payload.get("eventType") not in COST_EVENTS:
        return {}
    transaction_id = id_text(as_dict(ctx.payload.get("transactionInfo")).get("transactionId"))
    if not transaction_id:
        return {}
    checkpoint = await ctx.decisions.cost_checkpoint(ctx.station, transaction_id)
    if checkpoint is None:
        return {}
    return cost_fields(checkpoint, ctx.payload, ctx.now_ms)
