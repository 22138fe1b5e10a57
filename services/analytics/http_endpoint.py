"""ClickHouse's HTTP interface over the embedded chDB engine, for analysts' tools (local mode).

Only one process may open a chDB path, and that process is the analytics sink; this endpoint
lets everything else (curl, clickhouse_connect.get_client(host, port), notebooks, BI tools)
reach the same data as if it were a ClickHouse server on :8123. It implements the subset of
https://clickhouse.com/docs/interfaces/http those clients use:

* `GET /ping` -> `Ok.`; `GET /metrics` -> the sink's Prometheus metrics.
* `GET /?query=...` (read-only statements, as in ClickHouse) and `POST /` with the query in the
  body, in the `query` parameter, or both (then `query` + "\\n" + body, as ClickHouse does: for
  `INSERT ... FORMAT X` the rest of the body is the data, binary formats included).
* `default_format` (TabSeparated by default) or a FORMAT clause; `database`; `param_<name>`
  query parameters; any other parameter that names a ClickHouse setting is applied to the query.
* request bodies with `Content-Encoding` gzip, deflate, br, zstd or lz4 (clickhouse-connect
  sends its Native inserts lz4-framed); responses are not compressed.
* `client_protocol_version`: Native results framed for that protocol revision (BlockInfo,
  serialization flags; services/analytics/native.py), as clickhouse-go (Grafana's ClickHouse
  data source) and clickhouse-connect expect.
* users (Users, from Settings.analytics_http_users): credentials by Basic auth,
  `X-ClickHouse-User`/`X-ClickHouse-Key` or `user`/`password` parameters; a wrong one is error
  516 AUTHENTICATION_FAILED (HTTP 403, as ClickHouse). Readonly users get readonly=1: their
  queries run on a chDB handle that is itself readonly=1, and settings changes are refused but
  for CHANGEABLE_IN_READONLY. Without users: `default`, no password, loopback hosts only.
* errors as ClickHouse sends them: `Code: N. DB::Exception: ...` with status 400/403/404/500
  and the `X-ClickHouse-Exception-Code` header.

Not supported: sessions (`session_id` is ignored), external data / multipart bodies,
`compress=1`/`decompress=1` (ClickHouse's own block compression: clickhouse-go with LZ4/ZSTD
over HTTP; Grafana's plugin uses gzip there, which needs nothing), streaming of results (each
result is materialized).

Why Starlette on uvicorn rather than a hand-written asyncio server: clickhouse-connect streams
inserts with chunked transfer encoding and keeps connections alive; uvicorn's HTTP/1.1 parser
already handles both correctly, and both libraries are already dependencies (the operator API).

Every engine call runs on the ClickHouse engine thread (csms.infra.clickhouse.ClickHouse.run),
the same single thread the sink inserts on, so the two never touch chDB concurrently; a long
analyst query therefore delays the sink's next insert (Kafka holds the events meanwhile).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import gzip
import hashlib
import hmac
import ipaddress
import logging
import os
import re
import socket
import tempfile
import uuid
import zlib
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import lz4.frame
import orjson
import uvicorn
import zstandard
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from csms.infra.clickhouse import ClickHouse
from services.analytics import metrics
from services.analytics.native import UnsupportedType, reframe

log = logging.getLogger(__name__)

DEFAULT_FORMAT: Final = "TabSeparated"
DISPLAY_NAME: Final = "csms-chdb"

# Parameters of the HTTP interface itself (or of ClickHouse features chDB lacks), never settings.
TRANSPORT_PARAMS: Final = frozenset(
    {
        "query", "database", "default_format", "user", "password", "quota_key", "query_id",
        "session_id", "session_timeout", "session_check", "compress", "decompress",
        "buffer_size", "wait_end_of_query", "client_protocol_version", "role",
        "send_progress_in_http_headers", "http_headers_progress_interval_ms",
        "enable_http_compression", "http_zlib_compression_level",
        "cancel_http_readonly_queries_on_client_close", "http_response_buffer_size",
        # Enforced by statement kind instead (below): SET on the shared handle would make it
        # refuse the `SET ... = DEFAULT` that resets the next request's settings.
        "readonly",
    }
)  # fmt: skip
READ_ONLY_KEYWORDS: Final = frozenset(
    {"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXISTS", "EXPLAIN"}
)

# ClickHouse error codes used here, and the HTTP status ClickHouse answers them with.
SYNTAX_ERROR: Final = 62
BAD_ARGUMENTS: Final = 36
NOT_IMPLEMENTED: Final = 48
UNKNOWN_SETTING: Final = 115
UNKNOWN_COMPRESSION_METHOD: Final = 89
CANNOT_DECOMPRESS: Final = 271
READONLY: Final = 164
AUTHENTICATION_FAILED: Final = 516
STD_EXCEPTION: Final = 1001
_BAD_REQUEST: Final = frozenset({6, 26, 27, 36, 41, 53, 62, 72, 89, 117, 271})
_NOT_FOUND: Final = frozenset({46, 47, 50, 56, 60, 63, 73, 78, 81, 115})
_ERROR_NAMES: Final = {
    SYNTAX_ERROR: "SYNTAX_ERROR",
    BAD_ARGUMENTS: "BAD_ARGUMENTS",
    NOT_IMPLEMENTED: "NOT_IMPLEMENTED",
    UNKNOWN_SETTING: "UNKNOWN_SETTING",
    UNKNOWN_COMPRESSION_METHOD: "UNKNOWN_COMPRESSION_METHOD",
    CANNOT_DECOMPRESS: "CANNOT_DECOMPRESS",
    READONLY: "READONLY",
    AUTHENTICATION_FAILED: "AUTHENTICATION_FAILED",
    STD_EXCEPTION: "STD_EXCEPTION",
}

_CONTENT_TYPES: Final = {
    "TabSeparated": "text/tab-separated-values; charset=UTF-8",
    "TSV": "text/tab-separated-values; charset=UTF-8",
    "CSV": "text/csv; charset=UTF-8; header=absent",
    "CSVWithNames": "text/csv; charset=UTF-8; header=present",
    "JSON": "application/json; charset=UTF-8",
    "JSONCompact": "application/json; charset=UTF-8",
    "JSONEachRow": "application/x-ndjson; charset=UTF-8",
}
_BINARY_TYPE: Final = "application/octet-stream"
_TEXT_TYPE: Final = "text/plain; charset=UTF-8"
_BINARY_FORMATS: Final = frozenset(
    {"Native", "RowBinary", "RowBinaryWithNames", "RowBinaryWithNamesAndTypes", "Arrow",
     "ArrowStream", "Parquet", "ORC", "Avro", "MsgPack", "Npy"}
)  # fmt: skip

# Leading comments / whitespace / parentheses, then the statement's first keyword.
_KEYWORD = re.compile(rb"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*([A-Za-z]+)", re.S)
# `INSERT INTO ... FORMAT <name>` and the single line break that ends it: the data follows.
_INSERT_FORMAT = re.compile(
    rb"^(\s*INSERT\s+INTO\s.*?)\bFORMAT\s+(\w+)[ \t]*(?:\r?\n)?", re.I | re.S
)
_SETTINGS_CLAUSE = re.compile(rb"\bSETTINGS\b", re.I)
_TRAILING_FORMAT = re.compile(rb"\bFORMAT\s+(\w+)\s*;?\s*$", re.I)
_ERROR_CODE = re.compile(r"Code: (\d+)\.")


# -- pure request handling ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueryRequest:
    method: str
    params: Mapping[str, str]
    body: bytes = b""
    readonly: bool = False  # the authenticated user is readonly (readonly=1)


@dataclass(slots=True)
class QueryReply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class EndpointError(Exception):
    """A request ClickHouse would refuse, with the ClickHouse error code it would use."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def http_status(code: int) -> int:
    if code in _BAD_REQUEST:
        return 400
    if code in _NOT_FOUND:
        return 404
    if code == NOT_IMPLEMENTED:
        return 501
    if code == AUTHENTICATION_FAILED:
        return 403  # ClickHouse's HTTPHandler: 516 -> HTTP_FORBIDDEN (194 REQUIRED_PASSWORD -> 401)
    return 500


