"""Request-scoped dependencies: what an endpoint needs, taken from the app's state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.api.store import ReadModelStore


def get_store(request: Request) -> ReadModelStore:
    store: ReadModelStore = request.app.state.store
    return store


Store = Annotated[ReadModelStore, Depends(get_store)]
