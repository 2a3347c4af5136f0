"""What a certificate, a key or a CRL says, read here and nowhere else.

identity, material, health, the connection registry, the doctor and `devpki
inspect` ask this module, so two readers of one certificate cannot disagree
(they did: four SPIFFE parsers with three case rules, a doctor that read only
the first CRL of a file). An extension is looked up through `extension()`: a
missing one is None, never an exception to catch at each use.

The X.509-SVID rules (SPIFFE X509-SVID §2, §4.3, §5.2) are here too: exactly
one URI SAN and it a SPIFFE ID (`mtls.spiffe`); a leaf's key usage has
digitalSignature and neither keyCertSign nor cRLSign; CA:TRUE is not a leaf.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification

from mtls.spiffe import SpiffeId, SvidError, parse_spiffe_id

_Extension = TypeVar("_Extension", bound=x509.ExtensionType)
_CRL_BLOCK = re.compile(rb"-----BEGIN X509 CRL-----.+?-----END X509 CRL-----", re.DOTALL)


def extension(
    holder: x509.Certificate | x509.CertificateRevocationList, kind: type[_Extension]
) -> _Extension | None:
    """The extension's value, or None when the certificate (or CRL) has none."""
    try:
        return holder.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


@dataclass(frozen=True)
class SubjectNames:
    """The subject alternative names, by kind."""

    uris: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()


def subject_names(cert: x509.Certificate) -> SubjectNames:
    san = extension(cert, x509.SubjectAlternativeName)
    if san is None:
        return SubjectNames()
    return SubjectNames(
        uris=tuple(san.get_values_for_type(x509.UniformResourceIdentifier)),
        dns=tuple(san.get_values_for_type(x509.DNSName)),
        ips=tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress)),
    )


def extended_key_usage(cert: x509.Certificate) -> tuple[x509.ObjectIdentifier, ...] | None:
    """The EKU purposes, or None when there is no EKU extension (then any use is allowed)."""
    usages = extension(cert, x509.ExtendedKeyUsage)
    return None if usages is None else tuple(usages)


def allows_purpose(cert: x509.Certificate, purpose: x509.ObjectIdentifier) -> bool:
    usages = extended_key_usage(cert)
    return usages is None or purpose in usages


def is_ca(cert: x509.Certificate) -> bool:
    constraints = extension(cert, x509.BasicConstraints)
    return constraints is not None and constraints.ca


def key_matches(cert: x509.Certificate, key: Any) -> bool:
    """Whether a private key is the one of the certificate (their public keys are equal)."""
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki))


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


@dataclass(frozen=True)
class CertificateName:
    """Which certificate an audit line is about, under the same four field names in every
    certificate event (issued, renewed, reloaded, revoked, refused, expiring, renewal failed),
    so one query follows a certificate through its whole life."""

    subject: str
    serial: int
    issuer: str
    not_after: datetime

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertificateName:
        return cls(
            cert.subject.rfc4514_string(),
            cert.serial_number,
            cert.issuer.rfc4514_string(),
            cert.not_valid_after_utc,
        )

    def as_fields(self) -> dict[str, str]:
        return {
            "subject": self.subject,
            "serial": f"{self.serial:x}",
            "issuer": self.issuer,
            "not_after": self.not_after.isoformat(),
        }


def event_fields(cert: x509.Certificate) -> dict[str, str]:
    """The certificate's fields in an audit line: subject, serial, issuer, not_after."""
    return CertificateName.of(cert).as_fields()


def days_left(cert: x509.Certificate, now: datetime | None = None) -> int:
    """Whole days until expiry, floored: negative once expired."""
    return (cert.not_valid_after_utc - (now or datetime.now(UTC))) // timedelta(days=1)


def check_leaf_usage(cert: x509.Certificate) -> None:
    """A workload leaf: not a CA, signs (digitalSignature), signs no certificates or CRLs."""
    usage = extension(cert, x509.KeyUsage)
    if is_ca(cert) or (usage is not None and usage.key_cert_sign):
        raise SvidError(
            "the certificate is a CA certificate (CA:TRUE or keyCertSign), not a "
            "workload leaf; present a leaf certificate issued for this client"
        )
    if usage is not None and usage.crl_sign:
        raise SvidError("the leaf's key usage has cRLSign, which an X.509-SVID leaf must not")
    if usage is None or not usage.digital_signature:
        raise SvidError(
            "the leaf's key usage lacks digitalSignature, which an X.509-SVID requires; "
            "reissue it (python -m devpki issue <name>)"
        )


