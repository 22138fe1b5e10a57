"""OCPP-J over websocket-client, cooperative under gevent (Locust monkey-patches sockets).

One connection per charger. A receive greenlet hands CALLRESULT/CALLERROR frames to the call
waiting for their message id and CSMS CALLs to the charger's handler; every CALL the charger
sends is timed and reported to Locust with its action as the name.
"""

from __future__ import annotations

import base64
import contextlib
import json
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gevent
import websocket
from gevent.event import AsyncResult

from loadtests.locust_ocpp.answers import CallErrorAnswer
from loadtests.ocpp_payloads import Payload

# (request_type, name, response_time_ms, response_length, exception or None)
Reporter = Callable[[str, str, float, int, BaseException | None], None]
CallHandler = Callable[[str, Payload], Payload | CallErrorAnswer]

CONNECT_TYPE = "WS"
CONNECT_NAME = "connect"


class CallFailed(Exception):
    """The CSMS answered CALLERROR."""

    def __init__(self, code: str, description: str) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description


class CallTimeout(Exception):
    """No answer within the call timeout."""


class ConnectionLost(Exception):
    """The connection closed (or was dropped on purpose) while a call waited."""


@dataclass(frozen=True)
class TlsOptions:
    ca_file: str | None = None
    insecure: bool = False


def request_type(proto: str) -> str:
    """The statistics' "type" column: OCPP1.6, OCPP2.0.1, OCPP2.1."""
    return proto.replace("ocpp", "OCPP")


def basic_auth(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return f"Authorization: Basic {token}"


def sslopt(url: str, tls: TlsOptions) -> dict[str, Any] | None:
    if not url.startswith("wss://"):
        return None
    if tls.insecure:
        return {"cert_reqs": ssl.CERT_NONE, "check_hostname": False}
    return {"ca_certs": tls.ca_file} if tls.ca_file else {}


class Transport:
    """The charger's link to the CSMS (see charger.Link)."""

    def __init__(
        self,
        url: str,
        proto: str,
        report: Reporter,
        *,
        call_timeout_s: float = 30.0,
        password: str | None = None,
        tls: TlsOptions | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.proto = proto
        self.station = url.rstrip("/").rsplit("/", 1)[-1]
        self.on_call: CallHandler = lambda action, payload: CallErrorAnswer("NotImplemented")
        self.on_lost: Callable[[], None] = lambda: None
        self._report = report
        self._type = request_type(proto)
        self._call_timeout_s = call_timeout_s
        self._password = password
        self._tls = tls or TlsOptions()
        self._connect_timeout_s = connect_timeout_s
        self._ws: websocket.WebSocket | None = None
        self._reader: gevent.Greenlet | None = None
        self._pending: dict[str, AsyncResult] = {}
        self._deliberate = False

    @property
    def connected(self) -> bool:
        return self._ws is not None and self._ws.connected

    def connect(self) -> None:
        """Open the WebSocket (reported as "connect"); raises on failure."""
        header = [basic_auth(self.station, self._password)] if self._password else None
        started = time.perf_counter()
        try:
            ws = websocket.create_connection(
                self.url,
                timeout=self._connect_timeout_s,
                subprotocols=[self.proto],
                header=header,
                sslopt=sslopt(self.url, self._tls),
                enable_multithread=True,
            )
        except Exception as exc:
            self._report(CONNECT_TYPE, CONNECT_NAME, _ms(started), 0, exc)
            raise
        ws.settimeout(None)  # the reader blocks on recv; calls time out on their own
        self._report(CONNECT_TYPE, CONNECT_NAME, _ms(started), 0, None)
        self._ws = ws
        self._deliberate = False
        self._reader = gevent.spawn(self._read, ws)

    def close(self) -> None:
        """Close on purpose (reset, storm, end of test): waiting calls fail unreported."""
        self._deliberate = True
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):  # the socket may already be gone
                ws.close(timeout=1)
        self._fail_pending()
        if self._reader is not None and self._reader is not gevent.getcurrent():
            self._reader.kill(block=False)
        self._reader = None

    def call(self, action: str, payload: Payload) -> Payload:
        """Send a CALL and wait for its answer; the round trip is reported under `action`."""
        ws = self._ws
        if ws is None or not ws.connected:
            raise ConnectionLost("not connected")
        uid = uuid.uuid4().hex
        waiter: AsyncResult = AsyncResult()
        self._pending[uid] = waiter
        text = json.dumps([2, uid, action, payload], separators=(",", ":"))
        started = time.perf_counter()
        try:
            ws.send(text)
            kind, body, length = waiter.get(timeout=self._call_timeout_s)
        except gevent.Timeout:
            exc = CallTimeout(f"{action}: no answer in {self._call_timeout_s:g} s")
            self._report(self._type, action, _ms(started), 0, exc)
            raise exc from None
        except ConnectionLost as lost:
            if not self._deliberate:
                self._report(self._type, action, _ms(started), 0, lost)
            raise
        except websocket.WebSocketException as err:
            gone = ConnectionLost(f"{action}: {err}")
            self._report(self._type, action, _ms(started), 0, gone)
            raise gone from err
        finally:
            self._pending.pop(uid, None)
        if kind == 4:
            failed = CallFailed(body[0], body[1])
            self._report(self._type, action, _ms(started), length, failed)
            raise failed
        self._report(self._type, action, _ms(started), length, None)
        return dict(body[0])

    def _read(self, ws: websocket.WebSocket) -> None:
        try:
            while True:
                text = ws.recv()
                if not text:
                    break
                self._dispatch(ws, str(text))
        except Exception:  # any read error means the connection is gone
            pass
        if self._ws is ws:
            self._ws = None
            self._fail_pending()
            self.on_lost()

    def _dispatch(self, ws: websocket.WebSocket, text: str) -> None:
        frame = json.loads(text)
        kind, uid = frame[0], frame[1]
        if kind in (3, 4):
            waiter = self._pending.get(uid)
            if waiter is not None:
                body = [frame[2]] if kind == 3 else [frame[2], frame[3]]
                waiter.set((kind, body, len(text)))
            return
        if kind == 2:
            self._answer(ws, uid, frame[2], frame[3])

    def _answer(self, ws: websocket.WebSocket, uid: str, action: str, payload: Payload) -> None:
        started = time.perf_counter()
        answer = self.on_call(action, payload)
        if isinstance(answer, CallErrorAnswer):
            frame: list[Any] = [4, uid, answer.code, answer.description, {}]
            name = f"{action} ({answer.code})"
        else:
            frame = [3, uid, answer]
            name = action
        text = json.dumps(frame, separators=(",", ":"))
        ws.send(text)
        # Answered CSMS calls get their own rows: "CSMS-OCPP1.6 Reset" and so on.
        self._report(f"CSMS-{self._type}", name, _ms(started), len(text), None)

    def _fail_pending(self) -> None:
        for waiter in list(self._pending.values()):
            if not waiter.ready():
                waiter.set_exception(ConnectionLost("connection closed"))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0
