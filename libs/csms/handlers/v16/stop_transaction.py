"""1.6 StopTransaction: acknowledge; idTagInfo only when the station sent an idTag."""

from typing import Any

from csms.handlers import CallContext, token_info
from csms.handlers.v16.id_tag_info import id_tag_info


async def handle(ctx: CallContext) -> dict[str, Any]:
    id_tag = ctx.payload.get("idTag")
    if id_tag is None:
        return {}
    return {"idTagInfo": id_tag_info(await token_info(ctx, id_tag))}
