"""The CA on disk: create it once, load it for every signature."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509

from devpki import crl, pkcs12
from devpki.builders.authority import build_intermediate, build_root
from devpki.errors import PKIError
from devpki.keys import KeyType, SigningKey, generate_key, key_to_pem, load_key
from devpki.store import Layout, cert_pem, load_certificate, read_file, write_file

# CA keys are always P-256: fast, and accepted by every TLS stack we meet.
CA_KEY_TYPE: KeyType = "p256"


@dataclass(frozen=True)
class Authority:
    """Root and issuing intermediate, certificates and keys."""

    root: x509.Certificate
    root_key: SigningKey
    intermediate: x509.Certificate
    intermediate_key: SigningKey


def exists(layout: Layout) -> bool:
    paths = (layout.ca_cert, layout.root_key, layout.intermediate_cert, layout.intermediate_key)
    return all(p.exists() for p in paths)


def load(layout: Layout) -> Authority:
    """The CA, or a PKIError telling the person to create it."""
    if not exists(layout):
        raise PKIError(
            f"no CA in {layout.root} (ca.crt, ca/intermediate.crt and their keys): "
            "run `make certs` (or `python -m devpki init`) first"
        )
    return Authority(
        root=load_certificate(layout.ca_cert, "root CA certificate"),
        root_key=load_key(read_file(layout.root_key, "root CA key"), str(layout.root_key)),
        intermediate=load_certificate(layout.intermediate_cert, "intermediate CA certificate"),
        intermediate_key=load_key(
            read_file(layout.intermediate_key, "intermediate CA key"),
            str(layout.intermediate_key),
        ),
    )


def create(layout: Layout, trust_domain: str) -> Authority:
    """A new root and intermediate; keys are written before the certificates that need them."""
    root_key = generate_key(CA_KEY_TYPE)
    root = build_root(trust_domain, root_key)
    inter_key = generate_key(CA_KEY_TYPE)
    inter = build_intermediate(trust_domain, inter_key, root, root_key)
    write_file(layout.root_key, key_to_pem(root_key), secret=True)
    write_file(layout.intermediate_key, key_to_pem(inter_key), secret=True)
    write_file(layout.ca_cert, cert_pem(root))
    write_file(layout.intermediate_cert, cert_pem(inter))
    # A new CA makes every earlier revocation meaningless: start an empty list.
    write_file(layout.revoked, crl.dump_revoked({"crl_number": 0, "revoked": []}))
    return Authority(root, root_key, inter, inter_key)


def write_crl(layout: Layout, authority: Authority, issued_at: datetime | None = None) -> None:
    """Rebuild crl.pem from the revoked list, signed by the issuing intermediate, and
    chain-crl.pem: that CRL, then the root's.

    The root's CRL revokes nothing (devpki never revokes its intermediate), but a verifier
    that checks the whole chain (OpenSSL's CRL_CHECK_ALL, which PostgreSQL's ssl_crl_file
    turns on; `openssl verify -crl_check_all`) refuses a chain with a CA whose CRL it lacks
    ("unable to get certificate CRL"). The services check the leaf only: crl.pem.
    """
    data = crl.load_revoked(layout.revoked)
    pem = crl.build_crl(data, authority.intermediate, authority.intermediate_key, issued_at)
    same_number = {"crl_number": int(data["crl_number"]) - 1, "revoked": []}
    root_pem = crl.build_crl(same_number, authority.root, authority.root_key, issued_at)
    write_file(layout.revoked, crl.dump_revoked(data))
    write_file(layout.crl, pem)
    write_file(layout.chain_crl, pem + root_pem)


def publish_trust(layout: Layout) -> list[Path]:
    """Copy ca.crt and the CRLs into trust/ when they differ; the copies that changed.

    A bind mount of a single file keeps the inode it was given, so a running
    container never sees a CRL or CA that os.replace put in its place. A mounted
    folder does; trust/ is that folder, and it holds nothing secret.
    """
    changed = []
    for source in (layout.ca_cert, layout.crl, layout.chain_crl):
        if not source.exists():
            continue
        data, copy = source.read_bytes(), layout.trust_dir / source.name
        if not copy.exists() or copy.read_bytes() != data:
            changed.append(write_file(copy, data))
    return changed


def write_truststore(layout: Layout, authority: Authority, trust_domain: str) -> None:
    """truststore.p12 holds the root only: the same trust anchor as ca.crt."""
    data = pkcs12.truststore({f"{trust_domain}-root-ca": authority.root})
    write_file(layout.truststore, data)
