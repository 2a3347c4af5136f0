"""uvicorn, terminating mTLS itself and telling the app who is calling.

uvicorn's own TLS (its `--ssl-*` options or `ssl_context_factory`) hands the
socket to the event loop, which drops a refused handshake silently and never
shows the app the client certificate. These protocols instead accept plain
TCP and run the handshake with `loop.start_tls` using the *current* server
context (hot reload for free), so a refused handshake is caught where it
happens: logged with peer address and reason, and counted. A resumed session
is refused when its certificate has expired or been revoked since (a
resumption shows none). Once the handshake is done, the connection's app is
wrapped to add the ASGI TLS extension to every request scope, and the limits
uvicorn lacks (mtls.limits) watch the connection; uvicorn's request handling
is not copied. The process around it (settings, uvicorn) is `mtls.runner`.

Started from the plain `uvicorn` command line (`--http mtls.server:HttpToolsTLSProtocol`
with `--ssl-certfile ... --ssl-ca-certs ... --ssl-cert-reqs 2`), the loop has
already done the handshake and the protocols only add the TLS extension.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mtls.coalesce import CoalescingTransport
from mtls.connections import OpenConnections
from mtls.errors import HANDSHAKE_TIMEOUT, Explanation, explain
from mtls.identity import IDENTITY_KEY, connection_identity
from mtls.limits import BodyLimit, ConnectionSlots, HeadGuard
from mtls.logs import audit
from mtls.metrics import HANDSHAKE_FAILURES, HANDSHAKES
from mtls.reload import TLSContexts
from mtls.sessions import resumed_session_refusal
from mtls.settings import TLSSettings
from mtls.tlsscope import certificate_file_leaf_pem, tls_extension

ASGIApp = Any
# A TLS close waits for the peer's close_notify, which an idle pooled client (httpx)
# never sends: with asyncio's 30 s default, every stop with a peer's kept-alive
# connection open ran into uvicorn's 5 s graceful-shutdown limit. Our answers are small,
# so a second is ample for the last bytes to leave before the socket is dropped.
SSL_SHUTDOWN_TIMEOUT = 1.0
# Seconds an idle kept-alive connection stays open (uvicorn's default is 5): longer than
# the peer client's pool expiry (mtls.client.KEEPALIVE_EXPIRY), since every reconnect is
# a full mTLS handshake, milliseconds of CPU on both sides.
KEEP_ALIVE_TIMEOUT = 15


class _WithTLSExtension:
    """Adds one connection's TLS extension and caller identity to each of its request scopes."""

    __slots__ = ("app", "identity", "tls")

    def __init__(self, app: ASGIApp, tls: dict[str, Any], identity: object) -> None:
        self.app, self.tls, self.identity = app, tls, identity

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope["extensions"] = {**(scope.get("extensions") or {}), "tls": dict(self.tls)}
            scope[IDENTITY_KEY] = self.identity
        await self.app(scope, receive, send)


@functools.cache
def _default_settings() -> TLSSettings:
    """Limits for the plain uvicorn command line, which brings no TLSContexts (MTLS_* env)."""
    return TLSSettings()


def _peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername") or ("?", 0)
    return f"{peer[0]}:{peer[1]}"


def _record_refusal(
    transport: asyncio.BaseTransport, why: Explanation, error: str, **fields: Any
) -> None:
    HANDSHAKE_FAILURES.labels(why.reason).inc()
    audit(
        "tls handshake refused",
        logging.WARNING,
        peer=_peer(transport),
        reason=why.reason,
        cause=why.cause,
        hint=why.hint,
        error=error,
        **fields,
    )


def _replay(transport: asyncio.BaseTransport, data: bytes) -> None:
    """Give bytes read before `start_tls` took the transport to the TLS protocol now on it.

    Runs before that protocol's `connection_made`; it only buffers them for the handshake.
    """
    protocol: Any = transport.get_protocol()
    view = memoryview(data)
    while view:
        buffer = protocol.get_buffer(len(view))
        size = min(len(buffer), len(view))
        buffer[:size] = view[:size]
        protocol.buffer_updated(size)
        view = view[size:]


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
            if not self.connection_slots.take(self.tls_settings.max_connections, _peer(transport)):
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
        loop = asyncio.get_running_loop()
        early, self._early = b"".join(self._early or ()), None
        if early:  # runs after start_tls has set its protocol and before it resumes reading
            loop.call_soon(_replay, transport, early)
        timeout, started = contexts.settings.handshake_timeout, loop.time()
        try:
            tls_transport = await loop.start_tls(
                transport,  # type: ignore[arg-type]
                self,  # type: ignore[arg-type]
                contexts.server,
                server_side=True,
                ssl_handshake_timeout=timeout,
                ssl_shutdown_timeout=SSL_SHUTDOWN_TIMEOUT,
            )
        except (OSError, TimeoutError, EOFError) as exc:
            timed_out = loop.time() - started >= timeout * 0.99
            why = HANDSHAKE_TIMEOUT if timed_out else explain(exc)
            _record_refusal(transport, why, str(exc) or type(exc).__name__)
            transport.close()
            return
        # The peer went away before or as the handshake ended: asyncio returns None, uvloop
        # a transport without an SSL object that would never be closed.
        ssl_object = tls_transport.get_extra_info("ssl_object") if tls_transport else None
        if tls_transport is None or ssl_object is None:
            transport.close()
            return
        if ssl_object.session_reused:
            stale = resumed_session_refusal(ssl_object, contexts.material.crls)
            if stale is not None:
                _record_refusal(tls_transport, stale[0], "session resumed", **stale[1])
                tls_transport.abort()
                return
        HANDSHAKES.inc()
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
            self.app = _WithTLSExtension(self.app, tls_extension(ssl_object, server_pem), identity)
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
