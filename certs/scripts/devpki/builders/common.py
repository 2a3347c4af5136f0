"""Pieces every certificate profile of this PKI shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes

from devpki.keys import SigningKey

# Peers' clocks drift; a certificate that starts "now" fails on a peer a few seconds behind.
CLOCK_SKEW = timedelta(minutes=5)


def now() -> datetime:
    return datetime.now(UTC)


def key_ids(
    public_key: CertificateIssuerPublicKeyTypes,
) -> x509.SubjectKeyIdentifier:
    """SKI of a key; strict verification (Python 3.13) wants it on every CA."""
    return x509.SubjectKeyIdentifier.from_public_key(public_key)


def aki_from(issuer_key: SigningKey) -> x509.AuthorityKeyIdentifier:
    """AKI matching the issuer's SKI; strict verification wants it on every non-root."""
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
        key_ids(issuer_key.public_key())
    )
