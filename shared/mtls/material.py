"""Certificate material read from disk and checked before anything listens.

A wrong file should stop the process with one line that names the file and the
fix, not surface later as an opaque handshake failure. The same checks guard
hot reload: a half-written certificate/key pair is refused and the last good
material stays in use.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID

from mtls import certfacts
from mtls.settings import TLSSettings


class Role(Enum):
    """What a certificate is used for; decides the extended key usage it needs."""

    SERVER = ExtendedKeyUsageOID.SERVER_AUTH
    CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH

    @property
    def usage_name(self) -> str:
        return "serverAuth" if self is Role.SERVER else "clientAuth"


class MaterialError(Exception):
    """A certificate file is unusable; the message names the file and the fix."""


@dataclass(frozen=True)
class TLSMaterial:
    """One consistent snapshot of the files a TLS context is built from."""

    settings: TLSSettings
    chain: list[x509.Certificate]
    ca_certs: list[x509.Certificate]
    crls: list[x509.CertificateRevocationList]  # one per issuing CA (two during CA rotation)
    digest: str

    @property
    def leaf(self) -> x509.Certificate:
        return self.chain[0]

    @functools.cached_property
    def leaf_pem(self) -> str:
        """Encoded once: the server puts it in every connection's TLS extension."""
        return self.leaf.public_bytes(serialization.Encoding.PEM).decode()


def _read(setting: str, path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise MaterialError(
            f"{setting}={path}: no such file; run `make certs` or point {setting} at {what}"
        ) from None
    except OSError as exc:
        raise MaterialError(
            f"{setting}={path}: cannot read it ({exc.strerror}); check its owner and mode"
        ) from None


def _whole_pem(setting: str, path: Path, data: bytes) -> None:
    """Refuse a file that ends inside a PEM block: caught mid-write, its parse would be short."""
    if data.count(b"-----BEGIN ") != data.count(b"-----END "):
        raise MaterialError(
            f"{setting}={path}: ends inside a PEM block (still being written?); "
            "write it whole (temporary file + rename)"
        )


def _certificates(setting: str, path: Path, data: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise MaterialError(f"{setting}={path}: holds no PEM certificate; point it at {what}")
    _whole_pem(setting, path, data)
    return certs


def chain_is_anchored(material: TLSMaterial) -> bool:
    """True when the chain leads to a CA of the trust bundle.

    A chain cut short (the leaf without its intermediate) is what peers refuse
    as unknown_ca, so a reload must not swap it in.
    """
    return certfacts.is_anchored(material.chain, material.ca_certs)


def _private_key(settings: TLSSettings, data: bytes) -> PrivateKeyTypes:
    password = settings.key_password.get_secret_value().encode() if settings.key_password else None
    try:
        return serialization.load_pem_private_key(data, password=password)
    except TypeError:
        raise MaterialError(
            f"MTLS_KEY={settings.key_path}: the key is encrypted; set MTLS_KEY_PASSWORD"
        ) from None
    except ValueError:
        raise MaterialError(
            f"MTLS_KEY={settings.key_path}: not a PEM private key (or a wrong "
            "MTLS_KEY_PASSWORD); point it at the key.pem issued with the certificate"
        ) from None


def _check_pair(settings: TLSSettings, leaf: x509.Certificate, key: PrivateKeyTypes) -> None:
    if not certfacts.key_matches(leaf, key):
        raise MaterialError(
            f"MTLS_KEY={settings.key_path}: this key does not match the certificate in "
            f"MTLS_CERT={settings.cert_path}; use the key.pem issued with that certificate"
        )


def _check_usage(settings: TLSSettings, leaf: x509.Certificate, roles: tuple[Role, ...]) -> None:
    for role in roles:
        if not certfacts.allows_purpose(leaf, role.value):
            raise MaterialError(
                f"MTLS_CERT={settings.cert_path}: the certificate lacks the "
                f"{role.usage_name} extended key usage needed to act as a "
                f"{role.name.lower()}; reissue it (`make renew NAME=...`)"
            )


def _crls(settings: TLSSettings) -> tuple[list[x509.CertificateRevocationList], bytes]:
    if settings.crl is None:
        return [], b""
    data = _read("MTLS_CRL", settings.crl, "the CRL of the issuing CA (crl.pem)")
    _whole_pem("MTLS_CRL", settings.crl, data)
    try:
        crls = certfacts.crls_in(data)
    except ValueError:
        crls = []
    if not crls:
        raise MaterialError(f"MTLS_CRL={settings.crl}: not a PEM CRL; run `python -m devpki crl`")
    return crls, data


def load_material(settings: TLSSettings, roles: tuple[Role, ...]) -> TLSMaterial:
    """Read and cross-check cert, key, CA bundle and CRL; raise MaterialError on the first fault."""
    chain_bytes = _read("MTLS_CERT", settings.cert_path, "a PEM certificate chain (chain.pem)")
    key_bytes = _read("MTLS_KEY", settings.key_path, "the PEM private key (key.pem)")
    ca_bytes = _read("MTLS_CA", settings.ca_path, "the CA bundle (ca.crt)")
    chain = _certificates("MTLS_CERT", settings.cert_path, chain_bytes, "chain.pem")
    _check_pair(settings, chain[0], _private_key(settings, key_bytes))
    _check_usage(settings, chain[0], roles)
    ca_certs = _certificates("MTLS_CA", settings.ca_path, ca_bytes, "the CA bundle (ca.crt)")
    crls, crl_bytes = _crls(settings)
    digest = hashlib.sha256(chain_bytes + key_bytes + ca_bytes + crl_bytes).hexdigest()
    return TLSMaterial(settings, chain, ca_certs, crls, digest)


def material_digest(settings: TLSSettings) -> str | None:
    """Digest of the files as they are now, or None while one is missing (mid-swap)."""
    try:
        parts = [path.read_bytes() for path in settings.material_paths()]
    except OSError:
        return None
    return hashlib.sha256(b"".join(parts)).hexdigest()
