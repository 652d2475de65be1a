"""The genuine-card checks: what each one proves, and what it cannot.

A read reports three separate things (spec 5.1, 5.2, 4.3):

**Consistent** (``CardInfo.integrity``, made on every read). EF 0002 (and EF 0001 when read)
match the digests in EF 0003, and EF 0003's signature DF33 verifies under the key in the
card's own CVC (EF 0004). Proves: the data was not altered since whoever holds that key
signed it, and nothing was garbled on the way. Cannot prove: who that was. Anyone can make a
key pair, sign made-up data with it and write both to a chip; a chip that replays a genuine
card's files passes too.

**Present** (``CardChecks.chip_authenticated``, internal authentication; no PIN beyond the
one already verified). The chip signs a fresh challenge of ours with ``80 2A 00 00``; the
signature must verify under the key DF51 of EF 0007 publishes, and DF52 (a signature over
the DF51 object) must verify under the EF 0004 key that also signs the data. Proves: in this
card session the chip holds the private key that the data's signer bound to this card; a
chip that replays another card's files cannot sign (it has the files, not the key), and one
that swaps in a key of its own fails DF52. Cannot prove: that the EF 0004 key belongs to
J-LIS; a forgery with keys of its own throughout is present and consistent.

The challenge is 32 bytes of host randomness (``secrets``), not GET CHALLENGE: internal
authentication proves something only if the verifier chooses the challenge. A challenge the
card chose could be one whose signature a replaying chip recorded earlier, and it would cost
one more APDU. The challenge is never reused.

**Genuine** (``CardChecks.genuine``; a chain to what the ward configured):

* Card chain (``KIOSK_CARD_TRUST_KEYS``, no PIN): challenge -> DF51 -> DF52 -> EF 0004 ->
  the CVC's 5F37 signature over its body under the J-LIS key that the 16-byte 証明者鍵ID in
  the body names. The scheme is PKCS#1 v1.5 / SHA-256 over the 297-byte body, as for the
  card's other signatures; spec 5.1 does not name it, myna-card verifies JPKI test cards' CVCs
  this way under test-hierarchy keys, and for production cards it is UNCONFIRMED here. Proves,
  with *present* and *consistent*: the data was signed under a key J-LIS certified, on the
  chip that holds the key bound to it. Cannot prove: that the card is unexpired or not
  reported lost (a CVC carries no dates and the card has no revocation list), or anything
  at all if the ward configured a key that is not J-LIS's.
* JPKI chain (``KIOSK_JPKI_TRUST_ANCHORS``, optional ``KIOSK_JPKI_CRL``; the resident's JPKI
  user-authentication PIN, a separate PIN): the user-authentication certificate (EF 000A)
  was issued by a configured CA (found by name *and* signature, as generations of J-LIS
  roots share one name), is within its validity (and the CA too), is not on a fresh CRL
  when one is configured, and its key (IEF 0017, after the PIN) signed a fresh challenge
  (``80 2A 00 80``). Proves: the card holds a live JPKI authentication key and the person
  at the kiosk knows its PIN. Cannot prove: that this key belongs to the same person as the
  Text AP data (the certificate carries no name or address; the card chain binds the data),
  or revocation newer than the CRL the ward last fetched. A CRL whose next update has passed
  (or none for the issuer) leaves revocation unknown, so the result is ``chain_invalid``,
  never ``verified``. Verifying JPKI signatures as a business may need ministerial approval
  (公的個人認証法 第17条, spec 5.1): the ward decides whether to configure it.

Certificates and keys come from the card; only the trust anchors come from the ward. A
signature under a key read off the same card proves nothing about who issued it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from cardreader.model import Genuine
from cardreader.trust import CardTrust

# DER prefix of a SHA-256 DigestInfo (PKCS#1 v1.5); the hash follows (spec 4.3).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
CHALLENGE_BYTES = 32


def new_challenge() -> bytes:
    """A fresh random challenge (never reused, never chosen by the card)."""
    return secrets.token_bytes(CHALLENGE_BYTES)


def digest_info(message: bytes) -> bytes:
    """The SHA-256 DigestInfo of ``message``: what ``80 2A`` with P1 ``00`` signs."""
    return SHA256_DIGEST_INFO + hashlib.sha256(message).digest()


def signature_verifies(key: rsa.RSAPublicKey, signature: bytes | None, message: bytes) -> bool:
    """Whether ``signature`` is PKCS#1 v1.5 / SHA-256 over ``message`` under ``key``."""
    if signature is None:
        return False
    try:
        key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


@dataclass(frozen=True, repr=False)
class CardCertificate:
    """The Text AP's CVC (EF 0004): ``7F21 { 5F4E body, 5F37 signature }``.

    ``body`` is the 5F4E value the signature covers; ``signature`` is ``None`` when only the
    body was read (no card chain asked for).
    """

    issuer_id: bytes
    subject_id: bytes
    key: rsa.RSAPublicKey
    body: bytes
    signature: bytes | None


