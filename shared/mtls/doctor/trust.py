"""The doctor's trust checks: who signed the certificate, and is it still vouched for.

The path from the leaf to a CA of the bundle is built by cryptography's RFC 5280
verifier (`mtls.certfacts.trust_path`), as a server would; when there is none,
the names in the chain and the bundle say why. The key identifiers are what
Python 3.13's strict verification insists on; the CRLs are every CRL of the
file, as our services read them.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.verification import VerificationError

from mtls import certfacts
from mtls.doctor.local import LocalFacts


def check_issuer(
    facts: LocalFacts, chain: list[x509.Certificate], cas: list[x509.Certificate]
) -> None:
    """Build the path from the leaf through the chain to a CA of the bundle, as a server would."""
    try:
        path = certfacts.trust_path(chain, cas)[1:]
    except VerificationError as exc:
        _no_path(facts, chain, cas, str(exc))
        return
    check_key_identifiers(facts, [chain[0], *path])
    via = " via " + ", ".join(c.subject.rfc4514_string() for c in path[:-1]) if path[1:] else ""
    facts.add("ok", "signed by", f"{path[-1].subject.rfc4514_string()} (in --ca){via}")


def _no_path(
    facts: LocalFacts, chain: list[x509.Certificate], cas: list[x509.Certificate], error: str
) -> None:
    """Why no path: the issuer of the chain's last certificate is missing, another key, or
    present but the path breaks an RFC 5280 rule (the verifier's words)."""
    top = chain[-1]
    facts.untrusted_issuer = name = top.issuer.rfc4514_string()
    detail = f"{name}, which is not in the CA bundle (--ca)"
    if any(certfacts.issued_by(top, ca) for ca in cas):
        detail = f"{name} (in --ca), but the path breaks a rule: {error}"
    elif any(ca.subject == top.issuer for ca in cas):
        detail = f"a CA named {name}, but not the one in --ca of that name (another key)"
    fix = "get a certificate from the server's CA, or send the full chain.pem"
    if len(chain) == 1:  # a leaf alone: a server holding its intermediate may complete it
        detail += "; a server holding that CA (as ours do) completes the chain itself"
        fix = "send chain.pem to servers that do not"
    facts.add("warn" if len(chain) == 1 else "fail", "signed by", detail, fix)


def check_key_identifiers(facts: LocalFacts, path: list[x509.Certificate]) -> None:
    """Python 3.13 (VERIFY_X509_STRICT) refuses a CA without SKI or a leaf without AKI."""
    leaf, cas = path[0], path[1:]
    has_aki = certfacts.extension(leaf, x509.AuthorityKeyIdentifier) is not None
    missing = [] if has_aki else ["the leaf has no AKI"]
    missing += [
        f"{ca.subject.rfc4514_string()} has no SKI"
        for ca in cas
        if certfacts.extension(ca, x509.SubjectKeyIdentifier) is None
    ]
    if missing:
        facts.add("warn", "key identifiers", "; ".join(missing), "reissue with SKI and AKI")
    else:
        facts.add("ok", "key identifiers", "SKI/AKI present (Python 3.13's strict check passes)")


def check_revocation(facts: LocalFacts, leaf: x509.Certificate, crl_path: Path | None) -> None:
    if crl_path is None or not crl_path.exists():
        facts.add("info", "revocation", "no CRL given (--crl): not checked here")
        return
    try:
        crls = certfacts.crls_in(crl_path.read_bytes())
    except (OSError, ValueError) as exc:
        facts.add("warn", "revocation", f"{crl_path}: cannot read the CRL ({exc})")
        return
    if not crls:
        facts.add("warn", "revocation", f"{crl_path}: holds no PEM CRL", "pass the CRL (crl.pem)")
        return
    entry = certfacts.revocation_of(leaf, crls)
    if entry is not None:
        facts.revoked = True
        when = entry.revocation_date_utc.isoformat()
        facts.add(
            "fail",
            "revocation",
            f"serial {leaf.serial_number:x} revoked on {when}",
            "issue a new certificate (make renew NAME=<name>)",
        )
    else:
        listed = f"{len(crls)} CRL(s) in {crl_path}"
        facts.add("ok", "revocation", f"serial {leaf.serial_number:x} not revoked ({listed})")
