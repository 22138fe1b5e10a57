"""permessage-deflate: negotiated with the configured window bits, or refused by config."""

from __future__ import annotations

import orjson
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from tests.unit.gateway.fakes import RecordingPublisher
from tests.unit.gateway.helpers import make_context, running, ws_connect

PORT = 19786


async def _negotiated(**settings: object) -> str | None:
    publisher = RecordingPublisher()
    async with running(make_context(publisher), PORT, **settings):
        offer = [ClientPerMessageDeflateFactory(client_max_window_bits=True)]
        async with ws_connect(PORT, "CP-Z", "ocpp2.0.1", extensions=offer, compression=None) as ws:
            await ws.send(orjson.dumps([2, "h", "Heartbeat", {}]).decode())
            assert orjson.loads(await ws.recv())[:2] == [3, "h"]
            assert ws.response is not None
            return ws.response.headers.get("Sec-WebSocket-Extensions")


async def test_deflate_is_accepted_with_the_configured_window_bits() -> None:
    header = await _negotiated(gateway_compression=True, gateway_compression_window_bits=10)
    assert header is not None
    assert "permessage-deflate" in header
    assert "server_max_window_bits=10" in header


async def test_deflate_can_be_refused_by_configuration() -> None:
    assert await _negotiated(gateway_compression=False) is None
