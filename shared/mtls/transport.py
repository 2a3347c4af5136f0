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

Replicas come and go behind one name (Swarm's dnsrr, a Kubernetes headless
Service): aiohttp resolves the name again every `DNS_TTL` seconds and opens new
connections round-robin over the addresses, a kept-alive connection is retired
after `MAX_CONNECTION_AGE` (so a new replica gets its share within about
DNS_TTL + MAX_CONNECTION_AGE seconds). A new connection tries the name's
addresses in turn, so one that refuses (a replica gone) costs one attempt. (The
pool's cached addresses are not dropped after a failure: aiohttp's cache is not
safe to clear while other requests resolve, and fails with a KeyError.)
"""

from __future__ import annotations

import functools
import math
import random
import ssl
import time
import weakref
from typing import Any

import aiohttp
import aiohttp.connector
import httpx
from cryptography import x509
from httpx_aiohttp import AiohttpTransport

DNS_TTL = 5
MAX_CONNECTION_AGE = 20.0
# Each connection's age limit is drawn within +-AGE_JITTER of it, so that the connections
# opened together (at start-up, after a reload) are not all replaced at once.
AGE_JITTER = 0.25


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
    if found(aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(message)
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


class RetiringConnector(aiohttp.TCPConnector):
    """aiohttp's pool, which never hands out a connection past its server certificate's
    expiry or past its own age limit.

    OpenSSL checked the server's certificate at the handshake only; a kept-alive
    connection outlives it. Such a connection is closed instead, and the request gets a
    new one, whose handshake checks the certificate again (and refuses it if not renewed).
    The age limit (`max_age`, None for none) bounds how long one replica keeps a caller.
    """

    def __init__(self, *, max_age: float | None = MAX_CONNECTION_AGE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_age = max_age
        self._valid_until: weakref.WeakKeyDictionary[object, float] = weakref.WeakKeyDictionary()

    async def connect(  # aiohttp's signature
        self,
        req: Any,
        traces: Any,
        timeout: Any,  # noqa: ASYNC109
    ) -> aiohttp.connector.Connection:
        while True:
            connection = await super().connect(req, traces, timeout)
            if time.time() < self._usable_until(connection):
                return connection
            connection.close()

    def _usable_until(self, connection: aiohttp.connector.Connection) -> float:
        protocol = connection.protocol
        known = self._valid_until.get(protocol)
        if known is None:  # once per connection, at its first use
            transport = connection.transport
            ssl_object = transport.get_extra_info("ssl_object") if transport else None
            der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
            known = _not_after(der) if der else math.inf
            if self._max_age is not None:
                jitter = random.uniform(1 - AGE_JITTER, 1 + AGE_JITTER)
                known = min(known, time.time() + self._max_age * jitter)
            self._valid_until[protocol] = known
        return known


@functools.lru_cache(maxsize=256)
def _not_after(der: bytes) -> float:
    return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()


class PooledTransport(httpx.AsyncBaseTransport):
    """aiohttp's keep-alive pool (`RetiringConnector`), presenting `context`; answers are
    read whole."""

    def __init__(
        self,
        context: ssl.SSLContext,
        limits: httpx.Limits,
        max_connection_age: float | None = MAX_CONNECTION_AGE,
    ) -> None:
        def session() -> aiohttp.ClientSession:
            connector = RetiringConnector(
                ssl=context,
                limit=limits.max_connections or 0,
                keepalive_timeout=limits.keepalive_expiry,
                ttl_dns_cache=DNS_TTL,
                max_age=max_connection_age,
            )
            return aiohttp.ClientSession(connector=connector)

        self._inner = AiohttpTransport(verify=context, client=session)  # verify: no default built

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
            await response.aread()  # peer answers are small; read errors surface here
        except (httpx.TransportError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise transport_error(exc) from _origin(exc)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
