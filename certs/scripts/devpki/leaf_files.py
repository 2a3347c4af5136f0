"""Minting a Leaf and moving it to and from its folder <dir>/<name>/."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from devpki import pkcs12
from devpki.authority import Authority
from devpki.builders.leaf import LeafSpec, build_leaf
from devpki.errors import PKIError
from devpki.keys import KeyType, generate_key, load_key
from devpki.leaf import Leaf
from devpki.store import Layout, read_file, write_file

CERT, KEY, CHAIN, KEYSTORE = "cert.pem", "key.pem", "chain.pem", "keystore.p12"


def make_leaf(
    layout: Layout,
    name: str,
    spec: LeafSpec,
    ca: Authority | None,
    key_type: KeyType,
    hash_name: str,
    *,
    keep_key: bool,
) -> Leaf:
    """Sign a leaf in memory; ca None means self-signed. keep_key reuses key.pem if present."""
    folder = layout.leaf_dir(name)
    key_path = folder / KEY
    if keep_key and key_path.exists():
        key = load_key(read_file(key_path, "private key"), str(key_path))
    else:
        key = generate_key(key_type)
    if ca is None:
        cert = build_leaf(spec, key, None, key, hash_name)
        chain: tuple[x509.Certificate, ...] = ()
    else:
        cert = build_leaf(spec, key, ca.intermediate, ca.intermediate_key, hash_name)
        chain = (ca.intermediate,)
    return Leaf(
        name=name,
        cert_path=folder / CERT,
        key_path=key_path,
        chain_path=folder / CHAIN,
        keystore_path=None,
        certificate=cert,
        private_key=key,
        chain_certificates=chain,
    )


def write_leaf(layout: Layout, leaf: Leaf) -> Leaf:
    """Key first, then cert, chain and keystore: each replaced atomically.

    A server reloading between two writes can briefly see a new key with the old
    certificate; its reload must tolerate a mismatch and retry (mtls.reload does).
    """
    key = leaf.private_key
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PKIError(f"cannot store a {type(key).__name__} key for {leaf.name}: use EC or RSA")
    keystore_path = layout.leaf_dir(leaf.name) / KEYSTORE
    write_file(leaf.key_path, leaf.key_pem(), secret=True)
    write_file(leaf.cert_path, leaf.cert_pem())
    write_file(leaf.chain_path, leaf.chain_pem())
    data = pkcs12.keystore(leaf.name, key, leaf.certificate, leaf.chain_certificates)
    write_file(keystore_path, data, secret=True)
    return _with_keystore(leaf, keystore_path)


def load_leaf(layout: Layout, name: str) -> Leaf:
    """Read <dir>/<name>/ back; the chain is whatever chain.pem holds after the leaf."""
    folder = layout.leaf_dir(name)
    cert_path, key_path, chain_path = folder / CERT, folder / KEY, folder / CHAIN
    cert = _certs(cert_path)[0]
    key = load_key(read_file(key_path, "private key"), str(key_path))
    chain = tuple(_certs(chain_path)[1:]) if chain_path.exists() else ()
    keystore = folder / KEYSTORE
    return Leaf(
        name=name,
        cert_path=cert_path,
        key_path=key_path,
        chain_path=chain_path,
        keystore_path=keystore if keystore.exists() else None,
        certificate=cert,
        private_key=key,
        chain_certificates=chain,
    )


def _certs(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(read_file(path, "certificate"))
    except ValueError as exc:
        raise PKIError(f"{path} is not a PEM certificate file: {exc}; reissue it") from None


def _with_keystore(leaf: Leaf, path: Path) -> Leaf:
    return replace(leaf, keystore_path=path)