@dataclass(frozen=True, repr=False)
class SignedChipKey:
    """EF 0007: the challenge key (DF51) and DF52, a signature over the whole DF51 object."""

    key: rsa.RSAPublicKey
    signed: bytes
    signature: bytes


def check_chip(
    certificate_key: rsa.RSAPublicKey,
    signed_key: SignedChipKey | None,
    challenge: bytes,
    signature: bytes | None,
) -> bool:
    """*Present*: DF52 verifies under the EF 0004 key and our challenge under DF51."""
    if signed_key is None:
        return False
    return signature_verifies(
        certificate_key, signed_key.signature, signed_key.signed
    ) and signature_verifies(signed_key.key, signature, challenge)


def check_card_chain(
    certificate: CardCertificate, chip_authenticated: bool, trust: CardTrust
) -> Genuine:
    """The card chain: challenge -> DF51 -> DF52 -> EF 0004 -> the configured J-LIS key.

    ``chip_authenticated`` is the result of :func:`check_chip` (the first three links).
    """
    issuer_key = trust.cvc_keys.get(certificate.issuer_id)
    if issuer_key is None:
        return Genuine.CHAIN_INVALID
    if not signature_verifies(issuer_key, certificate.signature, certificate.body):
        return Genuine.SIGNATURE_INVALID
    if not chip_authenticated:
        return Genuine.SIGNATURE_INVALID
    return Genuine.VERIFIED


def check_jpki_certificate(
    der: bytes | None, trust: CardTrust, now: datetime
) -> tuple[Genuine, x509.Certificate | None]:
    """Everything about the JPKI user-authentication certificate that needs no PIN.

    Returns the result and, when it is ``VERIFIED``, the certificate (whose key must then
    sign a challenge). ``der`` is ``None`` when the card has no such certificate.
    """
    if der is None:
        return Genuine.CHAIN_INVALID, None
    try:
        certificate = x509.load_der_x509_certificate(der)
        public = certificate.public_key()
    except ValueError:
        return Genuine.CHAIN_INVALID, None
    if not isinstance(public, rsa.RSAPublicKey) or not _usable_for_authentication(certificate):
        return Genuine.CHAIN_INVALID, None
    named = [a for a in trust.jpki_anchors if a.subject == certificate.issuer]
    if not named:
        return Genuine.CHAIN_INVALID, None
    issuer = next((a for a in named if _issued_by(certificate, a)), None)
    if issuer is None:
        return Genuine.SIGNATURE_INVALID, None
    if not (_within_validity(certificate, now) and _within_validity(issuer, now)):
        return Genuine.EXPIRED, None
    if trust.jpki_crls is not None:
        issued = (c for c in trust.jpki_crls if c.issuer == issuer.subject)
        crl = next((c for c in issued if _crl_signed_by(c, issuer)), None)
        if crl is None or not _crl_current(crl, now):
            return Genuine.CHAIN_INVALID, None
        if crl.get_revoked_certificate_by_serial_number(certificate.serial_number) is not None:
            return Genuine.REVOKED, None
    return Genuine.VERIFIED, certificate


def check_jpki_signature(
    certificate: x509.Certificate, challenge: bytes, signature: bytes | None
) -> Genuine:
    """The last JPKI link: the certificate's key signed our challenge."""
    key = certificate.public_key()
    assert isinstance(key, rsa.RSAPublicKey)  # check_jpki_certificate made sure
    if signature_verifies(key, signature, challenge):
        return Genuine.VERIFIED
    return Genuine.SIGNATURE_INVALID


def overall(card_chain: Genuine | None, jpki_chain: Genuine | None) -> Genuine:
    """*Genuine* for the read: ``None`` stands for a chain that was not asked for or not
    configured; a configured chain that was not checked (no JPKI PIN) keeps it from
    ``VERIFIED``; the first failure (card chain first) wins."""
    made = [r for r in (card_chain, jpki_chain) if r is not None]
    if not made:
        return Genuine.NOT_CHECKED
    for result in made:
        if result not in (Genuine.VERIFIED, Genuine.NOT_CHECKED):
            return result
    if Genuine.NOT_CHECKED in made:
        return Genuine.NOT_CHECKED
    return Genuine.VERIFIED


def _usable_for_authentication(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        if constraints.value.ca:
            return False
    except x509.ExtensionNotFound:
        pass
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage)
    except x509.ExtensionNotFound:
        return True
    return usage.value.digital_signature


def _issued_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _within_validity(certificate: x509.Certificate, now: datetime) -> bool:
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def _crl_signed_by(crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> bool:
    public = issuer.public_key()
    return isinstance(public, rsa.RSAPublicKey) and crl.is_signature_valid(public)


def _crl_current(crl: x509.CertificateRevocationList, now: datetime) -> bool:
    next_update = crl.next_update_utc
    return crl.last_update_utc <= now and next_update is not None and now <= next_update
