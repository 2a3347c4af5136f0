"""The ASGI TLS extension: what the app may know about the connection's TLS.

uvicorn does not fill `scope["extensions"]["tls"]`; `mtls.protocol` does, with
the dictionary built here once per connection, and puts the caller's identity
beside it (`WithConnectionScope`). The field shape follows the ASGI TLS
extension (v0.2) and lives only in this module, since the spec is still being
revised.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mtls.identity import IDENTITY_KEY

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


def tls_extension(
    ssl_object: ssl.SSLObject, server_cert_pem: str | None, client_cert_name: str | None
) -> dict[str, Any]:
    """The `tls` extension dictionary for every request on this connection.

    `client_cert_name` is the client leaf's subject, from the certificate the connection's
    identity was read from (parsed once, in mtls.identity).
    """
    chain = _peer_chain(ssl_object)
    cipher = ssl_object.cipher()
    return {
        "server_cert": server_cert_pem,
        "client_cert_chain": chain,
        "client_cert_name": client_cert_name,
        # With CERT_REQUIRED a certificate that fails verification fails the handshake.
        "client_cert_error": None,
        "tls_version": TLS_VERSION_CODES.get(ssl_object.version() or ""),
        "cipher_suite": _cipher_suite_ids().get(cipher[0]) if cipher else None,
    }


class WithConnectionScope:
    """Adds one connection's TLS extension and caller identity to each of its request scopes:
    the extension under scope["extensions"]["tls"] (ASGI), the identity under IDENTITY_KEY."""

    __slots__ = ("app", "identity", "tls")

    def __init__(self, app: Any, tls: dict[str, Any], identity: object) -> None:
        self.app, self.tls, self.identity = app, tls, identity

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": dict(self.tls)}
            scope[IDENTITY_KEY] = self.identity
        await self.app(scope, receive, send)


def tls_scope(scope: Mapping[str, Any]) -> dict[str, Any] | None:
    """The TLS extension of a request scope, or None when the request did not come over TLS."""
    extensions = scope.get("extensions") or {}
    tls = extensions.get("tls")
    return tls if isinstance(tls, dict) else None


def peer_of(scope: Mapping[str, Any]) -> str:
    """`host:port` of the request's TCP peer, as the access and audit lines name it."""
    host, port = scope.get("client") or ("-", 0)
    return f"{host}:{port}"
