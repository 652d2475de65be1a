"""Trust anchors: which configurations make a chain verify, and how bad files are refused
(by cardreader.trust and, naming the variable, by the service's settings)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from cardreader.direct import DirectTransport
from cardreader.model import CardChecksWanted, Genuine
from cardreader.mynumber import read_card
from cardreader.trust import CardTrust, TrustFileError, load_card_trust_keys
from hardware_sim import pki
from hardware_sim.card import SimulatedCard
from hardware_sim.personas import Persona
from hardware_sim.trust import card_trust_keys, jpki_crl_pem, write_trust_files
from kiosk.config import ConfigError, load_settings

JPKI = CardChecksWanted(jpki=True)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _read(persona: Persona, trust: CardTrust, now: datetime = NOW):
    card = SimulatedCard.from_persona(persona)
    return read_card(
        DirectTransport(card),
        persona.text_pin,
        checks=JPKI,
        trust=trust,
        jpki_pin=persona.jpki_auth_pin,
        now=now,
    ).checks


def _anchors(*kinds: str) -> tuple[x509.Certificate, ...]:
    return tuple(pki.ca_certificate(kind) for kind in kinds)


def test_issuer_is_picked_by_name_and_signature(personas, card_trust: CardTrust) -> None:
    """With two same-named CA generations the one whose key verifies is used; with only the
    wrong generation the result is signature_invalid; with no CA of that name chain_invalid."""
    yamada = personas["yamada"]
    both = CardTrust(jpki_anchors=_anchors("jpki-auth-previous", "jpki-auth"))
    assert _read(yamada, both).jpki_chain is Genuine.VERIFIED
    wrong_generation = CardTrust(jpki_anchors=_anchors("jpki-auth-previous"))
    assert _read(yamada, wrong_generation).jpki_chain is Genuine.SIGNATURE_INVALID
    other_name = CardTrust(jpki_anchors=_anchors("jpki-sign"))
    assert _read(yamada, other_name).jpki_chain is Genuine.CHAIN_INVALID


def test_validity_is_checked_at_the_time_of_the_read(personas) -> None:
    """A certificate is verified within its validity and expired before or after it."""
    trust = CardTrust(jpki_anchors=_anchors("jpki-auth"))
    yamada = personas["yamada"]
    assert _read(yamada, trust, datetime(2024, 12, 1, tzinfo=UTC)).jpki_chain is Genuine.EXPIRED
    assert _read(yamada, trust, datetime(2036, 1, 1, tzinfo=UTC)).jpki_chain is Genuine.EXPIRED
    assert _read(yamada, trust).jpki_chain is Genuine.VERIFIED


def test_a_crl_that_is_not_current_leaves_revocation_unknown(personas, tmp_path: Path) -> None:
    """With a CRL configured, a read after its next update (or before it was issued) is
    chain_invalid, never verified; within it the revoked card is revoked, others verified."""
    anchors = _anchors("jpki-auth-previous", "jpki-auth")
    crl = x509.load_pem_x509_crl(jpki_crl_pem(now=NOW, valid_for=timedelta(days=7)))
    trust = CardTrust(jpki_anchors=anchors, jpki_crls=(crl,))
    assert _read(personas["yamada"], trust).jpki_chain is Genuine.VERIFIED
    assert _read(personas["shimizu"], trust).jpki_chain is Genuine.REVOKED
    later = NOW + timedelta(days=8)
    assert _read(personas["yamada"], trust, later).jpki_chain is Genuine.CHAIN_INVALID
    earlier = NOW - timedelta(days=1)
    assert _read(personas["yamada"], trust, earlier).jpki_chain is Genuine.CHAIN_INVALID


def test_a_crl_of_another_generation_does_not_count(personas) -> None:
    """A CRL with the issuer's name but signed by the other same-named generation says
    nothing about the certificate: chain_invalid."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.ca_certificate("jpki-auth").subject)
        .last_update(NOW - timedelta(hours=1))
        .next_update(NOW + timedelta(days=7))
    )
    crl = builder.sign(pki.ca_key("jpki-auth-previous"), hashes.SHA256())
    trust = CardTrust(jpki_anchors=_anchors("jpki-auth-previous", "jpki-auth"), jpki_crls=(crl,))
    assert _read(personas["yamada"], trust).jpki_chain is Genuine.CHAIN_INVALID


def test_card_chain_needs_the_named_key(personas) -> None:
    """The CVC chain is chain_invalid when the trust file lacks the 証明者鍵ID the CVC names,
    and signature_invalid when that id maps to another key."""
    yamada = personas["yamada"]
    other_key = pki.ca_key("forger-text-cvc").public_key()
    unknown = CardTrust(cvc_keys={pki.FORGER_CVC_ISSUER_ID: other_key})
    assert _read(yamada, unknown).card_chain is Genuine.CHAIN_INVALID
    wrong = CardTrust(cvc_keys={pki.TEXT_CVC_ISSUER_ID: other_key})
    assert _read(yamada, wrong).card_chain is Genuine.SIGNATURE_INVALID


