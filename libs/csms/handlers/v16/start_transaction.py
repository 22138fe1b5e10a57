"""1.6 StartTransaction: the CSMS allocates the network-wide integer transactionId."""

from typing import Any

from csms.handlers import CallContext, token_info
from csms.handlers.v16.id_tag_info import id_tag_info


async def handle(ctx: CallContext) -> dict[str, Any]:
    info = await token_info(ctx, ctx.payload["idTag"])
    # A transactionId is allocated even for a rejected idTag: the station has already started
    # (it may have been offline) and will stop the transaction itself, quoting this id.
    transaction_id = await ctx.decisions.next_transaction_id()
    return {"transactionId": transaction_id, "idTagInfo": id_tag_info(info)}
