"""The limits uvicorn lacks, enforced before the app parses anything.

uvicorn has no request-body or header-size limit, and it starts its keep-alive
timer only after a first response: a caller that finishes the handshake and
never sends a request, or sends its headers one byte at a time, holds a
connection (and a file descriptor) forever. Here, per connection:
- the request head (request line and headers) may be MTLS_MAX_HEAD_BYTES long
  (431) and must be complete within MTLS_HEADER_TIMEOUT of its first byte;
- the first request must begin within MTLS_FIRST_REQUEST_TIMEOUT of the
  handshake (later idle gaps keep uvicorn's keep-alive timeout);
- a body may be MTLS_MAX_BODY_BYTES long (413), by Content-Length before a byte
  of it is read, or as it streams in.
Each refusal is one audit line and one count of `mtls_limit_refusals_total`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

from mtls.logs import audit
from mtls.metrics import CONNECTIONS_CLOSED, LIMIT_REFUSALS
from mtls.settings import TLSSettings
from mtls.tlsscope import peer_of

ASGIApp = Any
CAP_WARNING_INTERVAL = 10.0  # seconds between "connection cap reached" lines
IDLE, HEAD, BODY = "idle", "head", "body"  # where a connection is in its current request


def too_large(what: str, limit: int, setting: str) -> dict[str, Any]:
    """The detail of a 413 or 431: what was too large, the limit, and the setting to change."""
    return {
        "error": f"{what} too large",
        "limit_bytes": limit,
        "message": f"the {what} exceeds {limit} bytes ({setting})",
    }


def refusal(status: int, detail: dict[str, Any]) -> bytes:
    """A complete HTTP/1.1 answer that closes the connection, for refusals below the app."""
    body = json.dumps({"detail": detail}).encode()
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


def refused(limit: str, peer: str, **fields: Any) -> None:
    LIMIT_REFUSALS.labels(limit).inc()
    audit("request refused", logging.WARNING, limit=limit, peer=peer, **fields)


class HeadGuard:
    """One connection's request-head limits; the protocol tells it what it reads.

    The protocol calls `receiving(n)` before it parses n bytes and `parsed(cycle)` after:
    uvicorn makes a new request cycle once a head is complete, so a cycle that did not
    change means the head is still coming. Bytes between a complete head and the end of
    its response are the body's, which `BodyLimit` watches.
    """

    def __init__(
        self, settings: TLSSettings, peer: str, write: Callable[[bytes], None], close: Any
    ) -> None:
        self.settings, self.peer, self._write, self._close = settings, peer, write, close
        self._loop = asyncio.get_running_loop()
        self._state, self._head_bytes = IDLE, 0
        self._cycle: object = None
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(
            settings.first_request_timeout, self._timed_out, "first_request_timeout"
        )

    def receiving(self, size: int) -> None:
        if self._state == IDLE:
            self._state, self._head_bytes = HEAD, 0
            self._arm(self.settings.header_timeout, "header_timeout")
        if self._state == HEAD:
            self._head_bytes += size

    def parsed(self, cycle: object) -> bool:
        """False when the head is over its limit: the connection is then answered 431, closed."""
        if self._state != HEAD:
            return True
        if cycle is not self._cycle:  # a new request cycle: its head is complete
            self._state, self._cycle = BODY, cycle
            self.cancel()
            return True
        if self._head_bytes <= self.settings.max_head_bytes:
            return True
        limit = self.settings.max_head_bytes
        refused("head_size", self.peer, limit_bytes=limit, received_bytes=self._head_bytes)
        self._write(refusal(431, too_large("request head", limit, "MTLS_MAX_HEAD_BYTES")))
        self._close()
        self.cancel()
        return False

    def response_complete(self) -> None:
        """Between requests the connection is idle: uvicorn's keep-alive timer watches it."""
        self._state = IDLE

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, seconds: float, reason: str) -> None:
        self.cancel()
        self._timer = self._loop.call_later(seconds, self._timed_out, reason)

    def _timed_out(self, reason: str) -> None:
        self._timer = None
        CONNECTIONS_CLOSED.labels(reason).inc()
        audit("tls connection closed", logging.WARNING, peer=self.peer, reason=reason)
        self._close()


class BodyLimit:
    """ASGI: a body over the limit is answered 413 (connection closed), never given to the app."""

    __slots__ = ("app", "limit")

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.limit:
            await self._refuse(scope, send, declared)
            return
        state = {"received": 0, "refused": False, "started": False}

        async def counted_receive() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.limit and not state["started"]:
                    state["refused"] = True
                    await self._refuse(scope, send, state["received"])
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict[str, Any]) -> None:
            if state["refused"]:
                return  # the 413 went out; the app's own answer is dropped
            state["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except Exception:
            if not state["refused"]:
                raise  # an app that fails on the disconnect after our 413 is not an error

    async def _refuse(self, scope: dict[str, Any], send: Any, size: int) -> None:
        refused("body_size", peer_of(scope), limit_bytes=self.limit, body_bytes=size)
        detail = too_large("request body", self.limit, "MTLS_MAX_BODY_BYTES")
        body = json.dumps({"detail": detail}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope.get("headers") or ():
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class ConnectionSlots:
    """Open connections of one server process, capped at MTLS_MAX_CONNECTIONS."""

    def __init__(self) -> None:
        self.open, self._warned_at = 0, -1e9

    def take(self, limit: int, peer: str) -> bool:
        if self.open < limit:
            self.open += 1
            return True
        LIMIT_REFUSALS.labels("connections").inc()
        now = time.monotonic()
        if now - self._warned_at > CAP_WARNING_INTERVAL:  # one line, not one per connection
            self._warned_at = now
            audit("connection cap reached", logging.WARNING, limit=limit, peer=peer)
        return False
