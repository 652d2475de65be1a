"""Card test rigs: the same tests run over the direct transport and over pcscd + vpcd.

A rig puts a card (any APDU processor: a ``SimulatedCard``, a ``FaultyCard``, a counting or
tampering wrapper) "in the reader" and offers the matching :class:`CardReader`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from cardreader.pcsc import card_present, find_reader
from cardreader.reader import CardReader, DirectCardReader, PcscCardReader
from cardreader.trust import CardTrust
from hardware_sim.card import SimulatedCard
from hardware_sim.personas import Persona, load_personas
from hardware_sim.trust import write_trust_files
from tests.support.waiting import wait_until

VPCD_READER = "Virtual PCD 00 00"


class CountingCard:
    """An APDU processor wrapper that keeps every command it passes on (tests only)."""

    def __init__(self, card: Any) -> None:
        self.card = card
        self.commands: list[bytes] = []

    def process_apdu(self, apdu: bytes) -> bytes:
        self.commands.append(bytes(apdu))
        return self.card.process_apdu(apdu)

    def reset(self) -> bytes:
        return self.card.reset()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.card, name)


class TamperingCard(CountingCard):
    """Rewrites READ BINARY answers of one EF with ``edit`` (tests only)."""

    def __init__(self, card: Any, fid: int, edit: Callable[[bytes, int], bytes]) -> None:
        super().__init__(card)
        self._fid = fid
        self._edit = edit
        self._current: int | None = None

    def process_apdu(self, apdu: bytes) -> bytes:
        response = super().process_apdu(apdu)
        if apdu[:4] == b"\x00\xa4\x02\x0c":
            self._current = int.from_bytes(apdu[5:7], "big")
        elif (
            apdu[:2] == b"\x00\xb0" and self._current == self._fid and response[-2:] == b"\x90\x00"
        ):
            offset = int.from_bytes(apdu[2:4], "big")
            response = self._edit(response[:-2], offset) + response[-2:]
        return response


class TrackingCard(CountingCard):
    """Records each VERIFY with data together with the application and EF it went to."""

    def __init__(self, card: Any) -> None:
        super().__init__(card)
        self.verifies: list[tuple[bytes, int | None, bytes]] = []
        self._aid = b""
        self._ef: int | None = None

    def process_apdu(self, apdu: bytes) -> bytes:
        response = super().process_apdu(apdu)
        if response[-2:] == b"\x90\x00" and apdu[:4] == b"\x00\xa4\x04\x0c":
            self._aid, self._ef = bytes(apdu[5:]), None
        elif response[-2:] == b"\x90\x00" and apdu[:4] == b"\x00\xa4\x02\x0c":
            self._ef = int.from_bytes(apdu[5:7], "big")
        elif apdu[:4] == b"\x00\x20\x00\x80" and len(apdu) > 4:
            self.verifies.append((self._aid, self._ef, bytes(apdu[5:])))
        return response

    def reset(self) -> bytes:
        self._aid, self._ef = b"", None
        return super().reset()


class ForeignCard:
    """Some other smart card: no My Number applications (6A82 to every SELECT)."""

    def __init__(self) -> None:
        self.commands: list[bytes] = []

    def process_apdu(self, apdu: bytes) -> bytes:
        self.commands.append(bytes(apdu))
        return b"\x6a\x82" if apdu[1:2] == b"\xa4" else b"\x6d\x00"

    def reset(self) -> bytes:
        return bytes.fromhex("3b8f8001804f0ca000000306030001000000006a")


def wait_for_presence(present: bool, timeout: float = 15.0) -> None:
    """Poll pcscd until the vpcd reader reports the card (in)present."""
    name = find_reader(VPCD_READER)
    wait_until(
        lambda: card_present(name) == present,
        timeout_s=timeout,
        interval_s=0.01,
        message=f"pcscd seeing the card {'in' if present else 'out'}",
    )


class DirectRig:
    kind = "direct"

    def __init__(self) -> None:
        self.card: Any = None
        self.reader: CardReader = DirectCardReader(lambda: self.card)

    def insert(self, card: Any) -> None:
        self.card = card

    def remove(self) -> None:
        self.card = None

    def close(self) -> None:
        self.card = None


class PcscRig:
    kind = "pcsc"

    def __init__(self, port: int) -> None:
        from hardware_sim.vpcd import VirtualCardClient

        self.client = VirtualCardClient("127.0.0.1", port)
        self.card: Any = None
        self.reader: CardReader = PcscCardReader(VPCD_READER)

    def insert(self, card: Any) -> None:
        # Always a visible removal first: pcscd must see the slot empty, or it would take the
        # new card for the old one (vpcd is polled, a quick swap can go unnoticed).
        self.remove()
        self.card = card
        self.client.insert(card)
        wait_for_presence(True)

    def remove(self) -> None:
        self.client.remove()
        self.card = None
        wait_for_presence(False)

    def close(self) -> None:
        self.remove()
        self.client.close()


@pytest.fixture(scope="session")
def personas() -> dict[str, Persona]:
    """The simulator's demo residents."""
    return load_personas()


@pytest.fixture(params=["direct", pytest.param("pcsc", marks=pytest.mark.pcsc)])
def rig(request: pytest.FixtureRequest) -> Iterator[DirectRig | PcscRig]:
    """A reader with an empty slot, over the direct transport or over pcscd + vpcd."""
    if request.param == "direct":
        made: DirectRig | PcscRig = DirectRig()
    else:
        made = PcscRig(request.getfixturevalue("vpcd_port"))
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="session")
def card_trust(tmp_path_factory: pytest.TempPathFactory) -> CardTrust:
    """What a ward trusting the simulator's test keys configures, loaded from the files the
    simulator writes (in-process keys: the same as the cards built in this test process)."""
    files = write_trust_files(tmp_path_factory.mktemp("trust"))
    return CardTrust.load(files.card_trust_keys, files.jpki_trust_anchors, files.jpki_crl)


@pytest.fixture
def make_card(personas: dict[str, Persona]) -> Callable[..., CountingCard]:
    """Build a fresh counting simulated card for a persona key (in-memory PIN state)."""

    def make(key: str) -> CountingCard:
        return CountingCard(SimulatedCard.from_persona(personas[key]))

    return make
