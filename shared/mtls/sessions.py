"""How long a TLS session may be resumed: the seed's "session timeout", 300 s by default.

A resumed TLS 1.3 session skips the client certificate: the client shows only its
ticket, and the server restores the identity the ticket was issued for. Python's
default ticket lifetime is OpenSSL's 7200 s, and the `ssl` module has no setter for
it, so this module calls OpenSSL's `SSL_CTX_set_timeout` on the context (through
ctypes, reading back the value to be sure it took). Where that is not possible, it
turns session tickets off: no resumption is safer than a resumption of unknown age.
The server also re-checks a resumed session's certificate (expiry, revocation).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import ssl
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from mtls.certfacts import event_fields, is_revoked
from mtls.errors import Explanation

logger = logging.getLogger(__name__)
OPENSSL_DEFAULT_TIMEOUT = 7200  # what SSL_CTX_get_timeout says of a fresh context


@functools.cache
def _libssl() -> ctypes.CDLL | None:
    """The libssl this process's `_ssl` module is linked to (the one already loaded)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = sorted({line.split()[-1] for line in maps.splitlines() if "/libssl." in line})
    if len(paths) != 1:
        return None
    library = ctypes.CDLL(paths[0])
    for name, argtypes in (
        ("SSL_CTX_get_timeout", [ctypes.c_void_p]),
        ("SSL_CTX_set_timeout", [ctypes.c_void_p, ctypes.c_long]),
    ):
        function = getattr(library, name)
        function.argtypes, function.restype = argtypes, ctypes.c_long
    return library


def _ssl_ctx_pointer(context: ssl.SSLContext) -> int | None:
    """CPython's SSLContext object starts with its SSL_CTX* right after the object header."""
    if sys.implementation.name != "cpython":
        return None
    pointer = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
    return pointer or None


def bound_session_lifetime(context: ssl.SSLContext, seconds: int) -> bool:
    """Let sessions of this fresh server context be resumed for `seconds` at most.

    True if OpenSSL took the timeout; False if tickets were turned off instead (also
    when seconds is 0).
    """
    library = _libssl() if seconds > 0 else None
    pointer = _ssl_ctx_pointer(context) if library is not None else None
    if (
        library is not None
        and pointer is not None
        and library.SSL_CTX_get_timeout(pointer) == OPENSSL_DEFAULT_TIMEOUT
    ):
        library.SSL_CTX_set_timeout(pointer, seconds)
        if library.SSL_CTX_get_timeout(pointer) == seconds:
            return True
    if seconds > 0:
        logger.warning("cannot set the TLS session timeout here; session resumption is off")
    context.num_tickets = 0
    return False


def resumed_session_refusal(
    ssl_object: ssl.SSLObject, crls: list[x509.CertificateRevocationList]
) -> tuple[Explanation, dict[str, Any]] | None:
    """A resumed session skipped the certificate checks: expired or revoked since, it is refused.

    A resumption shows no certificate, so OpenSSL restores the one the session began with
    and checks neither its dates nor the CRL again.
    """
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    cert = x509.load_der_x509_certificate(der)
    fields: dict[str, Any] = {"resumed": True, **event_fields(cert)}
    if cert.not_valid_after_utc <= datetime.now(UTC):
        why = Explanation("expired", "the resumed session's client certificate has expired",
                          "renew it: make renew NAME=...")  # fmt: skip
        return why, fields
    if is_revoked(cert, crls):
        why = Explanation("revoked", "the resumed session's client certificate is revoked",
                          "issue a new certificate")  # fmt: skip
        return why, fields
    return None
