"""Client contexts of the bench, built by the toolkit like the services' own."""

from __future__ import annotations

import functools
import ssl
from pathlib import Path

from mtls.contexts import client_context
from mtls.material import Role, load_material
from mtls.settings import TLSSettings


def bench_client_context(
    cert: Path, key: Path, ca: Path, *, tls_version: str | None = None
) -> ssl.SSLContext:
    """The toolkit's client context for this certificate; `tls_version` pins "1.2" or "1.3"."""
    settings = TLSSettings(cert=cert, key=key, ca=ca, min_tls_version="1.2")
    context = client_context(load_material(settings, (Role.CLIENT,)))
    if tls_version == "1.2":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    elif tls_version == "1.3":
        context.minimum_version = ssl.TLSVersion.TLSv1_3
    return context


@functools.cache
def cached_client_context(
    cert: Path, key: Path, ca: Path, tls_version: str | None = None
) -> ssl.SSLContext:
    """Built once per process and certificate, like the services do (sessions stay in it)."""
    return bench_client_context(cert, key, ca, tls_version=tls_version)
