"""The Leaf value: one issued certificate, its key and where its files live."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from mtls.certfacts import spiffe_id_or_none

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
        """The SPIFFE ID peers authorise, by the server's X.509-SVID rules (else None)."""
        return spiffe_id_or_none(self.certificate)

    def cert_pem(self) -> bytes:
        return cert_pem(self.certificate)

    def key_pem(self) -> bytes:
        return key_to_pem(self.private_key)

    def chain_pem(self) -> bytes:
        """Leaf then intermediate: what a TLS server must send."""
        return b"".join(cert_pem(c) for c in (self.certificate, *self.chain_certificates))
