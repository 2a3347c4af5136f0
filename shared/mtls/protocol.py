"""uvicorn's HTTP protocols, terminating mTLS themselves and telling the app who is calling.

They accept plain TCP, run the handshake (`mtls.handshake`), then give uvicorn's
own protocol the TLS transport: uvicorn's request handling is not copied. Once
the handshake is done, the connection's app is wrapped to add the ASGI TLS
extension and the caller's identity (computed here, once per connection) to
every request scope, and the limits uvicorn lacks (`mtls.limits`) watch the
connection. The process around it (settings, uvicorn, signals) is `mtls.process`.

Started from the plain `uvicorn` command line (`--http mtls.protocol:HttpToolsTLSProtocol`
with `--ssl-certfile ... --ssl-ca-certs ... --ssl-cert-reqs 2`), the loop has
already done the handshake and the protocols only add the extension and identity.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mtls.coalesce import CoalescingTransport
from mtls.connections import OpenConnections
from mtls.handshake import server_handshake, transport_peer
from mtls.identity import certificate_subject, connection_identity
from mtls.limits import BodyLimit, ConnectionSlots, HeadGuard
from mtls.reload import TLSContexts
from mtls.settings import TLSSettings
from mtls.tlsscope import WithConnectionScope, certificate_file_leaf_pem, tls_extension

ASGIApp = Any
# Seconds an idle kept-alive connection stays open (uvicorn's default is 5): longer than
# the peer client's pool expiry (mtls.client.KEEPALIVE_EXPIRY), since every reconnect is
# a full mTLS handshake, milliseconds of CPU on both sides.
KEEP_ALIVE_TIMEOUT = 15


@functools.cache
def _default_settings() -> TLSSettings:
    """Limits for the plain uvicorn command line, which brings no TLSContexts (MTLS_* env)."""
    return TLSSettings()


def _uvicorn_certfile_pem(protocol: object) -> str | None:
    """The leaf of uvicorn's `--ssl-certfile` (uvicorn's protocols keep their Config)."""
    certfile = getattr(getattr(protocol, "config", None), "ssl_certfile", None)
    return certificate_file_leaf_pem(str(certfile)) if certfile else None


class TLSProtocolMixin:
    """Runs the server-side handshake, then hands a TLS transport to uvicorn's protocol."""

    tls_contexts: ClassVar[TLSContexts | None] = None
    open_connections: ClassVar[OpenConnections | None] = None
    app: ASGIApp
    client: tuple[str, int] | None  # uvicorn's: the peer's address
    shutdown: Callable[[], None]  # uvicorn's: finish the response in flight, then close
    connection_slots: ClassVar[ConnectionSlots | None] = None
    # Bytes that arrived before the handshake task took the transport, or None once it has.
    _early: list[bytes] | None = None
    _handshake: asyncio.Task[None] | None = None
    _serving = False  # uvicorn's protocol has its connection (the handshake is done)
    _slot = False  # counted in connection_slots
    _guard: HeadGuard | None = None

    @property
    def tls_settings(self) -> TLSSettings:
        return self.tls_contexts.settings if self.tls_contexts else _default_settings()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.connection_slots is not None:
            if not self.connection_slots.take(
                self.tls_settings.max_connections, transport_peer(transport)
            ):
                transport.abort()  # type: ignore[attr-defined]
                return
            self._slot = True
        if transport.get_extra_info("ssl_object") is not None or self.tls_contexts is None:
            self._tls_ready(transport)
            return
        # TLS starts with the first bytes of the ClientHello, which are kept and replayed
        # into the TLS protocol (uvloop reads right after connection_made, paused or not).
        # A peer that connects and leaves without a byte (a port probe, a load balancer's
        # check) is then no refused handshake; one that stays silent is dropped in time.
        self._early, self._raw_transport = [], transport
        self._silence = asyncio.get_running_loop().call_later(
            self.tls_contexts.settings.handshake_timeout, transport.close
        )

    def data_received(self, data: bytes) -> None:
        if self._early is None:
            guard = self._guard
            if guard is None:
                super().data_received(data)  # type: ignore[misc]
                return
            guard.receiving(len(data))
            super().data_received(data)  # type: ignore[misc]
            guard.parsed(getattr(self, "cycle", None))
            return
        self._early.append(data)
        self._raw_transport.pause_reading()  # type: ignore[attr-defined]
        if self._handshake is None and self.tls_contexts is not None:
            self._silence.cancel()
            self._handshake = asyncio.get_running_loop().create_task(
                self._start_tls(self._raw_transport, self.tls_contexts)
            )

    def eof_received(self) -> None:
        if self._serving:
            super().eof_received()  # type: ignore[misc]

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if self._guard is not None:
            self._guard.response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._slot and self.connection_slots is not None:
            self.connection_slots.open -= 1
            self._slot = False
        if self._guard is not None:
            self._guard.cancel()
        if self._serving:
            if self.open_connections is not None:
                self.open_connections.discard(self)
            super().connection_lost(exc)  # type: ignore[misc]
        elif self._early is not None:  # gone before the handshake began: nothing to log
            self._silence.cancel()
            if self._handshake is not None:
                self._handshake.cancel()

    async def _start_tls(self, transport: asyncio.BaseTransport, contexts: TLSContexts) -> None:
        early, self._early = b"".join(self._early or ()), None
        tls_transport = await server_handshake(transport, self, contexts, early)  # type: ignore[arg-type]
        if tls_transport is not None:
            self._tls_ready(tls_transport, contexts.material.leaf_pem)

    def _tls_ready(self, transport: asyncio.BaseTransport, server_pem: str | None = None) -> None:
        self._serving = True
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is not None:  # one TLS record per response (see mtls.coalesce)
            transport = CoalescingTransport(transport)  # type: ignore[arg-type,assignment]
        super().connection_made(transport)  # type: ignore[misc]
        settings = self.tls_settings
        self._guard = HeadGuard(settings, self.peer_address(), transport.write, transport.close)  # type: ignore[attr-defined]
        self.app = BodyLimit(self.app, settings.max_body_bytes)
        if ssl_object is not None:
            if server_pem is None:  # the plain uvicorn CLI: the loop used --ssl-certfile
                server_pem = _uvicorn_certfile_pem(self)
            peer_der = ssl_object.getpeercert(binary_form=True)
            identity = connection_identity(peer_der, settings)  # once per connection
            tls = tls_extension(ssl_object, server_pem, certificate_subject(identity))
            self.app = WithConnectionScope(self.app, tls, identity)
            if self.open_connections is not None:
                self.open_connections.add(self, peer_der)

    def peer_address(self) -> str:
        host, port = self.client or ("?", 0)
        return f"{host}:{port}"


class H11TLSProtocol(TLSProtocolMixin, H11Protocol):
    """uvicorn's h11 protocol with mTLS termination and the ASGI TLS extension."""


class HttpToolsTLSProtocol(TLSProtocolMixin, HttpToolsProtocol):
    """uvicorn's httptools protocol (the fast one) with the same additions."""


def protocol_for(contexts: TLSContexts, http: str = "httptools") -> type[asyncio.Protocol]:
    """A protocol class bound to this process's TLS contexts and its open connections.

    Each reload re-checks the open connections against the new CRLs, since OpenSSL
    checks revocation only at the handshake (see mtls.connections).
    """
    base = HttpToolsTLSProtocol if http == "httptools" else H11TLSProtocol
    connections = OpenConnections()
    contexts.on_reload(lambda material: connections.close_revoked(material.crls))
    attributes = {
        "tls_contexts": contexts,
        "open_connections": connections,
        "connection_slots": ConnectionSlots(),
    }
    return type(base.__name__, (base,), attributes)
