"""Root and intermediate CA certificates.

Two levels so the root key can stay offline in real deployments and leaves, CRLs and
renewals only ever touch the intermediate: the same shape people meet in production.
"""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from devpki.builders.common import CLOCK_SKEW, aki_from, key_ids, now
from devpki.keys import SigningKey

ROOT_DAYS = 3650
INTERMEDIATE_DAYS = 1825

_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=False,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def ca_name(trust_domain: str, role: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{trust_domain} dev PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{trust_domain} Dev {role} CA"),
        ]
    )


def _ca_builder(
    subject: x509.Name,
    issuer: x509.Name,
    key: SigningKey,
    issuer_key: SigningKey,
    path_length: int,
    days: int,
) -> x509.CertificateBuilder:
    start = now() - CLOCK_SKEW
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_CA_KEY_USAGE, critical=True)
        .add_extension(key_ids(key.public_key()), critical=False)
        .add_extension(aki_from(issuer_key), critical=False)
    )


def build_root(trust_domain: str, key: SigningKey, days: int = ROOT_DAYS) -> x509.Certificate:
    """Self-signed trust anchor; pathlen 1 allows exactly the one intermediate below it."""
    name = ca_name(trust_domain, "Root")
    return _ca_builder(name, name, key, key, 1, days).sign(key, hashes.SHA256())


def build_intermediate(
    trust_domain: str,
    key: SigningKey,
    root: x509.Certificate,
    root_key: SigningKey,
    days: int = INTERMEDIATE_DAYS,
) -> x509.Certificate:
    """Issuing CA; pathlen 0 so a leaf can never mint further certificates."""
    name = ca_name(trust_domain, "Intermediate")
    builder = _ca_builder(name, root.subject, key, root_key, 0, days)
    return builder.sign(root_key, hashes.SHA256())