def error_reply(code: int, message: str, query_id: str = "") -> QueryReply:
    """A ClickHouse-shaped error: `Code: N. DB::Exception: ...` (unless already so shaped)."""
    if not message.startswith("Code: "):
        name = _ERROR_NAMES.get(code)
        suffix = f" ({name})" if name else ""
        message = f"Code: {code}. DB::Exception: {message}{suffix}"
    headers = {"X-ClickHouse-Exception-Code": str(code), "Content-Type": _TEXT_TYPE}
    if query_id:
        headers["X-ClickHouse-Query-Id"] = query_id
    return QueryReply(http_status(code), message.rstrip("\n").encode() + b"\n", headers)


def engine_error(exc: Exception) -> tuple[int, str]:
    """(code, message) of a chDB exception, whose text embeds ClickHouse's own message."""
    text = str(exc)
    start = text.find("Code: ")
    message = text[start:].strip() if start >= 0 else text.strip()
    match = _ERROR_CODE.match(message)
    return (int(match[1]) if match else STD_EXCEPTION), message


def compose_query(query_param: str, body: bytes) -> bytes:
    """ClickHouse's rule: the `query` parameter, a line feed, then the body."""
    if query_param and body:
        return query_param.encode() + b"\n" + body
    return query_param.encode() if query_param else body


