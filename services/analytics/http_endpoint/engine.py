"""The chDB side: connection handles that execute the endpoint's queries and inserts."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from services.analytics import metrics
from services.analytics.http_endpoint.protocol import (
    _TEXT_TYPE,
    DEFAULT_FORMAT,
    DISPLAY_NAME,
    NOT_IMPLEMENTED,
    READ_ONLY_KEYWORDS,
    READONLY,
    SYNTAX_ERROR,
    TRANSPORT_PARAMS,
    UNKNOWN_SETTING,
    EndpointError,
    InsertWithData,
    QueryReply,
    QueryRequest,
    check_readonly,
    compose_query,
    content_type,
    engine_error,
    error_reply,
    output_format,
    protocol_revision,
    split_insert,
    statement_keyword,
)
from services.analytics.http_endpoint.readonly_guard import (
    FORMAT_QUERY,
    TABLE_FUNCTIONS_QUERY,
    check_statement,
    forbidden_functions,
)
from services.analytics.http_endpoint.users import CHANGEABLE_IN_READONLY
from services.analytics.native import UnsupportedType, reframe


def _quote_identifier(name: str) -> str:
    return "`" + name.replace("\\", "\\\\").replace("`", "\\`") + "`"


def _quote_value(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
        names = self._rw.conn.query(TABLE_FUNCTIONS_QUERY, "TabSeparated").bytes().decode()
        self._forbidden = forbidden_functions(names.split())
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
        check_readonly(request, keyword)
        handle = self._handle(request.readonly)
        if request.readonly:
            self._guard(handle, sql)
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

    def _guard(self, handle: _Handle, sql: bytes) -> None:
        """A readonly user's statement: one, and reaching nothing beyond the tables."""
        try:
            text = sql.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            raise EndpointError(SYNTAX_ERROR, "the query is not valid UTF-8") from exc

        def format_query(escaped: str) -> str:
            result = handle.conn.query(FORMAT_QUERY, "TSVRaw", params={"q": escaped})
            return str(result.bytes().decode())

        check_statement(text, format_query, self._forbidden)

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
            Path(path).unlink(missing_ok=True)

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
