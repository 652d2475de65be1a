"""The trust anchors of the genuine-card checks, and the files a ward configures them in.

* ``KIOSK_CARD_TRUST_KEYS``: JSON ``{"<16-byte 証明者鍵ID as 32 hex digits>": {"e": "<hex>",
  "n": "<hex>"}}``, the J-LIS keys that sign the Text AP CVCs (EF 0004). The CVC names its
  issuer by that id; the key is not on the card (spec 5.1).
* ``KIOSK_JPKI_TRUST_ANCHORS``: a PEM bundle of the J-LIS JPKI user-authentication CA
  certificates. Generations share one name, so the bundle may hold several with the same
  subject: the verifier picks the one whose key verifies the signature.
* ``KIOSK_JPKI_CRL`` (optional, needs the anchors): one or more CRLs, PEM (several
  concatenated) or a single DER, each signed by one of the anchors.

A check against a key is only as good as the key: these files are the ward's statement of
whom it trusts, and a wrong file makes a wrong "verified". Take them from J-LIS, not from a
card and not from this repository (the simulator writes test files that trust its own test
keys; ``kiosk sim trust-keys`` / ``trust-anchors`` / ``jpki-crl``).

Loading errors are :class:`TrustFileError` with a one-line reason; the configuration layer
names the variable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

_KEY_ID = re.compile(r"[0-9A-Fa-f]{32}")
_HEX = re.compile(r"(?:[0-9A-Fa-f]{2})+")
_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)


class TrustFileError(ValueError):
    """A trust file is missing, unreadable or not in its format (one-line reason).

    ``setting`` names the file's role as :meth:`CardTrust.load` calls it
    (``card_trust_keys``, ``jpki_trust_anchors`` or ``jpki_crl``), for the caller's message.
    """

    def __init__(self, reason: str, setting: str = "") -> None:
        super().__init__(reason)
        self.setting = setting


@dataclass(frozen=True)
class CardTrust:
    """What the ward trusts; empty means the chain checks are not configured.

    ``cvc_keys``: 証明者鍵ID (16 bytes) -> J-LIS CVC issuer key. ``jpki_anchors``: JPKI CA
    certificates. ``jpki_crls``: ``None`` when no CRL is configured (revocation not
    checked), else the CRLs (a certificate whose issuer has no fresh CRL among them is then
    not verified).
    """

    cvc_keys: Mapping[bytes, rsa.RSAPublicKey] = field(default_factory=lambda: MappingProxyType({}))
    jpki_anchors: tuple[x509.Certificate, ...] = ()
    jpki_crls: tuple[x509.CertificateRevocationList, ...] | None = None

    @classmethod
    def load(
        cls,
        card_trust_keys: str | Path | None = None,
        jpki_trust_anchors: str | Path | None = None,
        jpki_crl: str | Path | None = None,
    ) -> CardTrust:
        """Load the configured files (``None`` or ``""``: not configured).

        Raises :class:`TrustFileError` naming the file's problem and its ``setting``.
        """
        keys: dict[bytes, rsa.RSAPublicKey] = {}
        anchors: tuple[x509.Certificate, ...] = ()
        crls = None
        setting = "card_trust_keys"
        try:
            if card_trust_keys:
                keys = load_card_trust_keys(card_trust_keys)
            setting = "jpki_trust_anchors"
            if jpki_trust_anchors:
                anchors = load_jpki_trust_anchors(jpki_trust_anchors)
            setting = "jpki_crl"
            if jpki_crl:
                if not anchors:
                    raise TrustFileError("a CRL needs the JPKI trust anchors that sign it")
                crls = load_jpki_crls(jpki_crl, anchors)
        except TrustFileError as e:
            raise TrustFileError(str(e), setting) from e
        return cls(MappingProxyType(keys), anchors, crls)


NO_TRUST = CardTrust()


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise TrustFileError(f"cannot read {path}: {e.strerror or e}") from e


def load_card_trust_keys(path: str | Path) -> dict[bytes, rsa.RSAPublicKey]:
    """Parse a ``KIOSK_CARD_TRUST_KEYS`` file into 証明者鍵ID -> RSA public key."""
    try:
        document = json.loads(_read(path))
    except ValueError as e:
        raise TrustFileError(f"{path} is not JSON: {e}") from e
    if not isinstance(document, dict) or not document:
        raise TrustFileError(f"{path}: expected a non-empty JSON object of key ids")
    keys: dict[bytes, rsa.RSAPublicKey] = {}
    for key_id, entry in document.items():
        if not _KEY_ID.fullmatch(key_id):
            raise TrustFileError(f"{path}: {key_id!r} is not a 16-byte key id in hex")
        if not isinstance(entry, dict) or set(entry) != {"e", "n"}:
            raise TrustFileError(f"{path}: {key_id} needs exactly the fields e and n")
        if not all(isinstance(entry[f], str) and _HEX.fullmatch(entry[f]) for f in "en"):
            raise TrustFileError(f"{path}: {key_id}: e and n must be hex strings")
        try:
            key = rsa.RSAPublicNumbers(int(entry["e"], 16), int(entry["n"], 16)).public_key()
        except ValueError as e:
            raise TrustFileError(f"{path}: {key_id} is not a valid RSA key ({e})") from e
        if key.key_size < 2048:
            raise TrustFileError(f"{path}: {key_id} is shorter than 2048 bits")
        if bytes.fromhex(key_id) in keys:
            raise TrustFileError(f"{path}: {key_id} appears twice")
        keys[bytes.fromhex(key_id)] = key
    return keys


def load_jpki_trust_anchors(path: str | Path) -> tuple[x509.Certificate, ...]:
    """Parse a ``KIOSK_JPKI_TRUST_ANCHORS`` PEM bundle (at least one CA certificate)."""
    try:
        anchors = tuple(x509.load_pem_x509_certificates(_read(path)))
    except ValueError as e:
        raise TrustFileError(f"{path} is not a PEM bundle of certificates: {e}") from e
    for anchor in anchors:
        if not isinstance(anchor.public_key(), rsa.RSAPublicKey):
            raise TrustFileError(f"{path}: {anchor.subject.rfc4514_string()} is not an RSA CA")
        try:
            constraints = anchor.extensions.get_extension_for_class(x509.BasicConstraints)
        except x509.ExtensionNotFound:
            continue
        if not constraints.value.ca:
            raise TrustFileError(f"{path}: {anchor.subject.rfc4514_string()} is not a CA")
    return anchors


def load_jpki_crls(
    path: str | Path, anchors: tuple[x509.Certificate, ...]
) -> tuple[x509.CertificateRevocationList, ...]:
    """Parse a ``KIOSK_JPKI_CRL`` file; each CRL must be signed by one of ``anchors``."""
    raw = _read(path)
    try:
        pems = _PEM_CRL.findall(raw)
        crls = (
            tuple(x509.load_pem_x509_crl(pem) for pem in pems)
            if pems
            else (x509.load_der_x509_crl(raw),)
        )
    except ValueError as e:
        raise TrustFileError(f"{path} is not a CRL (PEM or DER): {e}") from e
    for crl in crls:
        if crl_issuer(crl, anchors) is None:
            raise TrustFileError(
                f"{path}: the CRL of {crl.issuer.rfc4514_string()} is not signed by an anchor"
            )
    return crls


def crl_issuer(
    crl: x509.CertificateRevocationList, anchors: tuple[x509.Certificate, ...]
) -> x509.Certificate | None:
    """The anchor whose name and key match ``crl``'s issuer and signature, or ``None``."""
    for anchor in anchors:
        public = anchor.public_key()
        if (
            anchor.subject == crl.issuer
            and isinstance(public, rsa.RSAPublicKey)
            and crl.is_signature_valid(public)
        ):
            return anchor
    return None
