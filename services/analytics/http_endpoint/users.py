"""Users of the endpoint and their authentication: the users file, credentials, binding.

See Settings.analytics_http_users; `password_sha256` computes a users-file entry's digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import orjson

from services.analytics.http_endpoint.protocol import AUTHENTICATION_FAILED, EndpointError

DEFAULT_USER: Final = "default"
# readonly=1 forbids every settings change; these are the ones ClickHouse deployments mark
# CHANGEABLE_IN_READONLY for analysts' tools (deploy/clickhouse/analyst-users.sql does the same):
# clickhouse-go (Grafana) sends max_execution_time with every query that has a deadline, and
# clickhouse-connect sends its input-parsing defaults. On the local endpoint they are accepted
# and not applied for readonly users: the engine handle of readonly users is itself readonly=1.
CHANGEABLE_IN_READONLY: Final = frozenset(
    {"max_execution_time", "date_time_input_format", "cast_string_to_dynamic_use_inference"}
)
_USER_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class UsersConfigError(ValueError):
    """The users file is unreadable or malformed (the message says where)."""


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password_sha256: str = field(repr=False)  # hex; "" = no password (the open `default`)
    readonly: bool = True


@dataclass(frozen=True, slots=True)
class Users:
    """Who may query the endpoint. Without configuration: `default`, no password, read-write."""

    by_name: Mapping[str, User]
    configured: bool

    @classmethod
    def open(cls) -> Users:
        return cls({DEFAULT_USER: User(DEFAULT_USER, "", readonly=False)}, configured=False)

    @classmethod
    def from_dict(cls, raw: object, source: str = "users") -> Users:
        """`{"<user>": {"password_sha256": "<hex>", "readonly": true}}`, validated."""
        if not isinstance(raw, dict) or not raw:
            raise UsersConfigError(f"{source}: expected a non-empty JSON object of users")
        users: dict[str, User] = {}
        for name, entry in raw.items():
            where = f"{source}: user {name!r}"
            if not isinstance(name, str) or not _USER_NAME.match(name):
                raise UsersConfigError(f"{where}: names are letters, digits and _.@-")
            if not isinstance(entry, dict):
                raise UsersConfigError(f"{where}: expected an object")
            unknown = set(entry) - {"password_sha256", "readonly"}
            if unknown:
                raise UsersConfigError(f"{where}: unknown keys {sorted(unknown)}")
            digest = entry.get("password_sha256")
            if not isinstance(digest, str) or not _SHA256_HEX.match(digest.lower()):
                raise UsersConfigError(f"{where}: password_sha256 must be 64 hex digits")
            readonly = entry.get("readonly", True)
            if not isinstance(readonly, bool):
                raise UsersConfigError(f"{where}: readonly must be true or false")
            users[name] = User(name, digest.lower(), readonly)
        return cls(users, configured=True)

    @classmethod
    def load(cls, path: str) -> Users:
        """Users.open() for an empty path, else the JSON file at `path`."""
        if not path:
            return cls.open()
        try:
            raw = orjson.loads(Path(path).read_bytes())
        except OSError as exc:
            raise UsersConfigError(f"cannot read users file {path}: {exc.strerror}") from exc
        except orjson.JSONDecodeError as exc:
            raise UsersConfigError(f"users file {path} is not valid JSON: {exc}") from exc
        return cls.from_dict(raw, path)

    def authenticate(self, name: str, password: str) -> User:
        """The user, or EndpointError 516; compares digests in constant time."""
        user = self.by_name.get(name)
        expected = user.password_sha256 if user is not None else "0" * 64
        given = hashlib.sha256(password.encode()).hexdigest() if password else ""
        if user is not None and hmac.compare_digest(given.encode(), expected.encode()):
            return user
        raise EndpointError(
            AUTHENTICATION_FAILED,
            f"{name}: Authentication failed: password is incorrect, or there is no user with "
            "such name",
        )


def password_sha256(password: str) -> str:
    """The `password_sha256` of a users-file entry."""
    return hashlib.sha256(password.encode()).hexdigest()


def credentials(headers: Mapping[str, str], params: Mapping[str, str]) -> tuple[str, str]:
    """(user, password) as ClickHouse takes them: Basic auth, X-ClickHouse-User/-Key headers,
    or `user`/`password` parameters (only one way per request); `default` with no password."""
    ways: list[tuple[str, str]] = []
    authorization = headers.get("authorization", "")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "basic":
            raise EndpointError(AUTHENTICATION_FAILED, f"Unsupported authentication: {scheme}")
        try:
            user, _, password = base64.b64decode(token, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise EndpointError(AUTHENTICATION_FAILED, "Malformed Basic credentials") from exc
        ways.append((user, password))
    if "x-clickhouse-user" in headers or "x-clickhouse-key" in headers:
        ways.append((headers.get("x-clickhouse-user", ""), headers.get("x-clickhouse-key", "")))
    if "user" in params or "password" in params:
        ways.append((params.get("user", ""), params.get("password", "")))
    if len(ways) > 1:
        raise EndpointError(
            AUTHENTICATION_FAILED,
            "Invalid authentication: it is not allowed to use more than one way of passing "
            "credentials (Authorization header, X-ClickHouse-User/Key headers, URL parameters)",
        )
    user, password = ways[0] if ways else (DEFAULT_USER, "")
    return user or DEFAULT_USER, password


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, users: Users) -> None:
    """Refuse to serve the query interface beyond loopback to anyone without a password."""
    if not users.configured and not is_loopback(host):
        raise UsersConfigError(
            f"refusing to serve ClickHouse's HTTP interface on {host}: without "
            "ANALYTICS_HTTP_USERS anyone who reaches it may read and write everything; "
            "configure users or bind CLICKHOUSE_HTTP_HOST=127.0.0.1"
        )
