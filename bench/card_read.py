"""Benchmark: card reads through cardreader vs. the same APDUs sent with raw pyscard, for each
level of the genuine-card checks.

Plugs a persona's simulated card into pcscd through vpcd and configures the reader with the
simulator's trust anchors (as a ward configures J-LIS's). For each level of checks it
records the exact APDU list of one cardreader read, then times N reads each way, interleaved
(ours, raw, ours, raw ... for every level in every round, which path goes first alternating)
so that machine noise hits both. Both sides connect to the same reader with
SCARD_RESET_CARD as the disposition and disconnect after every read. The raw side replays
the recorded APDUs, challenges and PINs included, so the card does the same work (its RSA
signatures too); the difference is ours: status-word handling, parsing and the signature
and certificate checks. Levels:

    none        the basic four and the integrity check (the read before the checks)
    chip        + internal authentication (EF 0007, 80 2A)
    card_chain  + the CVC's 5F37 under the configured key (the default read of a ward)
    jpki        + the JPKI chain with the authentication PIN (and the CRL)

One line per level (medians per read; extra_* against ``none`` in the same run), then the
default read of a ward that configured the CVC keys (chip + card chain) as the last line:

    card_read_check: check=L apdus=A extra_apdus=E ours_ms=X raw_ms=Y ratio=R extra_ours_ms=...
    card_read: apdus=A ours_ms=X raw_ms=Y ratio=R

Usage: .venv/bin/python bench/card_read.py --persona yamada --reads 50 --port 35963
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from smartcard.pcsc.PCSCReader import PCSCReader  # noqa: E402
from smartcard.scard import SCARD_RESET_CARD  # noqa: E402

from cardreader import mynumber  # noqa: E402
from cardreader.model import CardChecksWanted  # noqa: E402
from cardreader.pcsc import PcscTransport, card_present, find_reader  # noqa: E402
from cardreader.transport import CardTransport  # noqa: E402
from cardreader.trust import CardTrust  # noqa: E402
from hardware_sim.card import SimulatedCard  # noqa: E402
from hardware_sim.personas import load_personas  # noqa: E402
from hardware_sim.trust import write_trust_files  # noqa: E402
from hardware_sim.vpcd import VirtualCardClient  # noqa: E402

READER = "Virtual PCD"
LEVELS: dict[str, CardChecksWanted] = {
    "none": CardChecksWanted.none(),
    "chip": CardChecksWanted(card_chain=False),
    "card_chain": CardChecksWanted(),
    "jpki": CardChecksWanted(jpki=True),
}
DEFAULT_LEVEL = "card_chain"


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


def read_ours(read: Callable[[CardTransport], object]) -> None:
    transport = PcscTransport.connect(READER)
    try:
        read(transport)
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
    with tempfile.TemporaryDirectory() as directory:
        files = write_trust_files(Path(directory))
        trust = CardTrust.load(files.card_trust_keys, files.jpki_trust_anchors, files.jpki_crl)

    def reader_for(level: str) -> Callable[[CardTransport], object]:
        checks = LEVELS[level]
        jpki_pin = persona.jpki_auth_pin if checks.jpki else None
        return lambda t: mynumber.read_card(
            t, persona.text_pin, checks=checks, trust=trust, jpki_pin=jpki_pin
        )

    client = VirtualCardClient("127.0.0.1", args.port)
    commands: dict[str, list[list[int]]] = {}
    ours: dict[str, list[float]] = {level: [] for level in LEVELS}
    raw: dict[str, list[float]] = {level: [] for level in LEVELS}
    try:
        client.insert(SimulatedCard.from_persona(persona))
        wait_for_card(True)
        for level in LEVELS:
            recorder = RecordingTransport(PcscTransport.connect(READER))
            try:
                info = reader_for(level)(recorder)
            finally:
                recorder.close()
            if level == "jpki" and info.genuine.value != "verified":  # type: ignore[attr-defined]
                raise SystemExit(f"persona {persona.key}: the checks do not verify")
            commands[level] = [list(c) for c in recorder.commands]
            read_ours(reader_for(level))  # warm-up, both paths
            read_raw(commands[level])
        # The first read after the other path's reset-on-disconnect pays for pcscd/vpcd
        # settling (about 1 ms here), so which path goes first alternates every round.
        for round_number in range(args.reads):
            for level in LEVELS:
                pair = [
                    ("ours", lambda lv=level: read_ours(reader_for(lv))),
                    ("raw", lambda lv=level: read_raw(commands[lv])),
                ]
                if round_number % 2:
                    pair.reverse()
                for label, read in pair:
                    start = time.perf_counter()
                    read()
                    (ours if label == "ours" else raw)[level].append(time.perf_counter() - start)
    finally:
        client.close()

    def ms(samples: list[float]) -> float:
        return statistics.median(samples) * 1000

    for level in LEVELS:
        print(
            f"card_read_check: check={level} apdus={len(commands[level])} "
            f"extra_apdus={len(commands[level]) - len(commands['none'])} "
            f"ours_ms={ms(ours[level]):.2f} raw_ms={ms(raw[level]):.2f} "
            f"ratio={ms(ours[level]) / ms(raw[level]):.3f} "
            f"extra_ours_ms={ms(ours[level]) - ms(ours['none']):.2f} "
            f"extra_raw_ms={ms(raw[level]) - ms(raw['none']):.2f}"
        )
    print(
        f"card_read: apdus={len(commands[DEFAULT_LEVEL])} ours_ms={ms(ours[DEFAULT_LEVEL]):.2f} "
        f"raw_ms={ms(raw[DEFAULT_LEVEL]):.2f} "
        f"ratio={ms(ours[DEFAULT_LEVEL]) / ms(raw[DEFAULT_LEVEL]):.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
