"""API tokens: minted, listed and revoked by admins. A token is returned once, at creation.

Every minted token has a lifetime (`expires_in_s`, else Settings.api_token_ttl_s; ADR 0028);
an expired one stays listed, marked expired, until it is deleted.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from redis.asyncio import Redis

from csms.clock import Clock
from csms.infra.api_tokens import ApiTokenInfo, ApiTokens, Role, TokenNameTaken
from csms.settings import Settings
from services.api.auth import AUTH_ERRORS, Admin, record_audit
from services.api.errors import ApiError, error_responses
from services.api.schemas import ApiTokenCreate, ApiTokenCreated, ApiTokenList, ApiTokenView
from services.api.views import iso_ms

router = APIRouter(prefix="/api/v1/api-tokens", tags=["api tokens"])

TokenName = Annotated[str, Path(min_length=1, max_length=64)]


def _clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


def _tokens(request: Request) -> ApiTokens:
    redis: Redis = request.app.state.redis
    return ApiTokens(redis, _clock(request))


def _expires_ms(request: Request, body: ApiTokenCreate) -> int | None:
    """The new token's expiry: its own lifetime, else the default one (0 = none)."""
    settings: Settings = request.app.state.settings
    lifetime_s = body.expires_in_s if body.expires_in_s is not None else settings.api_token_ttl_s
    return _clock(request)() + lifetime_s * 1000 if lifetime_s > 0 else None


def _view(info: ApiTokenInfo, now_ms: int) -> ApiTokenView:
    return ApiTokenView(
        name=info.name,
        role=info.role.value,
        created=iso_ms(info.created_ms),
        expires=iso_ms(info.expires_ms),
        expired=info.expired(now_ms),
    )


@router.post(
    "",
    status_code=201,
    response_model=ApiTokenCreated,
    responses=error_responses(*AUTH_ERRORS, 409, 422, 503),
)
async def create_api_token(
    request: Request, body: ApiTokenCreate, principal: Admin
) -> ApiTokenCreated:
    """Mint a token with a role and a lifetime (`expires_in_s`, default API_TOKEN_TTL_S). The
    response is the only time the token is shown."""
    expires_ms = _expires_ms(request, body)
    try:
        minted = await _tokens(request).create(body.name, Role(body.role), expires_ms)
    except TokenNameTaken as exc:
        raise ApiError(409, "api_token_exists", str(exc)) from exc
    await record_audit(
        request,
        principal,
        "api_token.create",
        body.name,
        name=body.name,
        token_role=body.role,
        expires_ms=expires_ms,
    )
    view = _view(minted.info, minted.info.created_ms)
    return ApiTokenCreated(**view.model_dump(), token=minted.token)


@router.get("", response_model=ApiTokenList, responses=error_responses(*AUTH_ERRORS, 503))
async def list_api_tokens(request: Request, _: Admin) -> ApiTokenList:
    """Every minted token's name, role, creation and expiry, expired ones included (the
    bootstrap token is not listed)."""
    now_ms = _clock(request)()
    return ApiTokenList(items=[_view(info, now_ms) for info in await _tokens(request).list()])


@router.delete("/{name}", status_code=204, responses=error_responses(*AUTH_ERRORS, 404, 422, 503))
async def delete_api_token(request: Request, name: TokenName, principal: Admin) -> Response:
    """Revoke a token: the next request that presents it is refused."""
    if not await _tokens(request).delete(name):
        raise ApiError(404, "api_token_not_found", f"no API token named {name!r}")
    await record_audit(request, principal, "api_token.delete", name, name=name)
    return Response(status_code=204)
