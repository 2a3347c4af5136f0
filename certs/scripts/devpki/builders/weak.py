"""SHA-1 signed certificates, which `cryptography` refuses to sign, for policy tests.

We sign with SHA-256, swap the signature algorithm in the TBS for its SHA-1 twin,
and sign those bytes again with the issuer key: the result is a genuine SHA-1 cert.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from devpki.errors import PKIError
from devpki.keys import SigningKey

# DER of AlgorithmIdentifier SEQUENCEs: ecdsa-with-SHA1 (no params), sha1WithRSA (NULL).
_ECDSA_SHA1 = bytes.fromhex("300906072a8648ce3d0401")
_RSA_SHA1 = bytes.fromhex("300d06092a864886f70d0101050500")


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, body: bytes) -> bytes:
    return bytes([tag]) + _length(len(body)) + body


def _split(der: bytes) -> list[bytes]:
    """Top-level TLVs (whole encodings) of a DER body."""
    out, i = [], 0
    while i < len(der):
        first = der[i + 1]
        if first < 0x80:
            start, size = i + 2, first
        else:
            count = first & 0x7F
            start = i + 2 + count
            size = int.from_bytes(der[i + 2 : start], "big")
        out.append(der[i : start + size])
        i = start + size
    return out


def _content(tlv: bytes) -> bytes:
    first = tlv[1]
    return tlv[2:] if first < 0x80 else tlv[2 + (first & 0x7F) :]


def resign_sha1(cert: x509.Certificate, issuer_key: SigningKey) -> x509.Certificate:
    """The same certificate, signed with SHA-1 by issuer_key."""
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        alg = _ECDSA_SHA1
    elif isinstance(issuer_key, rsa.RSAPrivateKey):
        alg = _RSA_SHA1
    else:
        raise PKIError("SHA-1 signatures are only made with EC or RSA issuer keys")
    fields = _split(_content(cert.tbs_certificate_bytes))
    fields[2] = alg  # version, serial, signature algorithm, ...
    tbs = _tlv(0x30, b"".join(fields))
    if isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        signature = issuer_key.sign(tbs, ec.ECDSA(hashes.SHA1()))  # noqa: S303
    else:
        signature = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    der = _tlv(0x30, tbs + alg + _tlv(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)
