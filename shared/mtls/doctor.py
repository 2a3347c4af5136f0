"""The certificate doctor: `python -m mtls doctor URL --cert --key --ca`.

It checks the local files, then walks the connection step by step, and ends
with one verdict in plain words: what works, what fails and what to change.
A server that refuses a client certificate under TLS 1.3 says nothing to the
client, so the verdict combines where the connection stopped with what the
local files show (expired, another CA, revoked, foreign trust domain).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls.doctor_local import (
    LocalFacts,
    check_chain_order,
    check_names,
    check_pair,
    check_usage,
    check_validity,
)
from mtls.doctor_remote import Probe, walk
from mtls.doctor_report import Report
from mtls.doctor_trust import check_issuer, check_revocation
from mtls.doctor_verdict import verdict
from mtls.settings import DEFAULT_TRUST_DOMAIN


class DoctorError(Exception):
    """The doctor cannot start (no CA bundle to verify the server with)."""


@dataclass(frozen=True)
class Options:
    url: str
    cert: Path | None = None
    key: Path | None = None
    ca: Path = Path("certs/generated/ca.crt")
    crl: Path | None = None
    path: str | None = None
    server_name: str | None = None
    max_tls: str = "1.3"
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    timeout: float = 5.0


def examine(
    cert: Path, key: Path, cas: list[x509.Certificate], crl: Path | None, trust_domain: str
) -> LocalFacts:
    """Every local check, in the order a person would make them."""
    facts = LocalFacts()
    chain = check_pair(facts, cert, key)
    if not chain:
        return facts
    check_chain_order(facts, chain)
    check_validity(facts, chain[0], datetime.now(UTC))
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
    local = None
    if options.cert is not None:
        local = examine(options.cert, options.key or options.cert, cas, crl, options.trust_domain)
    path = options.path or parts.path or "/health"
    probe = Probe(
        host=host,
        port=port,
        path=path,
        server_name=options.server_name or host,
        ca_pem="".join(ca.public_bytes(Encoding.PEM).decode() for ca in cas),
        cert=str(options.cert) if local and local.usable else None,
        key=str(options.key) if local and local.usable else None,
        max_version=options.max_tls,
        timeout=options.timeout,
    )
    remote = walk(probe)
    who = f" with {options.cert}" if options.cert else " without a client certificate"
    report = Report(f"GET {options.url.rstrip('/')}{'' if parts.path else path}{who}")
    report.local, report.connection = (local.checks if local else []), remote.checks
    report.verdict = verdict(local, remote)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="https://host:port[/path]")
    parser.add_argument("--cert", type=Path, help="client certificate chain (chain.pem)")
    parser.add_argument("--key", type=Path, help="its private key (key.pem)")
    default_ca = os.environ.get("MTLS_CA") or str(
        Path(os.environ.get("MTLS_PKI_DIR") or "certs/generated") / "ca.crt"
    )
    parser.add_argument("--ca", type=Path, default=Path(default_ca), help="trusted CAs (ca.crt)")
    parser.add_argument("--crl", type=Path, help="CRL to check our serial (default: next to --ca)")
    parser.add_argument("--path", help="path to GET (default: the URL's, else /health)")
    parser.add_argument("--server-name", help="name to verify and send as SNI (default: host)")
    parser.add_argument(
        "--tls-max", choices=["1.2", "1.3"], default="1.3", help="highest TLS version to offer"
    )
    parser.add_argument(
        "--trust-domain",
        default=os.environ.get("MTLS_TRUST_DOMAIN") or DEFAULT_TRUST_DOMAIN,
        help="SPIFFE trust domain the server expects (MTLS_TRUST_DOMAIN)",
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per network step")


def options_from(args: argparse.Namespace) -> Options:
    return Options(
        url=args.url,
        cert=args.cert,
        key=args.key,
        ca=args.ca,
        crl=args.crl,
        path=args.path,
        server_name=args.server_name,
        max_tls=args.tls_max,
        trust_domain=args.trust_domain,
        timeout=args.timeout,
    )
