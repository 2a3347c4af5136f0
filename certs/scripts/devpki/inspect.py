"""Certificate facts for people (devpki inspect) and for services (/health)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from mtls import certfacts

from devpki.keys import describe_key

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
    names = certfacts.subject_names(cert)
    eku = tuple(_EKU_NAMES.get(oid, oid.dotted_string)
                for oid in certfacts.extended_key_usage(cert) or ())  # fmt: skip
    fingerprint = cert.fingerprint(hashes.SHA256()).hex().upper()
    hash_alg = cert.signature_hash_algorithm
    return CertificateFacts(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        serial=f"{cert.serial_number:x}",
        spiffe_id=certfacts.spiffe_id_or_none(cert),  # by the server's X.509-SVID rules
        dns_names=names.dns,
        ip_addresses=names.ips,
        uris=names.uris,
        not_before=_iso(cert.not_valid_before_utc),
        not_after=_iso(cert.not_valid_after_utc),
        days_left=certfacts.days_left(cert, now),
        key_type=describe_key(cert.public_key()),
        sha256_fingerprint=":".join(fingerprint[i : i + 2] for i in range(0, 64, 2)),
        eku=eku,
        is_ca=certfacts.is_ca(cert),
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
