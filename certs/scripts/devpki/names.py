"""Validation of trust domains and leaf names, before they become URIs and folders."""

from __future__ import annotations

import re

from devpki.errors import PKIError

DEFAULT_TRUST_DOMAIN = "demo.internal"

# SPIFFE spec: trust domain names use lowercase letters, digits, '.', '-' and '_' only.
_TRUST_DOMAIN = re.compile(r"[a-z0-9._-]{1,255}")
# A leaf name is both a SPIFFE path segment and a folder name under the PKI directory.
_LEAF_NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
RESERVED_NAMES = frozenset({".", "..", "ca"})


def validate_trust_domain(trust_domain: str) -> str:
    """Return the trust domain, or raise: a bad one would mint IDs no peer accepts."""
    if _TRUST_DOMAIN.fullmatch(trust_domain):
        return trust_domain
    hint = ""
    if "://" in trust_domain:
        hint = " (drop the scheme: give 'demo.internal', not 'spiffe://demo.internal')"
    elif ":" in trust_domain:
        hint = " (drop the port)"
    elif "/" in trust_domain:
        hint = " (drop the path)"
    elif trust_domain.lower() != trust_domain:
        hint = " (use lowercase)"
    raise PKIError(
        f"trust domain {trust_domain!r} is not valid{hint}: use only lowercase letters, "
        "digits, '.', '-' and '_', e.g. demo.internal"
    )


def validate_name(name: str) -> str:
    """Return the leaf name, or raise: it becomes a folder and a SPIFFE path segment."""
    if _LEAF_NAME.fullmatch(name) and name not in RESERVED_NAMES:
        return name
    raise PKIError(
        f"certificate name {name!r} is not valid: use 1-64 letters, digits, '.', '-' or '_' "
        "(and not 'ca', '.' or '..'), e.g. orders"
    )


def spiffe_id_for(trust_domain: str, name: str) -> str:
    """The SPIFFE ID a leaf of this PKI carries by default."""
    return f"spiffe://{trust_domain}/{name}"
