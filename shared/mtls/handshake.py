"""The server side of one mTLS handshake, run by `mtls.protocol` on a plain TCP connection.

uvicorn's own TLS hands the socket to the event loop, which drops a refused
handshake silently. Here the handshake is `loop.start_tls` with the *current*
server context (hot reload for free), so a refusal is caught where it happens:
logged with peer address and reason, and counted. A resumed session is refused
when its certificate has expired or been revoked since (a resumption shows none).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mtls.errors import HANDSHAKE_TIMEOUT, Explanation, explain
from mtls.logs import audit
from mtls.metrics import HANDSHAKE_FAILURES, HANDSHAKES
from mtls.reload import TLSContexts
from mtls.sessions import resumed_session_refusal

# A TLS close waits for the peer's close_notify, which an idle pooled client (httpx)
# never sends: with asyncio's 30 s default, every stop with a peer's kept-alive
# connection open ran into uvicorn's 5 s graceful-shutdown limit. Our answers are small,
# so a second is ample for the last bytes to leave before the socket is dropped.
SSL_SHUTDOWN_TIMEOUT = 1.0


def transport_peer(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername") or ("?", 0)
    return f"{peer[0]}:{peer[1]}"


def record_refusal(
    transport: asyncio.BaseTransport, why: Explanation, error: str, **fields: Any
) -> None:
    HANDSHAKE_FAILURES.labels(why.reason).inc()
    audit(
        "tls handshake refused",
        logging.WARNING,
        peer=transport_peer(transport),
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


async def server_handshake(
    transport: asyncio.BaseTransport,
    protocol: asyncio.BaseProtocol,
    contexts: TLSContexts,
    early: bytes,
) -> asyncio.BaseTransport | None:
    """The TLS transport once the client is verified; None (refusal logged) when it is not.

    `early` holds the bytes of the ClientHello that arrived before the handshake began.
    """
    loop = asyncio.get_running_loop()
    if early:  # runs after start_tls has set its protocol and before it resumes reading
        loop.call_soon(_replay, transport, early)
    timeout, started = contexts.settings.handshake_timeout, loop.time()
    try:
        tls_transport = await loop.start_tls(
            transport,  # type: ignore[arg-type]
            protocol,
            contexts.server,
            server_side=True,
            ssl_handshake_timeout=timeout,
            ssl_shutdown_timeout=SSL_SHUTDOWN_TIMEOUT,
        )
    except (OSError, TimeoutError, EOFError) as exc:
        timed_out = loop.time() - started >= timeout * 0.99
        why = HANDSHAKE_TIMEOUT if timed_out else explain(exc)
        record_refusal(transport, why, str(exc) or type(exc).__name__)
        transport.close()
        return None
    # The peer went away before or as the handshake ended: asyncio returns None, uvloop
    # a transport without an SSL object that would never be closed.
    ssl_object = tls_transport.get_extra_info("ssl_object") if tls_transport else None
    if tls_transport is None or ssl_object is None:
        transport.close()
        return None
    if ssl_object.session_reused:
        stale = resumed_session_refusal(ssl_object, contexts.material.crls)
        if stale is not None:
            record_refusal(tls_transport, stale[0], "session resumed", **stale[1])
            tls_transport.abort()
            return None
    HANDSHAKES.inc()
    return tls_transport
