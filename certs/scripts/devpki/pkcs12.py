"""PKCS#12 keystores and truststores, for Java and other clients that do not read PEM.

Encrypted with PBES2 (AES-256-CBC, PBKDF2-SHA256) and a SHA-256 MAC: OpenSSL 3 reads
it without -legacy and Java 11.0.12+ keytool reads it too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import (
    KeySerializationEncryption,
    PrivateFormat,
    pkcs12,
)

from devpki.keys import SigningKey

PASSWORD_ENV = "MTLS_P12_PASSWORD"  # noqa: S105
# Demo default, the one Java tooling assumes; set MTLS_P12_PASSWORD for anything shared.
DEFAULT_PASSWORD = "changeit"  # noqa: S105


def p12_password() -> bytes:
    """Password from MTLS_P12_PASSWORD, else the documented demo default 'changeit'."""
    return os.environ.get(PASSWORD_ENV, DEFAULT_PASSWORD).encode()


def _encryption(password: bytes) -> KeySerializationEncryption:
    return (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(100_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password)
    )


def keystore(
    name: str,
    key: SigningKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
) -> bytes:
    """Key, certificate and chain under the alias `name`."""
    return pkcs12.serialize_key_and_certificates(
        name.encode(), key, cert, list(chain) or None, _encryption(p12_password())
    )


def truststore(anchors: Mapping[str, x509.Certificate]) -> bytes:
    """Certificates only (alias -> cert), tagged so keytool lists them as trustedCertEntry."""
    entries = [pkcs12.PKCS12Certificate(cert, alias.encode()) for alias, cert in anchors.items()]
    return pkcs12.serialize_java_truststore(entries, _encryption(p12_password()))
