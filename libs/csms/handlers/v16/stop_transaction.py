"""1.6 StopTransaction: acknowledge; idTagInfo only when the station sent an idTag."""

from typing import Any

from csms.handlers import CallContext


async def handle(ctx: CallContext) -> dict[str, Any]:
    id_tag = ctx.payload.get("idTag")
    if id_tag is None:
        return {}
    return {"idTagInfo": {"status": await ctx.decisions.authorize(id_tag)}}
