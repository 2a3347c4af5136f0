"""The X.509-SVID rules (SPIFFE X509-SVID §2, §4.3, §5.2), in one place.

The server (identity), `/health` and the doctor all ask this module whether a
certificate carries a usable SPIFFE identity, so they cannot disagree. The
rules: exactly one URI SAN, of any scheme; that URI is a SPIFFE ID (scheme
exactly `spiffe://`, a lower-case trust domain without port or userinfo, path
segments of `[A-Za-z0-9._-]` that are not `.` or `..`, no query or fragment,
at most 2048 bytes); a leaf's key usage has digitalSignature and neither
keyCertSign nor cRLSign; CA:TRUE is not a leaf.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cryptography import x509

SPIFFE_SCHEME = "spiffe://"
MAX_SPIFFE_ID_BYTES = 2048
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]+")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")


class SvidError(ValueError):
    """The certificate is not a conforming X.509-SVID leaf; the message says why and what to do."""


@dataclass(frozen=True)
class SpiffeId:
    trust_domain: str
    path: str  # without the leading "/": the workload's name, e.g. "storefront" or "eu/web"

    def __str__(self) -> str:
        return f"{SPIFFE_SCHEME}{self.trust_domain}/{self.path}"


def parse_spiffe_id(uri: str) -> SpiffeId:
    """Parse a SPIFFE ID by the spec's grammar; SvidError names the rule it breaks."""
    if len(uri.encode()) > MAX_SPIFFE_ID_BYTES:
        raise SvidError(f"the SPIFFE ID is longer than {MAX_SPIFFE_ID_BYTES} bytes")
    if not uri.startswith(SPIFFE_SCHEME):
        raise SvidError(f"{uri!r} is not a SPIFFE ID: the scheme must be exactly 'spiffe://'")
    rest = uri[len(SPIFFE_SCHEME) :]
    for mark, part in (("?", "query"), ("#", "fragment")):
        if mark in rest:
            raise SvidError(f"SPIFFE ID {uri!r} has a {part}; a SPIFFE ID has none")
    domain, slash, path = rest.partition("/")
    if "@" in domain:
        raise SvidError(f"SPIFFE ID {uri!r} has userinfo in its trust domain")
    if ":" in domain:
        raise SvidError(f"SPIFFE ID {uri!r} has a port in its trust domain")
    if not _TRUST_DOMAIN.fullmatch(domain):
        raise SvidError(
            f"SPIFFE ID {uri!r}: the trust domain must be lower-case letters, digits, "
            "'.', '-' and '_'"
        )
    if not slash or not path:
        raise SvidError(f"SPIFFE ID {uri!r} names no workload (no path)")
    for segment in path.split("/"):
        if segment in ("", ".", "..") or not _PATH_SEGMENT.fullmatch(segment):
            raise SvidError(
                f"SPIFFE ID {uri!r} has an invalid path segment {segment!r}: use "
                "[A-Za-z0-9._-], no empty, '.' or '..' segments"
            )
    return SpiffeId(domain, path)


def uri_sans(cert: x509.Certificate) -> list[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return list(san.get_values_for_type(x509.UniformResourceIdentifier))


def check_leaf_usage(cert: x509.Certificate) -> None:
    """A workload leaf: not a CA, signs (digitalSignature), signs no certificates or CRLs."""
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    try:
        usage: x509.KeyUsage | None = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        usage = None
    if is_ca or (usage is not None and usage.key_cert_sign):
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


def svid_id(cert: x509.Certificate) -> SpiffeId:
    """The SPIFFE ID of a conforming X.509-SVID leaf; SvidError says what does not conform."""
    check_leaf_usage(cert)
    return spiffe_id_of(cert)


def spiffe_id_of(cert: x509.Certificate) -> SpiffeId:
    """The SPIFFE ID by the SAN rules alone (the doctor reports key usage apart)."""
    uris = uri_sans(cert)
    if not uris:
        raise SvidError("the certificate carries no SPIFFE ID (URI SAN spiffe://...)")
    if len(uris) > 1:
        raise SvidError(
            f"the certificate has {len(uris)} URI SANs; an X.509-SVID has exactly one URI SAN "
            "(its SPIFFE ID)"
        )
    return parse_spiffe_id(uris[0])


def spiffe_id_or_none(cert: x509.Certificate) -> str | None:
    """For display (health, inventory): the SPIFFE ID if the certificate conforms, else None."""
    try:
        return str(svid_id(cert))
    except (SvidError, ValueError):
        return None
