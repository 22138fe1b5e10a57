"""Requests handed to the ASGI app exactly as uvicorn builds them from the request line: the raw
path as sent, and `path` its percent-decoding with nothing normalized. An HTTP client would
resolve `..` segments and re-encode before sending, which is the point of tests that send them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import orjson
from starlette.types import ASGIApp, Message


@dataclass(frozen=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def raw_request(
    app: ASGIApp,
    method: str,
    raw_target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    client: tuple[str, int] = ("127.0.0.1", 50000),
) -> RawAnswer:
    """`method raw_target` (path and query as they would appear on the request line)."""
    raw_path, _, query = raw_target.partition("?")
    sent = dict(headers or {})
    if body:
        sent.setdefault("content-type", "application/json")
        sent["content-length"] = str(len(body))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method.upper(),
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode("latin-1"),
        "root_path": "",
        "query_string": query.encode("latin-1"),
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in sent.items()],
        "client": client,
        "server": ("api.test", 80),
    }
    incoming = [{"type": "http.request", "body": body, "more_body": False}]
    sent_messages: list[Message] = []

    async def receive() -> Message:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent_messages.append(message)

    try:
        await app(scope, receive, send)
    except Exception:
        # Starlette answers 500 first, then re-raises for the server to log: keep the answer.
        if not any(m["type"] == "http.response.start" for m in sent_messages):
            raise
    start = next(m for m in sent_messages if m["type"] == "http.response.start")
    answer_headers = {k.decode().lower(): v.decode("latin-1") for k, v in start["headers"]}
    content = b"".join(
        m.get("body", b"") for m in sent_messages if m["type"] == "http.response.body"
    )
    return RawAnswer(int(start["status"]), answer_headers, content)
