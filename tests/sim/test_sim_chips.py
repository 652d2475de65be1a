"""The simulator's chips for the genuine-card checks: genuine, replayed, forged; JPKI
certificates valid, expired, revoked; and the trust files a simulated ward configures.

Decoded by hand here (never with cardreader), so the simulator is checked on its own terms.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from hardware_sim import pki
from hardware_sim.card import SimulatedCard
from hardware_sim.personas import Persona
from hardware_sim.trust import card_trust_keys, jpki_crl_pem, write_trust_files
from tests.sim.apdu import JPKI_AID, TEXT_AID, apdu, read_all, select_aid, select_ef, sw, verify

DIGEST_INFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")


def _text_files(card: SimulatedCard, pin: str) -> dict[int, bytes]:
    select_aid(card, TEXT_AID)
    select_ef(card, 0x0011)
    assert sw(verify(card, pin)) == "9000"
    files = {}
    for fid in (0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0007):
        select_ef(card, fid)
        files[fid] = read_all(card)
    return files


def _jpki_files(card: SimulatedCard) -> dict[int, bytes]:
    select_aid(card, JPKI_AID)
    files = {}
    for fid in (0x0002, 0x0006, 0x0008, 0x000A, 0x000B):
        select_ef(card, fid)
        files[fid] = read_all(card)
    return files


def _key(objects: bytes) -> rsa.RSAPublicKey:
    return rsa.RSAPublicNumbers(
        int.from_bytes(objects[2:5], "big"), int.from_bytes(objects[9:265], "big")
    ).public_key()


def _verifies(key: rsa.RSAPublicKey, signature: bytes, message: bytes) -> bool:
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _chip_signs(card: SimulatedCard, ef7: bytes) -> bool:
    """Whether the Text AP's 80 2A signature over a challenge verifies under DF51."""
    challenge = b"a challenge of the kiosk's own choosing"
    info = DIGEST_INFO_SHA256 + hashlib.sha256(challenge).digest()
    select_aid(card, TEXT_AID)
    r = apdu(card, "802A000033" + info.hex() + "00")
    assert sw(r) == "9000"
    return _verifies(_key(ef7[10:275]), r[:-2], challenge)


def _trusted_cvc_key() -> rsa.RSAPublicKey:
    entry = card_trust_keys()[pki.TEXT_CVC_ISSUER_ID.hex()]
    return rsa.RSAPublicNumbers(int(entry["e"], 16), int(entry["n"], 16)).public_key()


def test_genuine_chip_chains_to_the_test_keys(make_card: Callable[[str], SimulatedCard]) -> None:
    """yamada: DF52 verifies under EF 0004, the CVC under the trusted test key it names, the
    chip signs under DF51, and EF 000A is issued by the trusted JPKI CA."""
    card = make_card("yamada")
    text = _text_files(card, "1234")
    ef4, ef7 = text[0x0004], text[0x0007]
    assert ef4[10:26] == pki.TEXT_CVC_ISSUER_ID
    assert _verifies(_trusted_cvc_key(), ef4[312:568], ef4[10:307])
    assert _verifies(_key(ef4[42:307]), ef7[280:536], ef7[5:275])
    assert _chip_signs(card, ef7)
    jpki = _jpki_files(card)
    cert = x509.load_der_x509_certificate(jpki[0x000A])
    cert.verify_directly_issued_by(pki.ca_certificate("jpki-auth"))


def test_replay_copies_every_file_but_no_key(
    make_card: Callable[[str], SimulatedCard], personas: dict[str, Persona]
) -> None:
    """yamada_replay: every Text and JPKI file is yamada's byte for byte, but its chip's
    signature does not verify under the DF51 it replays, nor its JPKI key under the cert."""
    original, replay = make_card("yamada"), make_card("yamada_replay")
    assert personas["yamada_replay"].card_serial != personas["yamada"].card_serial
    copied = _text_files(replay, personas["yamada_replay"].text_pin)
    assert copied == _text_files(original, "1234")
    assert _jpki_files(replay) == _jpki_files(original)
    assert _chip_signs(original, copied[0x0007])
    assert not _chip_signs(replay, copied[0x0007])
    select_aid(replay, JPKI_AID)
    select_ef(replay, 0x0018)
    assert sw(verify(replay, personas["yamada_replay"].jpki_auth_pin)) == "9000"
    select_ef(replay, 0x0017)
    info = DIGEST_INFO_SHA256 + hashlib.sha256(b"challenge").digest()
    r = apdu(replay, "802A008033" + info.hex() + "00")
    assert sw(r) == "9000"
    public = x509.load_der_x509_certificate(_jpki_files(replay)[0x000A]).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert not _verifies(public, r[:-2], b"challenge")


