"""The doctor's look at the local files: certificate and key, chain order, validity, names.

Under TLS 1.3 a server that refuses a client certificate (as ours does) just
closes the connection, so the client never hears why. What the local files
show (expired, signed by another CA, revoked, foreign trust domain) is then
the best evidence of the cause; these checks collect it as `LocalFacts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from mtls import certfacts
from mtls.doctor.report import Check
from mtls.spiffe import SvidError


@dataclass
class LocalFacts:
    """What the local checks established, for the verdict."""

    checks: list[Check] = field(default_factory=list)
    usable: bool = False  # cert and key load and belong together
    leaf: x509.Certificate | None = None
    expired: bool = False
    not_yet_valid: bool = False
    untrusted_issuer: str | None = None  # issuer not found in --ca
    revoked: bool = False
    foreign_spiffe_id: str | None = None
    # Why the certificate may not act as a client: its EKU or key usage (wrong_purpose).
    purpose_problem: str | None = None

    def add(self, status: str, label: str, detail: str, fix: str = "") -> None:
        self.checks.append(Check(status, label, detail, fix))  # type: ignore[arg-type]


def _load_certs(path: Path) -> list[x509.Certificate]:
    data = path.read_bytes()
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError:
        return [x509.load_der_x509_certificate(data)]


def _load_key(key_path: Path, password: str | None) -> Any:
    secret = password.encode() if password else None
    try:
        return serialization.load_pem_private_key(key_path.read_bytes(), password=secret)
    except TypeError:
        raise ValueError("the key is encrypted and no password was given") from None


def check_pair(
    facts: LocalFacts, cert_path: Path, key_path: Path, key_password: str | None = None
) -> list[x509.Certificate]:
    """Certificate and key readable and matching; the chain as read."""
    try:
        chain = _load_certs(cert_path)
    except (OSError, ValueError) as exc:
        facts.add("fail", "certificate", f"{cert_path}: cannot read it ({exc})", "pass chain.pem")
        return []
    leaf = facts.leaf = chain[0]
    facts.add("ok", "certificate", f"{cert_path}: {leaf.subject.rfc4514_string()}")
    try:
        key = _load_key(key_path, key_password)
    except (OSError, ValueError) as exc:
        fix = "pass the key.pem; for an encrypted key set MTLS_KEY_PASSWORD (as the services do)"
        facts.add("fail", "key", f"{key_path}: cannot read it ({exc})", fix)
        return chain
    if not certfacts.key_matches(leaf, key):
        owner = next((n for n, c in enumerate(chain[1:], 2) if certfacts.key_matches(c, key)), 0)
        detail = f"{key_path} does not belong to the first certificate of {cert_path}"
        fix = "use the key.pem issued together with this certificate"
        if owner:
            detail += f"; it belongs to certificate {owner}: the chain is out of order"
            fix = "order the file leaf first, then the CA that signed it (as chain.pem is)"
        facts.add("fail", "key", detail, fix)
        return chain
    facts.add("ok", "key", "matches the certificate")
    facts.usable = True
    return chain


def check_chain_order(facts: LocalFacts, chain: list[x509.Certificate]) -> None:
    for position, (cert, issuer) in enumerate(pairwise(chain), start=1):
        if not certfacts.issued_by(cert, issuer):
            facts.add(
                "fail",
                "chain order",
                f"certificate {position + 1} in the file did not sign certificate {position}",
                "order the file leaf first, then the CA that signed it (chain.pem does)",
            )
            return
    facts.add("ok", "chain order", "each certificate signed the one before it")
    if len(chain) == 1:
        sent = "the leaf only (a server must complete the chain from its own CA bundle)"
    else:
        names = ", ".join(cert.subject.rfc4514_string() for cert in chain[1:])
        sent = f"leaf + {len(chain) - 1} CA certificate(s): {names}"
    facts.add("info", "client sends", sent)


def check_validity(
    facts: LocalFacts, leaf: x509.Certificate, now: datetime, warning_days: int
) -> None:
    days = certfacts.days_left(leaf, now)
    after = leaf.not_valid_after_utc.isoformat()
    if now < leaf.not_valid_before_utc:
        facts.not_yet_valid = True
        facts.add(
            "fail", "validity", f"not valid before {leaf.not_valid_before_utc}", "check clocks"
        )
    elif now > leaf.not_valid_after_utc:
        facts.expired = True
        facts.add("fail", "validity", f"EXPIRED on {after}", "renew it: make renew NAME=<name>")
    elif days < warning_days:
        facts.add("warn", "validity", f"{days} days left (until {after})", "renew it soon")
    else:
        facts.add("ok", "validity", f"{days} days left (until {after})")


def check_names(facts: LocalFacts, leaf: x509.Certificate, trust_domain: str) -> None:
    """The SANs, and the SPIFFE ID by the same rules as the server (mtls.certfacts)."""
    names = certfacts.subject_names(leaf)
    facts.add("info", "SANs", ", ".join([*names.uris, *names.dns, *names.ips]) or "(none)")
    try:
        spiffe_id = certfacts.spiffe_id_of(leaf)
    except SvidError as exc:
        facts.foreign_spiffe_id = "(none usable)"
        fix = f"issue it with exactly one URI SAN, spiffe://{trust_domain}/<name>"
        facts.add("fail", "SPIFFE ID", str(exc), fix)
        return
    if spiffe_id.trust_domain != trust_domain:
        facts.foreign_spiffe_id = str(spiffe_id)
        facts.add(
            "warn",
            "SPIFFE ID",
            f"{spiffe_id} is outside the trust domain {trust_domain}",
            f"issue it as spiffe://{trust_domain}/<name> (or pass --trust-domain)",
        )
    else:
        facts.add("ok", "SPIFFE ID", f"{spiffe_id} (principal {spiffe_id.path})")


def check_usage(facts: LocalFacts, leaf: x509.Certificate) -> None:
    """Key usage and CA-ness by the server's rules (mtls.certfacts), then the EKU."""
    try:
        certfacts.check_leaf_usage(leaf)
    except SvidError as exc:
        facts.purpose_problem = str(exc)
        facts.add("fail", "key usage", str(exc), "reissue it: python -m devpki issue <name>")
    else:
        facts.add("ok", "key usage", "digitalSignature, not a CA")
    if certfacts.extended_key_usage(leaf) is None:
        facts.add("ok", "EKU", "no EKU extension: any use allowed")
        return
    if not certfacts.allows_purpose(leaf, ExtendedKeyUsageOID.CLIENT_AUTH):
        facts.purpose_problem = "its extended key usage lacks clientAuth"
        facts.add(
            "fail", "EKU", "extended key usage lacks clientAuth: a server refuses it",
            "reissue it with clientAuth (python -m devpki issue <name> --client-only)",
        )  # fmt: skip
    else:
        facts.add("ok", "EKU", "clientAuth present")
