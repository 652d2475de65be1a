"""A stand-in for the vpcd reader driver's socket side, for tests without pcscd."""

from __future__ import annotations

import socket


class FakeVpcd:
    """Listens like vpcd; ``accept`` then ``control``/``transmit`` like the driver does."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.conn: socket.socket | None = None

    def accept(self, timeout: float = 5.0) -> None:
        """Wait for the simulated card to connect."""
        self.server.settimeout(timeout)
        self.conn, _ = self.server.accept()
        self.conn.settimeout(timeout)

    def _send(self, payload: bytes) -> None:
        assert self.conn is not None
        self.conn.sendall(len(payload).to_bytes(2, "big") + payload)

    def _receive(self) -> bytes | None:
        assert self.conn is not None
        data = b""
        while len(data) < 2:
            chunk = self.conn.recv(2 - len(data))
            if not chunk:
                return None
            data += chunk
        size = int.from_bytes(data, "big")
        body = b""
        while len(body) < size:
            chunk = self.conn.recv(size - len(body))
            if not chunk:
                return None
            body += chunk
        return body

    def control(self, code: int) -> bytes | None:
        """Send a control byte; for 4 (get ATR) return the answer."""
        self._send(bytes([code]))
        return self._receive() if code == 4 else None

    def transmit(self, apdu: bytes) -> bytes | None:
        """Send an APDU; None when the card went away instead of answering."""
        self._send(apdu)
        return self._receive()

    def drop_client(self) -> None:
        """Close the current card connection (as vpcd does on eject)."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def close(self) -> None:
        """Close everything."""
        self.drop_client()
        self.server.close()
