"""`csms station show|set-status|set-password ID`: the station registry from the command line.

Admission (`GATEWAY_ADMISSION=pending|closed`) and security profile 1 (HTTP Basic auth) read the
registry; these commands let an operator accept a pending station or give it a password.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from csms.infra.redis_client import make_redis
from csms.infra.station_registry import STATUSES, StationRegistry
from csms.protocol.station_path import InvalidStationPath, station_id_from_path
from csms.security.passwords import WeakPassword, generate_password
from csms.settings import Settings


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    station = sub.add_parser("station", help="show or change a station's registration")
    actions = station.add_subparsers(dest="station_command", required=True)
    show = actions.add_parser("show", help="print the registration of a station")
    show.add_argument("station_id")
    status = actions.add_parser("set-status", help="Accepted, Pending or Rejected")
    status.add_argument("station_id")
    status.add_argument("status", choices=STATUSES)
    password = actions.add_parser(
        "set-password", help="set the Basic-auth password (16-40 characters; generated if omitted)"
    )
    password.add_argument("station_id")
    password.add_argument("--password", help="the password; a random one is generated and printed")


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        station = station_id_from_path(f"/ocpp/{args.station_id}")
    except InvalidStationPath as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_run(args, settings, station))


async def _run(args: argparse.Namespace, settings: Settings, station: str) -> int:
    redis = make_redis(settings)
    registry = StationRegistry(redis)
    try:
        if args.station_command == "set-status":
            await registry.set_status(station, args.status)
        elif args.station_command == "set-password":
            password = args.password or generate_password()
            try:
                await registry.set_password(station, password)
            except WeakPassword as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            if not args.password:
                print(f"password for {station}: {password}")
        registration = await registry.get(station)
        if registration is None:
            print(f"{station}: not registered")
            return 1
        updated = datetime.fromtimestamp(registration.updated_ms / 1000, tz=UTC)
        print(
            f"{station}: {registration.status}, "
            f"password {'set' if registration.has_password else 'not set'}, "
            f"updated {updated.isoformat(timespec='seconds')}"
        )
        return 0
    finally:
        await redis.aclose()
