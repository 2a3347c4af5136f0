"""Every `ssl.SSLContext` a connection of the services uses is built here.

(`mtls.tlsscope` makes one more, never connected, only to read OpenSSL's cipher table.)

Both sides get the same hardening: TLS 1.3 unless the settings allow 1.2, the
peer's certificate required and checked strictly (`VERIFY_X509_STRICT`, so
Python 3.11 rejects what 3.13 rejects), no compression, no renegotiation,
security level 2 (no RSA-1024 keys, no SHA-1 signatures), CRL checking of the
peer's leaf when a CRL is configured. Contexts are built once per material
version (see `mtls.reload`): building one costs milliseconds, so never per
request.
"""

from __future__ import annotations

import ssl

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from mtls.material import TLSMaterial
from mtls.sessions import bound_session_lifetime

TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
# TLS 1.2 only: forward-secret AEAD suites. TLS 1.3 suites are all acceptable.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:@SECLEVEL=2"
ALPN_HTTP1 = ["http/1.1"]


def _harden(context: ssl.SSLContext, material: TLSMaterial) -> ssl.SSLContext:
    settings = material.settings
    context.minimum_version = TLS_VERSIONS[settings.min_tls_version]
    context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.set_ciphers(TLS12_CIPHERS)
    context.verify_mode = ssl.CERT_REQUIRED
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    context.verify_flags &= ~ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata="".join(_pem(cert) for cert in _verify_store(material)))
    if settings.crl is not None:
        context.load_verify_locations(cafile=str(settings.crl))
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    password = settings.key_password.get_secret_value() if settings.key_password else None
    context.load_cert_chain(str(settings.cert_path), str(settings.key_path), password)
    context.set_alpn_protocols(ALPN_HTTP1)
    return context


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(Encoding.PEM).decode()


def _verify_store(material: TLSMaterial) -> list[x509.Certificate]:
    """The trust anchors, plus the intermediates of our own chain.

    A peer that sends only its leaf (`openssl s_client -cert cert.pem`, the seed's
    command) is then verified too: OpenSSL completes the chain from the store. With
    partial chains off, an intermediate there is no anchor: the path must still end
    at a root of MTLS_CA.
    """
    return [*material.ca_certs, *material.chain[1:]]


def server_context(material: TLSMaterial) -> ssl.SSLContext:
    """A server context that requires and verifies a client certificate; its sessions
    can be resumed for MTLS_SESSION_TIMEOUT seconds at most (see mtls.sessions)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    bound_session_lifetime(context, material.settings.session_timeout)
    return _harden(context, material)


def client_context(material: TLSMaterial) -> ssl.SSLContext:
    """A client context that presents our certificate and verifies the server's name."""
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT), material)
    context.check_hostname = True
    return context


def diagnostic_context(
    ca_pem: str,
    cert: str | None = None,
    key: str | None = None,
    *,
    key_password: str | None = None,
    max_version: str = "1.3",
    verify: bool = True,
) -> ssl.SSLContext:
    """The doctor's client context: hardened like `client_context`, but the client
    certificate is optional, TLS 1.2 is offered (so a server's refusal of it can be
    seen) and verification can be off, to fetch a server chain that does not verify."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = TLS_VERSIONS[max_version]
    context.set_ciphers(TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    context.set_alpn_protocols(ALPN_HTTP1)
    if verify:
        context.verify_flags |= ssl.VERIFY_X509_STRICT
        context.load_verify_locations(cadata=ca_pem)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert and key:
        context.load_cert_chain(cert, key, key_password)
    return context
