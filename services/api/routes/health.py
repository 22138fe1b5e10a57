"""Liveness/readiness and metrics: the endpoints operators' infrastructure calls."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.api.deps import Store
from services.api.errors import error_responses
from services.api.metrics import ApiMetrics
from services.api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/health", response_model=Health, responses=error_responses(503))
async def health(store: Store) -> Health:
    """Ok when the API can reach its read-model store; 503 `redis_unavailable` otherwise."""
    await store.ping()
    return Health()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    api_metrics: ApiMetrics = request.app.state.metrics
    body, content_type = api_metrics.render()
    return Response(content=body, media_type=content_type)
