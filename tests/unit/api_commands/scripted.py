"""A scripted gateway for the commands API tests: it subscribes to its calls channel over real
Redis pub/sub and answers per action, so every API outcome is reached without a WebSocket."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.asyncio import Redis

from csms.infra import redis_keys
from csms.infra.call_bus import CallReply, CallRequest

REDIS_URL = "redis://127.0.0.1:6379/4"
ADMIN_TOKEN = "unit-test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
GATEWAY = "gw-fake"


class ScriptedGateway:
    """Answers CallRequests on its channel: `answers[action]` is a CallReply outcome and a
    payload/error, or "silent" (never answers)."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self.requests: list[CallRequest] = []
        self.answers: dict[str, tuple[str, dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._serve())
        await asyncio.wait_for(self._ready.wait(), 5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _serve(self) -> None:
        async with self.redis.pubsub() as pubsub:
            await pubsub.subscribe(redis_keys.gateway_calls_channel(GATEWAY))
            self._ready.set()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                request = CallRequest.decode(message["data"])
                self.requests.append(request)
                outcome, body = self.answers.get(request.action, ("result", {"status": "Accepted"}))
                if outcome == "silent":
                    continue
                reply = CallReply(
                    request.id,
                    request.station,
                    outcome,  # type: ignore[arg-type]
                    payload=body if outcome in ("result", "invalid") else {},
                    error=body if outcome == "error" else {},
                    detail="scripted",
                    gateway=GATEWAY,
                    elapsed_ms=1.0,
                )
                await self.redis.publish(request.reply_to, reply.encode())
