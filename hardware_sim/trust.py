"""The trust configuration a ward would write, for the simulator's test hierarchy.

A ward configures the J-LIS keys it trusts: ``KIOSK_CARD_TRUST_KEYS`` (the CVC issuer keys,
JSON), ``KIOSK_JPKI_TRUST_ANCHORS`` (the JPKI CA certificates, PEM) and optionally
``KIOSK_JPKI_CRL``. In simulation the same settings point at files written from here, naming
the simulator's test keys instead, so the genuine-card checks run unchanged. These keys are
test keys kept in the simulator's key directory: a production kiosk must never trust them.

The formats are written here independently of the reader that parses them (``cardreader``
is never imported: the simulator and the reader check each other).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from hardware_sim import pki
from hardware_sim.card import jpki_auth_certificate
from hardware_sim.personas import Persona, load_personas

CARD_TRUST_KEYS_FILE = "card-trust-keys.json"
JPKI_TRUST_ANCHORS_FILE = "jpki-trust-anchors.pem"
JPKI_CRL_FILE = "jpki-crl.pem"


def card_trust_keys(key_dir: Path | None = None) -> dict[str, dict[str, str]]:
    """The simulator's Text AP CVC issuer key in the ``KIOSK_CARD_TRUST_KEYS`` format:
    ``{"<16-byte 証明者鍵ID as hex>": {"e": "<hex>", "n": "<hex>"}}``."""
    numbers = pki.ca_key("text-cvc", key_dir).public_key().public_numbers()
    return {
        pki.TEXT_CVC_ISSUER_ID.hex(): {
            "e": numbers.e.to_bytes(3, "big").hex(),
            "n": numbers.n.to_bytes(256, "big").hex(),
        }
    }


def jpki_trust_anchors_pem(key_dir: Path | None = None) -> bytes:
    """The simulator's JPKI user-authentication CA certificates as a PEM bundle.

    Two generations that share one name, the older first (its validity ended before any
    simulated card was issued), as in a ward's J-LIS bundle: a verifier that picks the issuer
    by name alone takes the wrong one.
    """
    return b"".join(
        pki.ca_certificate(kind, key_dir).public_bytes(serialization.Encoding.PEM)
        for kind in ("jpki-auth-previous", "jpki-auth")
    )


def revoked_serials(personas: Iterable[Persona], key_dir: Path | None = None) -> list[int]:
    """Serial numbers of the JPKI user-authentication certificates the simulator revoked."""
    return [
        jpki_auth_certificate(p, key_dir).serial_number
        for p in personas
        if p.jpki_auth_certificate == "revoked"
    ]


def jpki_crl_pem(
    personas: Iterable[Persona] | None = None,
    key_dir: Path | None = None,
    *,
    now: datetime | None = None,
    valid_for: timedelta = timedelta(days=7),
) -> bytes:
    """A CRL of the simulator's JPKI user-authentication CA, PEM, listing the certificates of
    the personas whose ``jpki_auth_certificate`` is ``revoked``.

    Issued an hour before ``now`` (default: the current time) and due for renewal
    ``valid_for`` after it, as a ward's daily CRL download would be.
    """
    now = now or datetime.now(UTC)
    chosen = load_personas().values() if personas is None else personas
    crl = pki.jpki_crl(
        revoked_serials(chosen, key_dir),
        key_dir,
        last_update=now - timedelta(hours=1),
        next_update=now + valid_for,
    )
    return crl.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class TrustFiles:
    """Where :func:`write_trust_files` put each file (values for the three settings)."""

    card_trust_keys: Path
    jpki_trust_anchors: Path
    jpki_crl: Path


def write_trust_files(
    directory: Path, key_dir: Path | None = None, *, now: datetime | None = None
) -> TrustFiles:
    """Write the three trust files for the simulator into ``directory``.

    For the composition root in simulation mode (point ``KIOSK_CARD_TRUST_KEYS``,
    ``KIOSK_JPKI_TRUST_ANCHORS`` and ``KIOSK_JPKI_CRL`` at them) and for tests. ``key_dir``
    must be the one the simulated cards are built with, or nothing will verify.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files = TrustFiles(
        directory / CARD_TRUST_KEYS_FILE,
        directory / JPKI_TRUST_ANCHORS_FILE,
        directory / JPKI_CRL_FILE,
    )
    files.card_trust_keys.write_text(json.dumps(card_trust_keys(key_dir), indent=1) + "\n")
    files.jpki_trust_anchors.write_bytes(jpki_trust_anchors_pem(key_dir))
    files.jpki_crl.write_bytes(jpki_crl_pem(key_dir=key_dir, now=now))
    return files
