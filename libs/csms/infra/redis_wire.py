"""Prepared commands packed by hiredis and sent in one write: applied atomically by one script
call (`apply_atomically`), as a MULTI/EXEC, or as a plain batch of reads.

Why: the processors flush each batch's net Redis changes as one transaction (csms.projections.
write_behind). Through redis-py's asyncio Pipeline every command is queued, packed by its pure
Python encoder and answered through its per-command callbacks: about half of the flush's CPU,
≈ 7 % of a processor worker (py-spy, docs/benchmarks.md, issue 18). Packed by hiredis (C) into
one buffer, a MULTI/EXEC still costs one reply read per command (+QUEUED) - a Python call each,
≈ 9 % of the worker; `apply_atomically` sends the commands as the arguments of one EVALSHA of a
fixed script that runs them in order, atomically as MULTI/EXEC does: one reply in all.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, cast

import hiredis
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

WireArg = str | bytes | int | float
WireCommand = Sequence[WireArg]
# A change as redis-py's method call: (name, args, kwargs), e.g. ("hset", (key,), {"mapping": m}).
Command = tuple[str, tuple[Any, ...], dict[str, Any]]

_MULTI = hiredis.pack_command(("MULTI",))
_EXEC = hiredis.pack_command(("EXEC",))


def pack(commands: Sequence[WireCommand]) -> list[bytes]:
    """Each command as the bytes Redis reads."""
    # cast: hiredis's stub types the argument as a 1-tuple; it takes any number of words.
    return [hiredis.pack_command(cast(Any, tuple(command))) for command in commands]


def pack_transaction(commands: Sequence[WireCommand]) -> bytes:
    """MULTI, the commands, EXEC."""
    return b"".join([_MULTI, *pack(commands), _EXEC])


async def run_commands(redis: Redis, commands: Sequence[WireCommand]) -> list[object]:
    """`commands` in one write (no transaction: reads, e.g. a batch's keys loaded at once);
    their replies in order. A refused command raises its ResponseError once every reply is read;
    a broken connection is dropped rather than returned to the pool half read."""
    replies = await replies_of(redis, commands)
    refused = next((r for r in replies if isinstance(r, ResponseError)), None)
    if refused is not None:
        raise refused
    return replies


async def replies_of(redis: Redis, commands: Sequence[WireCommand]) -> list[object]:
    """`run_commands`, with a refused command's ResponseError in its place among the replies."""
    if not commands:
        return []
    pool = redis.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    replies: list[object] = []
    try:
        await connection.send_packed_command(b"".join(pack(commands)), check_health=False)
        for _ in commands:
            try:
                replies.append(await connection.read_response())
            except ResponseError as exc:
                replies.append(exc)
    except BaseException:
        await connection.disconnect(nowait=True)
        raise
    finally:
        await pool.release(connection)
    return replies


async def multi_exec(redis: Redis, commands: Sequence[WireCommand]) -> list[object]:
    """Run `commands` as one transaction on a pooled connection; their replies. A command that
    Redis refuses (a wrong type) raises its ResponseError after the transaction ran, as redis-py's
    pipeline does; a broken connection raises redis-py's ConnectionError/TimeoutError and is
    dropped rather than returned to the pool half read."""
    if not commands:
        return []
    pool = redis.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await connection.send_packed_command(pack_transaction(commands), check_health=False)
        queued: list[ResponseError] = []
        for _ in range(len(commands) + 1):  # +OK for MULTI, +QUEUED (or an error) per command
            try:
                await connection.read_response()
            except ResponseError as exc:
                queued.append(exc)
        try:
            replies = await connection.read_response()
        except ResponseError as exc:  # EXECABORT: a command was refused while queueing
            raise (queued[0] if queued else exc) from exc
    except BaseException:
        await connection.disconnect(nowait=True)
        raise
    finally:
        await pool.release(connection)
    out = list(replies) if isinstance(replies, list) else []
    for reply in out:
        if isinstance(reply, ResponseError):
            raise reply
    return out


# Runs ARGV as commands: name, argument count, the arguments; repeated. Atomic like MULTI/EXEC
# (a script runs alone); a refused command stops it with its error (the caller retries all).
_APPLY = """
local i, n = 1, #ARGV
while i <= n do
  local argc = tonumber(ARGV[i + 1])
  redis.call(ARGV[i], unpack(ARGV, i + 2, i + 1 + argc))
  i = i + 2 + argc
end
return n
"""
# Redis names a script by its SHA-1 (EVALSHA): an identifier, not a security measure.
_APPLY_SHA = hashlib.sha1(_APPLY.encode(), usedforsecurity=False).hexdigest()
# Lua's C stack bounds `unpack`; a command with more arguments goes through MULTI/EXEC.
_MAX_SCRIPT_ARGS = 7000


def script_arguments(commands: Sequence[WireCommand]) -> list[WireArg] | None:
    """The script's ARGV for `commands`; None when one has too many arguments for it."""
    flat: list[WireArg] = []
    for command in commands:
        if len(command) > _MAX_SCRIPT_ARGS:
            return None
        flat.append(command[0])
        flat.append(len(command) - 1)
        flat.extend(command[1:])
    return flat


async def apply_atomically(redis: Redis, commands: Sequence[WireCommand]) -> None:
    """Run `commands` in order, atomically, in one round trip with one reply (see the module).
    The script is loaded on first use (NOSCRIPT) - after a Redis restart too."""
    if not commands:
        return
    argv = script_arguments(commands)
    if argv is None:
        await multi_exec(redis, commands)
        return
    call: list[WireArg] = ["EVALSHA", _APPLY_SHA, 0, *argv]
    try:
        await run_commands(redis, [call])
    except NoScriptError:
        await run_commands(redis, [["SCRIPT", "LOAD", _APPLY], call])


# SET's options as redis-py names them -> their words on the wire.
_SET_OPTIONS = {"ex": "EX", "px": "PX"}


def wire(command: Command) -> list[WireArg]:
    """A logged change as the words Redis reads (the same command redis-py would send)."""
    name, args, kwargs = command
    if name == "set":
        out: list[WireArg] = ["SET", *args]
        for option, value in kwargs.items():
            if value is not None:
                out += [_SET_OPTIONS[option], int(value)]
        return out
    if name == "hset":
        flat: list[WireArg] = ["HSET", *args]
        for field_name, value in kwargs["mapping"].items():
            flat += [field_name, value]
        return flat
    if name == "zadd":
        key, scores = args
        flat = ["ZADD", key]
        for member, score in scores.items():
            flat += [score, member]
        return flat
    return [_WORDS[name], *args]


_WORDS = {"delete": "DEL", "sadd": "SADD", "srem": "SREM", "zrem": "ZREM"}
