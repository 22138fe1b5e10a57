"""2.1 Authorize: the 2.0.1 answer (idTokenInfo from the authorization read model), plus the
driver's own tariff, new in 2.1 (AuthorizeResponse.tariff).

A token whose group has a tariff assigned (scope `group:<group>`, csms.domain.tariffs) is
Accepted with that tariff, in its version valid now, as a TariffType (tariff_ocpp21); the station
then prices the session with it instead of its default tariff. Tokens without a group, or whose
group has no tariff of its own, get the 2.0.1 answer: the station, EVSE and network tariffs are
the station's default tariff (SetDefaultTariff), not a driver-specific one. A refused token gets
no tariff (it will not charge). The tariff only decorates the answer: a failure to read or
translate it leaves it out, never fails the Authorize the station waits for.
"""

from __future__ import annotations

import logging
from typing import Any

from csms.domain.tariff_ocpp21 import tariff_type
from csms.domain.tariffs import parse_tariff
from csms.handlers import CallContext, token_info
from csms.handlers.v201.id_token_info import id_token_info
from csms.protocol.validation import validator
from csms.protocol.versions import OcppVersion

log = logging.getLogger(__name__)


async def handle(ctx: CallContext) -> dict[str, Any]:
    info = await token_info(ctx, ctx.payload["idToken"]["idToken"])
    answer: dict[str, Any] = {"idTokenInfo": id_token_info(info)}
    if info.group and answer["idTokenInfo"]["status"] == "Accepted":
        tariff = await group_tariff(ctx, info.group)
        if tariff is not None:
            answer["tariff"] = tariff
    return answer


async def group_tariff(ctx: CallContext, group: str) -> dict[str, Any] | None:
    """The group's TariffType, checked against the 2.1 schema; None when absent or unusable."""
    try:
        stored = await ctx.decisions.group_tariff(group)
        if stored is None:
            return None
        tariff = tariff_type(parse_tariff(stored))
        # The answer must stay valid whatever the store held: check the part we add.
        validator(OcppVersion.V21, "Authorize", response=True)(
            {"idTokenInfo": {"status": "Accepted"}, "tariff": tariff}
        )
    except Exception:
        log.warning("tariff of id-token group %r left out", group[:40], exc_info=True)
        return None
    return tariff