def statement_keyword(sql: bytes) -> str:
    match = _KEYWORD.match(sql[:4096])
    return match[1].decode().upper() if match else ""


def output_format(sql: bytes, default: str) -> str:
    match = _TRAILING_FORMAT.search(sql[-256:])
    return match[1].decode() if match else default


def content_type(fmt: str) -> str:
    if fmt in _CONTENT_TYPES:
        return _CONTENT_TYPES[fmt]
    return _BINARY_TYPE if fmt in _BINARY_FORMATS else _TEXT_TYPE


@dataclass(frozen=True, slots=True)
class InsertWithData:
    """`INSERT ... FORMAT X` + data: `statement(path)` reads the data from a file instead."""

    head: bytes  # `INSERT INTO t (cols)`, without SETTINGS / FORMAT
    settings: bytes  # ` SETTINGS ...` of the statement, or b""
    fmt: str
    data: bytes

    def statement(self, path: str) -> str:
        quoted = path.replace("\\", "\\\\").replace("'", "\\'")
        return (
            f"{self.head.decode()} FROM INFILE '{quoted}'{self.settings.decode()} FORMAT {self.fmt}"
        )


def split_insert(sql: bytes) -> InsertWithData | None:
    """Split `INSERT INTO ... FORMAT X\\n<data>`; None for any other statement (VALUES, SELECT)."""
    match = _INSERT_FORMAT.match(sql)
    if match is None:
        return None
    head = match[1].rstrip()
    settings = b""
    clause = _SETTINGS_CLAUSE.search(head)
    if clause is not None:
        head, settings = head[: clause.start()].rstrip(), b" " + head[clause.start() :]
    return InsertWithData(head, settings, match[2].decode(), sql[match.end() :])


