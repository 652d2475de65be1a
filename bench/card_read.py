"""Benchmark: a basic-four read through cardreader vs. the same APDUs sent with raw pyscard.

Plugs a persona's simulated card into pcscd through vpcd, records the exact APDU list of one
cardreader read, then times N reads each way, interleaved (ours, raw, ours, raw ...) so that
machine noise hits both. Both sides connect to the same reader with SCARD_RESET_CARD as the
disposition and disconnect after every read. Last line:

    card_read: apdus=A ours_ms=X raw_ms=Y ratio=R      (medians per read)

Usage: .venv/bin/python bench/card_read.py --persona yamada --reads 50 --port 35963
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smartcard.pcsc.PCSCReader import PCSCReader  # noqa: E402
from smartcard.scard import SCARD_RESET_CARD  # noqa: E402

from cardreader import mynumber  # noqa: E402
from cardreader.pcsc import PcscTransport, card_present, find_reader  # noqa: E402
from cardreader.transport import CardTransport  # noqa: E402
from hardware_sim.card import SimulatedCard  # noqa: E402
from hardware_sim.personas import load_personas  # noqa: E402
from hardware_sim.vpcd import VirtualCardClient  # noqa: E402

READER = "Virtual PCD"


class RecordingTransport:
    """Passes APDUs through and keeps a copy of each command (bench only: holds the PIN)."""

    def __init__(self, inner: CardTransport) -> None:
        self.inner = inner
        self.commands: list[bytes] = []

    def transmit(self, apdu: bytes) -> bytes:
        self.commands.append(bytes(apdu))
        return self.inner.transmit(apdu)

    def close(self) -> None:
        self.inner.close()


def read_ours(pin: str) -> None:
    transport = PcscTransport.connect(READER)
    try:
        mynumber.read_card(transport, pin)
    finally:
        transport.close()


def read_raw(commands: list[list[int]]) -> None:
    # The same steps PcscTransport.connect takes: find the reader, connect, transmit, reset.
    name = next(str(r) for r in PCSCReader.readers() if READER in str(r))
    connection = PCSCReader(name).createConnection()
    connection.connect(disposition=SCARD_RESET_CARD)
    try:
        for command in commands:
            connection.transmit(command)
    finally:
        connection.disconnect()
        connection.release()


def wait_for_card(present: bool, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    name = find_reader(READER)
    while card_present(name) != present:
        if time.monotonic() > deadline:
            raise SystemExit(f"card did not become {'present' if present else 'absent'}")
        time.sleep(0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persona", default="yamada")
    parser.add_argument("--reads", type=int, default=50)
    parser.add_argument("--port", type=int, default=35963)
    args = parser.parse_args(argv)

    persona = load_personas()[args.persona]
    client = VirtualCardClient("127.0.0.1", args.port)
    try:
        client.insert(SimulatedCard.from_persona(persona))
        wait_for_card(True)
        recorder = RecordingTransport(PcscTransport.connect(READER))
        try:
            mynumber.read_card(recorder, persona.text_pin)
        finally:
            recorder.close()
        commands = [list(c) for c in recorder.commands]
        read_ours(persona.text_pin)  # warm-up, both paths
        read_raw(commands)
        ours: list[float] = []
        raw: list[float] = []
        # The first read after the other path's reset-on-disconnect pays for pcscd/vpcd
        # settling (about 1 ms here), so which path goes first alternates every round.
        for round_number in range(args.reads):
            pair = [
                ("ours", lambda: read_ours(persona.text_pin)),
                ("raw", lambda: read_raw(commands)),
            ]
            if round_number % 2:
                pair.reverse()
            for label, read in pair:
                start = time.perf_counter()
                read()
                (ours if label == "ours" else raw).append(time.perf_counter() - start)
    finally:
        client.close()
    ours_ms = statistics.median(ours) * 1000
    raw_ms = statistics.median(raw) * 1000
    print(
        f"card_read: apdus={len(commands)} ours_ms={ours_ms:.2f} raw_ms={raw_ms:.2f} "
        f"ratio={ours_ms / raw_ms:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
