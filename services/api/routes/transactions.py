"""Transactions: charging sessions of the whole network or of one station, newest first."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from redis.asyncio import Redis

from csms.domain.transactions import tx_key
from csms.infra.api_tokens import Role
from csms.readmodels.bills import RedisBills, bill_of
from services.api.auth import require
from services.api.deps import Store
from services.api.errors import ApiError, error_responses
from services.api.pagination import Limit, scan_page
from services.api.params import StationIdFilter as StationFilter
from services.api.params import StationIdPath
from services.api.schemas import TransactionPage, TransactionView, TxState
from services.api.tariff_schemas import BillView

# Read-only, for every role from analyst up.
router = APIRouter(
    prefix="/api/v1/transactions",
    tags=["transactions"],
    dependencies=[Depends(require(Role.ANALYST))],
)

Offset = Annotated[int, Query(ge=0, description="items to skip")]
StateFilter = Annotated[TxState | None, Query(description="only active or only ended ones")]
PathId = Annotated[str, Path(min_length=1, max_length=255)]


def state_filter(state: str | None) -> Callable[[TransactionView], bool] | None:
    if state is None:
        return None

    def keep(tx: TransactionView) -> bool:
        return tx.state == state

    return keep


@router.get("", response_model=TransactionPage, responses=error_responses(401, 403, 422, 503))
async def list_transactions(
    store: Store,
    station_id: StationFilter = None,
    state: StateFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> TransactionPage:
    """Transactions newest first (by start time), network-wide or for one station."""
    keep = state_filter(state)

    async def window(position: int, count: int) -> list[str]:
        return await store.transaction_keys(station_id, position, count)

    page = await scan_page(
        window, store.transactions, keep=keep, start=0, offset=offset, limit=limit
    )
    total = await store.transaction_count(station_id) if keep is None else None
    return TransactionPage(
        items=page.items,
        limit=limit,
        offset=offset,
        next_offset=offset + len(page.items) if page.has_more else None,
        total=total,
    )


@router.get(
    "/{station_id}/{transaction_id}",
    response_model=TransactionView,
    responses=error_responses(401, 403, 404, 422, 503),
)
async def get_transaction(
    store: Store, station_id: StationIdPath, transaction_id: PathId
) -> TransactionView:
    tx = await store.transaction(station_id, transaction_id)
    if tx is None:
        raise ApiError(
            404,
            "transaction_not_found",
            f"no transaction {transaction_id!r} at station {station_id!r}",
        )
    return tx


@router.get(
    "/{station_id}/{transaction_id}/bill",
    response_model=BillView,
    responses=error_responses(401, 403, 404, 422, 503),
)
async def get_bill(request: Request, station_id: StationIdPath, transaction_id: PathId) -> BillView:
    """The transaction's bill as the billing processor priced it: `running` while it lasts
    (priced up to `priced_until_ms`), `final` once it ended. Money is decimal strings."""
    redis: Redis = request.app.state.redis
    # The processor's state holds private fields too; the bill is its public part.
    bill = bill_of(await RedisBills(redis).load_bill(tx_key(station_id, transaction_id)))
    if bill is None:
        raise ApiError(
            404,
            "bill_not_found",
            f"no bill (yet) for transaction {transaction_id!r} at station {station_id!r}",
        )
    # What identifies the bill, for a bill that does not carry it itself (a running one).
    return BillView.model_validate(
        {"station": station_id, "transaction_id": transaction_id, **bill}
    )