def decode_body(body: bytes, encoding: str) -> bytes:
    """Undo a request's Content-Encoding (ClickHouse's HTTP compression methods)."""
    encoding = encoding.strip().lower()
    try:
        if encoding in ("", "identity"):
            return body
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if encoding == "deflate":
            return zlib.decompress(body)
        if encoding == "br":
            return _brotli_decompress(body)
        if encoding == "zstd":
            with zstandard.ZstdDecompressor().stream_reader(body) as reader:
                return reader.read()
        if encoding == "lz4":
            return bytes(lz4.frame.decompress(body))
    except EndpointError:
        raise
    except Exception as exc:  # every codec raises its own error types
        raise EndpointError(CANNOT_DECOMPRESS, f"Cannot decompress {encoding} body: {exc}") from exc
    raise EndpointError(UNKNOWN_COMPRESSION_METHOD, f"Unknown HTTP Content-Encoding: {encoding}")


def _brotli_decompress(body: bytes) -> bytes:
    try:
        import brotli  # optional: not a declared dependency of the CSMS
    except ImportError as exc:
        raise EndpointError(UNKNOWN_COMPRESSION_METHOD, "br needs the brotli package") from exc
    return bytes(brotli.decompress(body))


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _quote_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- users ----------------------------------------------------------------------------------------

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
# Reads the engine allows at readonly=1 that still reach the host: the file() function and
# SELECT ... INTO OUTFILE (clickhouse-local serves them; a server would not for such a user).
_HOST_ACCESS = re.compile(rb"\bINTO\s+OUTFILE\b|\bfile\s*\(", re.I)


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


# -- the engine side ----------------------------------------------------------------------------


class _Handle:
    """One chDB connection handle and the `USE`/`SET` state it carries between requests."""

    def __init__(self, path: str, *, readonly: bool) -> None:
        # Imported here: chDB is the local mode's engine only (the `local` extra), not part of
        # the production image, which talks to a ClickHouse server over HTTP.
        import chdb

        self.conn: Any = chdb.connect(path)  # type: ignore[no-untyped-call]
        self.readonly = readonly
        self.database = "default"
        self.applied: dict[str, str] = {}
        if readonly:
            # The engine then enforces readonly=1 itself (statements, table functions, SETTINGS
            # clauses), and nothing a request sends can lift it on this handle.
            self.conn.query("SET readonly = 1", DEFAULT_FORMAT)

    def use(self, database: str) -> None:
        if database != self.database:
            self.conn.query(f"USE {_quote_identifier(database)}", DEFAULT_FORMAT)
            self.database = database

    def apply(self, wanted: Mapping[str, str]) -> None:
        for name in [n for n in self.applied if n not in wanted]:
            self.conn.query(f"SET {name} = DEFAULT", DEFAULT_FORMAT)
            del self.applied[name]
        for name, value in wanted.items():
            if self.applied.get(name) != value:
                self.conn.query(f"SET {name} = {_quote_value(value)}", DEFAULT_FORMAT)
                self.applied[name] = value


