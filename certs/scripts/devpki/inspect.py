"""Certificate facts for people (devpki inspect) and for services (/health)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from devpki.keys import describe_key
from devpki.leaf import spiffe_id_of

_EKU_NAMES = {
    x509.oid.ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    x509.oid.ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    x509.oid.ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    x509.oid.ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


@dataclass(frozen=True)
class CertificateFacts:
    """The fields people check when a handshake fails, in plain types."""

    subject: str
    issuer: str
    serial: str
    spiffe_id: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    uris: tuple[str, ...]
    not_before: str
    not_after: str
    days_left: int
    key_type: str
    sha256_fingerprint: str
    eku: tuple[str, ...]
    is_ca: bool
    signature_hash: str | None

    @property
    def expired(self) -> bool:
        return self.days_left < 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: tuples become lists."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def certificate_facts(cert: x509.Certificate, now: datetime | None = None) -> CertificateFacts:
    """Facts of one certificate; days_left is floored, so it is negative once expired."""
    moment = now or datetime.now(UTC)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = x509.SubjectAlternativeName([])
    try:
        eku_ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        eku = tuple(_EKU_NAMES.get(oid, oid.dotted_string) for oid in eku_ext)
    except x509.ExtensionNotFound:
        eku = ()
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    fingerprint = cert.fingerprint(hashes.SHA256()).hex().upper()
    left = (cert.not_valid_after_utc - moment) / timedelta(days=1)
    hash_alg = cert.signature_hash_algorithm
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=f"{cert.serial_number:x}",
        spiffe_id=spiffe_id_of(cert),
        dns_names=tuple(san.get_values_for_type(x509.DNSName)),
        ip_addresses=tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress)),
        uris=tuple(san.get_values_for_type(x509.UniformResourceIdentifier)),
        not_before=_iso(cert.not_valid_before_utc),
        not_after=_iso(cert.not_valid_after_utc),
        days_left=math.floor(left),
        key_type=describe_key(cert.public_key()),
        sha256_fingerprint=":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)),
        eku=eku,
        is_ca=is_ca,
        signature_hash=hash_alg.name if hash_alg else None,
    )


def render(facts: CertificateFacts, source: str) -> str:
    """Pretty text for `devpki inspect`."""
    state = ("EXPIRED, " if facts.expired else "") + f"{facts.days_left} days left"
    rows = [
        ("subject", facts.subject),
        ("issuer", facts.issuer),
        ("SPIFFE ID", facts.spiffe_id or "(none)"),
        ("DNS", ", ".join(facts.dns_names) or "(none)"),
        ("IP", ", ".join(facts.ip_addresses) or "(none)"),
        ("not before", facts.not_before),
        ("not after", f"{facts.not_after}  ({state})"),
        ("key", facts.key_type),
        ("EKU", ", ".join(facts.eku) or "(none)"),
        ("CA", "yes" if facts.is_ca else "no"),
        ("signature", facts.signature_hash or "?"),
        ("serial", facts.serial),
        ("SHA-256", facts.sha256_fingerprint),
    ]
    return "\n".join([source, *(f"  {label:<11} {value}" for label, value in rows)])
