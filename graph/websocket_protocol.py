"""uvicorn's sans-I/O websocket protocol, lighter on memory for connections that stay open.

The default implementation runs a reader, a writer and a keep-alive task per connection; the
sans-I/O one runs none of them. It still keeps the handshake's request and response (their
headers, parsed twice over) for the whole life of the connection, though nothing reads them once
the handshake is sent: a chat widget stays open for hours, so they go once it is.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class LightWebSocketProtocol(WebSocketsSansIOProtocol):
    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and getattr(self, "response", None) is not None:
            self.request = self.response = None  # type: ignore[assignment]
