"""Certificate health: what is in use, how long it has left, and when to worry.

Like Spring Boot's SSL health indicator: degraded (still HTTP 200) inside the
warning window so monitoring alerts before anything breaks, failing (503) once
a certificate is expired or not yet valid. The same facts drive the expiry
warning written to the log at start-up and daily.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from cryptography import x509

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
    not_before: datetime
    not_after: datetime
    days_left: int
    status: Status

    def as_dict(self) -> dict[str, Any]:
        facts = dict(vars(self))
        facts["not_before"] = self.not_before.isoformat()
        facts["not_after"] = self.not_after.isoformat()
        return facts


def _spiffe_id(cert: x509.Certificate) -> str | None:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    return next((uri for uri in uris if uri.startswith("spiffe://")), None)


def certificate_health(
    cert: x509.Certificate, role: str, warning_days: int, now: datetime | None = None
) -> CertificateHealth:
    now = now or datetime.now(UTC)
    remaining = cert.not_valid_after_utc - now
    status: Status = "ok"
    if now < cert.not_valid_before_utc or remaining.total_seconds() <= 0:
        status = "failing"
    elif remaining.days < warning_days:
        status = "degraded"
    return CertificateHealth(
        role=role,
        subject=cert.subject.rfc4514_string(),
        spiffe_id=_spiffe_id(cert),
        serial=f"{cert.serial_number:x}",
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        days_left=remaining.days,
        status=status,
    )


def health_report(contexts: TLSContexts) -> tuple[Status, list[CertificateHealth]]:
    """The worst status over our leaf and every trusted CA, with the facts of each."""
    days = contexts.settings.expiry_warning_days
    material = contexts.material
    certs = [certificate_health(material.leaf, "leaf", days)]
    certs += [certificate_health(ca, "trusted_ca", days) for ca in material.ca_certs]
    worst = max((c.status for c in certs), key=_SEVERITY.__getitem__)
    return worst, certs


def warn_about_expiry(contexts: TLSContexts) -> None:
    """One warning line per certificate inside the window (or past it)."""
    for cert in health_report(contexts)[1]:
        if cert.status != "ok":
            audit(
                "certificate expiry warning",
                logging.WARNING if cert.status == "degraded" else logging.ERROR,
                role=cert.role,
                subject=cert.subject,
                serial=cert.serial,
                not_after=cert.not_after.isoformat(),
                days_left=cert.days_left,
                status=cert.status,
            )


async def expiry_warnings(contexts: TLSContexts, every: float = DAY_SECONDS) -> None:
    """Warn at start-up, then daily, until cancelled."""
    while True:
        warn_about_expiry(contexts)
        await asyncio.sleep(every)
