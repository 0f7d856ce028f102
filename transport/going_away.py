"""Uvicorn's websocket protocol, closing open sockets with 1001 (going away) on shutdown.

Uvicorn closes them with 1012 (service restart). Clients and proxies know 1001 as "the server
is leaving; reconnect", which is what a rolling deploy or a scale-in means here: the client
reconnects through the load balancer and resumes its subscriptions from their cursors.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

GOING_AWAY = 1001
PROTOCOL_PATH = "transport.going_away:GoingAwayWebSocketProtocol"


class GoingAwayWebSocketProtocol(WebSocketsSansIOProtocol):
    def shutdown(self) -> None:
        if self.close_sent or not self.handshake_complete:
            super().shutdown()
            return
        self.stop_keepalive()
        # The application sees the disconnect too, so its subscriptions end and release
        # their slots before the process exits.
        self.queue.put_nowait({"type": "websocket.disconnect", "code": GOING_AWAY})
        self.conn.send_close(GOING_AWAY, "server shutting down")
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()
