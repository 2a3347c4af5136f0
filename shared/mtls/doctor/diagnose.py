"""The certificate doctor's diagnosis: local checks, the connection walk, one verdict.

It checks the local files, then walks the connection step by step, and ends
with one verdict in plain words: what works, what fails and what to change.
A server that refuses a client certificate under TLS 1.3 says nothing to the
client, so the verdict combines where the connection stopped with what the
local files show (expired, another CA, revoked, foreign trust domain).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls.doctor.local import (
    LocalFacts,
    check_chain_order,
    check_names,
    check_pair,
    check_usage,
    check_validity,
)
from mtls.doctor.remote import Probe, walk
from mtls.doctor.report import Report
from mtls.doctor.trust import check_issuer, check_revocation
from mtls.doctor.verdict import verdict
from mtls.settings import TLSSettings

_DEFAULTS = TLSSettings.model_fields


class DoctorError(Exception):
    """The doctor cannot start (no CA bundle to verify the server with)."""


@dataclass(frozen=True)
class Options:
    url: str
    cert: Path | None = None
    key: Path | None = None
    ca: Path = _DEFAULTS["pki_dir"].default / "ca.crt"
    crl: Path | None = None
    path: str | None = None
    server_name: str | None = None
    max_tls: str = "1.3"
    trust_domain: str = _DEFAULTS["trust_domain"].default
    key_password: str | None = None
    warning_days: int = _DEFAULTS["expiry_warning_days"].default
    timeout: float = 5.0


def examine(
    cert: Path,
    key: Path,
    cas: list[x509.Certificate],
    crl: Path | None,
    trust_domain: str,
    *,
    key_password: str | None = None,
    warning_days: int = _DEFAULTS["expiry_warning_days"].default,
) -> LocalFacts:
    """Every local check, in the order a person would make them."""
    facts = LocalFacts()
    chain = check_pair(facts, cert, key, key_password)
    if not chain:
        return facts
    check_chain_order(facts, chain)
    check_validity(facts, chain[0], datetime.now(UTC), warning_days)
    check_names(facts, chain[0], trust_domain)
    check_usage(facts, chain[0])
    check_issuer(facts, chain, cas)
    check_revocation(facts, chain[0], crl)
    return facts


def _trusted(ca: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(ca.read_bytes())
    except (OSError, ValueError) as exc:
        raise DoctorError(
            f"cannot read the CA bundle {ca} ({exc}); pass --ca with the PEM ca.crt "
            "that signed the server (make certs writes certs/generated/ca.crt)"
        ) from None


def diagnose(options: Options) -> Report:
    """Local checks (when a certificate is given), the connection walk, and the verdict."""
    parts = urlsplit(options.url)
    host, port = parts.hostname or "localhost", parts.port or 443
    cas = _trusted(options.ca)
    crl = options.crl or (options.ca.parent / "crl.pem")
    local, key = None, options.key or options.cert
    if options.cert is not None and key is not None:
        local = examine(
            options.cert,
            key,
            cas,
            crl,
            options.trust_domain,
            key_password=options.key_password,
            warning_days=options.warning_days,
        )
    path = options.path or parts.path or "/health"
    probe = Probe(
        host=host,
        port=port,
        path=path,
        server_name=options.server_name or host,
        ca_pem="".join(ca.public_bytes(Encoding.PEM).decode() for ca in cas),
        cert=str(options.cert) if local and local.usable else None,
        key=str(key) if local and local.usable else None,
        key_password=options.key_password,
        max_version=options.max_tls,
        timeout=options.timeout,
    )
    remote = walk(probe)
    who = f" with {options.cert}" if options.cert else " without a client certificate"
    report = Report(f"GET {options.url.rstrip('/')}{'' if parts.path else path}{who}")
    report.local, report.connection = (local.checks if local else []), remote.checks
    report.verdict = verdict(local, remote)
    return report
