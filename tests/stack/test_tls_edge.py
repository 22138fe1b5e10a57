"""Security profiles 2 and 3 end to end, as on Kubernetes (docs/kubernetes.md "TLS"): a real nginx
terminates TLS in front of a real gateway process, configured as ingress-nginx is by the
annotations of k8s/base/gateway/ingress.yaml (verify-client optional against the station CA, the
verdict and the subject DN forwarded in ssl-client-verify / ssl-client-subject-dn). Stations are
real WebSocket clients with real certificates made by openssl for this test.

Gateway on 19797, nginx on 19798, Redis DB 3, its own topic prefix.
"""

from __future__ import annotations

import base64
import shutil
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from tests.stack.gateway_process import (
    gateway_env,
    register_stations,
    start_gateway,
    stop_processes,
)

pytestmark = pytest.mark.stack

GATEWAY_PORT = 19797
TLS_PORT = 19798
REDIS_URL = "redis://127.0.0.1:6379/3"
KAFKA = "127.0.0.1:9092"
PASSWORD = "tls-edge-password-0123456789"
STATIONS = ["TLS-P3", "TLS-P2"]

NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  server {{
    listen 127.0.0.1:{tls_port} ssl;
    ssl_certificate {tmp}/server.crt;
    ssl_certificate_key {tmp}/server.key;
    # auth-tls-secret + auth-tls-verify-client: "optional" + auth-tls-verify-depth: "3"
    ssl_client_certificate {tmp}/station-ca.crt;
    ssl_verify_client optional;
    ssl_verify_depth 3;
    location /ocpp {{
      proxy_pass http://127.0.0.1:{gateway_port};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      # What ingress-nginx sets with auth-tls-*: replaces any such header a client sends.
      proxy_set_header ssl-client-verify $ssl_client_verify;
      proxy_set_header ssl-client-subject-dn $ssl_client_s_dn;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
    }}
  }}
}}
"""


@dataclass(frozen=True)
class Edge:
    folder: Path

    def url(self, station: str) -> str:
        return f"wss://127.0.0.1:{TLS_PORT}/ocpp/{station}"

    def tls(self, client: str | None = None) -> ssl.SSLContext:
        """Trusts the server's CA; presents `client`'s certificate when given."""
        context = ssl.create_default_context(cafile=str(self.folder / "server-ca.crt"))
        if client is not None:
            context.load_cert_chain(self.folder / f"{client}.crt", self.folder / f"{client}.key")
        return context


def _openssl(folder: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)


def _make_ca(folder: Path, name: str) -> None:
    subject = f"/O=CSMS test/CN={name}"
    _openssl(folder, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", subject, "-keyout", f"{name}.key", "-out", f"{name}.crt")  # fmt: skip


def _make_cert(folder: Path, name: str, subject: str, ca: str, extensions: str = "") -> None:
    _openssl(folder, "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject,
             "-keyout", f"{name}.key", "-out", f"{name}.csr")  # fmt: skip
    (folder / f"{name}.ext").write_text(extensions)
    _openssl(folder, "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.crt", "-CAkey",
             f"{ca}.key", "-CAcreateserial", "-days", "2", "-out", f"{name}.crt",
             "-extfile", f"{name}.ext")  # fmt: skip


def _certificates(folder: Path) -> None:
    """A server CA and the server's certificate; the station CA and stations' certificates
    (the CN is the station id, OCPP 2.0.1 A00); and a CA the proxy does not trust."""
    _make_ca(folder, "server-ca")
    _make_cert(folder, "server", "/CN=127.0.0.1", "server-ca",
               "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")  # fmt: skip
    _make_ca(folder, "station-ca")
    client = "extendedKeyUsage=clientAuth\n"
    _make_cert(folder, "p3", "/O=Example CPO/CN=TLS-P3", "station-ca", client)
    _make_cert(folder, "other", "/O=Example CPO/CN=TLS-OTHER", "station-ca", client)
    _make_ca(folder, "rogue-ca")
    _make_cert(folder, "rogue", "/O=Rogue/CN=TLS-P3", "rogue-ca", client)


def _nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not found:
        raise FileNotFoundError("nginx is missing: run `deploy/local/stack.sh install k8s`")
    return found


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    folder = Path(tmp_path_factory.mktemp("tls-edge"))
    _certificates(folder)
    redis = register_stations(REDIS_URL, STATIONS, PASSWORD)
    env = gateway_env(
        "gw-tls-edge", GATEWAY_PORT, redis_url=REDIS_URL, kafka=KAFKA,
        prefix=f"test-{uuid.uuid4().hex[:8]}.",
        GATEWAY_ADMISSION="closed", GATEWAY_CLIENT_CERT="optional", GATEWAY_DRAIN_WINDOW_S="0.5",
    )  # fmt: skip
    gateway = start_gateway(env, folder / "gateway.log")
    conf = folder / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=folder, tls_port=TLS_PORT, gateway_port=GATEWAY_PORT))
    nginx = subprocess.Popen(
        [_nginx(), "-c", str(conf), "-e", str(folder / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(TLS_PORT, nginx, folder / "error.log")
        yield Edge(folder)
    finally:
        stop_processes(nginx, gateway)
        redis.flushdb()
        redis.close()


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text() if log.exists() else "nginx exited"
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"nginx never listened on {port}")


def _basic(station: str, password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{station}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def _boot(ws: ClientConnection) -> str:
    await ws.send(
        orjson.dumps(
            [2, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]
        ).decode()
    )
    answer = orjson.loads(await ws.recv())
    assert answer[:2] == [3, "b"]
    status: str = answer[2]["status"]
    return status


async def _refused(edge: Edge, station: str, tls: ssl.SSLContext, **headers: str) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(
            edge.url(station),
            ssl=tls,
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=headers,
        ):
            pass
    return info.value.response.status_code


async def test_profile_3_a_station_certificate_is_its_credential(edge: Edge) -> None:
    async with connect(
        edge.url("TLS-P3"),
        ssl=edge.tls("p3"),
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
    ) as ws:
        assert await _boot(ws) == "Accepted"


async def test_profile_2_tls_and_basic_auth_on_the_same_hostname(edge: Edge) -> None:
    async with connect(
        edge.url("TLS-P2"),
        ssl=edge.tls(),
        subprotocols=["ocpp1.6"],  # type: ignore[list-item]
        additional_headers=_basic("TLS-P2"),
    ) as ws:
        assert await _boot(ws) == "Accepted"
    assert await _refused(edge, "TLS-P2", edge.tls(), **_basic("TLS-P2", "wrong-password")) == 401


async def test_a_certificate_of_another_station_is_refused(edge: Edge) -> None:
    # Valid and verified, but its CN is TLS-OTHER: it does not prove to be TLS-P3.
    assert await _refused(edge, "TLS-P3", edge.tls("other")) == 403


async def test_a_certificate_the_station_ca_did_not_sign_never_reaches_the_gateway(
    edge: Edge,
) -> None:
    # nginx refuses it itself (400, "The SSL certificate error"): verify-client optional
    # accepts no certificate, never a bad one.
    assert await _refused(edge, "TLS-P3", edge.tls("rogue")) == 400


async def test_forged_verdict_headers_are_replaced_by_the_proxy(edge: Edge) -> None:
    forged = {"ssl-client-verify": "SUCCESS", "ssl-client-subject-dn": "CN=TLS-P3"}
    # No certificate: the proxy says NONE whatever the client wrote, so Basic auth decides.
    assert await _refused(edge, "TLS-P3", edge.tls(), **forged) == 401
