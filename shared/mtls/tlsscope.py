"""The ASGI TLS extension: what the app may know about the connection's TLS.

uvicorn does not fill `scope["extensions"]["tls"]`; `mtls.server` does, with
the dictionary built here once per connection. The field shape follows the
ASGI TLS extension (v0.2) and lives only in this module, since the spec is
still being revised.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

TLS_VERSION_CODES = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


@functools.cache
def _cipher_suite_ids() -> dict[str, int]:
    """OpenSSL cipher names to their 16-bit IANA code points (read once)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:@SECLEVEL=0")
    return {cipher["name"]: cipher["id"] & 0xFFFF for cipher in context.get_ciphers()}


def _peer_chain(ssl_object: ssl.SSLObject) -> list[str]:
    """PEM certificates the client presented, leaf first: the verified chain where offered."""
    verified = getattr(ssl_object, "get_verified_chain", None)
    ders: list[bytes] = list(verified()) if verified else []
    if not ders:
        leaf = ssl_object.getpeercert(binary_form=True)
        ders = [leaf] if leaf else []
    return [ssl.DER_cert_to_PEM_cert(der) for der in ders]


@functools.lru_cache(maxsize=1024)
def _subject_name(pem: str) -> str | None:
    """Parsed once per client certificate, not once per connection (see make bench)."""
    try:
        return x509.load_pem_x509_certificate(pem.encode()).subject.rfc4514_string()
    except ValueError:
        return None


@functools.lru_cache(maxsize=8)
def certificate_file_leaf_pem(path: str) -> str | None:
    """The first certificate of a PEM file (uvicorn's `--ssl-certfile`), read once.

    On the plain uvicorn command line the loop did the handshake with that file,
    so its first certificate is the one the server sent.
    """
    try:
        certs = x509.load_pem_x509_certificates(Path(path).read_bytes())
    except (OSError, ValueError):
        return None
    return certs[0].public_bytes(serialization.Encoding.PEM).decode() if certs else None


def tls_extension(ssl_object: ssl.SSLObject, server_cert_pem: str | None) -> dict[str, Any]:
    """The `tls` extension dictionary for every request on this connection."""
    chain = _peer_chain(ssl_object)
    cipher = ssl_object.cipher()
    return {
        "server_cert": server_cert_pem,
        "client_cert_chain": chain,
        "client_cert_name": _subject_name(chain[0]) if chain else None,
        # With CERT_REQUIRED a certificate that fails verification fails the handshake.
        "client_cert_error": None,
        "tls_version": TLS_VERSION_CODES.get(ssl_object.version() or ""),
        "cipher_suite": _cipher_suite_ids().get(cipher[0]) if cipher else None,
    }


def tls_scope(scope: Mapping[str, Any]) -> dict[str, Any] | None:
    """The TLS extension of a request scope, or None when the request did not come over TLS."""
    extensions = scope.get("extensions") or {}
    tls = extensions.get("tls")
    return tls if isinstance(tls, dict) else None


def peer_of(scope: Mapping[str, Any]) -> str:
    """`host:port` of the request's TCP peer, as the access and audit lines name it."""
    host, port = scope.get("client") or ("-", 0)
    return f"{host}:{port}"
