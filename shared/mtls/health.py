"""Certificate health: what is in use, how long it has left, and when to worry.

Like Spring Boot's SSL health indicator: degraded (still HTTP 200) inside the
warning window so monitoring alerts before anything breaks, failing (503) once
a certificate is expired or not yet valid. The same facts drive the expiry
warning written to the log at start-up and daily.

The CRL gets the same treatment, because a stale CRL is worse than a stale
certificate: past its next-update OpenSSL refuses *every* peer (`crl_expired`).
It is degraded once past half its lifetime, the point by which the issuer
should have published the next one (`make crl`), so the alert comes days early.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography import x509

from mtls import certfacts
from mtls.logs import audit
from mtls.reload import TLSContexts

Status = Literal["ok", "degraded", "failing"]
DAY_SECONDS = 86_400
_SEVERITY: dict[Status, int] = {"ok": 0, "degraded": 1, "failing": 2}


@dataclass(frozen=True)
class CertificateHealth:
    role: str
    subject: str
    spiffe_id: str | None
    serial: str
    issuer: str
    not_before: datetime
    not_after: datetime
    days_left: int
    status: Status

    def as_dict(self) -> dict[str, Any]:
        facts = dict(vars(self))
        facts["not_before"] = self.not_before.isoformat()
        facts["not_after"] = self.not_after.isoformat()
        return facts

    def warning_fields(self) -> dict[str, Any]:
        """What the expiry warning line says: enough to find and renew the certificate."""
        keep = ("role", "subject", "serial", "issuer", "not_after", "days_left", "status")
        return {key: self.as_dict()[key] for key in keep}


def certificate_health(
    cert: x509.Certificate, role: str, warning_days: int, now: datetime | None = None
) -> CertificateHealth:
    now = now or datetime.now(UTC)
    days = certfacts.days_left(cert, now)
    status: Status = "ok"
    if now < cert.not_valid_before_utc or cert.not_valid_after_utc <= now:
        status = "failing"
    elif days < warning_days:
        status = "degraded"
    return CertificateHealth(
        role=role,
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        spiffe_id=certfacts.spiffe_id_or_none(cert),  # by the server's own X.509-SVID rules
        serial=f"{cert.serial_number:x}",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        days_left=days,
        status=status,
    )


@dataclass(frozen=True)
class CRLHealth:
    issuer: str
    crl_number: int | None
    revoked: int
    this_update: datetime
    next_update: datetime | None
    hours_left: int | None
    status: Status

    def as_dict(self) -> dict[str, Any]:
        facts = dict(vars(self))
        facts["this_update"] = self.this_update.isoformat()
        facts["next_update"] = self.next_update.isoformat() if self.next_update else None
        return facts

    def warning_fields(self) -> dict[str, Any]:
        """What the freshness warning line says: which CRL, and how long it has left."""
        keep = ("issuer", "crl_number", "next_update", "hours_left", "status")
        return {key: self.as_dict()[key] for key in keep}


def crl_health(crl: x509.CertificateRevocationList, now: datetime | None = None) -> CRLHealth:
    now = now or datetime.now(UTC)
    this_update, next_update = crl.last_update_utc, crl.next_update_utc
    status: Status = "ok"
    hours_left = None
    if next_update is not None:
        hours_left = int((next_update - now).total_seconds() // 3600)
        if now >= next_update:
            status = "failing"
        elif now >= this_update + (next_update - this_update) / 2:
            status = "degraded"
    if now < this_update:
        status = "failing"  # OpenSSL: "CRL is not yet valid"
    return CRLHealth(
        issuer=crl.issuer.rfc4514_string(),
        crl_number=certfacts.crl_number(crl),
        revoked=len(crl),
        this_update=this_update,
        next_update=next_update,
        hours_left=hours_left,
        status=status,
    )


@dataclass(frozen=True)
class HealthReport:
    status: Status  # the worst over every certificate and CRL
    certificates: list[CertificateHealth]
    crls: list[CRLHealth]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "certificates": [cert.as_dict() for cert in self.certificates],
            "crls": [crl.as_dict() for crl in self.crls],
        }


def health_report(contexts: TLSContexts) -> HealthReport:
    """Our leaf, every trusted CA and every CRL in use, with the worst status over them."""
    days = contexts.settings.expiry_warning_days
    material = contexts.material
    certs = [certificate_health(material.leaf, "leaf", days)]
    certs += [certificate_health(ca, "trusted_ca", days) for ca in material.ca_certs]
    crls = [crl_health(crl) for crl in material.crls]
    statuses = [c.status for c in certs] + [c.status for c in crls]
    return HealthReport(max(statuses, key=_SEVERITY.__getitem__), certs, crls)


def warn_about_expiry(contexts: TLSContexts) -> None:
    """One warning line per certificate or CRL inside its window (or past it)."""
    report = health_report(contexts)
    for event, facts in [
        *(("certificate expiry warning", cert.warning_fields()) for cert in report.certificates),
        *(("crl freshness warning", crl.warning_fields()) for crl in report.crls),
    ]:
        if facts["status"] != "ok":
            level = logging.WARNING if facts["status"] == "degraded" else logging.ERROR
            audit(event, level, **facts)


async def expiry_warnings(contexts: TLSContexts, every: float = DAY_SECONDS) -> None:
    """Warn at start-up, then daily, until cancelled."""
    while True:
        warn_about_expiry(contexts)
        await asyncio.sleep(every)
