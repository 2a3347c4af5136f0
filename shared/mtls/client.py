"""Calling a peer over mTLS with httpx: one pooled client per peer, built once.

The client context goes to the transport (`mtls.transport`: aiohttp's pool,
which the bench measured much cheaper than httpx's own; never httpx's `cert=`,
deprecated in 0.28 and in some combinations dropped silently). One `AsyncClient` per peer keeps
connections alive, so a call costs no handshake in steady state; after a
certificate reload the next call gets a new pool with the new material and the
old pool is closed once its requests are done. Every transport failure becomes
one `PeerUnavailable` that names the peer, the cause and a hint.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from mtls.errors import Explanation, explain
from mtls.reload import TLSContexts
from mtls.transport import PooledTransport

DEFAULT_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
# An idle pooled connection is dropped by the client before the server would close it
# (mtls.protocol.KEEP_ALIVE_TIMEOUT), so a request never races the server's close, and a
# pause of a few seconds costs no new handshake.
KEEPALIVE_EXPIRY = 10.0


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
    ) -> None:
        self.peer, self.base_url, self.contexts = peer, base_url.rstrip("/"), contexts
        self._timeout = timeout
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
            transport=PooledTransport(self.contexts.client, self._limits),
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
        """Send a request; PeerUnavailable on any transport or TLS failure."""
        try:
            return await self._current().request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise PeerUnavailable(self.peer, self.base_url + path, explain(exc)) from exc

    async def aclose(self) -> None:
        retiring = list(self._retiring)
        for task in retiring:
            task.cancel()
        await asyncio.gather(*retiring, return_exceptions=True)
        await self._client.aclose()
