"""The SPIFFE ID grammar (SPIFFE ID §2), as text: no certificate is read here.

A SPIFFE ID is the scheme exactly `spiffe://`, a lower-case trust domain without
port or userinfo, path segments of `[A-Za-z0-9._-]` that are not `.` or `..`,
no query or fragment, at most 2048 bytes. Which URI of a certificate is its
SPIFFE ID, and what else an X.509-SVID leaf must be, is `mtls.certfacts`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
