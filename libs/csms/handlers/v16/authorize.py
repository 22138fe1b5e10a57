"""1.6 Authorize: idTagInfo from the authorization read model."""

from typing import Any

from csms.handlers import CallContext, token_info
from csms.handlers.v16.id_tag_info import id_tag_info


async def handle(ctx: CallContext) -> dict[str, Any]:
    return {"idTagInfo": id_tag_info(await token_info(ctx, ctx.payload["idTag"]))}