class LocalEngine:
    """chDB connection handles serving HTTP requests. Call only on the engine thread.

    The handles are this endpoint's own (chDB allows many handles to the one engine of a
    process), so the `USE` and `SET` state they carry between requests never leaks into the
    sink's client: one read-write handle, and one readonly=1 handle (opened on first use) for
    readonly users. Settings are applied lazily: a request's settings are SET only where they
    differ from the previous request's, and reset to DEFAULT when a request drops them, so a
    client sending the same settings every time costs no extra engine calls.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._rw = _Handle(path, readonly=False)
        self._ro: _Handle | None = None
        rows = self._rw.conn.query("SELECT name, value FROM system.settings", "TabSeparated")
        self._defaults = dict(
            line.split("\t", 1) for line in rows.bytes().decode().splitlines() if "\t" in line
        )
        self._known_settings = frozenset(self._defaults)
        self.timezone = self._rw.conn.query("SELECT timezone()", "TabSeparated").bytes().decode()
        self.timezone = self.timezone.strip() or "UTC"

    def close(self) -> None:
        for handle in (self._rw, self._ro):
            if handle is not None:
                handle.conn.close()

    def _handle(self, readonly: bool) -> _Handle:
        if not readonly:
            return self._rw
        if self._ro is None:
            self._ro = _Handle(self._path, readonly=True)
        return self._ro

    def execute(self, request: QueryRequest) -> QueryReply:
        query_id = request.params.get("query_id") or str(uuid.uuid4())
        try:
            reply = self._execute(request, query_id)
        except EndpointError as exc:
            metrics.HTTP_QUERIES.labels("error").inc()
            return error_reply(exc.code, str(exc), query_id)
        except Exception as exc:  # noqa: BLE001 - chDB raises plain RuntimeErrors
            metrics.HTTP_QUERIES.labels("error").inc()
            code, message = engine_error(exc)
            return error_reply(code, message, query_id)
        metrics.HTTP_QUERIES.labels("ok").inc()
        return reply

    def _execute(self, request: QueryRequest, query_id: str) -> QueryReply:
        params = request.params
        if params.get("decompress") == "1" or params.get("compress") == "1":
            raise EndpointError(NOT_IMPLEMENTED, "ClickHouse block compression is not supported")
        revision = protocol_revision(params)
        sql = compose_query(params.get("query", ""), request.body)
        keyword = statement_keyword(sql)
        if not keyword:
            raise EndpointError(SYNTAX_ERROR, "Empty query")
        check_readonly(request, keyword, sql)
        handle = self._handle(request.readonly)
        handle.use(params.get("database") or "default")
        handle.apply(self._settings(params, readonly=request.readonly))
        bind = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        default_format = params.get("default_format") or DEFAULT_FORMAT
        insert = split_insert(sql) if keyword == "INSERT" else None
        if insert is not None:
            result = self._insert_from_file(handle, insert, bind)
            fmt = ""
        else:
            text = sql.decode("utf-8", errors="strict")
            result = handle.conn.query(text, default_format, params=bind)
            has_result = keyword in READ_ONLY_KEYWORDS
            fmt = output_format(sql, default_format) if has_result else ""
        return self._reply(result, fmt, query_id, revision)

    def _insert_from_file(
        self, handle: _Handle, insert: InsertWithData, bind: dict[str, str]
    ) -> Any:
        # chDB reads insert data from a file (as clickhouse_connect's own chDB backend does):
        # binary formats cannot travel inside the SQL text.
        fd, path = tempfile.mkstemp(suffix=".insert")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(insert.data)
            return handle.conn.query(insert.statement(path), DEFAULT_FORMAT, params=bind)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _reply(self, result: Any, fmt: str, query_id: str, revision: int) -> QueryReply:
        body = result.bytes() or b""
        if fmt == "Native" and revision:
            try:
                body = reframe(body, revision)
            except UnsupportedType as exc:
                raise EndpointError(NOT_IMPLEMENTED, f"{exc} (client_protocol_version)") from exc
        summary = {
            "read_rows": str(result.rows_read()),
            "read_bytes": str(result.bytes_read()),
            "written_rows": str(result.rows_written()),
            "written_bytes": str(result.bytes_written()),
            "total_rows_to_read": str(result.rows_read()),
            "result_rows": str(result.rows_read()) if fmt else "0",
            "result_bytes": str(len(body)),
            "elapsed_ns": str(int(result.elapsed() * 1e9)),
        }
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Timezone": self.timezone,
            "X-ClickHouse-Server-Display-Name": DISPLAY_NAME,
            "X-ClickHouse-Summary": orjson.dumps(summary).decode(),
            "Content-Type": content_type(fmt) if fmt else _TEXT_TYPE,
        }
        if fmt:
            # clickhouse_connect's command() tells a result set from a DDL by this header.
            headers["X-ClickHouse-Format"] = fmt
        return QueryReply(200, body, headers)

    def _settings(self, params: Mapping[str, str], *, readonly: bool) -> dict[str, str]:
        """The request's settings to SET; readonly=1 rules for readonly users."""
        wanted: dict[str, str] = {}
        for name, value in params.items():
            if name in TRANSPORT_PARAMS or name.startswith("param_"):
                continue
            if name not in self._known_settings:
                raise EndpointError(UNKNOWN_SETTING, f"Unknown setting '{name}'")
            if not readonly:
                wanted[name] = value
            elif value != self._defaults[name] and name not in CHANGEABLE_IN_READONLY:
                # As ClickHouse: setting a value equal to the current one is no change.
                raise EndpointError(READONLY, f"Cannot modify '{name}' setting in readonly mode")
        return wanted


