"""`csms`: one command line for every CSMS process.

csms gateway | processors | analytics | api   run one service in the foreground
csms up                                        run all of them (the local all-in-one stack)
csms station … | csms api-token …              manage stations and operator API tokens
csms replay --from-beginning                   rebuild the read models from Kafka
csms analytics-user add NAME [--no-readonly]   print a user entry for ANALYTICS_HTTP_USERS
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import secrets
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from csms.settings import LOCAL_STATE_DIR, Settings
from services.admin import api_tokens, stations
from services.replay import args as replay_args
from services.supervisor import Supervisor

log = logging.getLogger("csms")

SERVICES = ("gateway", "processors", "analytics", "api")


def _run_service(name: str, settings: Settings) -> None:
    # Imported lazily: each process loads only the service it runs.
    module = importlib.import_module(f"services.{name}.main")
    run: Callable[[Settings], None] = module.run
    run(settings)


def gateway_processes(settings: Settings, cores: int) -> dict[str, dict[str, str]]:
    """`csms up`'s gateway children and the variables each runs with: one per core by default
    (`GATEWAY_PROCESSES`), sharing one port (SO_REUSEPORT: the kernel spreads the connections),
    each with its own gateway id (routes and evictions name the process holding a station)."""
    n = settings.gateway_processes if settings.gateway_processes > 0 else max(1, cores)
    if n == 1:
        return {"gateway": {}}
    return {
        f"gateway-{k}": {"GATEWAY_REUSE_PORT": "true", "GATEWAY_ID": f"{settings.gateway_id}-{k}"}
        for k in range(1, n + 1)
    }


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def _endpoints(settings: Settings) -> list[tuple[str, str]]:
    processes = len(gateway_processes(settings, usable_cores()))
    return [
        (
            "gateway",
            f"ws://{settings.gateway_host}:{settings.gateway_port}/ocpp/{{station_id}}"
            f" ({processes} process{'es' if processes > 1 else ''} on this port)",
        ),
        ("gateway metrics", f"http://{settings.gateway_host}:{settings.gateway_port}/metrics"),
        ("operator API", f"http://{settings.api_host}:{settings.api_port} (docs: /docs)"),
        (
            "ClickHouse HTTP",
            f"http://{settings.clickhouse_http_host}:{settings.clickhouse_http_port}"
            if settings.clickhouse_url.startswith("chdb://")
            else settings.clickhouse_url,
        ),
        ("Kafka", settings.kafka_bootstrap),
        ("Redis", settings.redis_url),
    ]


def local_api_token(settings: Settings) -> str:
    """The admin token of the local stack: CSMS_API_TOKEN when set, else one generated once and
    kept (owner-only) in the local state folder, so restarts keep it."""
    if settings.api_token:
        return settings.api_token
    path = LOCAL_STATE_DIR / "api-token"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    path.touch(mode=0o600)
    path.write_text(token + "\n", encoding="utf-8")
    return token


def children_status_path() -> Path:
    """Where `csms up` keeps its children's state for `make status`."""
    return LOCAL_STATE_DIR / "run" / "csms-children.json"


def _up(settings: Settings) -> int:
    """Run every service as a child process, each restarted when it dies (services.supervisor),
    until SIGTERM/SIGINT."""
    token = local_api_token(settings)
    env = {**os.environ, "CSMS_API_TOKEN": token}
    gateways = gateway_processes(settings, usable_cores())
    argv = {name: [sys.executable, "-m", "services.cli", name] for name in SERVICES}
    children = {name: argv["gateway"] for name in gateways}
    children.update({name: argv[name] for name in SERVICES if name != "gateway"})
    supervisor = Supervisor(children, env, children_status_path(), child_env=gateways)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    for what, where in _endpoints(settings):
        print(f"  {what:<16} {where}", flush=True)
    shown = "(from CSMS_API_TOKEN)" if settings.api_token else token
    print(f"  {'API admin token':<16} {shown}", flush=True)
    supervisor.run()
    return 0


def _add_analytics_user_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    user = sub.add_parser("analytics-user", help="users of the analytics HTTP endpoint")
    verbs = user.add_subparsers(dest="verb", required=True)
    add = verbs.add_parser(
        "add", help="print a JSON entry for ANALYTICS_HTTP_USERS (password from stdin, or minted)"
    )
    add.add_argument("name")
    add.add_argument("--readonly", action=argparse.BooleanOptionalAction, default=True)


def _analytics_user(args: argparse.Namespace) -> int:
    import getpass
    import json

    from services.analytics.http_endpoint import Users, UsersConfigError, password_sha256

    try:
        Users.from_dict({args.name: {"password_sha256": "0" * 64}})  # the name, before asking
    except UsersConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        password = getpass.getpass(f"password for {args.name} (empty: mint one): ")
    else:
        password = sys.stdin.readline().rstrip("\n")
    if not password:
        password = secrets.token_urlsafe(18)
        print(f"password for {args.name} (shown once): {password}", file=sys.stderr)
    entry = {args.name: {"password_sha256": password_sha256(password), "readonly": args.readonly}}
    print(json.dumps(entry))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="csms", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SERVICES:
        sub.add_parser(name, help=f"run the {name} service in the foreground")
    sub.add_parser("up", help="run every service (local all-in-one stack)")
    stations.add_parser(sub)
    api_tokens.add_parser(sub)
    replay_args.add_parser(sub)
    _add_analytics_user_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("CSMS_LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s {args.command} %(levelname)s %(name)s: %(message)s",
    )
    settings = Settings.from_env()
    if args.command == "up":
        return _up(settings)
    if args.command == "station":
        return stations.run(args, settings)
    if args.command == "api-token":
        return api_tokens.run(args, settings)
    if args.command == "analytics-user":
        return _analytics_user(args)
    if args.command == "replay":
        replay: Callable[[argparse.Namespace, Settings], int]
        replay = importlib.import_module("services.replay.main").run  # loads Kafka clients
        return replay(args, settings)
    _run_service(args.command, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
