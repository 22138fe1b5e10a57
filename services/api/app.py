"""The operator API application: REST + OpenAPI over the Redis read models."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI
from redis.asyncio import Redis

from csms.clock import Clock, system_clock
from csms.infra.call_bus import CallBus
from csms.infra.kafka import ensure_topics
from csms.infra.redis_client import make_redis
from csms.protocol.directions import CSMS_ACTIONS
from csms.protocol.validation import warm
from csms.protocol.versions import OcppVersion
from csms.settings import Settings
from services.api.audit import AuditSink, KafkaAudit
from services.api.auth import install_auth
from services.api.commands import CommandService
from services.api.errors import install_error_handlers
from services.api.metrics import ApiMetrics, MetricsMiddleware
from services.api.rate_limit import RateLimiter, RateLimitMiddleware
from services.api.routes import api_tokens, health, id_tokens, stations, tariffs, transactions
from services.api.routes import commands as commands_routes
from services.api.store import ReadModelStore

TITLE = "CSMS operator API"
DESCRIPTION = (
    "Stations, EVSEs, connectors and transactions of a mixed OCPP 1.6J / 2.0.1 / 2.1 network, "
    'in one protocol-neutral vocabulary. Errors are `{"error": code, "detail": message}`.'
)


async def _warm_validators() -> None:
    """Compile the command validators one at a time, yielding to requests in between (a
    request that needs one first compiles it itself: the cache is shared)."""
    for ocpp in OcppVersion:
        for action in CSMS_ACTIONS[ocpp]:
            warm(ocpp, [action])
            await asyncio.sleep(0)


def _version() -> str:
    try:
        return version("csms")
    except PackageNotFoundError:
        return "0.0.0"


def create_app(
    settings: Settings,
    redis: Redis | None = None,
    audit: AuditSink | None = None,
    clock: Clock = system_clock,
) -> FastAPI:
    """The API app. With `redis`, the caller owns that client (tests); without, the app
    creates one from `settings.redis_url` and closes it on shutdown. Without `audit`, state
    changes and commands are recorded on Kafka (KafkaAudit). `clock` (epoch ms) is what token
    expiries and tariff versions are dated by (`app.state.clock`, tests pin it)."""
    owned = redis is None
    client = make_redis(settings) if redis is None else redis
    kafka_audit: KafkaAudit | None = None
    sink: AuditSink
    if audit is None:
        sink = kafka_audit = KafkaAudit(settings)
    else:
        sink = audit
    bus = CallBus(client)
    commands = CommandService(client, bus, sink, settings.topics.commands)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Every command's payload is checked against its schema: compile them while serving
        # (≈ 15 ms each, 200 of them), so a restarted API answers in ~2 s rather than ~8 s.
        warming = asyncio.create_task(_warm_validators(), name="warm-validators")
        if kafka_audit is not None:
            await ensure_topics(settings)
            await kafka_audit.start()
        await bus.start()
        try:
            yield
        finally:
            warming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await warming
            await commands.close()
            await bus.stop()
            if kafka_audit is not None:
                await kafka_audit.stop()
            if owned:
                await client.aclose()

    app = FastAPI(
        title=TITLE,
        version=_version(),
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
        max_body_size=settings.api_max_body_bytes,
    )
    app.state.settings = settings
    app.state.store = ReadModelStore(client)
    app.state.metrics = ApiMetrics()
    app.state.audit = sink
    app.state.commands = commands
    app.state.redis = client
    app.state.clock = clock
    app.state.rate_limiter = RateLimiter.from_settings(settings)
    # Added first, so it runs inside the metrics middleware: 429s are counted too.
    app.add_middleware(RateLimitMiddleware, limiter=app.state.rate_limiter)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    install_error_handlers(app)
    install_auth(app)
    for module in (health, stations, transactions, id_tokens, api_tokens, tariffs):
        app.include_router(module.router)
    commands_routes.install(app)
    return app
