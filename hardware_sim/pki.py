"""Keys and certificates of the simulated cards and of the simulator's test CAs.

Generating an RSA-2048 key takes 50-200 ms, so every key is made once per process and
memoised by a label (``"card:<serial>:text"``, ``"ca:jpki-auth"``, ...); with ``cache_dir``
it is also kept as PEM on disk so a card keeps its keys (and therefore byte-identical
certificates) across process restarts. Certificates use fixed dates and serial numbers
derived from their labels for the same reason. These are test keys: never trust them.
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

# 16-byte 証明者鍵ID of the simulator's Text AP CVC issuer (real cards: 5000033...).
TEXT_CVC_ISSUER_ID = b"SIMCA-TEXT-AP-01"


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
                loaded = serialization.load_pem_private_key(pem_path.read_bytes(), None)
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
    "jpki-sign": "Simulator JPKI Digital Signature CA (TEST)",
}


def ca_key(kind: str, cache_dir: Path | None = None) -> rsa.RSAPrivateKey:
    """Key of a simulator test CA: ``"text-cvc"``, ``"jpki-auth"`` or ``"jpki-sign"``."""
    if kind not in _CA_NAMES:
        raise ValueError(f"unknown CA {kind!r}")
    return rsa_key(f"ca:{kind}", cache_dir)


def ca_certificate(kind: str, cache_dir: Path | None = None) -> x509.Certificate:
    """Self-signed X.509 certificate of a simulator test CA (``"jpki-auth"``/``"jpki-sign"``)."""
    key = ca_key(kind, cache_dir)
    name = _name(_CA_NAMES[kind])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(_serial(f"ca:{kind}"))
        .not_valid_before(CA_NOT_BEFORE)
        .not_valid_after(CA_NOT_AFTER)
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
) -> x509.Certificate:
    """A JPKI end-entity certificate (``kind`` ``"jpki-auth"`` or ``"jpki-sign"``) for a card.

    Simplified compared with real JPKI certificates: the subject is just C/O/CN and there is
    no subjectAltName carrying the four basic items.
    """
    issuer_key = ca_key(kind, cache_dir)
    signing = kind == "jpki-sign"
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, "Kakanai Simulator Card Holder"))
        .issuer_name(_name(_CA_NAMES[kind]))
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


def card_verifiable_certificate(
    subject_key: rsa.RSAPublicKey, subject_id: bytes, cache_dir: Path | None = None
) -> bytes:
    """The Text AP CVC (EF 0004, 568 bytes): ``7F21 { 5F4E body, 5F37 signature }``.

    Body = 16-byte issuer key id + 16-byte subject key id + ``90 03 <e> 91 82 01 00 <n>``;
    the signature is RSA PKCS#1 v1.5 / SHA-256 by the simulator's ``text-cvc`` CA over the
    body bytes (the 5F4E value).
    """
    if len(subject_id) != 16:
        raise ValueError("key ids are 16 bytes")
    numbers = subject_key.public_numbers()
    e = numbers.e.to_bytes(3, "big")
    n = numbers.n.to_bytes(256, "big")
    body = TEXT_CVC_ISSUER_ID + subject_id + tlv(0x90, e) + tlv(0x91, n)
    signature = ca_key("text-cvc", cache_dir).sign(body, padding.PKCS1v15(), hashes.SHA256())
    return tlv(0x7F21, tlv(0x5F4E, body) + tlv(0x5F37, signature))


def sign_raw_pkcs1(key: rsa.RSAPrivateKey, message: bytes) -> bytes:
    """PKCS#1 v1.5 type-1 signature over ``message`` exactly as given (no hashing)."""
    k = key.key_size // 8
    if not 1 <= len(message) <= k - 11:
        raise ValueError("message too long for the key")
    block = b"\x00\x01" + b"\xff" * (k - 3 - len(message)) + b"\x00" + message
    numbers = key.private_numbers()
    n = numbers.public_numbers.n
    return pow(int.from_bytes(block, "big"), numbers.d, n).to_bytes(k, "big")
