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
* errors as ClickHouse sends them: `Code: N. DB::Exception: ...` with status 400/404/500 and
  the `X-ClickHouse-Exception-Code` header.

Not supported: sessions (`session_id` is ignored), external data / multipart bodies,
`compress=1`/`decompress=1` (ClickHouse's own block compression), streaming of results (each
result is materialized). There is no authentication: the endpoint binds to 127.0.0.1 by default.

Why Starlette on uvicorn rather than a hand-written asyncio server: clickhouse-connect streams
inserts with chunked transfer encoding and keeps connections alive; uvicorn's HTTP/1.1 parser
already handles both correctly, and both libraries are already dependencies (the operator API).

Every engine call runs on the ClickHouse engine thread (csms.infra.clickhouse.ClickHouse.run),
the same single thread the sink inserts on, so the two never touch chDB concurrently; a long
analyst query therefore delays the sink's next insert (Kafka holds the events meanwhile).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import re
import socket
import tempfile
import uuid
import zlib
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import chdb
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


# -- the engine side ----------------------------------------------------------------------------


class LocalEngine:
    """A chDB connection handle serving HTTP requests. Call only on the engine thread.

    The handle is this endpoint's own (chDB allows many handles to the one engine of a
    process), so the `USE` and `SET` state it carries between requests never leaks into the
    sink's client. Settings are applied lazily: a request's settings are SET only where they
    differ from the previous request's, and reset to DEFAULT when a request drops them, so a
    client sending the same settings every time costs no extra engine calls.
    """

    def __init__(self, path: str) -> None:
        self._conn: Any = chdb.connect(path)  # type: ignore[no-untyped-call]
        self._database = "default"
        self._applied: dict[str, str] = {}
        self._known_settings = frozenset(
            self._conn.query("SELECT name FROM system.settings", "TabSeparated")
            .bytes()
            .decode()
            .split()
        )
        self.timezone = self._conn.query("SELECT timezone()", "TabSeparated").bytes().decode()
        self.timezone = self.timezone.strip() or "UTC"

    def close(self) -> None:
        self._conn.close()

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
        sql = compose_query(params.get("query", ""), request.body)
        keyword = statement_keyword(sql)
        if not keyword:
            raise EndpointError(SYNTAX_ERROR, "Empty query")
        if keyword not in READ_ONLY_KEYWORDS:
            if request.method == "GET":
                raise EndpointError(
                    READONLY,
                    "Cannot execute query in readonly mode. For queries over HTTP, method GET "
                    "implies readonly. You should use method POST for modifying queries",
                )
            if params.get("readonly", "0") != "0":
                raise EndpointError(READONLY, "Cannot execute query in readonly mode")
        self._use_database(params.get("database") or "default")
        self._apply_settings(params)
        bind = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        default_format = params.get("default_format") or DEFAULT_FORMAT
        insert = split_insert(sql) if keyword == "INSERT" else None
        if insert is not None:
            result = self._insert_from_file(insert, bind)
            fmt = ""
        else:
            text = sql.decode("utf-8", errors="strict")
            result = self._conn.query(text, default_format, params=bind)
            has_result = keyword in READ_ONLY_KEYWORDS
            fmt = output_format(sql, default_format) if has_result else ""
        return self._reply(result, fmt, query_id)

    def _insert_from_file(self, insert: InsertWithData, bind: dict[str, str]) -> Any:
        # chDB reads insert data from a file (as clickhouse_connect's own chDB backend does):
        # binary formats cannot travel inside the SQL text.
        fd, path = tempfile.mkstemp(suffix=".insert")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(insert.data)
            return self._conn.query(insert.statement(path), DEFAULT_FORMAT, params=bind)
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _reply(self, result: Any, fmt: str, query_id: str) -> QueryReply:
        body = result.bytes() or b""
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

    def _use_database(self, database: str) -> None:
        if database != self._database:
            self._conn.query(f"USE {_quote_identifier(database)}", DEFAULT_FORMAT)
            self._database = database

    def _apply_settings(self, params: Mapping[str, str]) -> None:
        wanted: dict[str, str] = {}
        for name, value in params.items():
            if name in TRANSPORT_PARAMS or name.startswith("param_"):
                continue
            if name not in self._known_settings:
                raise EndpointError(UNKNOWN_SETTING, f"Unknown setting '{name}'")
            wanted[name] = value
        for name in [n for n in self._applied if n not in wanted]:
            self._conn.query(f"SET {name} = DEFAULT", DEFAULT_FORMAT)
            del self._applied[name]
        for name, value in wanted.items():
            if self._applied.get(name) != value:
                self._conn.query(f"SET {name} = {_quote_value(value)}", DEFAULT_FORMAT)
                self._applied[name] = value


# -- the HTTP side ------------------------------------------------------------------------------

_LARGE_BODY = 256 * 1024


def make_app(clickhouse: ClickHouse, engine: LocalEngine | None) -> Starlette:
    """The endpoint's ASGI app; without an engine (server mode) only /ping and /metrics."""

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
            reply = await _handle(request, params, clickhouse, engine)
        return Response(reply.body, status_code=reply.status, headers=reply.headers)

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
            Route("/", query, methods=["GET", "POST"]),
        ]
    )


async def _handle(
    request: Request, params: dict[str, str], clickhouse: ClickHouse, engine: LocalEngine
) -> QueryReply:
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
    return await clickhouse.run(engine.execute, QueryRequest(request.method, params, body))


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