def protocol_revision(params: Mapping[str, str]) -> int:
    raw = params.get("client_protocol_version", "0") or "0"
    try:
        return max(0, int(raw))
    except ValueError as exc:
        raise EndpointError(BAD_ARGUMENTS, f"Invalid client_protocol_version: {raw!r}") from exc


def check_readonly(request: QueryRequest, keyword: str, sql: bytes) -> None:
    """ClickHouse's readonly rules: GET, `readonly` parameter, readonly users (readonly=1)."""
    readonly_param = request.params.get("readonly", "0") != "0"
    if keyword not in READ_ONLY_KEYWORDS:
        if request.method == "GET":
            raise EndpointError(
                READONLY,
                "Cannot execute query in readonly mode. For queries over HTTP, method GET "
                "implies readonly. You should use method POST for modifying queries",
            )
        if readonly_param or request.readonly:
            raise EndpointError(READONLY, "Cannot execute query in readonly mode")
    if request.readonly and _HOST_ACCESS.search(sql):
        raise EndpointError(READONLY, "file() and INTO OUTFILE are forbidden in readonly mode")


# -- the HTTP side ------------------------------------------------------------------------------

_LARGE_BODY = 256 * 1024


def make_app(
    clickhouse: ClickHouse, engine: LocalEngine | None, users: Users | None = None
) -> Starlette:
    """The endpoint's ASGI app; without an engine (server mode) only /ping and /metrics.

    Queries authenticate against `users` (Users.open(): `default` without password)."""
    known = users if users is not None else Users.open()

    async def ping(request: Request) -> Response:
        return PlainTextResponse("Ok.\n")

    async def prometheus(request: Request) -> Response:
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)

    async def query(request: Request) -> Response:
        params = dict(request.query_params)
        if engine is None:
            reply = error_reply(
                NOT_IMPLEMENTED, "no embedded engine here: query ClickHouse directly"
            )
        elif request.method == "GET" and "query" not in params:
            reply = QueryReply(200, b"Ok.\n", {"Content-Type": _TEXT_TYPE})
        else:
            reply = await _handle(request, params, clickhouse, engine, known)
        return Response(reply.body, status_code=reply.status, headers=reply.headers)

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
            Route("/", query, methods=["GET", "POST"]),
        ]
    )


async def _handle(
    request: Request,
    params: dict[str, str],
    clickhouse: ClickHouse,
    engine: LocalEngine,
    users: Users,
) -> QueryReply:
    try:
        user = users.authenticate(*credentials(request.headers, params))
    except EndpointError as exc:
        metrics.HTTP_QUERIES.labels("error").inc()
        return error_reply(exc.code, str(exc))
    body = await request.body()
    encoding = request.headers.get("content-encoding", "")
    try:
        if encoding and len(body) > _LARGE_BODY:
            # Off the event loop, but not on the engine thread: the sink need not wait for it.
            body = await asyncio.to_thread(decode_body, body, encoding)
        else:
            body = decode_body(body, encoding)
    except EndpointError as exc:
        metrics.HTTP_QUERIES.labels("error").inc()
        return error_reply(exc.code, str(exc))
    query = QueryRequest(request.method, params, body, readonly=user.readonly)
    return await clickhouse.run(engine.execute, query)


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the analytics process owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind before serving, so a busy port is an ordinary OSError here (uvicorn would exit)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def make_server(app: Starlette, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    return _Server(config)