def _write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


GOOD = card_trust_keys()
ID = next(iter(GOOD))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "not JSON"),
        ("[]", "non-empty JSON object"),
        ("{}", "non-empty JSON object"),
        (json.dumps({"ABCD": GOOD[ID]}), "16-byte key id"),
        (json.dumps({ID: {"e": GOOD[ID]["e"]}}), "exactly the fields e and n"),
        (json.dumps({ID: {**GOOD[ID], "note": "x"}}), "exactly the fields e and n"),
        (json.dumps({ID: {"e": "xyz", "n": GOOD[ID]["n"]}}), "hex strings"),
        (json.dumps({ID: {"e": "010001", "n": "00" * 127 + "c5"}}), "valid RSA key|2048"),
        (json.dumps({ID: {"e": "010001", "n": "ff" * 128}}), "shorter than 2048"),
    ],
)
def test_card_trust_keys_file_errors(tmp_path: Path, content: str, message: str) -> None:
    """A malformed KIOSK_CARD_TRUST_KEYS file is refused with a one-line reason."""
    with pytest.raises(TrustFileError, match=message) as caught:
        load_card_trust_keys(_write(tmp_path, "keys.json", content))
    assert "\n" not in str(caught.value)


def test_trust_files_load_pem_and_der(tmp_path: Path) -> None:
    """The simulator's files load; a DER CRL loads like a PEM one; key ids are case-blind."""
    files = write_trust_files(tmp_path)
    trust = CardTrust.load(files.card_trust_keys, files.jpki_trust_anchors, files.jpki_crl)
    assert set(trust.cvc_keys) == {pki.TEXT_CVC_ISSUER_ID} and len(trust.jpki_anchors) == 2
    crl = x509.load_pem_x509_crl(files.jpki_crl.read_bytes())
    der = _write(tmp_path, "crl.der", crl.public_bytes(Encoding.DER))
    assert CardTrust.load(None, files.jpki_trust_anchors, der).jpki_crls == (crl,)
    upper = _write(tmp_path, "upper.json", json.dumps({ID.upper(): GOOD[ID]}))
    assert set(load_card_trust_keys(upper)) == {pki.TEXT_CVC_ISSUER_ID}
    empty = CardTrust.load()
    assert (dict(empty.cvc_keys), empty.jpki_anchors, empty.jpki_crls) == ({}, (), None)


@pytest.mark.parametrize(
    ("variable", "setup", "message"),
    [
        ("KIOSK_CARD_TRUST_KEYS", lambda d, f: {"card_trust_keys": str(d / "nope.json")}, "cannot"),
        (
            "KIOSK_JPKI_TRUST_ANCHORS",
            lambda d, f: {"jpki_trust_anchors": str(f.card_trust_keys)},
            "PEM bundle",
        ),
        ("KIOSK_JPKI_CRL", lambda d, f: {"jpki_crl": str(f.jpki_crl)}, "needs the JPKI trust"),
        (
            "KIOSK_JPKI_CRL",
            lambda d, f: {
                "jpki_crl": str(f.jpki_trust_anchors),
                "jpki_trust_anchors": str(f.jpki_trust_anchors),
            },
            "not a CRL",
        ),
    ],
    ids=["missing-file", "not-pem", "crl-without-anchors", "crl-not-a-crl"],
)
def test_settings_name_the_variable(tmp_path: Path, variable: str, setup, message: str) -> None:
    """The service refuses to start on a bad trust file, naming the variable in one line."""
    files = write_trust_files(tmp_path)
    with pytest.raises(ConfigError) as caught:
        load_settings(setup(tmp_path, files), environ={})
    text = str(caught.value)
    assert text.startswith(f"{variable}=") and message in text and "\n" not in text


def test_settings_load_the_configured_trust(tmp_path: Path) -> None:
    """With the three files configured (as KIOSK_* variables) the settings' trust has them."""
    files = write_trust_files(tmp_path)
    settings = load_settings(
        environ={
            "KIOSK_CARD_TRUST_KEYS": str(files.card_trust_keys),
            "KIOSK_JPKI_TRUST_ANCHORS": str(files.jpki_trust_anchors),
            "KIOSK_JPKI_CRL": str(files.jpki_crl),
        }
    )
    trust = settings.card_trust()
    assert set(trust.cvc_keys) == {pki.TEXT_CVC_ISSUER_ID}
    assert len(trust.jpki_anchors) == 2 and trust.jpki_crls is not None
    empty = load_settings(environ={}).card_trust()
    assert (dict(empty.cvc_keys), empty.jpki_anchors, empty.jpki_crls) == ({}, (), None)