@pytest.mark.parametrize(
    ("key", "issuer_id", "jpki_issuer"),
    [
        ("nakamura", pki.FORGER_CVC_ISSUER_ID, "Forged JPKI User Authentication CA (UNTRUSTED)"),
        ("mori", pki.TEXT_CVC_ISSUER_ID, "Simulator JPKI User Authentication CA (TEST)"),
    ],
    ids=["forged", "forged-trusted-names"],
)
def test_forged_chips_are_self_consistent_but_untrusted(
    make_card: Callable[[str], SimulatedCard],
    personas: dict[str, Persona],
    key: str,
    issuer_id: bytes,
    jpki_issuer: str,
) -> None:
    """A forged chip passes its own checks (EF 0003 and DF52 under its EF 0004 key, the
    challenge under DF51) but its CVC does not verify under the trusted test key, nor its
    JPKI certificate under the trusted CA, whatever issuer it names."""
    card = make_card(key)
    text = _text_files(card, personas[key].text_pin)
    ef3, ef4, ef7 = text[0x0003], text[0x0004], text[0x0007]
    own = _key(ef4[42:307])
    assert _verifies(own, ef3[80:336], ef3[5:75])
    assert _verifies(own, ef7[280:536], ef7[5:275])
    assert _chip_signs(card, ef7)
    assert ef4[10:26] == issuer_id
    assert not _verifies(_trusted_cvc_key(), ef4[312:568], ef4[10:307])
    cert = x509.load_der_x509_certificate(_jpki_files(card)[0x000A])
    assert cert.issuer.rfc4514_string().startswith(f"CN={jpki_issuer},")
    # A different name (ValueError) or the same name with a key of its own (InvalidSignature).
    with pytest.raises((InvalidSignature, ValueError)):
        cert.verify_directly_issued_by(pki.ca_certificate("jpki-auth"))


def test_expired_and_revoked_jpki_certificates(
    make_card: Callable[[str], SimulatedCard], tmp_path: Path
) -> None:
    """hayashi's JPKI certificate ended in 2025; shimizu's is on the CRL the simulator
    writes, which is signed by the JPKI CA, current, and lists no one else."""
    expired = x509.load_der_x509_certificate(_jpki_files(make_card("hayashi"))[0x000A])
    assert expired.not_valid_after_utc == datetime(2025, 12, 31, tzinfo=UTC)
    revoked = x509.load_der_x509_certificate(_jpki_files(make_card("shimizu"))[0x000A])
    valid = x509.load_der_x509_certificate(_jpki_files(make_card("yamada"))[0x000A])
    now = datetime(2026, 6, 1, tzinfo=UTC)
    crl = x509.load_pem_x509_crl(jpki_crl_pem(now=now))
    ca = pki.ca_certificate("jpki-auth")
    assert crl.issuer == ca.subject and crl.is_signature_valid(ca.public_key())
    assert crl.last_update_utc < now < crl.next_update_utc  # type: ignore[operator]
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(valid.serial_number) is None
    assert len(list(crl)) == 1


def test_trust_files_in_the_ward_formats(tmp_path: Path) -> None:
    """write_trust_files writes the CVC key JSON ({id hex: {e, n}}), two same-named JPKI CA
    generations (older first, then the issuing one) and a PEM CRL."""
    files = write_trust_files(tmp_path / "trust")
    keys = json.loads(files.card_trust_keys.read_text())
    assert list(keys) == [pki.TEXT_CVC_ISSUER_ID.hex()]
    assert set(keys[pki.TEXT_CVC_ISSUER_ID.hex()]) == {"e", "n"}
    anchors = x509.load_pem_x509_certificates(files.jpki_trust_anchors.read_bytes())
    assert len(anchors) == 2 and anchors[0].subject == anchors[1].subject
    assert anchors[1] == pki.ca_certificate("jpki-auth")
    assert anchors[0].not_valid_after_utc <= pki.CARD_NOT_BEFORE
    assert files.jpki_crl.read_bytes().startswith(b"-----BEGIN X509 CRL-----")
