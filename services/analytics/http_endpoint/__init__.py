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

from services.analytics.http_endpoint.app import bind_socket, make_app, make_server
from services.analytics.http_endpoint.engine import LocalEngine
from services.analytics.http_endpoint.protocol import (
    EndpointError,
    compose_query,
    decode_body,
    error_reply,
    output_format,
    split_insert,
    statement_keyword,
)
from services.analytics.http_endpoint.users import (
    Users,
    UsersConfigError,
    check_bind,
    credentials,
    password_sha256,
)

__all__ = [
    "EndpointError",
    "LocalEngine",
    "Users",
    "UsersConfigError",
    "bind_socket",
    "check_bind",
    "compose_query",
    "credentials",
    "decode_body",
    "error_reply",
    "make_app",
    "make_server",
    "output_format",
    "password_sha256",
    "split_insert",
    "statement_keyword",
]
