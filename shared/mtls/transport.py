"""The connection pool under `PeerClient`: aiohttp's, behind httpx's API.

Measured in `make bench` (docs/benchmarks.md): with httpx's own pool
(httpcore over anyio, whose TLS runs in Python) the client side of a call cost
orders and payments more CPU than serving their own requests, and more over
mTLS than over plain HTTP. aiohttp's pool uses the event loop's TLS (uvloop's,
in C), which made the whole chain about twice as cheap and mTLS as cheap as
plain HTTP. The services keep the httpx API; only the transport changes.

httpx-aiohttp maps aiohttp's errors coarsely (a reset connection becomes a
connect timeout), so failures are mapped here again from their cause, for
`mtls.errors.explain` to name them as it names httpx's own.
"""

from __future__ import annotations

import ssl

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport


def _causes(exc: BaseException) -> list[BaseException]:
    chain, seen = [], set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        chain.append(current)
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return chain


def transport_error(exc: BaseException) -> httpx.TransportError:
    """The httpx error that httpx's own pool would have raised for this failure."""
    # httpx-aiohttp's own mapping (e.g. ConnectTimeout for a reset) is left out.
    causes = [cause for cause in _causes(exc) if not isinstance(cause, httpx.HTTPError)] or [exc]
    message = str(causes[-1]) or type(causes[-1]).__name__

    def found(*kinds: type[BaseException]) -> bool:
        return any(isinstance(cause, kinds) for cause in causes)

    if found(ssl.SSLError, ConnectionRefusedError, aiohttp.ClientConnectorError):
        return httpx.ConnectError(message)
    if found(TimeoutError):
        return httpx.ReadTimeout(message)
    if found(ConnectionError, aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError):
        return httpx.ReadError(message)
    return httpx.TransportError(message)


def _origin(exc: BaseException) -> BaseException:
    """The error to chain to: OpenSSL's own when there is one (aiohttp's wrappers of it
    lack its verify_code and reason), else what aiohttp raised."""
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLError) and not isinstance(cause, aiohttp.ClientError):
            return cause
    return exc


class PooledTransport(httpx.AsyncBaseTransport):
    """aiohttp's keep-alive pool, presenting `context`; answers are read whole."""

    def __init__(self, context: ssl.SSLContext, limits: httpx.Limits) -> None:
        self._inner = AiohttpTransport(verify=context, limits=limits)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
            await response.aread()  # peer answers are small; read errors surface here
        except (httpx.TransportError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise transport_error(exc) from _origin(exc)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
