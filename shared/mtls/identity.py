"""Who is calling: a `Principal` read from the client certificate in the TLS scope.

Identity comes from the SPIFFE ID in the URI SAN, under the X.509-SVID rules
(`mtls.certfacts`), in the trust domain this service is configured for. Reading the
subject's CN attribute through a regex, like Spring's `subjectPrincipalRegex`
but never over the whole DN string, is opt-in.
The server computes it once per connection, right after the handshake
(`connection_identity`), and puts it in every request scope under IDENTITY_KEY;
policy and the access log only read it there. A request without it is refused,
never served as anonymous.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from mtls.certfacts import CertificateName, check_leaf_usage, svid_id
from mtls.settings import TLSSettings
from mtls.spiffe import SvidError

# Where mtls.protocol keeps the connection's Principal (or IdentityError) in each request scope.
IDENTITY_KEY = "mtls.identity"


class IdentityError(Exception):
    """The caller has no usable identity; the message says why (sent in the 403).

    `certificate` names the refused certificate for the audit line, when there was one.
    """

    def __init__(self, message: str, certificate: CertificateName | None = None) -> None:
        super().__init__(message)
        self.certificate = certificate


class CertificateExpired(IdentityError):
    """The certificate expired after the connection was opened (or the session began)."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as policy and logs name it."""

    name: str
    spiffe_id: str | None
    subject: str
    serial: int
    not_after: datetime
    issuer: str = ""

    @property
    def certificate(self) -> CertificateName:
        return CertificateName(self.subject, self.serial, self.issuer, self.not_after)

    def require_unexpired(self, now: datetime | None = None) -> Principal:
        """OpenSSL checks dates at the handshake only: a kept-alive connection or a resumed
        session outlives its certificate, so whoever serves a request asks this."""
        if self.not_after <= (now or datetime.now(UTC)):
            raise CertificateExpired(
                f"the client certificate expired at {self.not_after.isoformat()}; "
                "renew it (make renew NAME=...) and reconnect",
                self.certificate,
            )
        return self


def _spiffe_name(cert: x509.Certificate, trust_domain: str) -> tuple[str, str]:
    spiffe_id = svid_id(cert)
    if spiffe_id.trust_domain != trust_domain:
        raise IdentityError(
            f"SPIFFE ID {str(spiffe_id)!r} is from trust domain {spiffe_id.trust_domain!r}; "
            f"this service trusts {trust_domain!r}"
        )
    return spiffe_id.path, str(spiffe_id)


def _cn_name(cert: x509.Certificate, cn_regex: str) -> str:
    """The CN *attribute* (exactly one), matched whole by the regex: a regex over the RFC 4514
    string can be fooled by an escaped `OU=x\\,CN=ops` (see docs/troubleshooting.md)."""
    check_leaf_usage(cert)
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(common_names) != 1:
        raise IdentityError(
            f"the certificate subject has {len(common_names)} CN attributes; CN mode needs "
            "exactly one CN"
        )
    value = str(common_names[0].value)
    match = re.fullmatch(cn_regex, value)
    if not match or not match.group(1):
        raise IdentityError(f"the certificate's CN {value!r} does not match MTLS_CN_REGEX")
    return match.group(1)


def principal_of(
    cert: x509.Certificate, trust_domain: str, source: str, cn_regex: str
) -> Principal:
    """Map a client certificate to a Principal; IdentityError names the certificate and why."""
    name = CertificateName.of(cert)
    try:
        if source == "cn":
            principal, spiffe_id = _cn_name(cert, cn_regex), None
        else:
            principal, spiffe_id = _spiffe_name(cert, trust_domain)
    except IdentityError as exc:
        raise IdentityError(str(exc), name) from None
    except ValueError as exc:  # SvidError; cryptography parses extensions lazily, on first use
        reason = str(exc) if isinstance(exc, SvidError) else "an extension cannot be parsed"
        raise IdentityError(reason, name) from None
    return Principal(
        name=principal,
        spiffe_id=spiffe_id,
        subject=name.subject,
        serial=name.serial,
        not_after=cert.not_valid_after_utc,
        issuer=name.issuer,
    )


@functools.lru_cache(maxsize=1024)
def _identity_of_der(
    der: bytes, trust_domain: str, source: str, cn_regex: str
) -> Principal | IdentityError:
    try:
        return principal_of(x509.load_der_x509_certificate(der), trust_domain, source, cn_regex)
    except IdentityError as exc:
        return exc
    except ValueError:
        return IdentityError("the client certificate cannot be parsed")


def connection_identity(der: bytes | None, settings: TLSSettings) -> Principal | IdentityError:
    """Who is on this connection: computed once, after the handshake (mtls.protocol), and put in
    every request scope under IDENTITY_KEY; a refusal is kept, so each request repeats it."""
    if not der:
        return IdentityError("no client certificate was presented on this connection")
    source, regex = settings.principal_source, settings.cn_regex
    return _identity_of_der(der, settings.trust_domain, source, regex)


def certificate_subject(identity: Principal | IdentityError) -> str | None:
    """The client leaf's subject (the TLS extension's client_cert_name), if it was parsed."""
    if isinstance(identity, Principal):
        return identity.subject
    return identity.certificate.subject if identity.certificate else None


def principal_from_scope(scope: Mapping[str, Any]) -> Principal:
    """The caller of this request, as mtls.protocol found it after the handshake.

    IdentityError when there is none to trust: no certificate, one that maps to no
    principal, or a request that did not come through mtls.protocol (no anonymous access).
    """
    known = scope.get(IDENTITY_KEY)
    if isinstance(known, Principal):
        return known
    if isinstance(known, IdentityError):  # a fresh one: a kept exception would grow its traceback
        raise IdentityError(str(known), known.certificate)
    raise IdentityError(
        "the request did not arrive over mTLS through mtls.protocol; no anonymous access"
    )
