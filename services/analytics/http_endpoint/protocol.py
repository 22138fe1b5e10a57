"""The HTTP/SQL protocol of ClickHouse's HTTP interface, as pure functions over a request.

Parameters and settings, statement kinds and readonly rules, output formats and content types,
`INSERT ... FORMAT X` bodies, Content-Encoding, and errors shaped as ClickHouse sends them.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import lz4.frame
import zstandard

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
            with zstandard.ZstdDecompressor().stream_reader(body, read_across_frames=True) as r:
                return r.read()
        if encoding == "lz4":
            return _lz4_decompress(body)
    except EndpointError:
        raise
    except Exception as exc:  # every codec raises its own error types
        raise EndpointError(CANNOT_DECOMPRESS, f"Cannot decompress {encoding} body: {exc}") from exc
    raise EndpointError(UNKNOWN_COMPRESSION_METHOD, f"Unknown HTTP Content-Encoding: {encoding}")


def _lz4_decompress(body: bytes) -> bytes:
    """Every LZ4 frame of the body, one after another. A streaming client (clickhouse-connect
    inserting a large batch) sends one frame per chunk, and `lz4.frame.decompress` returns
    only the first: a `make chaos` run found the rest of each large insert silently dropped
    (4,507 of 100,814 frames missing after ClickHouse came back). A cut frame is an error."""
    parts: list[bytes] = []
    rest = body
    while rest:
        decompressor = lz4.frame.LZ4FrameDecompressor()
        parts.append(decompressor.decompress(rest))
        if not decompressor.eof:
            raise EndpointError(CANNOT_DECOMPRESS, "Cannot decompress lz4 body: a frame is cut")
        rest = decompressor.unused_data
    return b"".join(parts)


def _brotli_decompress(body: bytes) -> bytes:
    try:
        import brotli  # optional: not a declared dependency of the CSMS
    except ImportError as exc:
        raise EndpointError(UNKNOWN_COMPRESSION_METHOD, "br needs the brotli package") from exc
    return bytes(brotli.decompress(body))


def protocol_revision(params: Mapping[str, str]) -> int:
    raw = params.get("client_protocol_version", "0") or "0"
    try:
        return max(0, int(raw))
    except ValueError as exc:
        raise EndpointError(BAD_ARGUMENTS, f"Invalid client_protocol_version: {raw!r}") from exc


def check_readonly(request: QueryRequest, keyword: str) -> None:
    """ClickHouse's readonly rules: GET, `readonly` parameter, readonly users (readonly=1).
    What a readonly user's statement reaches is checked on its parse (readonly_guard)."""
    readonly_param = request.params.get("readonly", "0") != "0"
    if request.readonly and request.params.get("readonly", "1") != "1":
        # As a server: a readonly=1 user may send readonly=1, never lift or loosen it.
        raise EndpointError(READONLY, "Cannot modify 'readonly' setting in readonly mode")
    if keyword not in READ_ONLY_KEYWORDS:
        if request.method == "GET":
            raise EndpointError(
                READONLY,
                "Cannot execute query in readonly mode. For queries over HTTP, method GET "
                "implies readonly. You should use method POST for modifying queries",
            )
        if readonly_param or request.readonly:
            raise EndpointError(READONLY, "Cannot execute query in readonly mode")
