"""The leaf (end-entity) certificate profile, and how to read it back for renewals."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from mtls import certfacts

from devpki.builders.common import CLOCK_SKEW, aki_from, key_ids, now
from devpki.builders.weak import resign_sha1
from devpki.errors import PKIError
from devpki.keys import SigningKey, hash_algorithm

SERVER_AND_CLIENT = (ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH)
CLIENT_ONLY = (ExtendedKeyUsageOID.CLIENT_AUTH,)
SERVER_ONLY = (ExtendedKeyUsageOID.SERVER_AUTH,)


@dataclass(frozen=True)
class LeafSpec:
    """Everything that decides a leaf's content except keys and issuer."""

    common_name: str
    organization: str
    uris: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    eku: tuple[x509.ObjectIdentifier, ...] = SERVER_AND_CLIENT
    days: int = 365
    not_before: datetime | None = None
    expired: bool = False
    is_ca: bool = False
    # A validity shorter than a day (lifetime: short-lived mode and tests); for tests
    # only, key usage bits set or cleared (e.g. {"digital_signature": False}) and extra
    # subject attributes after the CN (so first in the RFC 4514 string: an OU holding
    # "x,CN=ops" fools a regex over it).
    lifetime: timedelta | None = None
    key_usage: tuple[tuple[str, bool], ...] = ()
    extra_subject: tuple[tuple[x509.ObjectIdentifier, str], ...] = ()


def validity(spec: LeafSpec) -> tuple[datetime, datetime]:
    """(not_before, not_after): now minus clock skew, or ended yesterday when expired."""
    if spec.lifetime is not None:
        start = spec.not_before or now()
        return start, start + spec.lifetime
    if spec.days < 1:
        raise PKIError(f"validity of {spec.days} days is not possible: give --days 1 or more")
    length = timedelta(days=spec.days)
    if spec.expired:
        end = now() - timedelta(days=1)
        return end - length, end
    start = spec.not_before or now() - CLOCK_SKEW
    return start, start + length


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise PKIError(f"{text!r} is not an IP address (give e.g. 127.0.0.1 or ::1)") from None


def _key_usage(key: SigningKey, spec: LeafSpec) -> x509.KeyUsage:
    # RSA key exchange (TLS 1.2 RSA suites) needs keyEncipherment; EC never does.
    bits = {
        "digital_signature": True,
        "content_commitment": False,
        "key_encipherment": isinstance(key, rsa.RSAPrivateKey),
        "data_encipherment": False,
        "key_agreement": False,
        "key_cert_sign": spec.is_ca,
        "crl_sign": spec.is_ca,
        "encipher_only": False,
        "decipher_only": False,
    }
    unknown = {name for name, _ in spec.key_usage} - bits.keys()
    if unknown:
        raise PKIError(f"unknown key usage {sorted(unknown)}: use {sorted(bits)}")
    return x509.KeyUsage(**{**bits, **dict(spec.key_usage)})


def build_leaf(
    spec: LeafSpec,
    key: SigningKey,
    issuer: x509.Certificate | None,
    issuer_key: SigningKey,
    hash_name: str,
) -> x509.Certificate:
    """Sign a leaf; issuer None means self-signed (a certificate from no one we trust)."""
    start, end = validity(spec)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, spec.organization),
            x509.NameAttribute(NameOID.COMMON_NAME, spec.common_name),
            *(x509.NameAttribute(oid, value) for oid, value in spec.extra_subject),
        ]
    )
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(u) for u in spec.uris]
    sans += [x509.DNSName(d) for d in spec.dns]
    sans += [x509.IPAddress(_ip(i)) for i in spec.ips]
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=spec.is_ca, path_length=None), critical=True)
        .add_extension(_key_usage(key, spec), critical=True)
        .add_extension(key_ids(key.public_key()), critical=False)
        .add_extension(aki_from(issuer_key), critical=False)
    )
    if spec.eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(spec.eku)), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if hash_name.lower() == "sha1":
        return resign_sha1(builder.sign(issuer_key, hashes.SHA256()), issuer_key)
    return builder.sign(issuer_key, hash_algorithm(hash_name))


def spec_from_certificate(cert: x509.Certificate) -> LeafSpec:
    """The spec that reissues a certificate with the same names, EKU and lifetime."""

    def attr(oid: x509.ObjectIdentifier, default: str) -> str:
        values = cert.subject.get_attributes_for_oid(oid)
        return str(values[0].value) if values else default

    names = certfacts.subject_names(cert)
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    return LeafSpec(
        common_name=attr(NameOID.COMMON_NAME, ""),
        organization=attr(NameOID.ORGANIZATION_NAME, ""),
        uris=names.uris,
        dns=names.dns,
        ips=names.ips,
        eku=certfacts.extended_key_usage(cert) or (),
        days=max(1, round(lifetime / timedelta(days=1))),
        # A leaf shorter than a day (short-lived mode) keeps its exact lifetime.
        lifetime=lifetime if lifetime < timedelta(days=1) else None,
    )
