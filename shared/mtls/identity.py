"""Who is calling: a `Principal` read from the client certificate in the TLS scope.

Identity comes from the SPIFFE ID in the URI SAN (an X.509-SVID carries
exactly one), in the trust domain this service is configured for. Reading the
subject CN through a regex, like Spring's `subjectPrincipalRegex`, is opt-in.
A request without the TLS extension is refused, never served as anonymous.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from mtls.settings import TLSSettings
from mtls.tlsscope import tls_scope

SPIFFE_SCHEME = "spiffe://"
_SPIFFE_PATH_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


class IdentityError(Exception):
    """The caller has no usable identity; the message says why (sent in the 403)."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, as policy and logs name it."""

    name: str
    spiffe_id: str | None
    subject: str
    serial: int
    not_after: datetime


def _spiffe_name(cert: x509.Certificate, trust_domain: str) -> tuple[str, str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    spiffe_ids = [uri for uri in uris if uri.lower().startswith(SPIFFE_SCHEME)]
    if not spiffe_ids:
        raise IdentityError("the client certificate carries no SPIFFE ID (URI SAN spiffe://...)")
    if len(spiffe_ids) > 1:
        raise IdentityError("the client certificate carries more than one SPIFFE ID")
    spiffe_id = spiffe_ids[0]
    domain, _, path = spiffe_id[len(SPIFFE_SCHEME) :].partition("/")
    if domain != trust_domain:
        raise IdentityError(
            f"SPIFFE ID {spiffe_id!r} is from trust domain {domain!r}; "
            f"this service trusts {trust_domain!r}"
        )
    segments = path.split("/")
    if not path or any(not _SPIFFE_PATH_SEGMENT.fullmatch(s) or s in {".", ".."} for s in segments):
        raise IdentityError(f"SPIFFE ID {spiffe_id!r} has no valid workload path")
    return path, spiffe_id


def _require_leaf(cert: x509.Certificate) -> None:
    """An X.509-SVID leaf must not be a CA; OpenSSL accepts CA certificates as client leaves."""
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        signs = cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    except x509.ExtensionNotFound:
        signs = False
    if is_ca or signs:
        raise IdentityError(
            "the client certificate is a CA certificate (CA:TRUE or keyCertSign), not a "
            "workload leaf; present a leaf certificate issued for this client"
        )


def _cn_name(cert: x509.Certificate, cn_regex: str) -> str:
    match = re.search(cn_regex, cert.subject.rfc4514_string())
    if not match or not match.group(1):
        raise IdentityError(f"the certificate subject does not match MTLS_CN_REGEX {cn_regex!r}")
    return match.group(1)


@functools.lru_cache(maxsize=1024)
def principal_from_pem(pem: str, trust_domain: str, source: str, cn_regex: str) -> Principal:
    """Map a client certificate to a Principal (cached: one parse per certificate)."""
    try:
        cert = x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        raise IdentityError("the client certificate cannot be parsed") from None
    try:
        _require_leaf(cert)
        if source == "cn":
            name, spiffe_id = _cn_name(cert, cn_regex), None
        else:
            name, spiffe_id = _spiffe_name(cert, trust_domain)
    except ValueError:  # cryptography parses extensions lazily, on first access
        raise IdentityError(
            "the client certificate has an extension that cannot be parsed"
        ) from None
    return Principal(
        name=name,
        spiffe_id=spiffe_id,
        subject=cert.subject.rfc4514_string(),
        serial=cert.serial_number,
        not_after=cert.not_valid_after_utc,
    )


def principal_from_scope(scope: Mapping[str, Any], settings: TLSSettings) -> Principal:
    """The caller of this request; IdentityError when there is none to trust."""
    tls = tls_scope(scope)
    if tls is None:
        raise IdentityError("the request did not arrive over TLS; no anonymous access")
    chain = tls.get("client_cert_chain") or []
    if not chain:
        raise IdentityError("no client certificate was presented on this connection")
    return principal_from_pem(
        chain[0], settings.trust_domain, settings.principal_source, settings.cn_regex
    )
