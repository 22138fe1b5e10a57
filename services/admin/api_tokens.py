"""`csms api-token create|list|delete`: the operator API's bearer tokens from the command line.

`create` prints the token alone on stdout (so `TOKEN=$(csms api-token create ci --role
operator)` works) and never again: only its SHA-256 is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from csms.infra.api_tokens import ApiTokens, Role, TokenNameTaken
from csms.infra.redis_client import make_redis
from csms.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tokens = sub.add_parser("api-token", help="mint, list or revoke operator API tokens")
    actions = tokens.add_subparsers(dest="verb", required=True)
    create = actions.add_parser("create", help="mint a token and print it (shown only once)")
    create.add_argument("name", help="1-64 characters of [A-Za-z0-9._-]")
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.ANALYST.value)
    actions.add_parser("list", help="names, roles and creation times (never the tokens)")
    delete = actions.add_parser("delete", help="revoke a token by name")
    delete.add_argument("name")


def run(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_run(args, settings))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    redis = make_redis(settings)
    tokens = ApiTokens(redis)
    try:
        if args.verb == "create":
            return await _create(tokens, args.name, Role(args.role))
        if args.verb == "delete":
            if not await tokens.delete(args.name):
                print(f"error: no API token named {args.name!r}", file=sys.stderr)
                return 1
            print(f"revoked API token {args.name!r}", file=sys.stderr)
            return 0
        for info in await tokens.list():
            created = datetime.fromtimestamp(info.created_ms / 1000, tz=UTC)
            print(f"{info.name}\t{info.role}\t{created.isoformat(timespec='seconds')}")
        return 0
    finally:
        await redis.aclose()


async def _create(tokens: ApiTokens, name: str, role: Role) -> int:
    try:
        minted = await tokens.create(name, role)
    except (TokenNameTaken, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"API token {name!r} ({role}); shown only this once:", file=sys.stderr)
    print(minted.token)
    return 0
