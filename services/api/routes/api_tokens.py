"""API tokens: minted, listed and revoked by admins. A token is returned once, at creation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from redis.asyncio import Redis

from csms.infra.api_tokens import ApiTokenInfo, ApiTokens, Role, TokenNameTaken
from services.api.auth import AUTH_ERRORS, Admin, record_audit
from services.api.errors import ApiError, error_responses
from services.api.schemas import ApiTokenCreate, ApiTokenCreated, ApiTokenList, ApiTokenView
from services.api.views import iso_ms

router = APIRouter(prefix="/api/v1/api-tokens", tags=["api tokens"])

TokenName = Annotated[str, Path(min_length=1, max_length=64)]


def _tokens(request: Request) -> ApiTokens:
    redis: Redis = request.app.state.redis
    return ApiTokens(redis)


def _view(info: ApiTokenInfo) -> ApiTokenView:
    return ApiTokenView(name=info.name, role=info.role.value, created=iso_ms(info.created_ms))


@router.post(
    "",
    status_code=201,
    response_model=ApiTokenCreated,
    responses=error_responses(*AUTH_ERRORS, 409, 422, 503),
)
async def create_api_token(
    request: Request, body: ApiTokenCreate, principal: Admin
) -> ApiTokenCreated:
    """Mint a token with a role. The response is the only time the token is shown."""
    try:
        minted = await _tokens(request).create(body.name, Role(body.role))
    except TokenNameTaken as exc:
        raise ApiError(409, "api_token_exists", str(exc)) from exc
    await record_audit(
        request, principal, "api_token.create", body.name, name=body.name, token_role=body.role
    )
    return ApiTokenCreated(**_view(minted.info).model_dump(), token=minted.token)


@router.get("", response_model=ApiTokenList, responses=error_responses(*AUTH_ERRORS, 503))
async def list_api_tokens(request: Request, _: Admin) -> ApiTokenList:
    """Every minted token's name, role and creation time (the bootstrap token is not listed)."""
    return ApiTokenList(items=[_view(info) for info in await _tokens(request).list()])


@router.delete("/{name}", status_code=204, responses=error_responses(*AUTH_ERRORS, 404, 422, 503))
async def delete_api_token(request: Request, name: TokenName, principal: Admin) -> Response:
    """Revoke a token: the next request that presents it is refused."""
    if not await _tokens(request).delete(name):
        raise ApiError(404, "api_token_not_found", f"no API token named {name!r}")
    await record_audit(request, principal, "api_token.delete", name, name=name)
    return Response(status_code=204)
