"""Private key generation, description and PEM encoding."""

from __future__ import annotations

from typing import Literal, TypeAlias, get_args

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from devpki.errors import PKIError

KeyType = Literal["p256", "p384", "rsa2048", "rsa4096", "rsa1024"]
KEY_TYPES: tuple[str, ...] = get_args(KeyType)
# rsa1024 exists only so tests can prove weak keys are refused; the CLI does not offer it.
CLI_KEY_TYPES: tuple[str, ...] = ("p256", "p384", "rsa2048", "rsa4096")

# The key kinds this PKI signs with and issues: every TLS stack accepts both.
SigningKey: TypeAlias = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
SignatureHash: TypeAlias = hashes.SHA256 | hashes.SHA384 | hashes.SHA512
# sha1 is handled by builders.weak (cryptography no longer signs with it).
HASH_NAMES = ("sha256", "sha384", "sha512", "sha1")
_HASHES: dict[str, type[SignatureHash]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def generate_key(key_type: KeyType) -> SigningKey:
    """A fresh key of the asked type; P-256 by default because it is cheap and universal."""
    if key_type == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type.startswith("rsa") and key_type in KEY_TYPES:
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    raise PKIError(f"key type {key_type!r} is not supported: use one of {', '.join(KEY_TYPES)}")


def key_type_of(public_key: PublicKeyTypes) -> KeyType:
    """The KeyType that would regenerate a key like this one (for renewals)."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if isinstance(public_key.curve, ec.SECP384R1):
            return "p384"
        if isinstance(public_key.curve, ec.SECP256R1):
            return "p256"
    if isinstance(public_key, rsa.RSAPublicKey):
        name = f"rsa{public_key.key_size}"
        if name in KEY_TYPES:
            return name  # type: ignore[return-value]
    raise PKIError(f"cannot renew a certificate with a {describe_key(public_key)} key")


def describe_key(public_key: PublicKeyTypes) -> str:
    """Human name of a key, e.g. 'ECDSA P-256' or 'RSA 2048'."""
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curves = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
        return f"ECDSA {curves.get(public_key.curve.name, public_key.curve.name)}"
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA {public_key.key_size}"
    return type(public_key).__name__.removesuffix("PublicKey").lstrip("_")


def hash_algorithm(name: str) -> SignatureHash:
    """The signature hash by name (sha1 never reaches here: see builders.weak)."""
    try:
        return _HASHES[name.lower()]()
    except KeyError:
        raise PKIError(
            f"hash algorithm {name!r} is not supported: use one of {', '.join(HASH_NAMES)}"
        ) from None


def key_to_pem(key: PrivateKeyTypes) -> bytes:
    """Unencrypted PKCS#8 PEM: what ssl.load_cert_chain and uvicorn read without a password."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(data: bytes, source: str) -> SigningKey:
    """Parse a PEM key written by this package; PKIError names the file otherwise."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise PKIError(f"cannot read the private key {source}: {exc}; reissue it") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise PKIError(f"the private key {source} is a {type(key).__name__}, not EC or RSA")
    return key
