"""Keys and certificates of the simulated cards and of the simulator's test CAs.

Generating an RSA-2048 key takes 50-200 ms, so every key is made once per process and
memoised by a label (``"card:<serial>:text"``, ``"ca:jpki-auth"``, ...); with ``cache_dir``
it is also kept as PEM on disk so a card keeps its keys (and therefore byte-identical
certificates) across process restarts. Certificates use fixed dates and serial numbers
derived from their labels for the same reason. These are test keys: never trust them.

Issuers (``kind``): the trusted test hierarchy a simulated ward configures (``text-cvc``
for the Text AP CVCs; ``jpki-auth`` and ``jpki-sign`` for JPKI, plus ``jpki-auth-previous``,
an older generation of the user-authentication CA with the same name, as J-LIS roots of
different generations share one name), and the issuers of forged cards that no ward trusts:
``forger-text-cvc`` / ``forger-jpki-auth`` name themselves honestly, ``impostor-text-cvc`` /
``impostor-jpki-auth`` copy the trusted issuers' 証明者鍵ID and name but sign with a key of
their own.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from hardware_sim.tlv import tlv

_KEYS: dict[str, rsa.RSAPrivateKey] = {}
_KEYS_LOCK = threading.Lock()

CA_NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
CA_NOT_AFTER = datetime(2044, 1, 1, tzinfo=UTC)
CARD_NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
# End of validity of the JPKI certificate of a persona whose certificate has expired.
EXPIRED_NOT_AFTER = datetime(2025, 12, 31, tzinfo=UTC)

# 16-byte 証明者鍵ID of the simulator's Text AP CVC issuer (real cards: 5000033...).
TEXT_CVC_ISSUER_ID = b"SIMCA-TEXT-AP-01"
# 証明者鍵ID a forger's own CVC issuer names (not in any trust file).
FORGER_CVC_ISSUER_ID = b"FORGED-CVC-CA-01"


def rsa_key(label: str, cache_dir: Path | None = None) -> rsa.RSAPrivateKey:
    """Return the RSA-2048 key named ``label``, generating it on first use."""
    with _KEYS_LOCK:
        cache_key = f"{cache_dir}|{label}"
        key = _KEYS.get(cache_key)
        if key is not None:
            return key
        pem_path = None
        if cache_dir is not None:
            safe = hashlib.sha256(label.encode()).hexdigest()[:32]
            pem_path = Path(cache_dir) / f"{safe}.pem"
            if pem_path.exists():
                # The simulator wrote this key itself: skip the expensive RSA consistency
                # check (about 0.2 s a key, nine keys at every start of the service).
                loaded = serialization.load_pem_private_key(
                    pem_path.read_bytes(), None, unsafe_skip_rsa_key_validation=True
                )
                assert isinstance(loaded, rsa.RSAPrivateKey)
                _KEYS[cache_key] = loaded
                return loaded
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if pem_path is not None:
            _write_atomically(
                pem_path,
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
            )
        _KEYS[cache_key] = key
        return key


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _serial(label: str) -> int:
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big") >> 1 | 1


def _name(common_name: str, org: str = "Kakanai Simulator Test PKI") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


_CA_NAMES = {
    "text-cvc": "Simulator Text AP CVC CA (TEST)",
    "jpki-auth": "Simulator JPKI User Authentication CA (TEST)",
    "jpki-auth-previous": "Simulator JPKI User Authentication CA (TEST)",
    "jpki-sign": "Simulator JPKI Digital Signature CA (TEST)",
    "forger-text-cvc": "Forged Text AP CVC CA (UNTRUSTED)",
    "forger-jpki-auth": "Forged JPKI User Authentication CA (UNTRUSTED)",
    "forger-jpki-sign": "Forged JPKI Digital Signature CA (UNTRUSTED)",
    "impostor-text-cvc": "Simulator Text AP CVC CA (TEST)",
    "impostor-jpki-auth": "Simulator JPKI User Authentication CA (TEST)",
    "impostor-jpki-sign": "Simulator JPKI Digital Signature CA (TEST)",
}
# Validity of each CA certificate; the previous generation ended before the cards were issued.
_CA_VALIDITY = {"jpki-auth-previous": (datetime(2014, 1, 1, tzinfo=UTC), CARD_NOT_BEFORE)}
_CVC_ISSUER_IDS = {
    "text-cvc": TEXT_CVC_ISSUER_ID,
    "forger-text-cvc": FORGER_CVC_ISSUER_ID,
    "impostor-text-cvc": TEXT_CVC_ISSUER_ID,
}


def ca_key(kind: str, cache_dir: Path | None = None) -> rsa.RSAPrivateKey:
    """Key of a simulator CA (``"text-cvc"``, ``"jpki-auth"``, ``"forger-text-cvc"``, ...)."""
    if kind not in _CA_NAMES:
        raise ValueError(f"unknown CA {kind!r}")
    return rsa_key(f"ca:{kind}", cache_dir)


def ca_certificate(kind: str, cache_dir: Path | None = None) -> x509.Certificate:
    """Self-signed X.509 certificate of a simulator CA (``"jpki-auth"``, ``"jpki-sign"``, ...)."""
    key = ca_key(kind, cache_dir)
    name = _name(_CA_NAMES[kind])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    not_before, not_after = _CA_VALIDITY.get(kind, (CA_NOT_BEFORE, CA_NOT_AFTER))
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial(f"ca:{kind}"))
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )


def card_certificate(
    kind: str,
    subject_key: rsa.RSAPublicKey,
    common_name: str,
    label: str,
    not_after: datetime,
    cache_dir: Path | None = None,
    *,
    issuer: str | None = None,
) -> x509.Certificate:
    """A JPKI end-entity certificate (``kind`` ``"jpki-auth"`` or ``"jpki-sign"``) for a card.

    ``issuer`` is the CA that signs it (default: the CA of ``kind``; a forged card passes
    ``"forger-jpki-auth"`` or ``"impostor-jpki-auth"``). Simplified compared with real JPKI
    certificates: the subject is just C/O/CN and there is no subjectAltName.
    """
    issuer = issuer or kind
    issuer_key = ca_key(issuer, cache_dir)
    signing = kind == "jpki-sign"
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, "Kakanai Simulator Card Holder"))
        .issuer_name(_name(_CA_NAMES[issuer]))
        .public_key(subject_key)
        .serial_number(_serial(label))
        .not_valid_before(CARD_NOT_BEFORE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=signing,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .sign(issuer_key, hashes.SHA256())
    )


def rsa_key_objects(key: rsa.RSAPublicKey) -> bytes:
    """A public key as the card stores it (CVC body, DF51): ``90 03 <e> 91 82 01 00 <n>``."""
    numbers = key.public_numbers()
    return tlv(0x90, numbers.e.to_bytes(3, "big")) + tlv(0x91, numbers.n.to_bytes(256, "big"))


def card_verifiable_certificate(
    subject_key: rsa.RSAPublicKey,
    subject_id: bytes,
    cache_dir: Path | None = None,
    *,
    issuer: str = "text-cvc",
) -> bytes:
    """The Text AP CVC (EF 0004, 568 bytes): ``7F21 { 5F4E body, 5F37 signature }``.

    Body = 16-byte issuer key id + 16-byte subject key id + ``90 03 <e> 91 82 01 00 <n>``;
    the signature is RSA PKCS#1 v1.5 / SHA-256 by the ``issuer`` CA (the simulator's
    ``text-cvc`` unless a forgery is built) over the body bytes (the 5F4E value).
    """
    if len(subject_id) != 16:
        raise ValueError("key ids are 16 bytes")
    body = _CVC_ISSUER_IDS[issuer] + subject_id + rsa_key_objects(subject_key)
    signature = ca_key(issuer, cache_dir).sign(body, padding.PKCS1v15(), hashes.SHA256())
    return tlv(0x7F21, tlv(0x5F4E, body) + tlv(0x5F37, signature))


def jpki_crl(
    revoked_serials: list[int],
    cache_dir: Path | None = None,
    *,
    last_update: datetime,
    next_update: datetime,
) -> x509.CertificateRevocationList:
    """A CRL of the simulator's JPKI user-authentication CA revoking ``revoked_serials``."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(_name(_CA_NAMES["jpki-auth"]))
        .last_update(last_update)
        .next_update(next_update)
    )
    for serial in sorted(set(revoked_serials)):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(CARD_NOT_BEFORE)
            .build()
        )
    return builder.sign(ca_key("jpki-auth", cache_dir), hashes.SHA256())


def sign_raw_pkcs1(key: rsa.RSAPrivateKey, message: bytes) -> bytes:
    """PKCS#1 v1.5 type-1 signature over ``message`` exactly as given (no hashing)."""
    k = key.key_size // 8
    if not 1 <= len(message) <= k - 11:
        raise ValueError("message too long for the key")
    block = b"\x00\x01" + b"\xff" * (k - 3 - len(message)) + b"\x00" + message
    numbers = key.private_numbers()
    n = numbers.public_numbers.n
    return pow(int.from_bytes(block, "big"), numbers.d, n).to_bytes(k, "big")
