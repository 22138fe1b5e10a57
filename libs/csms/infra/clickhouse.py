"""ClickHouse client factory: one code path for embedded chDB (local) and a server (production).

`CLICKHOUSE_URL` selects the engine:

* `chdb:///abs/path` - embedded chDB, data under that directory. chDB hosts one engine per
  process, so only one process may own a path (locally: the analytics sink), and its calls
  block: they must not run on the event loop.
* `http[s]://[user:pass@]host[:port][/database]` - a ClickHouse server over HTTP.

Everything above this module uses the clickhouse_connect `Client` API and never looks at which
engine is behind it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import ParamSpec, TypeVar
from urllib.parse import unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client

P = ParamSpec("P")
T = TypeVar("T")

CHDB_SCHEME = "chdb"
_DEFAULT_PORTS = {"http": 8123, "https": 8443}


def is_embedded(url: str) -> bool:
    """True when `url` names an embedded chDB engine rather than a ClickHouse server."""
    return urlsplit(url).scheme == CHDB_SCHEME


def chdb_path(url: str) -> str:
    """The canonical data directory of a `chdb:///abs/path` URL.

    chDB compares engine paths literally, so every opener must use the same spelling: this is
    the one clickhouse_connect uses (realpath).
    """
    parts = urlsplit(url)
    if parts.scheme != CHDB_SCHEME:
        raise ValueError(f"not a chdb:// URL: {url!r}")
    if parts.netloc or not parts.path.startswith("/"):
        raise ValueError(f"chdb URL must be chdb:///absolute/path, got {url!r}")
    return os.path.realpath(unquote(parts.path))


def make_client(url: str) -> Client:
    """A clickhouse_connect client for `url` (see the module docstring for the forms)."""
    parts = urlsplit(url)
    if parts.scheme == CHDB_SCHEME:
        path = chdb_path(url)
        Path(path).mkdir(parents=True, exist_ok=True)
        return clickhouse_connect.get_client(dsn=f"chdb://{path}")
    if parts.scheme not in _DEFAULT_PORTS:
        raise ValueError(f"unsupported ClickHouse URL scheme {parts.scheme!r} in {url!r}")
    database = parts.path.strip("/")
    return clickhouse_connect.get_client(
        interface=parts.scheme,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or _DEFAULT_PORTS[parts.scheme],
        username=unquote(parts.username) if parts.username else "default",
        password=unquote(parts.password) if parts.password else "",
        database=database or None,
    )


class ClickHouse:
    """A client whose blocking calls run one at a time on one dedicated thread.

    One worker thread *is* the lock chDB needs: every engine call (sink inserts, the local HTTP
    endpoint's queries) is serialized in submission order and never blocks the event loop. Unlike
    a lock taken around `asyncio.to_thread`, a cancelled caller cannot let a second call slip
    in while the first still runs in its thread, and waiting callers hold no threads.
    """

    def __init__(self, url: str, client: Client, executor: ThreadPoolExecutor) -> None:
        self.url = url
        self.client = client
        self._executor = executor

    @classmethod
    async def open(cls, url: str) -> ClickHouse:
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        try:
            loop = asyncio.get_running_loop()
            client = await loop.run_in_executor(executor, make_client, url)
        except BaseException:
            executor.shutdown(wait=True)
            raise
        return cls(url, client, executor)

    @property
    def embedded(self) -> bool:
        return is_embedded(self.url)

    async def run(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a blocking engine call on the engine thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, partial(fn, *args, **kwargs))

    async def close(self) -> None:
        """Close the client on its own thread, then stop the thread (waits for queued calls)."""
        try:
            await self.run(self.client.close)
        finally:
            await asyncio.to_thread(self._executor.shutdown, wait=True)
