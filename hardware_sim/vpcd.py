"""Plug a simulated card into the real PC/SC stack through the vpcd reader driver.

pyscard -> pcscd -> vpcd driver (listens on 127.0.0.1:35963) -> :class:`VirtualCardClient`
-> the card object. Protocol (vsmartcard's vpcd): every message is a 2-byte big-endian
length and a payload. A 1-byte payload is a control message from the reader: ``00`` power
off, ``01`` power on, ``02`` reset (no answer to any of these) and ``04`` "send the ATR"
(answered as a normal message). vpcd sends ``04`` on every presence poll, so an idle card
must keep answering it. Longer payloads are command APDUs, answered with the response APDU.
Closing the connection is pulling the card out; vpcd accepts a new connection on a later
poll, which is how a re-insertion reaches pcscd.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from types import TracebackType

from hardware_sim.faults import ApduProcessor, FaultPlan

log = logging.getLogger(__name__)

DEFAULT_PORT = 35963
_POWER_OFF, _POWER_ON, _RESET, _GET_ATR = 0, 1, 2, 4


class VirtualCardClient:
    """A card slot in the vpcd reader: :meth:`insert` a card, :meth:`remove` it again.

    The exchange runs in a daemon thread. ``faults`` (a :class:`FaultPlan`) is honoured per
    APDU: a removal closes the socket instead of answering, a hang stops answering until
    cleared or :meth:`remove`. Power off/on and reset from the reader reset the card's
    volatile state. APDU contents are never logged (they may carry a PIN).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        faults: FaultPlan | None = None,
        connect_timeout_s: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.faults = faults if faults is not None else FaultPlan()
        self.connect_timeout_s = connect_timeout_s
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def inserted(self) -> bool:
        """True while a card is connected to the reader."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    def insert(self, card: ApduProcessor) -> None:
        """Connect ``card`` to vpcd (retrying while the driver is not listening yet).

        Raises :class:`RuntimeError` if a card is already inserted and :class:`OSError` if
        vpcd cannot be reached within ``connect_timeout_s``.
        """
        with self._lock:
            if self.inserted:
                raise RuntimeError("a card is already inserted")
            self._join()
            atr = card.reset()
            sock = self._connect()
            self._stop.clear()
            self._sock = sock
            self._thread = threading.Thread(
                target=self._serve, args=(sock, card, atr), name="vpcd-card", daemon=True
            )
            self._thread.start()

    def remove(self) -> None:
        """Pull the card out (close the connection) and wait for the exchange thread."""
        with self._lock:
            self._stop.set()
            sock = self._sock
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._join()

    def close(self) -> None:
        """Remove any inserted card; the client may not be used afterwards."""
        self.remove()

    def __enter__(self) -> VirtualCardClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ internals

    def _join(self) -> None:
        thread = self._thread
        if thread is not None:
            thread.join()
        self._thread = None
        self._sock = None

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + self.connect_timeout_s
        while True:
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2.0)
            except OSError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)
                continue
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return sock

    def _serve(self, sock: socket.socket, card: ApduProcessor, atr: bytes) -> None:
        try:
            while not self._stop.is_set():
                message = _receive(sock)
                if message is None:
                    break
                if len(message) == 1:
                    if message[0] in (_POWER_OFF, _POWER_ON, _RESET):
                        atr = card.reset()  # a pulled FaultyCard raises ConnectionError
                    elif message[0] == _GET_ATR:
                        _send(sock, atr)
                    continue
                response = self._answer(card, message)
                if response is None:
                    break
                _send(sock, response)
        except OSError as e:  # includes ConnectionError from a pulled card
            log.debug("vpcd connection ended: %s", type(e).__name__)
        finally:
            sock.close()

    def _answer(self, card: ApduProcessor, apdu: bytes) -> bytes | None:
        """The response to send, or None when the card is to leave the reader instead."""
        decision = self.faults.before_apdu()
        if decision.remove:
            log.info("fault injection: card pulled out")
            return None
        self.faults.wait_while_hung(self._stop.is_set)
        if self._stop.is_set():
            return None
        if decision.delay_s > 0:
            time.sleep(decision.delay_s)
        try:
            response = card.process_apdu(apdu)
        except ConnectionError:
            return None
        return FaultPlan.corrupt_response(response) if decision.corrupt else response


_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


def _receive(sock: socket.socket) -> bytes | None:
    header = _receive_exactly(sock, 2)
    if header is None:
        return None
    return _receive_exactly(sock, int.from_bytes(header, "big"))


def _receive_exactly(sock: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        # vpcd writes the length prefix and the APDU in two send()s with Nagle on; our
        # delayed ACK of the first would hold the second back ~40 ms. Linux clears
        # QUICKACK after use, so it is set again before every read.
        if _QUICKACK is not None:
            sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
        chunk = sock.recv(size - len(chunks))
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def _send(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(len(payload).to_bytes(2, "big") + payload)
