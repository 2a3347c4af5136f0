"""Calling a peer over mTLS with httpx: one pooled client per peer, built once.

The client context goes to the transport (`mtls.transport`: aiohttp's pool,
which the bench measured much cheaper than httpx's own; never httpx's `cert=`,
deprecated in 0.28 and in some combinations dropped silently). One `AsyncClient` per peer keeps
connections alive, so a call costs no handshake in steady state; after a
certificate reload the next call gets a new pool with the new material and the
old pool is closed once its requests are done. Every transport failure becomes
one `PeerUnavailable` that names the peer, the cause and a hint.

A peer with several replicas loses one now and then (a rolling update, a crash).
A call that failed where sending it again cannot do it twice is sent once more,
on another connection (`retry_is_safe`): it never reached a server, or it
carries an Idempotency-Key the peer deduplicates on. A timeout is not retried:
the peer may still be working on it, and a slow peer gets no more load.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import httpx

from mtls.errors import Explanation, explain
from mtls.metrics import PEER_RETRIES
from mtls.reload import TLSContexts
from mtls.transport import MAX_CONNECTION_AGE, PooledTransport

DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
# The longest a call can take with that: a connect that timed out, the retry's connect, and
# the read (mtls.process gives in-flight requests this long to finish at shutdown).
LONGEST_CALL = 2 * (DEFAULT_TIMEOUT.connect or 0.0) + (DEFAULT_TIMEOUT.read or 0.0)
# An idle pooled connection is dropped by the client before the server would close it
# (mtls.protocol.KEEP_ALIVE_TIMEOUT), so a request never races the server's close, and a
# pause of a few seconds costs no new handshake.
KEEPALIVE_EXPIRY = 10.0
IDEMPOTENCY_HEADER = "Idempotency-Key"

logger = logging.getLogger(__name__)


class PeerUnavailable(Exception):
    """A peer could not be reached over mTLS (down, refusing TLS, or too slow)."""

    def __init__(self, peer: str, url: str, why: Explanation) -> None:
        super().__init__(f"{peer} at {url} is unavailable: {why.cause} ({why.reason}); {why.hint}")
        self.peer, self.url, self.why = peer, url, why

    def as_dict(self) -> dict[str, str]:
        return {
            "error": "peer unavailable",
            "peer": self.peer,
            "url": self.url,
            "reason": self.why.reason,
            "cause": self.why.cause,
            "hint": self.why.hint,
        }


def retry_is_safe(exc: httpx.TransportError, headers: Any) -> bool:
    """Sending the request again cannot do its work twice: it never reached a server (and
    not because TLS refused: every replica shares the CA and policy), or the peer
    deduplicates it by its Idempotency-Key."""
    if isinstance(exc, httpx.ConnectTimeout):
        return True
    if isinstance(exc, httpx.ConnectError):
        return not isinstance(exc.__cause__, ssl.SSLError)
    if isinstance(exc, httpx.TimeoutException):
        return False
    return IDEMPOTENCY_HEADER in httpx.Headers(headers)


class PeerClient:
    """An mTLS HTTP client for one named peer."""

    def __init__(
        self,
        peer: str,
        base_url: str,
        contexts: TLSContexts,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_connections: int = 64,
        max_connection_age: float | None = MAX_CONNECTION_AGE,
    ) -> None:
        self.peer, self.base_url, self.contexts = peer, base_url.rstrip("/"), contexts
        self._timeout, self._max_connection_age = timeout, max_connection_age
        self._limits = httpx.Limits(
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        self._retiring: set[asyncio.Task[None]] = set()
        self._generation = contexts.generation
        self._client = self._new_client()

    def _new_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.base_url,
            timeout=self._timeout,
            transport=PooledTransport(self.contexts.client, self._limits, self._max_connection_age),
        )

    def _current(self) -> httpx.AsyncClient:
        if self._generation != self.contexts.generation:
            old, self._client = self._client, self._new_client()
            self._generation = self.contexts.generation
            task = asyncio.create_task(self._retire(old))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        return self._client

    async def _retire(self, client: httpx.AsyncClient) -> None:
        timeout = self._timeout.read or 5.0
        try:
            await asyncio.sleep(timeout + 1)  # let in-flight requests on the old pool finish
        finally:
            await client.aclose()  # also when cancelled: open connections would hold the peer

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request (once more if that is safe); PeerUnavailable on any transport or
        TLS failure."""
        try:
            return await self._current().request(method, path, **kwargs)
        except httpx.TransportError as exc:
            if not retry_is_safe(exc, kwargs.get("headers")):
                raise self._unavailable(path, exc) from exc
            first = explain(exc)
        PEER_RETRIES.labels(self.peer).inc()
        logger.warning(
            "peer call retried once",
            extra={"peer": self.peer, "url": self.base_url + path, "cause": first.cause},
        )
        try:
            return await self._current().request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unavailable(path, exc) from exc

    def _unavailable(self, path: str, exc: httpx.TransportError) -> PeerUnavailable:
        return PeerUnavailable(self.peer, self.base_url + path, explain(exc))

    async def aclose(self) -> None:
        retiring = list(self._retiring)
        for task in retiring:
            task.cancel()
        await asyncio.gather(*retiring, return_exceptions=True)
        await self._client.aclose()
