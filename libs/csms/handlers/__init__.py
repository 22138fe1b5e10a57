"""Answers to charger-initiated CALLs: one module per action per version, explicit route tables.

A handler is `async (CallContext) -> response payload`. Decisions that need shared state
(admission, 1.6 transaction ids, authorization) come through the injected `Decisions`, a
session's cost through the connection's `CostAnswers`; everything else is answered locally
from the request and the clock, so handlers stay pure.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from csms.clock import iso_time as iso_time  # re-exported: the handlers use it
from csms.protocol.versions import OcppVersion


@dataclass(frozen=True, slots=True)
class BootDecision:
    """The answer to a BootNotification: Accepted, Pending or Rejected, and the interval (the
    heartbeat interval when Accepted, the retry interval otherwise)."""

    status: str
    interval_s: int


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What the network knows of an id token, in version-neutral terms.

    `status` uses the 2.x vocabulary (Accepted, Blocked, Expired, Invalid, NoCredit, …); each
    version's handlers map it onto what their schema allows. `expiry_ms` is when a station may
    stop trusting its cached copy; `group` is the parent / group token."""

    status: str
    expiry_ms: int | None = None
    group: str | None = None


class Decisions(Protocol):
    """Answers the gateway cannot give from the frame alone (read models in Redis)."""

    heartbeat_interval_s: int

    async def boot(self, station: str) -> BootDecision:
        """Admission of a booting station (registry + admission policy)."""
        ...

    async def next_transaction_id(self) -> int:
        """A 1.6 transactionId unique across every gateway of the network."""
        ...

    async def authorize(self, id_token: str) -> TokenInfo | str:
        """The authorization of an id token; a bare string is a status with no expiry or
        group (enough for simple implementations such as test fakes)."""
        ...

    async def group_tariff(self, group: str) -> Mapping[str, Any] | None:
        """The tariff assigned now to an id-token group (scope `group:<group>`), as the version
        valid now (csms.domain.tariffs.Tariff.to_dict); None when there is none or it cannot be
        read. Only 2.1 Authorize asks (its answer may carry the driver's tariff)."""
        ...


class CostAnswers(Protocol):
    """The cost side of one 2.x connection (csms.handlers.v201.transaction_cost.ConnectionCost):
    the TransactionEventResponse fields that tell the station its cost."""

    async def answer(self, payload: dict[str, Any], now_ms: int) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class CallContext:
    station: str
    version: OcppVersion
    payload: dict[str, Any]
    now_ms: int
    decisions: Decisions
    cost: CostAnswers | None = None  # 2.x connections of a gateway that prices sessions


Handler = Callable[[CallContext], Awaitable[dict[str, Any]]]


async def token_info(ctx: CallContext, id_token: str) -> TokenInfo:
    """The decision on `id_token`, always as a TokenInfo."""
    info = await ctx.decisions.authorize(id_token)
    return info if isinstance(info, TokenInfo) else TokenInfo(info)


def status_info(reason_code: str, additional_info: str = "") -> dict[str, str]:
    """A 2.x StatusInfoType (reasonCode is at most 20 characters)."""
    info = {"reasonCode": reason_code[:20]}
    if additional_info:
        info["additionalInfo"] = additional_info[:512]
    return info


def routes(version: OcppVersion) -> Mapping[str, Handler]:
    """The route table of one version: action -> handler."""
    from csms.handlers import v16, v21, v201

    tables: dict[OcppVersion, Mapping[str, Handler]] = {
        OcppVersion.V16: v16.ROUTES,
        OcppVersion.V201: v201.ROUTES,
        OcppVersion.V21: v21.ROUTES,
    }
    return tables[version]
