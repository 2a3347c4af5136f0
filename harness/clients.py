"""TLS clients: a strict foreign one, and the toolkit's own.

`client_context` is deliberately *not* built with `mtls.contexts`: a test of
the server should meet it as curl, Java or another team's Python would. The
bench measures the services' own client, so `toolkit_client_context` is the
toolkit's context, as `PeerClient` uses it.
"""

from __future__ import annotations

import functools
import ssl
from pathlib import Path
from typing import Any

import httpx
from mtls import Role, TLSContexts, TLSSettings, load_material
from mtls import client_context as mtls_client_context


def client_context(
    pki_dir: Path | None,
    name: str | None,
    *,
    ca: Path | None = None,
    cert: Path | None = None,
    key: Path | None = None,
    max_version: ssl.TLSVersion | None = None,
    weak_own_certificate: bool = False,
) -> ssl.SSLContext:
    """A strict client presenting `name`'s chain from pki_dir (or cert/key; None: none).

    weak_own_certificate lets it *present* an RSA-1024 or SHA-1 certificate (OpenSSL's
    security level refuses to load one otherwise), so the server's refusal of it can be
    observed; the server's certificate is still verified.
    """
    trusted = ca or (pki_dir / "ca.crt" if pki_dir else None)
    context = ssl.create_default_context(cafile=str(trusted) if trusted else None)
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    if weak_own_certificate:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    if max_version is not None:
        context.maximum_version = max_version
    if cert is None and name is not None and pki_dir is not None:
        cert, key = pki_dir / name / "chain.pem", pki_dir / name / "key.pem"
    if cert is not None:
        context.load_cert_chain(str(cert), str(key or cert))
    return context


def toolkit_contexts(pki_dir: Path, name: str, ca: Path | None = None) -> TLSContexts:
    """The toolkit's client contexts for `name` (what a `PeerClient` of that service uses)."""
    folder = pki_dir / name
    settings = TLSSettings(
        cert=folder / "chain.pem", key=folder / "key.pem", ca=ca or pki_dir / "ca.crt"
    )
    return TLSContexts(settings, roles=(Role.CLIENT,))


def https(pki_dir: Path, name: str | None, **kwargs: Any) -> httpx.Client:
    """An httpx client presenting `name`'s certificate (None: no certificate)."""
    return httpx.Client(verify=client_context(pki_dir, name, **kwargs), timeout=10.0)


def unverified_client(pki_dir: Path, name: str) -> httpx.Client:
    """Presents `name`'s certificate but does not verify the server's (curl -k).

    What monitoring needs to read /health from a server whose own certificate
    has expired: a verifying client would refuse the handshake first.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(pki_dir / name / "chain.pem", pki_dir / name / "key.pem")
    return httpx.Client(verify=context, timeout=10.0)


def toolkit_client_context(
    cert: Path, key: Path, ca: Path, *, tls_version: str | None = None
) -> ssl.SSLContext:
    """The toolkit's client context for this certificate; `tls_version` pins "1.2" or "1.3"."""
    settings = TLSSettings(cert=cert, key=key, ca=ca, min_tls_version="1.2")
    context = mtls_client_context(load_material(settings, (Role.CLIENT,)))
    if tls_version == "1.2":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    elif tls_version == "1.3":
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


@functools.cache
def cached_toolkit_client_context(
    cert: Path, key: Path, ca: Path, tls_version: str | None = None
) -> ssl.SSLContext:
    """Built once per process and certificate, like the services do (sessions stay in it)."""
    return toolkit_client_context(cert, key, ca, tls_version=tls_version)
