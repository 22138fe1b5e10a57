"""Id tokens (RFID cards, eMAIDs, key codes...): who may charge. Written here, read by the
gateways' authorization at the next Authorize/StartTransaction/TransactionEvent.

The network is open (see csms.infra.redis_decisions): a token nobody listed is Accepted, so
listing a token matters for blocking it, grouping it or giving it an expiry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from redis.asyncio import Redis

from csms.infra.api_tokens import Principal
from csms.protocol.enums import AuthorizationStatus
from csms.readmodels.id_tokens import IdTokenChange, IdTokenRecord
from services.api.auth import AUTH_ERRORS, Analyst, Operator, record_audit
from services.api.errors import ApiError, error_responses
from services.api.id_token_store import IdTokenStore, expiry_text
from services.api.pagination import Limit, scan_page
from services.api.schemas import (
    IdTokenCreate,
    IdTokenPage,
    IdTokenType,
    IdTokenUpdate,
    IdTokenView,
)

router = APIRouter(prefix="/api/v1/id-tokens", tags=["id tokens"])


Offset = Annotated[int, Query(ge=0, description="items to skip")]
TokenPath = Annotated[str, Path(min_length=1, max_length=255)]
StatusFilter = Annotated[AuthorizationStatus | None, Query(description="only this status")]
GroupFilter = Annotated[str | None, Query(min_length=1, max_length=255, description="group id")]
TypeFilter = Annotated[IdTokenType | None, Query(alias="type", description="only this type")]


def _store(request: Request) -> IdTokenStore:
    redis: Redis = request.app.state.redis
    return IdTokenStore(redis)


def _not_found(token: str) -> ApiError:
    return ApiError(404, "id_token_not_found", f"no id token {token!r}")


def _expiry(body: IdTokenCreate | IdTokenUpdate) -> str | None:
    if body.expiry is None:
        return None
    try:
        return expiry_text(body.expiry)
    except (ValueError, OverflowError) as exc:
        raise ApiError(422, "invalid_request", "body.expiry: out of range") from exc


def token_filter(
    status: str | None, group_id: str | None, token_type: str | None
) -> Callable[[IdTokenView], bool] | None:
    """The predicate for the list's filters; None when nothing filters (pages by position)."""
    if status is None and group_id is None and token_type is None:
        return None

    def keep(token: IdTokenView) -> bool:
        return (
            (status is None or token.status == status)
            and (group_id is None or token.group_id == group_id)
            and (token_type is None or token.type == token_type)
        )

    return keep


@router.post(
    "",
    status_code=201,
    response_model=IdTokenView,
    responses=error_responses(*AUTH_ERRORS, 409, 422, 503),
)
async def create_id_token(
    request: Request, body: IdTokenCreate, principal: Operator
) -> IdTokenView:
    """List a token with its type, group, expiry and status."""
    record = IdTokenRecord(
        body.id_token,
        status=body.status,
        type=body.type,
        group=body.group_id or "",
        expiry=_expiry(body) or "",
    )
    view = await _store(request).create(record)
    if view is None:
        raise ApiError(409, "id_token_exists", f"id token {body.id_token!r} exists already")
    await _audit(request, principal, "id_token.create", view)
    return view


@router.get("", response_model=IdTokenPage, responses=error_responses(*AUTH_ERRORS, 422, 503))
async def list_id_tokens(
    request: Request,
    _: Analyst,
    status: StatusFilter = None,
    group_id: GroupFilter = None,
    token_type: TypeFilter = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> IdTokenPage:
    """Id tokens ordered by token."""
    store = _store(request)
    keep = token_filter(status, group_id, token_type)
    page = await scan_page(store.tokens, store.many, keep=keep, start=0, offset=offset, limit=limit)
    return IdTokenPage(
        items=page.items,
        limit=limit,
        offset=offset,
        next_offset=offset + len(page.items) if page.has_more else None,
        total=await store.count() if keep is None else None,
    )


@router.get(
    "/{id_token}",
    response_model=IdTokenView,
    responses=error_responses(*AUTH_ERRORS, 404, 422, 503),
)
async def get_id_token(request: Request, id_token: TokenPath, _: Analyst) -> IdTokenView:
    view = await _store(request).get(id_token)
    if view is None:
        raise _not_found(id_token)
    return view


@router.patch(
    "/{id_token}",
    response_model=IdTokenView,
    responses=error_responses(*AUTH_ERRORS, 404, 422, 503),
)
async def update_id_token(
    request: Request, id_token: TokenPath, body: IdTokenUpdate, principal: Operator
) -> IdTokenView:
    """Change the fields given; `group_id` or `expiry` set to null remove them."""
    given = body.model_fields_set
    # None: unchanged; "": removed (group and expiry set to null).
    group = (body.group_id or "") if "group_id" in given else None
    expiry = (_expiry(body) or "") if "expiry" in given else None
    change = IdTokenChange(status=body.status, type=body.type, group=group, expiry=expiry)
    view = await _store(request).update(id_token, change)
    if view is None:
        raise _not_found(id_token)
    await _audit(request, principal, "id_token.update", view, changed=sorted(given))
    return view


@router.post(
    "/{id_token}/block",
    response_model=IdTokenView,
    responses=error_responses(*AUTH_ERRORS, 404, 422, 503),
)
async def block_id_token(request: Request, id_token: TokenPath, principal: Operator) -> IdTokenView:
    """Set the status to Blocked: the next authorization of this token is refused."""
    view = await _store(request).update(id_token, IdTokenChange(status="Blocked"))
    if view is None:
        raise _not_found(id_token)
    await _audit(request, principal, "id_token.block", view)
    return view


async def _audit(
    request: Request, principal: Principal, action: str, view: IdTokenView, **extra: Any
) -> None:
    await record_audit(
        request,
        principal,
        action,
        view.id_token,
        id_token=view.id_token,
        status=view.status,
        type=view.type,
        group_id=view.group_id,
        expiry=view.expiry,
        **extra,
    )
