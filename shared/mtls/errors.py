"""OpenSSL's messages, turned into what a person needs: the cause and what to check.

Shared by the server (refused handshakes in the audit log), the client
(`PeerUnavailable`) and the doctor, so the same failure reads the same
everywhere. Reasons are short stable slugs, usable as metric labels.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

import httpx


@dataclass(frozen=True)
class Explanation:
    """Why a TLS connection failed, as a metric label, a sentence and a fix."""

    reason: str
    cause: str
    hint: str


HANDSHAKE_TIMEOUT = Explanation(
    "handshake_timeout",
    "the peer did not finish the TLS handshake in time (MTLS_HANDSHAKE_TIMEOUT)",
    "a slow or stalled client, or a port scan; check the peer",
)

# X509_V_ERR_* codes seen when verifying the *peer's* certificate.
_VERIFY_CODES: dict[int, tuple[str, str, str]] = {
    2: ("unknown_ca", "the peer's certificate is not signed by a trusted CA", "trust its CA"),
    20: ("unknown_ca", "the peer's certificate is not signed by a trusted CA", "trust its CA"),
    19: ("unknown_ca", "the peer's chain ends in a CA that is not trusted", "trust its CA"),
    7: ("unknown_ca", "the peer's certificate signature does not verify", "trust its real CA"),
    18: ("self_signed", "the peer presented a self-signed certificate", "issue it from the CA"),
    9: ("not_yet_valid", "the peer's certificate is not valid yet", "check clocks or reissue"),
    10: ("expired", "the peer's certificate has expired", "renew it: make renew NAME=..."),
    23: ("revoked", "the peer's certificate is revoked", "issue a new certificate"),
    3: ("crl_missing", "no CRL for the peer's issuing CA", "point MTLS_CRL at its CRL"),
    12: ("crl_expired", "the CRL is out of date", "regenerate it: python -m devpki crl"),
    26: (
        "wrong_purpose",
        "the peer's certificate is not valid for this use: its extended key usage lacks "
        "clientAuth/serverAuth, or its key usage lacks digitalSignature (OpenSSL does not say "
        "which)",
        "`python -m mtls doctor URL --cert ... --key ...` names which; reissue it",
    ),
    24: ("invalid_ca", "a certificate in the peer's chain is not a valid CA", "fix the chain"),
    79: ("invalid_ca", "a CA certificate was used as a leaf", "issue a leaf certificate"),
    62: ("hostname_mismatch", "the server certificate does not name this host", "add a SAN"),
    64: ("hostname_mismatch", "the server certificate does not name this IP", "add an IP SAN"),
    66: ("weak_key", "the peer's key is too small (RSA < 2048)", "use P-256 or RSA-2048+"),
    67: ("weak_key", "a CA key in the peer's chain is too small", "use P-256 or RSA-2048+"),
    68: ("weak_signature", "the peer's certificate uses a weak hash (SHA-1)", "reissue it"),
}
# OpenSSL reason strings of handshake errors that are not certificate checks.
_REASONS: dict[str, tuple[str, str, str]] = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": (
        "certificate_required",
        "the server requires a client certificate and none was sent",
        "pass the client certificate and key (MTLS_CERT, MTLS_KEY; curl --cert --key)",
    ),
    "PEER_DID_NOT_RETURN_A_CERTIFICATE": (
        "certificate_required",
        "the client sent no certificate",
        "the client must present a certificate signed by the CA",
    ),
    "UNSUPPORTED_PROTOCOL": (
        "protocol_version",
        "no TLS version both sides accept",
        "use TLS 1.3, or allow 1.2 with MTLS_MIN_TLS_VERSION=1.2",
    ),
    "TLSV1_ALERT_PROTOCOL_VERSION": (
        "protocol_version",
        "the peer refused our TLS version",
        "use TLS 1.3, or allow 1.2 with MTLS_MIN_TLS_VERSION=1.2",
    ),
    "NO_SHARED_CIPHER": ("no_shared_cipher", "no cipher both sides accept", "use TLS 1.3"),
    "HTTP_REQUEST": ("not_tls", "plain HTTP sent to a TLS port", "use https://"),
    # asyncio servers close without sending their alert: a refused TLS version looks like this.
    "UNEXPECTED_EOF_WHILE_READING": (
        "handshake_closed",
        "the peer closed the connection during the TLS handshake",
        "it refused our TLS version or certificate; `python -m mtls doctor URL` finds which",
    ),
    "WRONG_VERSION_NUMBER": ("not_tls", "the peer does not speak TLS", "check the port and scheme"),
    "TLSV1_ALERT_UNKNOWN_CA": (
        "peer_rejected_certificate",
        "the peer does not trust the CA of our certificate",
        "give the peer our CA (its MTLS_CA / truststore)",
    ),
    "SSLV3_ALERT_BAD_CERTIFICATE": (
        "peer_rejected_certificate",
        "the peer refused our certificate",
        "check our certificate's validity, EKU and CA",
    ),
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": (
        "peer_rejected_certificate",
        "the peer says our certificate has expired",
        "renew it: make renew NAME=...",
    ),
    "SSLV3_ALERT_CERTIFICATE_REVOKED": (
        "peer_rejected_certificate",
        "the peer says our certificate is revoked",
        "issue a new certificate",
    ),
    "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE": (
        "peer_rejected_certificate",
        "the peer refused our certificate's purpose (EKU)",
        "reissue it with clientAuth/serverAuth",
    ),
    "KEY_VALUES_MISMATCH": (
        "key_mismatch",
        "the private key does not match the certificate",
        "use the key issued with the certificate",
    ),
}


def _ssl_error(exc: BaseException | None) -> BaseException | None:
    """The SSL error at the root of an httpx/anyio/OSError chain, if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, ssl.SSLError):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def explain(exc: BaseException) -> Explanation:
    """Name the cause of a failed TLS connection or request, with the fix."""
    error = _ssl_error(exc)
    if isinstance(error, ssl.SSLEOFError) and error.reason is None:
        # After the handshake, without an alert: how a TLS 1.3 peer refusing us looks.
        return _explain_transport(ConnectionResetError())
    if isinstance(error, ssl.SSLCertVerificationError):
        known = _VERIFY_CODES.get(error.verify_code)
        if known:
            return Explanation(*known)
        return Explanation("verify_failed", str(error.verify_message), "inspect the peer's chain")
    if isinstance(error, ssl.SSLError):
        known = _REASONS.get(str(error.reason))
        if known:
            return Explanation(*known)
        return Explanation("tls_error", str(error.reason or error), "run `python -m mtls doctor`")
    return _explain_transport(exc)


def _explain_transport(exc: BaseException) -> Explanation:
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return Explanation("timeout", "the peer did not answer in time", "is it overloaded?")
    if isinstance(exc, httpx.ConnectError | ConnectionRefusedError):
        return Explanation("unreachable", "cannot connect to the peer", "is it running?")
    if isinstance(exc, httpx.ReadError | httpx.RemoteProtocolError | ConnectionResetError):
        return Explanation(
            "connection_closed",
            "the peer closed the connection (under TLS 1.3 a refused client "
            "certificate shows up here, after the handshake)",
            "check that the peer trusts our certificate; see its log",
        )
    return Explanation("error", f"{type(exc).__name__}: {exc}", "see the logs")
