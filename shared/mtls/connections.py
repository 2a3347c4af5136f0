"""The server's open mTLS connections, so that a new CRL reaches callers already connected.

OpenSSL checks revocation during the handshake only. Without this, a revoked
client that keeps its kept-alive connection busy keeps its access until it
chooses to reconnect. After each reload the server looks up every open
connection's peer certificate in the new CRLs and closes the revoked ones
gracefully: a request in flight finishes, then the connection closes, and the
next handshake is refused.
"""

from __future__ import annotations

import logging
from typing import Protocol

from cryptography import x509

from mtls.certfacts import event_fields, is_revoked
from mtls.logs import audit
from mtls.metrics import CONNECTIONS_CLOSED


class Connection(Protocol):
    """What the registry needs of a connection: uvicorn's protocols have both."""

    def shutdown(self) -> None: ...  # uvicorn: finish the response in flight, then close

    def peer_address(self) -> str: ...


class OpenConnections:
    """Verified connections and their peer's certificate (DER, parsed only when needed)."""

    def __init__(self) -> None:
        self._peers: dict[Connection, bytes] = {}

    def add(self, connection: Connection, peer_der: bytes | None) -> None:
        if peer_der:
            self._peers[connection] = peer_der

    def discard(self, connection: Connection) -> None:
        self._peers.pop(connection, None)

    def close_revoked(self, crls: list[x509.CertificateRevocationList]) -> int:
        """Shut down every connection whose peer certificate the CRLs list; how many."""
        if not crls:
            return 0
        closed = 0
        for connection, der in list(self._peers.items()):
            cert = x509.load_der_x509_certificate(der)
            if not is_revoked(cert, crls):
                continue
            self.discard(connection)
            CONNECTIONS_CLOSED.labels("revoked").inc()
            audit(
                "tls connection closed",
                logging.WARNING,
                peer=connection.peer_address(),
                reason="revoked",
                **event_fields(cert),
            )
            connection.shutdown()
            closed += 1
        return closed
