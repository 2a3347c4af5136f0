"""The Leaf value: one issued certificate, its key and where its files live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from devpki.keys import key_to_pem
from devpki.store import cert_pem


@dataclass(frozen=True)
class Leaf:
    """What a test or a service needs in one object: certificate, key, file paths.

    chain_certificates holds the issuing CA(s) after the leaf; it is empty for a
    self-signed certificate.
    """

    name: str
    cert_path: Path
    key_path: Path
    chain_path: Path
    keystore_path: Path | None
    certificate: x509.Certificate
    private_key: PrivateKeyTypes
    chain_certificates: tuple[x509.Certificate, ...] = ()

    @property
    def serial(self) -> int:
        return self.certificate.serial_number

    @property
    def spiffe_id(self) -> str | None:
        """First spiffe:// URI SAN, the identity peers authorise."""
        return spiffe_id_of(self.certificate)

    def cert_pem(self) -> bytes:
        return cert_pem(self.certificate)

    def key_pem(self) -> bytes:
        return key_to_pem(self.private_key)

    def chain_pem(self) -> bytes:
        """Leaf then intermediate: what a TLS server must send."""
        return b"".join(cert_pem(c) for c in (self.certificate, *self.chain_certificates))


def spiffe_id_of(cert: x509.Certificate) -> str | None:
    """The SPIFFE ID from a certificate's URI SANs, or None."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith("spiffe://"):
            return uri
    return None
