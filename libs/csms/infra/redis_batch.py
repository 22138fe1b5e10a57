"""Single Redis commands from concurrent callers, sent together: one write, one read pass.

Why: a gateway's handshake is a few single commands (the station's registration, its route's
claim script, at the end its release), each a round trip through redis-py's asyncio client at
≈ 140-170 µs of the gateway's CPU, mostly the round trip's own system calls and wake-ups
(docs/benchmarks.md, issue 19). In a connection ramp or a reconnect storm hundreds of handshakes
run at once: their commands are gathered while the event loop finishes its current callbacks and
sent as one batch (`csms.infra.redis_wire`, packed by hiredis), so a storm costs a round trip
per batch, not per command. A lone command waits for nothing but the current loop iteration.

A scripted command (`script`) is sent as EVALSHA; a server that does not know the script yet
(restarted, flushed) has it loaded and the command is run once more.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from csms.infra.redis_wire import WireArg, WireCommand, replies_of

MAX_BATCH = 512  # commands per write: bounded, so one reply pass never holds the loop long


class Script:
    """A Lua script run through a `RedisBatcher` (EVALSHA, loaded on demand)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis' script id


class RedisBatcher:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._waiting: list[tuple[WireCommand, asyncio.Future[Any]]] = []
        self._scheduled = False
        self._sending: set[asyncio.Task[None]] = set()

    async def call(self, *command: WireArg) -> Any:
        """One command's reply (hiredis' types: bytes, int, list …); a refusal raises its
        ResponseError, a broken connection its ConnectionError, as redis-py would."""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future[Any] = loop.create_future()
        self._waiting.append((command, reply))
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush)  # after the callbacks already queued: they may join
        return await reply

    async def script(self, script: Script, keys: Sequence[str], args: Sequence[WireArg]) -> Any:
        try:
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except NoScriptError:
            await self.call("SCRIPT", "LOAD", script.source)
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)

    def _flush(self) -> None:
        self._scheduled = False
        waiting, self._waiting = self._waiting, []
        for start in range(0, len(waiting), MAX_BATCH):
            task = asyncio.get_running_loop().create_task(
                self._send(waiting[start : start + MAX_BATCH])
            )
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _send(self, batch: list[tuple[WireCommand, asyncio.Future[Any]]]) -> None:
        try:
            replies = await replies_of(self._redis, [command for command, _ in batch])
        except Exception as exc:  # noqa: BLE001 - every caller of the batch gets the failure
            for _, reply in batch:
                if not reply.done():
                    reply.set_exception(exc)
            return
        for (_, reply), value in zip(batch, replies, strict=True):
            if reply.done():
                continue  # its caller was cancelled
            if isinstance(value, ResponseError):  # redis-py's class for it (NoScriptError …)
                reply.set_exception(value)
            else:
                reply.set_result(value)
