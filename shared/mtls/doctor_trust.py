"""The doctor's trust checks: who signed the certificate, and is it still vouched for.

The walk from the leaf to a CA of the bundle is the one a server makes; the
key identifiers are what Python 3.13's strict verification insists on; the
CRL is what our services check when MTLS_CRL is set.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from mtls.doctor_local import LocalFacts, issued_by, public_key_bytes


def check_issuer(
    facts: LocalFacts, chain: list[x509.Certificate], cas: list[x509.Certificate]
) -> None:
    """Walk from the leaf through the chain to a CA of the bundle, as a server would."""
    current, pool, path = chain[0], chain[1:] + cas, []
    while not any(public_key_bytes(current) == public_key_bytes(ca) for ca in cas):
        issuer = next((c for c in pool if c not in path and issued_by(current, c)), None)
        if issuer is None:
            facts.untrusted_issuer = name = current.issuer.rfc4514_string()
            detail = f"{name}, which is not in the CA bundle (--ca)"
            if any(c.subject == current.issuer for c in pool):
                detail = f"a CA named {name}, but not the one in --ca of that name (another key)"
            fix = "get a certificate from the server's CA, or send the full chain.pem"
            if len(chain) == 1 and current is chain[0]:  # a leaf alone: the server may complete it
                detail += "; a server holding that CA (as ours do) completes the chain itself"
                fix = "send chain.pem to servers that do not"
            facts.add("warn" if len(chain) == 1 else "fail", "signed by", detail, fix)
            return
        path.append(issuer)
        current = issuer
    check_key_identifiers(facts, [chain[0], *path])
    via = " via " + ", ".join(c.subject.rfc4514_string() for c in path[:-1]) if path[1:] else ""
    facts.add("ok", "signed by", f"{current.subject.rfc4514_string()} (in --ca){via}")


def check_key_identifiers(facts: LocalFacts, path: list[x509.Certificate]) -> None:
    """Python 3.13 (VERIFY_X509_STRICT) refuses a CA without SKI or a leaf without AKI."""
    leaf, cas = path[0], path[1:]
    missing = [] if _has(leaf, x509.AuthorityKeyIdentifier) else ["the leaf has no AKI"]
    missing += [
        f"{ca.subject.rfc4514_string()} has no SKI"
        for ca in cas
        if not _has(ca, x509.SubjectKeyIdentifier)
    ]
    if missing:
        facts.add("warn", "key identifiers", "; ".join(missing), "reissue with SKI and AKI")
    else:
        facts.add("ok", "key identifiers", "SKI/AKI present (Python 3.13's strict check passes)")


def _has(cert: x509.Certificate, extension: type[x509.ExtensionType]) -> bool:
    try:
        cert.extensions.get_extension_for_class(extension)
    except x509.ExtensionNotFound:
        return False
    return True


def check_revocation(facts: LocalFacts, leaf: x509.Certificate, crl_path: Path | None) -> None:
    if crl_path is None or not crl_path.exists():
        facts.add("info", "revocation", "no CRL given (--crl): not checked here")
        return
    try:
        crl = x509.load_pem_x509_crl(crl_path.read_bytes())
    except (OSError, ValueError) as exc:
        facts.add("warn", "revocation", f"{crl_path}: cannot read the CRL ({exc})")
        return
    entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
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
        facts.add("ok", "revocation", f"serial {leaf.serial_number:x} not in {crl_path}")