def spiffe_id_of(cert: x509.Certificate) -> SpiffeId:
    """The SPIFFE ID by the SAN rules alone (the doctor reports key usage apart)."""
    uris = subject_names(cert).uris
    if not uris:
        raise SvidError("the certificate carries no SPIFFE ID (URI SAN spiffe://...)")
    if len(uris) > 1:
        raise SvidError(
            f"the certificate has {len(uris)} URI SANs; an X.509-SVID has exactly one URI SAN "
            "(its SPIFFE ID)"
        )
    return parse_spiffe_id(uris[0])


def svid_id(cert: x509.Certificate) -> SpiffeId:
    """The SPIFFE ID of a conforming X.509-SVID leaf; SvidError says what does not conform."""
    check_leaf_usage(cert)
    return spiffe_id_of(cert)


def spiffe_id_or_none(cert: x509.Certificate) -> str | None:
    """For display (health, inspect, inventory): the SPIFFE ID if the leaf conforms, else None."""
    try:
        return str(svid_id(cert))
    except ValueError:  # SvidError, or an extension cryptography cannot parse
        return None


def trust_path(
    chain: list[x509.Certificate], cas: list[x509.Certificate]
) -> list[x509.Certificate]:
    """The path from the leaf to a CA of the bundle, built by cryptography's RFC 5280 verifier.

    Dates are checked at a moment inside the leaf's own validity, because callers report the
    leaf's dates apart; VerificationError says why no path exists.
    """
    leaf = chain[0]
    last_valid_moment = leaf.not_valid_after_utc - timedelta(seconds=1)
    moment = max(leaf.not_valid_before_utc, min(datetime.now(UTC), last_valid_moment))
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(cas))
        .time(moment)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),  # leaf rules: check_leaf_usage
        )
        .build_client_verifier()
    )
    return list(verifier.verify(leaf, chain[1:]).chain)


def is_anchored(chain: list[x509.Certificate], cas: list[x509.Certificate]) -> bool:
    """True when the chain leads to a CA of the bundle (or ends at one of them)."""
    if chain[-1] in cas:
        return True
    try:
        trust_path(chain, cas)
    except verification.VerificationError:
        return False
    return True


def crls_in(data: bytes) -> list[x509.CertificateRevocationList]:
    """Every CRL of a PEM file (one per issuing CA; two during a CA rotation)."""
    return [x509.load_pem_x509_crl(block) for block in _CRL_BLOCK.findall(data)]


def crl_number(crl: x509.CertificateRevocationList) -> int | None:
    number = extension(crl, x509.CRLNumber)
    return None if number is None else number.crl_number


def _same_issuer(crl: x509.CertificateRevocationList, cert: x509.Certificate) -> bool:
    """The CRL is by the certificate's issuer: same name and, where both say, the same key
    (names alone do not tell two CAs apart: a rotated CA often keeps its name)."""
    crl_key = extension(crl, x509.AuthorityKeyIdentifier)
    cert_key = extension(cert, x509.AuthorityKeyIdentifier)
    crl_id = crl_key.key_identifier if crl_key else None
    cert_id = cert_key.key_identifier if cert_key else None
    return crl.issuer == cert.issuer and (crl_id is None or cert_id is None or crl_id == cert_id)


def revocation_of(
    cert: x509.Certificate, crls: Iterable[x509.CertificateRevocationList]
) -> x509.RevokedCertificate | None:
    """The CRL entry that revokes the certificate: its issuer's CRL, listing its serial."""
    for crl in crls:
        if _same_issuer(crl, cert):
            entry = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if entry is not None:
                return entry
    return None


def is_revoked(cert: x509.Certificate, crls: Iterable[x509.CertificateRevocationList]) -> bool:
    return revocation_of(cert, crls) is not None
